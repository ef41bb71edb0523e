"""Stride-1 convolutions as kw-packed ("row") implicit GEMM: a ``kh`` times smaller pack than im2col.

The images of a chunk are one stack of zero-padded rows (see `kerasette.backend.kernels.conv_rows`).
A tile of stacked rows is packed ``kw * C`` wide, multiplied once by the kernel rows placed side by
side (``(kw * C, kh * F)``), and the ``kh`` partial products of each output row are summed in the
output pass, which also adds the bias and applies the ReLU. Tiles overlap by ``kh - 1`` rows.

The kernel gradient uses the same packing: ``dW[i] = sum over tiles of x3[i:i + m].T @ dy_rows``,
where ``dy_rows`` holds zeros for the stacked rows that straddle two images.

Scratch arrays come from the caller's ``scratch(role, shape, dtype)`` (per-thread, reused).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels import conv_rows as _rows

#: Input channels from which the row path is used (fewer make its GEMM too narrow).
ROWS_MIN_CIN = 16


def usable(kernel: tuple[int, int], strides: tuple[int, int], cin: int) -> bool:
    """Whether the row path applies: stride 1, a kernel more than one row high, enough channels."""
    return tuple(strides) == (1, 1) and kernel[0] > 1 and cin >= ROWS_MIN_CIN


def stacked_weights(w: np.ndarray) -> np.ndarray:
    """(kh, kw, C, F) kernel as the (kw * C, kh * F) matrix ``[W[0] | ... | W[kh - 1]]``."""
    kh, kw, chans, cout = w.shape
    return np.ascontiguousarray(w.reshape(kh, kw * chans, cout).transpose(1, 0, 2)).reshape(kw * chans, kh * cout)


def _tile_rows(total: int, row_elems: int, itemsize: int, kh: int, tile_bytes: int) -> int:
    return max(kh, min(total, tile_bytes // max(1, row_elems * itemsize)))


def conv(x, wcat, kernel, pads, y, scratch, tile_bytes, b=None, relu=False) -> None:
    """``y = act(conv(x, w) + b)`` for stride 1.

    Args:
        x: input, (N, H, W, C), C-contiguous.
        wcat: :func:`stacked_weights` of the kernel.
        kernel: (kh, kw).
        pads: (top, bottom, left, right).
        y: output, (N, OH, OW, F), C-contiguous; overwritten.
        scratch: ``scratch(role, shape, dtype)`` returning a reusable array.
        tile_bytes: target size of one packed tile.
        b: optional bias, (F,).
        relu: apply a ReLU after the bias.
    """
    n_img, _, _, chans = x.shape
    _, oh_n, ow_n, cout = y.shape
    kh, kw = kernel
    hp = oh_n + kh - 1
    total = n_img * hp
    rows = _tile_rows(total, ow_n * kw * chans, x.itemsize, kh, tile_bytes)
    x3 = scratch("x3", (rows, ow_n, kw * chans), x.dtype)
    p = scratch("p", (rows, ow_n, kh, cout), x.dtype)
    bias = wcat[0, :cout] if b is None else b
    _rows.conv_chunk(x, wcat, y, x3, p, kh, kw, pads[0], pads[2], bias, b is not None, relu)


def weight_grad(dy, x, kernel, pads, scratch, tile_bytes) -> np.ndarray:
    """Kernel gradient of one chunk of images, stride 1, as a new (kh, kw * C, F) array.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        x: forward input, (N, H, W, C), C-contiguous.
        kernel, pads, scratch, tile_bytes: as for :func:`conv`.
    """
    n_img, _, _, chans = x.shape
    _, oh_n, ow_n, cout = dy.shape
    kh, kw = kernel
    k = kw * chans
    hp = oh_n + kh - 1
    total = n_img * hp
    rows = _tile_rows(total, ow_n * k, x.itemsize, kh, tile_bytes)
    x3 = scratch("x3", (rows, ow_n, k), x.dtype)
    d = scratch("dy_rows", (rows, ow_n, cout), x.dtype)
    dw = np.empty((kh, k, cout), x.dtype)
    _rows.weight_grad_chunk(dy, x, dw, x3, d, kh, kw, pads[0], pads[2])
    return dw
