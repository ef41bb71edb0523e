"""3-D convolution and pooling of channels-last volumes (N, D, H, W, C), on the numba kernels of
`kerasette.backend.kernels.conv3d` and `kerasette.backend.kernels.pooling3d`.

The convolution is an implicit GEMM, as the 2-D engine's (`gemm_conv`): patches are packed into a
per-thread scratch buffer and multiplied by the reshaped kernel with numpy's BLAS inside one
GIL-free kernel call per chunk of the batch; the batch is split over the threads
(`batch.by_images`). Two packings: plane by plane (the 2-D patches of each input depth plane
packed once and reused by every kernel depth tap that reads it, a matrix product per tap: a
3-deep kernel packs a third as much; likewise the input gradient sums each input plane's patch
gradients over the taps before one scatter), when the ring of packed planes fits `PLANES_MAX_BYTES`; else
tiles of output rows (about the ``tile_bytes`` setting) with every tap's patches, one product per
tile. A 1 x 1 x 1 kernel at stride 1 is one matrix product. Grouped convolutions pack one
group's channels at a time and multiply into that group's columns of the output. Dilation is
read by the packing (the taps ``d`` apart), so it costs nothing more than a plain convolution.

Padding is TensorFlow's (Keras's): 'same' pads ``max((out - 1) * s + extent - n, 0)``, the
smaller half before.
"""

from __future__ import annotations

import math

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.engine.batch import by_images, scratch
from kerasette.backend.engine.gemm_conv import rows_per_tile
from kerasette.backend.kernels import conv as _conv_kernels
from kerasette.backend.kernels import conv3d as _kernels
from kerasette.backend.kernels import pooling3d as _pool
from kerasette.utils import conv_utils


def output_and_padding(spatial, window, strides, padding: str):
    """(output sizes, padding before each axis) of a window of ``window`` extents over ``spatial``."""
    out = tuple(conv_utils.conv_output_length(n, k, padding, s) for n, k, s in zip(spatial, window, strides))
    if padding == "same":
        before = tuple(conv_utils.same_padding(n, k, s)[0] for n, k, s in zip(spatial, window, strides))
    else:
        before = (0, 0, 0)
    return out, before


#: The largest ring of packed planes (per thread) for which a convolution packs plane by plane;
#: above it (large images) it packs tiles of output rows instead, each kernel depth tap again.
PLANES_MAX_BYTES = 16 << 20


class Geometry:
    """The shapes of one 3-D convolution: kernel (kd, kh, kw, C // groups, F) over x (N, D, H, W, C).

    ``padding`` is 'valid', 'same', or the padding before each spatial axis given as three ints,
    with the output sizes ``out`` (the transposed convolution's window of its full result)."""

    def __init__(self, x_shape, kernel_shape, strides, padding, dilation, groups, out=None):
        self.size = tuple(kernel_shape[:3])
        self.extent = tuple((k - 1) * d + 1 for k, d in zip(self.size, dilation))
        if isinstance(padding, str):
            self.out, before = output_and_padding(x_shape[1:4], self.extent, strides, padding)
        else:
            self.out, before = tuple(out), tuple(padding)
        self.geom = np.array(self.size + tuple(strides) + tuple(dilation) + before, np.int64)
        self.groups = groups
        self.k = math.prod(self.size) * kernel_shape[3]
        self.filters = kernel_shape[4]

    def pointwise(self, x_shape) -> bool:
        """A 1 x 1 x 1 kernel moved one cell at a time over one group: the convolution is one
        matrix product of the (N * D * H * W, C) input (no patches to pack)."""
        return self.size == (1, 1, 1) and tuple(self.geom[3:6]) == (1, 1, 1) and self.groups == 1 \
            and self.out == tuple(x_shape[1:4]) and not self.geom[9:12].any()

    def planes(self, x_shape, itemsize: int) -> bool:
        """Whether to pack plane by plane (`kernels.conv3d_planes_forward_chunk`): one group, a
        kernel more than one deep whose taps overlap from one output plane to the next (each
        input plane's patches then serve several output planes), and a ring of packed planes
        within `PLANES_MAX_BYTES`."""
        kd, sd = self.size[0], int(self.geom[3])
        return (self.groups == 1 and kd > 1 and sd < self.extent[0]
                and self.ring_shape(x_shape)[0] * math.prod(self.ring_shape(x_shape)[1:]) * itemsize
                <= PLANES_MAX_BYTES)

    def ring_shape(self, x_shape) -> tuple[int, int, int]:
        """(slots, OH * OW, kh * kw * C) of the ring of packed planes."""
        return self.extent[0], self.out[1] * self.out[2], self.size[1] * self.size[2] * x_shape[4]

    def rows(self, n_img: int, itemsize: int) -> int:
        """Output rows (of OW positions) per tile."""
        return rows_per_tile(n_img * self.out[0] * self.out[1], self.out[2] * self.k, itemsize)


def conv3d_forward(x, kernel, bias, strides, padding, dilation, groups, relu, out=None):
    """``relu?(conv3d(x, kernel) + bias)``: a new (N, OD, OH, OW, F) array.

    Args:
        x: (N, D, H, W, C); kernel: (kd, kh, kw, C // groups, F), the same dtype; bias: (F,) or None.
        strides, dilation: three ints each; padding: 'valid', 'same' or three ints (the padding
            before each axis, with ``out``: see `Geometry`); groups: channel groups.
        relu: apply a ReLU after the bias.
    """
    x = np.ascontiguousarray(x)
    g = Geometry(x.shape, kernel.shape, strides, padding, dilation, groups, out)
    y = np.empty((x.shape[0],) + g.out + (g.filters,), x.dtype)
    if y.size == 0:
        return y
    w2d = np.ascontiguousarray(kernel.reshape(g.k, g.filters))
    has_bias = bias is not None
    b = np.ascontiguousarray(bias, x.dtype) if has_bias else w2d[0]
    if g.pointwise(x.shape):
        y2d = parallel.matmul(x.reshape(-1, g.k), w2d, out=y.reshape(-1, g.filters))
        if has_bias or relu:
            by_images(lambda a, c: _bias_act(y2d, a, c, b, has_bias, relu), y2d)
        return y

    planes = g.planes(x.shape, x.itemsize)

    def run(first, last):
        if planes:
            ring = scratch("ring3d", g.ring_shape(x.shape), x.dtype)
            tags = scratch("tags3d", (g.extent[0],), np.int64)
            _kernels.conv3d_planes_forward_chunk(x[first:last], w2d, y[first:last], ring, tags, g.geom, b, has_bias,
                                                 relu)
            return
        cols = scratch("cols3d", (g.rows(last - first, x.itemsize) * g.out[2], g.k), x.dtype)
        _kernels.conv3d_forward_chunk(x[first:last], w2d, y[first:last], cols, g.geom, groups, b, has_bias, relu)

    by_images(run, x)
    return y


def conv3d_backward(dz, x, kernel, strides, padding, dilation, groups, need_input=True, need_kernel=True):
    """(input gradient or None, kernel gradient or None) of a 3-D convolution, from ``dz``, the
    gradient at its output before the bias (the ReLU's mask already applied)."""
    gx = conv3d_input_grad(dz, x.shape, kernel, strides, padding, dilation, groups) if need_input else None
    gk = conv3d_kernel_grad(dz, x, kernel.shape, strides, padding, dilation, groups) if need_kernel else None
    return gx, gk


def conv3d_input_grad(dz, x_shape, kernel, strides, padding, dilation, groups, out=None):
    """The gradient of a 3-D convolution's input of shape ``x_shape``, from the gradient ``dz``
    at its output (the adjoint of the convolution: also the transposed convolution of ``dz``).
    Arguments as for `conv3d_forward`."""
    dz = np.ascontiguousarray(dz)
    g = Geometry(x_shape, kernel.shape, strides, padding, dilation, groups, out)
    w2d = np.ascontiguousarray(kernel.reshape(g.k, g.filters))
    if g.pointwise(x_shape):
        return parallel.matmul(dz.reshape(-1, g.filters), np.ascontiguousarray(w2d.T)).reshape(x_shape)
    gx = np.zeros(x_shape, dz.dtype)
    if dz.size == 0:
        return gx
    planes = g.planes(x_shape, dz.itemsize)

    def run(first, last):
        if planes:
            dcols = scratch("dplane3d", g.ring_shape(x_shape)[1:], dz.dtype)
            _kernels.conv3d_planes_input_grad_chunk(dz[first:last], w2d, gx[first:last], dcols, g.geom)
            return
        dcols = scratch("dcols3d", (g.rows(last - first, dz.itemsize) * g.out[2], g.k), dz.dtype)
        _kernels.conv3d_input_grad_chunk(dz[first:last], w2d, gx[first:last], dcols, g.geom, groups)

    by_images(run, dz)
    return gx


def conv3d_kernel_grad(dz, x, kernel_shape, strides, padding, dilation, groups, out=None):
    """The gradient of a 3-D convolution's kernel, from ``dz`` at its output and its input ``x``,
    each chunk of the batch summed in its own array, then the chunks in order. Arguments as for
    `conv3d_forward`."""
    dz, x = np.ascontiguousarray(dz), np.ascontiguousarray(x)
    g = Geometry(x.shape, kernel_shape, strides, padding, dilation, groups, out)
    if g.pointwise(x.shape):
        return parallel.matmul(np.ascontiguousarray(x.reshape(-1, g.k).T), dz.reshape(-1, g.filters)).reshape(
            kernel_shape)
    if dz.size == 0:
        return np.zeros(kernel_shape, x.dtype)

    planes = g.planes(x.shape, x.itemsize)

    def run(first, last):
        dw = np.empty((g.k, g.filters), x.dtype)
        if planes:
            ring = scratch("ring3d", g.ring_shape(x.shape), x.dtype)
            tags = scratch("tags3d", (g.extent[0],), np.int64)
            _kernels.conv3d_planes_kernel_grad_chunk(dz[first:last], x[first:last], dw, ring, tags, g.geom)
            return dw
        cols = scratch("cols3d", (g.rows(last - first, x.itemsize) * g.out[2], g.k), x.dtype)
        _kernels.conv3d_kernel_grad_chunk(dz[first:last], x[first:last], dw, cols, g.geom, groups)
        return dw

    parts = by_images(run, dz)
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total.reshape(kernel_shape)


def _bias_act(y2d, first, last, b, has_bias, relu) -> None:
    _conv_kernels.bias_act_rows(y2d[first:last], b, has_bias, relu)


# -- pooling ---------------------------------------------------------------------------------------
def _pool_geometry(x_shape, pool_size, strides, padding):
    out, before = output_and_padding(x_shape[1:4], pool_size, strides, padding)
    return out, np.array(tuple(pool_size) + tuple(strides) + before, np.int64)


def maxpool3d_forward(x, pool_size, strides, padding):
    """(y, positions): the maximum of each window of (N, D, H, W, C) ``x`` and where it was."""
    x = np.ascontiguousarray(x)
    out, geom = _pool_geometry(x.shape, pool_size, strides, padding)
    shape = (x.shape[0],) + out + (x.shape[4],)
    y = np.empty(shape, x.dtype)
    arg = np.empty(shape, np.int32 if math.prod(x.shape[1:4]) < 2**31 else np.int64)
    if y.size:
        by_images(lambda a, b: _pool.maxpool3d_forward(x[a:b], y[a:b], arg[a:b], geom), x)
    return y, arg


def maxpool3d_backward(dy, arg, x_shape):
    """The input gradient of `maxpool3d_forward`: each window's gradient to its maximum."""
    dy = np.ascontiguousarray(dy)
    dx = np.zeros((x_shape[0], math.prod(x_shape[1:4]), x_shape[4]), dy.dtype)
    if dy.size:
        by_images(lambda a, b: _pool.maxpool3d_backward(dy[a:b], arg[a:b], dx[a:b]), dx)
    return dx.reshape(x_shape)


def avgpool3d_forward(x, pool_size, strides, padding):
    """The mean of each window of (N, D, H, W, C) ``x`` over its cells inside the volume."""
    x = np.ascontiguousarray(x)
    out, geom = _pool_geometry(x.shape, pool_size, strides, padding)
    y = np.empty((x.shape[0],) + out + (x.shape[4],), x.dtype)
    if y.size:
        by_images(lambda a, b: _pool.avgpool3d_forward(x[a:b], y[a:b], geom), x)
    return y


def avgpool3d_backward(dy, x_shape, pool_size, strides, padding):
    """The input gradient of `avgpool3d_forward`."""
    dy = np.ascontiguousarray(dy)
    _, geom = _pool_geometry(x_shape, pool_size, strides, padding)
    dx = np.zeros(x_shape, dy.dtype)
    if dy.size:
        by_images(lambda a, b: _pool.avgpool3d_backward(dy[a:b], dx[a:b], geom), dx)
    return dx
