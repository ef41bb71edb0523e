"""Transposed 2-D convolution on NHWC arrays, as the passes of an ordinary convolution.

A transposed convolution of ``x`` (N, H, W, C) with a kernel ``w`` stored as Keras stores it,
(kh, kw, F, C), is the gradient with respect to the input of the convolution that maps images of
F channels and the transposed output's size to images of C channels and ``x``'s size, with the
same kernel, strides and a padding of (crop_top, crop_bottom, crop_left, crop_right) (see
`kerasette.utils.conv_transpose`). So every pass is one the convolution engine already has:

* forward: the convolution's input gradient, with ``x`` in the place of the output gradient;
* gradient with respect to ``x``: the convolution's forward pass on the output gradient;
* gradient with respect to the kernel: the convolution's kernel gradient, with the output
  gradient in the place of the convolution's input and ``x`` in the place of its output gradient.

Each pass takes the first algorithm of its list in `kerasette.backend.engine.algorithms` that
applies (this module describes the convolution with an explicit `ConvGeometry`, since its padding
is not one of 'valid' and 'same') and runs over the batch one chunk of images per thread; the
bias, a fused ReLU and their gradients are done in the same chunk.

At strides above 1 the forward pass and the kernel gradient go by output phases instead
(`kerasette.backend.kernels.transpose_phases`): each of the ``sh * sw`` phases of the output is
a stride-1 product of packed input patches with its part of the kernel, written once into the
strided output (the convolution's col2im input gradient would scatter nine products into every
output pixel of a zeroed array); the kernel gradient's read of the output gradient also takes the
ReLU mask and the bias gradient, so that pass costs nothing of its own.

A dilated kernel is spread out with zeros (``(k - 1) * d + 1`` taps); Keras refuses strides and
dilation above 1 together, so this only occurs at stride 1.

Example:
    >>> x = np.ones((1, 2, 2, 1), np.float32); w = np.ones((3, 3, 1, 1), np.float32)
    >>> transpose_forward(x, w, None, TransposeGeometry.of(x.shape, w.shape, (2, 2), "same"))[0, :, :, 0]
    array([[1., 1., 2., 1.],
           [1., 1., 2., 1.],
           [2., 2., 4., 2.],
           [1., 1., 2., 1.]], dtype=float32)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from kerasette.backend import memory, state
from kerasette.backend.engine.algorithms import choose
from kerasette.backend.engine.batch import by_images, scratch, sum_parts
from kerasette.backend.engine.geometry import ConvGeometry
from kerasette.backend.kernels import conv as _conv
from kerasette.backend.kernels import transpose_phases as _phases
from kerasette.utils.conv_transpose import deconv_output_length, effective_kernel, transpose_crops


class TransposeGeometry(NamedTuple):
    """One transposed convolution.

    Attributes:
        in_hw: (H, W) of its input ``x``.
        out_hw: (OH, OW) of its output.
        kernel: (kh, kw) as stored (before dilation).
        strides, dilation: (rows, cols) each.
        crops: (top, bottom, left, right) taken off the full output; bottom and right may be
            negative (rows or columns that receive no input).
    """

    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    crops: tuple[int, int, int, int]

    @classmethod
    def of(cls, x_shape, w_shape, strides=(1, 1), padding="valid", output_padding=None, dilation=(1, 1)):
        """The geometry of a transposed convolution of NHWC ``x_shape`` with a (kh, kw, F, C)
        kernel, by Keras's rules (``output_padding``: None or a pair, each entry None or int)."""
        pads = (None, None) if output_padding is None else tuple(output_padding)
        out, crops = [], []
        for axis in range(2):
            args = (w_shape[axis], padding, pads[axis], strides[axis], dilation[axis])
            out.append(deconv_output_length(x_shape[1 + axis], *args))
            crops.extend(transpose_crops(x_shape[1 + axis], *args))
        return cls(tuple(x_shape[1:3]), tuple(out), tuple(w_shape[:2]), tuple(strides), tuple(dilation),
                   tuple(crops))

    @property
    def effective_kernel(self) -> tuple[int, int]:
        return (effective_kernel(self.kernel[0], self.dilation[0]), effective_kernel(self.kernel[1], self.dilation[1]))

    def conv(self, w_shape, dtype, out_hw=None, empty=False) -> ConvGeometry:
        """The convolution whose input gradient this is: from (OH, OW, F) images (or ``out_hw``,
        the output cut to the rows the convolution reads) to (H, W, C)."""
        kh, kw = self.effective_kernel
        out_hw = self.out_hw if out_hw is None else out_hw
        top, bottom, left, right = self.crops
        bottom += self.out_hw[0] - out_hw[0]
        right += self.out_hw[1] - out_hw[1]
        return ConvGeometry((kh, kw), w_shape[2], w_shape[3], self.strides, tuple(out_hw), self.in_hw,
                            (top, bottom, left, right), np.dtype(dtype), empty)

    @property
    def read_hw(self) -> tuple[int, int]:
        """The rows and columns of the output that the convolution reads (all but the appended ones)."""
        return (self.out_hw[0] + min(self.crops[1], 0), self.out_hw[1] + min(self.crops[3], 0))


def dilated(w: np.ndarray, dilation) -> np.ndarray:
    """The kernel spread out with zeros between its taps (itself when the dilation is 1)."""
    dh, dw = dilation
    if (dh, dw) == (1, 1):
        return w
    kh, kw = w.shape[:2]
    out = np.zeros((effective_kernel(kh, dh), effective_kernel(kw, dw), *w.shape[2:]), w.dtype)
    out[::dh, ::dw] = w
    return out


def _check_float(array: np.ndarray, role: str) -> None:
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"conv2d_transpose: the {role} must be float32 or float64, received {array.dtype}; "
                        "cast it first (for example with K.cast(x, 'float32'))")


def transpose_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: TransposeGeometry,
                      relu: bool = False) -> np.ndarray:
    """``relu?(conv2d_transpose(x, w) + b)``.

    Args:
        x: input images, (N, H, W, C).
        w: kernel, (kh, kw, F, C) (Keras's layout for transposed convolutions).
        b: optional bias, (F,).
        g: the `TransposeGeometry`.
        relu: fuse a ReLU into the output.

    Returns:
        y, (N, OH, OW, F), dtype of ``x``.
    """
    x = np.ascontiguousarray(x)
    _check_float(x, "input")
    n_img, filters = x.shape[0], w.shape[2]
    y_shape = (n_img, *g.out_hw, filters)
    wd = np.ascontiguousarray(dilated(w, g.dilation), dtype=x.dtype)
    if x.size == 0 or n_img == 0:
        y = np.zeros(y_shape, x.dtype)
        _output_pass(y, b, relu, 0, n_img)
        return y
    b = None if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    if uses_phases(g):
        y = memory.empty_aligned(y_shape, x.dtype)
        wph, offsets = phase_weights(wd, g.strides)
        by_images(lambda i, j: _phase_forward(x[i:j], wph, offsets, y[i:j], b, relu, g), x)
        return y
    y, chunk = choose("input_grad", g.conv(wd.shape, x.dtype)).run(x, wd, g.conv(wd.shape, x.dtype), y_shape)

    def run(i, j):
        if chunk is not None:
            chunk(i, j)
        _output_pass(y, b, relu, i, j)

    by_images(run, y)
    return y


def uses_phases(g: TransposeGeometry) -> bool:
    """Whether the forward pass and the kernel gradient go by output phases (strides above 1;
    `kerasette.backend.kernels.transpose_phases`) rather than by the convolution engine's input
    gradient (col2im at these strides, which scatters every product into a zeroed output)."""
    return g.strides != (1, 1)


def phase_weights(w: np.ndarray, strides) -> tuple[np.ndarray, np.ndarray]:
    """The (kh, kw, F, C) kernel as the packed phase matrices of `transpose_phases`: phase
    ``(rh, rw)``'s rows ``(mh, mw, c)`` hold ``w[rh + sh * mh, rw + sw * mw, :, c]``."""
    sh, sw = strides
    parts, offsets = [], [0]
    for rh in range(sh):
        for rw in range(sw):
            sub = w[rh::sh, rw::sw]  # (mh, mw, F, C)
            part = sub.transpose(0, 1, 3, 2).reshape(-1, w.shape[2])
            parts.append(part)
            offsets.append(offsets[-1] + part.shape[0])
    wph = np.ascontiguousarray(np.concatenate(parts, axis=0)) if offsets[-1] else np.zeros((1, w.shape[2]), w.dtype)
    return wph, np.array(offsets, np.int64)


def _phase_scratch(g: TransposeGeometry, filters: int, chans: int, dtype):
    """Per-thread packing and product tiles of about the engine's ``tile_bytes``."""
    itemsize = np.dtype(dtype).itemsize
    kh, kw = g.effective_kernel
    widest = -(-g.out_hw[1] // g.strides[1])
    k_max = -(-kh // g.strides[0]) * -(-kw // g.strides[1]) * chans
    budget = max(state.conv.tile_bytes // itemsize, widest * k_max)
    cols = scratch("transpose_cols", (budget,), dtype)
    buf = scratch("transpose_products", (max(widest, budget // max(1, k_max)) * filters,), dtype)
    return cols, buf


def _phase_forward(x, wph, offsets, y, b, relu, g) -> None:
    cols, buf = _phase_scratch(g, y.shape[3], x.shape[3], x.dtype)
    (kh, kw), (sh, sw) = g.effective_kernel, g.strides
    _phases.forward_chunk(x, wph, offsets, y, cols, buf, kh, kw, sh, sw, g.crops[0], g.crops[2],
                          np.zeros(y.shape[3], x.dtype) if b is None else b, relu)


def _phase_kernel_grad(x, dy, out, relu, dz, write_dz, offsets, g):
    """(packed phase kernel gradient, bias gradient) of one chunk of images, new arrays."""
    filters = dy.shape[3]
    cols, buf = _phase_scratch(g, filters, x.shape[3], x.dtype)
    (kh, kw), (sh, sw) = g.effective_kernel, g.strides
    dwph = np.empty((max(int(offsets[-1]), 1), filters), x.dtype)
    db = np.zeros(filters, x.dtype)
    _phases.kernel_grad_chunk(x, dy, out, relu, dz, write_dz, db, dwph, offsets, cols, buf, kh, kw, sh, sw,
                              g.crops[0], g.crops[2])
    return dwph, db


def _unpack_phase_grad(dwph, offsets, w_shape, strides) -> np.ndarray:
    """The inverse of :func:`phase_weights`: a (kh, kw, F, C) kernel gradient."""
    kh, kw, filters, chans = w_shape
    sh, sw = strides
    dw = np.zeros(w_shape, dwph.dtype)
    for rh in range(sh):
        for rw in range(sw):
            r = rh * sw + rw
            mh, mw = len(range(rh, kh, sh)), len(range(rw, kw, sw))
            part = dwph[offsets[r]:offsets[r + 1]].reshape(mh, mw, chans, filters)
            dw[rh::sh, rw::sw] = part.transpose(0, 1, 3, 2)
    return dw


def _output_pass(y, b, relu, i, j) -> None:
    if b is not None or relu:
        filters = y.shape[-1]
        _conv.bias_act_rows(y[i:j].reshape(-1, filters), y.reshape(-1) if b is None else b, b is not None, relu)


def transpose_backward(dy: np.ndarray, x: np.ndarray, w: np.ndarray, out: np.ndarray | None, relu: bool,
                       has_bias: bool, g: TransposeGeometry, need_input: bool = True, need_kernel: bool = True):
    """All the gradients of :func:`transpose_forward`, one chunk of images per thread.

    Args:
        dy: gradient of the output, (N, OH, OW, F).
        x: the forward input, (N, H, W, C).
        w: kernel, (kh, kw, F, C).
        out: the forward output (read when ``relu``).
        relu, has_bias: what the forward pass fused.
        g: the `TransposeGeometry`.
        need_input, need_kernel: which gradients to compute.

    Returns:
        (dx, dw, db), each None when not needed (``db`` when not ``has_bias``).
    """
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    _check_float(x, "input")
    expected = (x.shape[0], *g.out_hw, w.shape[2])
    if tuple(dy.shape) != expected:
        raise ValueError(f"conv2d_transpose: the output gradient has shape {tuple(dy.shape)}, expected {expected}")
    filters = w.shape[2]
    wd = np.ascontiguousarray(dilated(w, g.dilation), dtype=x.dtype)
    output_pass = relu or has_bias
    if x.size == 0 or dy.size == 0:
        dx = np.zeros(x.shape, x.dtype) if need_input else None
        dw = np.zeros(w.shape, x.dtype) if need_kernel else None
        db = dy.reshape(-1, filters).sum(0) if has_bias else None
        return dx, dw, db
    # The convolution reads the output gradient only where the full output reaches: appended
    # rows and columns (negative bottom or right crops) are cut off.
    read_h, read_w = g.read_hw
    cut = (read_h, read_w) != g.out_hw
    cg = g.conv(wd.shape, x.dtype, out_hw=(read_h, read_w))
    phases = need_kernel and uses_phases(g)
    if phases:  # the output pass is fused into the kernel gradient's read of dy
        write_dz = relu and need_input
        dz = memory.empty_aligned(dy.shape, dy.dtype) if write_dz else dy
    else:
        dz = memory.empty_aligned(dy.shape, dy.dtype) if output_pass else dy
    src = memory.empty_aligned((dy.shape[0], read_h, read_w, filters), dy.dtype) if cut else dz
    k_chunk = finish = None
    if phases:
        offsets = phase_weights(wd[:, :, :1, :1], g.strides)[1] * x.shape[3]  # rows of each phase
        ref = out if relu else dy

        def finish(parts):
            return _unpack_phase_grad(sum_parts(parts, x.dtype), offsets, wd.shape, g.strides)
    elif need_kernel:
        k_chunk, finish = choose("kernel_grad", cg).run(x, src, cg, wd.shape)

    def chunk(i, j):
        """Output pass (ReLU mask, bias gradient) and kernel gradient of images i:j."""
        if phases:
            dwph, db = _phase_kernel_grad(x[i:j], dy[i:j], ref[i:j], relu, dz[i:j], write_dz, offsets, g)
        else:
            db = None
            if output_pass:
                db = np.zeros(filters, dy.dtype)
                _conv.relu_grad_bias_rows(dy[i:j].reshape(-1, filters), (out if relu else dy)[i:j].reshape(-1, filters),
                                          relu, dz[i:j].reshape(-1, filters), db)
            dwph = None
        if cut:
            src[i:j] = dz[i:j, :read_h, :read_w]
        if k_chunk is not None:
            dwph = k_chunk(i, j)
        return db, dwph

    parts = by_images(chunk, x)
    db = np.sum([p[0] for p in parts], axis=0, dtype=dy.dtype) if has_bias else None
    dw = None
    if need_kernel:
        dwd = finish([p[1] for p in parts])
        dh, dwv = g.dilation
        dw = np.ascontiguousarray(dwd[::dh, ::dwv]) if (dh, dwv) != (1, 1) else dwd
    dx = None
    if need_input:  # a forward convolution, which splits the batch over the threads itself
        dx = memory.empty_aligned(x.shape, x.dtype)
        choose("forward", cg).run(src, wd, None, False, cg, dx)
    return dx, dw, db
