"""Implicit GEMM on numba packing and numpy's BLAS: the convolution that applies to every shape.

A convolution is a matrix product between patches and the reshaped kernel. The patch matrix of a
whole batch is never built: numba packs the patches of a *tile* of output rows into a reusable
buffer (about the ``tile_bytes`` setting, to stay in cache) and calls numpy's BLAS
(`kerasette.backend.kernels.blas`) to multiply it straight into the output, a whole chunk of
images in one GIL-free kernel call (1x1 stride-1 convolutions are one ``np.matmul``).

* forward: ``y_tile = cols_tile @ w2d``, bias and ReLU fused into one pass over the tile.
* backward to the input: ``dcols = dy_tile @ w2d.T`` and a col2im scatter-add (the 'full'
  convolution of the input gradient is the forward pass with the flipped kernel).
* backward to the kernel: ``dw2d += cols_tile.T @ dy_tile``.

Each function computes one chunk of images; scratch arrays come from
`kerasette.backend.engine.batch.scratch` (per-thread, reused).
"""

from __future__ import annotations

import functools

import numpy as np

from kerasette.backend import state
from kerasette.backend.engine.batch import scratch
from kerasette.backend.kernels import conv as _conv


def rows_per_tile(n_rows: int, row_elems: int, itemsize: int) -> int:
    """How many output image rows to pack per tile so the tile is about ``tile_bytes``."""
    return max(1, min(n_rows, state.conv.tile_bytes // max(1, row_elems * itemsize)))


def conv(x, w2d, kernel, strides, pads, y, b=None, relu=False) -> None:
    """``y = conv(x, w2d)`` as tiled implicit GEMM, bias and ReLU fused per tile.

    Args:
        x: input, (N, H, W, C).
        w2d: kernel reshaped to (kh * kw * C, cout).
        kernel: (kh, kw).
        strides: (sh, sw).
        pads: (top, bottom, left, right); only top and left are needed, the output size is y's.
        y: output, (N, OH, OW, cout); overwritten.
        b: optional bias, (cout,).
        relu: apply a ReLU after the bias.
    """
    n_img, oh_n, ow_n, cout = y.shape
    (kh, kw), (sh, sw), (pt, pl) = kernel, strides, (pads[0], pads[2])
    k = w2d.shape[0]
    y2d = y.reshape(n_img * oh_n * ow_n, cout)
    fuse = b is not None or relu
    bias = w2d[0] if b is None else b
    if kh == 1 and kw == 1 and sh == 1 and sw == 1 and x.shape[1:3] == (oh_n, ow_n):
        np.matmul(x.reshape(-1, k), w2d, out=y2d)
        if fuse:
            _conv.bias_act_rows(y2d, bias, b is not None, relu)
        return
    rows = rows_per_tile(n_img * oh_n, ow_n * k, x.itemsize)
    cols = scratch("cols", (rows * ow_n, k), x.dtype)
    _conv.gemm_conv_chunk(x, w2d, y, cols, kh, kw, sh, sw, pt, pl, bias, b is not None, relu)


def input_grad_col2im(dy, w, dx, strides, pads) -> None:
    """Input gradient by tiles: ``dcols = dy_tile @ w2d.T``, then col2im adds it into ``dx``."""
    input_grad_col2im_call(dy, np.ascontiguousarray(w.reshape(-1, w.shape[3])), w.shape[:2], dx, strides, pads,
                           scratch)()


def input_grad_col2im_call(dy, w2d, kernel, dx, strides, pads, scratch):
    """:func:`input_grad_col2im`'s kernel call (``w2d``: the kernel as a C-contiguous
    (kh * kw * cin, cout) array), its arguments made (`kerasette.backend.parallel.map_prepared`)."""
    n_img, oh_n, ow_n, _ = dy.shape
    k = w2d.shape[0]
    rows = rows_per_tile(n_img * oh_n, ow_n * k, dy.itemsize)
    dcols = scratch("dcols", (rows * ow_n, k), dy.dtype)
    return functools.partial(_conv.col2im_input_grad_chunk, dy, w2d, dx, dcols, *kernel, *strides, pads[0], pads[2])


def weight_grad(dy, x, k, kernel, strides, pads) -> np.ndarray:
    """``sum over tiles of cols_tile.T @ dy_tile`` for one chunk of images, a new (k, cout) array."""
    calls, dw = weight_grad_calls(dy, x, k, kernel, strides, pads, scratch)
    calls[0]()
    return dw


def weight_grad_calls(dy, x, k, kernel, strides, pads, scratch):
    """``((call,), dw)``: :func:`weight_grad`'s kernel call, its arguments made, and the array it
    fills."""
    n_img, oh_n, ow_n, cout = dy.shape
    dw = np.empty((k, cout), x.dtype)
    rows = rows_per_tile(n_img * oh_n, ow_n * k, x.itemsize)
    cols = scratch("cols", (rows * ow_n, k), x.dtype)
    return (functools.partial(_conv.gemm_weight_grad_chunk, dy, x, dw, cols, *kernel, *strides, pads[0], pads[2]),), dw
