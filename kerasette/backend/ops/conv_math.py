"""Array-level convolution and max-pooling: tiled implicit GEMM on numba packing and numpy BLAS.

A convolution is a matrix product between patches and the reshaped kernel. The patch matrix of a
whole batch is never built: numba packs the patches of a *tile* of output rows into a reusable
buffer (sized to stay in cache) and calls numpy's BLAS (`kerasette.backend.kernels.blas`) to
multiply it straight into the output, a whole chunk of images in one GIL-free kernel call
(1x1 stride-1 convolutions are one ``np.matmul``). The batch is split into one chunk of whole
images per core (`kerasette.backend.parallel`); each chunk runs in its own thread with the serial
kernels and a single-threaded BLAS, so nothing is nested and each core works in its own cache.

* few input channels (``direct.MAX_CHANNELS``) and output channels in whole vector pairs:
  direct convolution in SIMD registers (`kerasette.backend.ops.direct`; the input gradient at
  stride 1).
* other 3x3 stride-1 convolutions with enough channels: Winograd F(4x4, 3x3)
  (`kerasette.backend.ops.winograd`; the input gradient only with ``FULL_CONV_MIN_CIN`` input
  channels); what follows describes the others.
* forward: ``y_tile = cols_tile @ w2d``, bias and ReLU fused into one pass over the tile.
* backward to the input: for stride 1 and enough input channels a 'full' convolution of ``dy``
  with the flipped, transposed kernel (same machinery as the forward pass); otherwise
  ``dcols = dy_tile @ w2d.T`` and a col2im scatter-add.
* backward to the kernel: ``dw2d += cols_tile.T @ dy_tile``.

Stride-1 convolutions with at least ``conv_rows.ROWS_MIN_CIN`` input channels (forward, the 'full'
input gradient and the kernel gradient) pack only ``kw * C`` values per output position instead
of ``kh * kw * C`` (`kerasette.backend.ops.conv_rows`); 20% faster on the seed model's 32->32 layer.

`conv2d_backward` runs a layer's whole backward pass (ReLU and bias, input gradient, kernel
gradient) chunk by chunk in one dispatch to the pool; the single-gradient functions stay for
the Keras-backend API and the tests.

Inputs are C-contiguous float32 or float64 NHWC arrays and are not validated (the ops that call
these functions do that); outputs have the dtype of ``x``.

Example:
    >>> x = np.ones((1, 4, 4, 2), np.float32); w = np.ones((3, 3, 2, 5), np.float32)
    >>> conv2d_forward(x, w, padding="same")[0, :, :, 0]
    array([[ 8., 12., 12.,  8.],
           [12., 18., 18., 12.],
           [12., 18., 18., 12.],
           [ 8., 12., 12.,  8.]], dtype=float32)
"""

from __future__ import annotations

import math
import threading

import numpy as np

from kerasette.backend import memory, parallel
from kerasette.backend.kernels import conv as _conv
from kerasette.backend.kernels import pool as _pool
from kerasette.backend.ops import conv_rows, direct, winograd
from kerasette.utils.conv_utils import conv_output_length, padding_amounts

#: Target size in bytes of one packed patch tile (tuned with tests/benchmarks/conv_layers.py).
TILE_BYTES = 2 << 20

#: Stride-1 input gradients with at least this many input channels use the 'full' convolution;
#: fewer channels make its GEMM too narrow, and col2im is faster (3x for cin=3).
FULL_CONV_MIN_CIN = 16

#: Stride-1 convolutions with enough input channels use the kw-packed row GEMM
#: (`kerasette.backend.ops.conv_rows`) for the forward pass and the 'full' input gradient.
ROWS_PATH = True

#: ... and for the kernel gradient.
ROWS_WEIGHT_GRAD = True

#: Convolutions with few input channels use the direct SIMD kernels
#: (`kerasette.backend.ops.direct`): forward pass and kernel gradient, and the input gradient at
#: stride 1.
DIRECT = True

#: 3x3 stride-1 convolutions with enough channels use Winograd F(4x4, 3x3)
#: (`kerasette.backend.ops.winograd`) for all three passes.
WINOGRAD = True

#: Target size in bytes of one block of Winograd-transformed tiles.
WINOGRAD_BLOCK_BYTES = 512 << 10

#: Ops touching fewer input elements than this run in the calling thread: handing them to the
#: pool costs more than it saves.
PARALLEL_MIN_ELEMENTS = 1 << 15

_local = threading.local()


def _buffer(role: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A reusable scratch array of ``shape``, one per (thread, role, dtype); contents undefined."""
    cache = getattr(_local, "buffers", None)
    if cache is None:
        cache = _local.buffers = {}
    size = math.prod(shape)
    key = (role, np.dtype(dtype).str)
    buf = cache.get(key)
    if buf is None or buf.size < size:
        buf = cache[key] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


def _by_images(fn, array: np.ndarray, min_elements: int = PARALLEL_MIN_ELEMENTS) -> list:
    """Runs ``fn(first, last)`` on chunks of the batch (axis 0 of ``array``), one per thread
    (in the calling thread when ``array`` has fewer than ``min_elements`` elements)."""
    return parallel.map_chunks(fn, array.shape[0], min_elements, math.prod(array.shape[1:]))


def _rows_per_tile(n_rows: int, row_elems: int, itemsize: int) -> int:
    """How many output image rows to pack per tile so the tile is about ``TILE_BYTES``."""
    return max(1, min(n_rows, TILE_BYTES // max(1, row_elems * itemsize)))


def _check_float(array: np.ndarray, role: str) -> None:
    """The kernels multiply float32 or float64 only (numpy's BLAS has no other product)."""
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"conv2d: the {role} must be float32 or float64, received {array.dtype}; "
                        "cast it first (for example with K.cast(x, 'float32'))")


def _check_grad_shape(dy, x_shape, w_shape, strides, padding) -> None:
    """The kernels index ``dy`` by the shapes of the forward pass: a gradient of another shape
    would be read out of bounds."""
    (oh_n, ow_n), _ = _geometry(x_shape, w_shape[:2], strides, padding)
    expected = (x_shape[0], oh_n, ow_n, w_shape[3])
    if tuple(dy.shape) != expected:
        raise ValueError(f"conv2d: the output gradient has shape {tuple(dy.shape)}, expected {expected} for an "
                         f"input of shape {tuple(x_shape)} and a kernel of shape {tuple(w_shape)} "
                         f"(strides {tuple(strides)}, padding '{padding}')")


def _geometry(x_shape, kernel, strides, padding):
    """Output size and (top, bottom, left, right) padding of a 2-D window over NHWC ``x_shape``."""
    _, height, width, _ = x_shape
    out_h = conv_output_length(height, kernel[0], padding, strides[0])
    out_w = conv_output_length(width, kernel[1], padding, strides[1])
    return (out_h, out_w), padding_amounts(height, width, kernel, strides, padding)


def _gemm_conv(x, w2d, kernel, strides, pads, y, b=None, relu=False) -> None:
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
    rows = _rows_per_tile(n_img * oh_n, ow_n * k, x.itemsize)
    cols = _buffer("cols", (rows * ow_n, k), x.dtype)
    _conv.gemm_conv_chunk(x, w2d, y, cols, kh, kw, sh, sw, pt, pl, bias, b is not None, relu)


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    strides: tuple[int, int] = (1, 1),
    padding: str = "valid",
    relu: bool = False,
) -> np.ndarray:
    """2-D convolution (cross-correlation, as in Keras) of NHWC images.

    Args:
        x: input images, (N, H, W, cin).
        w: kernel, (kh, kw, cin, cout).
        b: optional bias, (cout,).
        strides: (sh, sw).
        padding: 'valid' or 'same' (TensorFlow's split).
        relu: fuse a ReLU into the output pass.

    Returns:
        y, (N, OH, OW, cout), dtype of ``x``.
    """
    kh, kw, cin, cout = w.shape
    x = np.ascontiguousarray(x)
    _check_float(x, "input")
    (oh_n, ow_n), pads = _geometry(x.shape, (kh, kw), strides, padding)
    y = memory.empty_aligned((x.shape[0], oh_n, ow_n, cout), x.dtype)
    if y.size == 0:
        return y
    w = np.ascontiguousarray(w, dtype=x.dtype)  # the kernels read it by address: no strided views
    b = None if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    if DIRECT and direct.usable(cin, cout, x.dtype):
        wa = memory.aligned(w)  # the kernel's vector loads
        _by_images(lambda i, j: direct.conv(x[i:j], wa, strides, pads, y[i:j], _buffer, b, relu), x)
        return y
    if WINOGRAD and winograd.usable((kh, kw), strides, cin, (oh_n, ow_n)):
        u = winograd.kernel_transform(w)
        _by_images(lambda i, j: winograd.conv(x[i:j], u, pads, y[i:j], _buffer, WINOGRAD_BLOCK_BYTES, b, relu), x)
        return y
    if ROWS_PATH and conv_rows.usable((kh, kw), strides, cin):
        wcat = conv_rows.stacked_weights(w)
        _by_images(lambda i, j: conv_rows.conv(x[i:j], wcat, (kh, kw), pads, y[i:j], _buffer, TILE_BYTES,
                                               b, relu), x)
        return y
    w2d = w.reshape(kh * kw * cin, cout)
    _by_images(lambda i, j: _gemm_conv(x[i:j], w2d, (kh, kw), strides, pads, y[i:j], b, relu), x)
    return y


def conv2d_backward_input(
    dy: np.ndarray,
    w: np.ndarray,
    x_shape: tuple[int, int, int, int],
    strides: tuple[int, int],
    padding: str,
) -> np.ndarray:
    """Gradient of :func:`conv2d_forward` with respect to its input ``x``.

    Args:
        dy: output gradient, (N, OH, OW, cout).
        w: kernel, (kh, kw, cin, cout).
        x_shape: shape of the forward input, (N, H, W, cin).
        strides: (sh, sw).
        padding: 'valid' or 'same'.

    Returns:
        dx, ``x_shape``, dtype of ``dy``.
    """
    dy = np.ascontiguousarray(dy)
    _check_float(dy, "output gradient")
    _check_grad_shape(dy, x_shape, w.shape, strides, padding)
    dx, chunk = _input_grad_plan(dy, w, x_shape, strides, padding)
    if chunk is not None:
        _by_images(chunk, dx)
    return dx


def _input_grad_plan(dy, w, x_shape, strides, padding):
    """``(dx, chunk)``: ``chunk(i, j)`` fills ``dx[i:j]`` from ``dy[i:j]`` (None when nothing is
    left to compute). ``dy`` must be C-contiguous; it is only read inside ``chunk``.

    Stride-1 gradients of layers the direct kernels take run there; other stride-1 gradients with
    enough input channels are the 'full' convolution of ``dy`` with the flipped, transposed
    kernel (Winograd, row GEMM or GEMM, as for the forward pass); the others multiply tiles of
    ``dy`` by the kernel and add the patches back (col2im).
    """
    kh, kw, cin, cout = w.shape
    w = w.astype(dy.dtype, copy=False)
    _, pads = _geometry(x_shape, (kh, kw), strides, padding)
    if DIRECT and tuple(strides) == (1, 1) and direct.usable(cin, cout, dy.dtype) and dy.size:
        dx = memory.empty_aligned(x_shape, dy.dtype)
        wf = direct.flipped_kernel(w)
        return dx, lambda i, j: direct.input_grad(dy[i:j], wf, pads, dx[i:j])
    if tuple(strides) != (1, 1) or cin < FULL_CONV_MIN_CIN:
        dx = np.zeros(x_shape, dy.dtype)
        if dy.size == 0:
            return dx, None
        return dx, lambda i, j: _backward_input_col2im(dy[i:j], w, dx[i:j], strides, pads)
    wf = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
    full = (kh - 1 - pads[0], kh - 1 - pads[1], kw - 1 - pads[2], kw - 1 - pads[3])
    dx = memory.empty_aligned(x_shape, dy.dtype)
    if dx.size == 0:
        return dx, None
    if dy.size == 0:
        dx[...] = 0
        return dx, None
    if WINOGRAD and winograd.usable((kh, kw), (1, 1), cout, x_shape[1:3]):
        u = winograd.kernel_transform(wf)
        return dx, lambda i, j: winograd.conv(dy[i:j], u, full, dx[i:j], _buffer, WINOGRAD_BLOCK_BYTES)
    if ROWS_PATH and conv_rows.usable((kh, kw), (1, 1), cout):
        wcat = conv_rows.stacked_weights(wf)
        return dx, lambda i, j: conv_rows.conv(dy[i:j], wcat, (kh, kw), full, dx[i:j], _buffer, TILE_BYTES)
    w2d = wf.reshape(kh * kw * cout, cin)
    return dx, lambda i, j: _gemm_conv(dy[i:j], w2d, (kh, kw), (1, 1), full, dx[i:j])


def _backward_input_col2im(dy, w, dx, strides, pads) -> None:
    """Input gradient by tiles: ``dcols = dy_tile @ w2d.T``, then col2im adds it into ``dx``."""
    kh, kw, cin, cout = w.shape
    n_img, oh_n, ow_n, _ = dy.shape
    k = kh * kw * cin
    rows = _rows_per_tile(n_img * oh_n, ow_n * k, dy.itemsize)
    dcols = _buffer("dcols", (rows * ow_n, k), dy.dtype)
    _conv.col2im_input_grad_chunk(dy, np.ascontiguousarray(w.reshape(k, cout)), dx, dcols, kh, kw,
                                  *strides, pads[0], pads[2])


def conv2d_backward_weight(
    dy: np.ndarray,
    x: np.ndarray,
    w_shape: tuple[int, int, int, int],
    strides: tuple[int, int],
    padding: str,
) -> np.ndarray:
    """Gradient of :func:`conv2d_forward` with respect to its kernel ``w``.

    Args:
        dy: output gradient, (N, OH, OW, cout).
        x: forward input, (N, H, W, cin).
        w_shape: kernel shape, (kh, kw, cin, cout).
        strides: (sh, sw).
        padding: 'valid' or 'same'.

    Returns:
        dw, ``w_shape``, dtype of ``x``.
    """
    _check_grad_shape(dy, x.shape, w_shape, strides, padding)
    if dy.size == 0:
        return np.zeros(w_shape, x.dtype)
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    chunk, finish = _weight_grad_plan(dy, x, w_shape, strides, padding)
    return finish(_by_images(chunk, x))


def _weight_grad_plan(dy, x, w_shape, strides, padding):
    """``(chunk, finish)``: ``chunk(i, j)`` returns the part of images ``i:j`` and
    ``finish(parts)`` the kernel gradient. ``dy`` and ``x`` must be C-contiguous, of one dtype,
    and not empty; ``dy`` is only read inside ``chunk``."""
    kh, kw, cin, cout = w_shape
    _, oh_n, ow_n, _ = dy.shape
    _, pads = _geometry(x.shape, (kh, kw), strides, padding)

    def total(parts):
        return np.sum(parts, axis=0, dtype=x.dtype).reshape(w_shape)

    if DIRECT and direct.usable(cin, cout, x.dtype):
        return lambda i, j: direct.weight_grad(dy[i:j], x[i:j], (kh, kw), strides, pads, _buffer), total
    if WINOGRAD and winograd.usable((kh, kw), strides, cin, (oh_n, ow_n)):
        return (lambda i, j: winograd.weight_grad(dy[i:j], x[i:j], pads, _buffer, WINOGRAD_BLOCK_BYTES),
                lambda parts: winograd.kernel_grad(np.sum(parts, axis=0, dtype=x.dtype)))

    if ROWS_PATH and ROWS_WEIGHT_GRAD and conv_rows.usable((kh, kw), strides, cin):
        return lambda i, j: conv_rows.weight_grad(dy[i:j], x[i:j], (kh, kw), pads, _buffer, TILE_BYTES), total
    k = kh * kw * cin
    return lambda i, j: _weight_grad_part(dy[i:j], x[i:j], k, (kh, kw), strides, pads), total


def conv2d_backward(dy, x, w, out, relu, has_bias, strides, padding, need_input=True, need_kernel=True):
    """All the gradients of :func:`conv2d_forward` in one pass over the batch.

    Each thread takes its chunk of images through the output pass (ReLU mask, bias gradient),
    the input gradient and its part of the kernel gradient in turn, so the chunk's gradient is
    still in its core's cache when the second and third passes read it, and the pool is
    dispatched once instead of three times.

    Args:
        dy: gradient of the layer's output, (N, OH, OW, cout).
        x: forward input, (N, H, W, cin).
        w: kernel, (kh, kw, cin, cout).
        out: forward output (read when ``relu``).
        relu, has_bias: what the forward pass fused.
        strides, padding: as for :func:`conv2d_forward`.
        need_input, need_kernel: which gradients to compute.

    Returns:
        (dx, dw, db), each None when not needed (``db`` when not ``has_bias``).
    """
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy)
    _check_grad_shape(dy, x.shape, w.shape, strides, padding)
    if dy.size == 0 or x.size == 0 or dy.dtype != x.dtype:
        return _backward_in_passes(dy, x, w, out, relu, has_bias, strides, padding, need_input, need_kernel)
    output_pass = relu or has_bias
    dz = memory.empty_aligned(dy.shape, dy.dtype) if output_pass else dy
    dx = in_chunk = w_chunk = finish = None
    if need_input:
        dx, in_chunk = _input_grad_plan(dz, w, x.shape, strides, padding)
    if need_kernel:
        w_chunk, finish = _weight_grad_plan(dz, x, w.shape, strides, padding)

    def chunk(i, j):
        db = _output_pass_part(dy, out, relu, dz, i, j) if output_pass else None
        if in_chunk is not None:
            in_chunk(i, j)
        return db, (w_chunk(i, j) if w_chunk is not None else None)

    parts = _by_images(chunk, x)
    db = np.sum([p[0] for p in parts], axis=0, dtype=dy.dtype) if has_bias else None
    dw = finish([p[1] for p in parts]) if need_kernel else None
    return dx, dw, db


def _backward_in_passes(dy, x, w, out, relu, has_bias, strides, padding, need_input, need_kernel):
    """:func:`conv2d_backward` one pass at a time (empty arrays, mixed dtypes)."""
    db = None
    if relu or has_bias:
        dy, db = output_pass_backward(dy, out, relu)
    dx = conv2d_backward_input(dy, w, x.shape, strides, padding) if need_input else None
    dw = conv2d_backward_weight(dy, x, w.shape, strides, padding) if need_kernel else None
    return dx, dw, (db if has_bias else None)


def _weight_grad_part(dy, x, k, kernel, strides, pads) -> np.ndarray:
    """``sum over tiles of cols_tile.T @ dy_tile`` for one chunk of images, a new (k, cout) array."""
    n_img, oh_n, ow_n, cout = dy.shape
    dw = np.empty((k, cout), x.dtype)
    rows = _rows_per_tile(n_img * oh_n, ow_n * k, x.itemsize)
    cols = _buffer("cols", (rows * ow_n, k), x.dtype)
    _conv.gemm_weight_grad_chunk(dy, x, dw, cols, *kernel, *strides, pads[0], pads[2])
    return dw


def output_pass_backward(dy: np.ndarray, out: np.ndarray | None, relu: bool) -> tuple[np.ndarray, np.ndarray]:
    """Backward of the fused bias-and-ReLU output pass of :func:`conv2d_forward`.

    Args:
        dy: gradient of the layer's output, (N, OH, OW, cout).
        out: the forward output (needed when ``relu``).
        relu: whether the forward pass applied a ReLU.

    Returns:
        (dz, db): the gradient before the ReLU, and the bias gradient (cout,), in one pass.
    """
    dy = np.ascontiguousarray(dy)
    dz = memory.empty_aligned(dy.shape, dy.dtype)
    parts = _by_images(lambda i, j: _output_pass_part(dy, out, relu, dz, i, j), dy)
    return dz, np.sum(parts, axis=0, dtype=dy.dtype)


def _output_pass_part(dy, out, relu, dz, i, j) -> np.ndarray:
    """:func:`output_pass_backward` for images ``i:j``: fills ``dz[i:j]``, returns their bias gradient."""
    cout = dy.shape[-1]
    db = np.zeros(cout, dy.dtype)
    ref = out if relu else dy
    _conv.relu_grad_bias_rows(dy[i:j].reshape(-1, cout), ref[i:j].reshape(-1, cout), relu,
                              dz[i:j].reshape(-1, cout), db)
    return db


def maxpool2d_forward(
    x: np.ndarray,
    pool_size: tuple[int, int],
    strides: tuple[int, int],
    padding: str,
) -> tuple[np.ndarray, np.ndarray]:
    """2-D max pooling of NHWC images, keeping the winners' positions for the backward pass.

    Args:
        x: input, (N, H, W, C).
        pool_size: (ph, pw).
        strides: (sh, sw).
        padding: 'valid' or 'same' ('same' pads with -inf).

    Returns:
        (y, argmax), both (N, OH, OW, C); ``argmax`` holds int32 (or int64 for huge images)
        flat positions ``h * W + w`` within each image's plane.
    """
    (oh_n, ow_n), pads = _geometry(x.shape, pool_size, strides, padding)
    n_img, height, width, chans = x.shape
    index_dtype = np.int32 if height * width < 2**31 else np.int64
    y = memory.empty_aligned((n_img, oh_n, ow_n, chans), x.dtype)
    argmax = np.empty(y.shape, index_dtype)
    if y.size:
        _by_images(lambda i, j: _pool.maxpool_forward(x[i:j], y[i:j], argmax[i:j], *pool_size, *strides,
                                                      pads[0], pads[2]), x, parallel.MEMORY_BOUND_MIN)
    return y, argmax


def maxpool2d_backward(dy: np.ndarray, argmax: np.ndarray, x_shape: tuple[int, int, int, int]) -> np.ndarray:
    """Gradient of :func:`maxpool2d_forward`: each ``dy`` goes to its window's winner.

    Args:
        dy: output gradient, (N, OH, OW, C).
        argmax: the positions returned by :func:`maxpool2d_forward`.
        x_shape: shape of the forward input, (N, H, W, C).

    Returns:
        dx, ``x_shape``, dtype of ``dy``.
    """
    n_img, height, width, chans = x_shape
    dx = memory.empty_aligned(x_shape, dy.dtype)
    if not dy.size:
        dx[...] = 0
    else:
        flat = dx.reshape(n_img, height * width, chans)
        _by_images(lambda i, j: _pool.maxpool_backward(dy[i:j], argmax[i:j], flat[i:j]), dx,
                   parallel.MEMORY_BOUND_MIN)
    return dx
