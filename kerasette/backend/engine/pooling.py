"""2-D max and average pooling and global average pooling of NHWC arrays on the numba kernels,
split over the pool (one chunk of images per thread, the calls prepared: `parallel.map_prepared`).

Max pooling's forward pass keeps each window's winner (its flat position in the image's plane) so
that the backward pass sends each output gradient straight to it. Average pooling leaves the
cells of 'same' padding out of each mean, as Keras does. Windowed pooling splits the batch by
images; global average pooling by segments of images (`global_segments`), so that a batch of a
few large images still shares out evenly, each thread streaming through its own contiguous part
(`_by_segments`).
"""

from __future__ import annotations

import functools
import math
import weakref

import numpy as np

from kerasette.backend import memory, parallel
from kerasette.backend.engine.elementwise import PASS_MIN, split_map
from kerasette.backend.engine.geometry import window
from kerasette.backend.engine.normalization import leave_ticks
from kerasette.backend.engine.read_order import ReadOrder
from kerasette.backend.kernels import global_pool as _global
from kerasette.backend.kernels import inference_jobs as _jobs
from kerasette.backend.kernels import pool as _pool
from kerasette.backend.kernels import pool_tiles as _pool_tiles
from kerasette.backend.kernels.simd import VECTOR_BYTES as _VECTOR_BYTES


def _by_pieces(call_of, array: np.ndarray, min_elements: int) -> None:
    """Runs ``call_of(first, last)()`` (a kernel's call on images ``first:last``: a
    ``functools.partial``) over the batch (axis 0 of ``array``): one contiguous chunk of images per
    thread, the calls prepared by the calling thread (`parallel.map_prepared`: a worker reaches
    its kernel after its dispatch alone), or one call here when ``array`` has fewer than
    ``min_elements`` elements."""
    split_map(call_of, array.shape[0], math.prod(array.shape[1:]), min_elements)


def _split_min() -> int:
    """The least elements a windowed pooling pass splits over the threads: `elementwise.PASS_MIN`
    (or less under `parallel_settings`)."""
    return min(PASS_MIN, parallel.memory_bound_min())


def position_dtype(plane: int) -> np.dtype:
    """The smallest of uint16 and uint32 holding positions ``0 .. plane - 1`` (int64 beyond
    uint32's). Not uint8 for planes up to 16 x 16: each positions dtype is one more signature of
    every max pooling kernel to compile on a first run (the seed convnet's 10 x 10 pooling beside
    its 28 x 28 one: 0.5 s of compile), for a saving of bytes on the smallest arrays.

    Example:
        >>> position_dtype(96 * 96), position_dtype(16 * 16), position_dtype(2**20)
        (dtype('uint16'), dtype('uint16'), dtype('uint32'))
    """
    for dtype in (np.uint16, np.uint32):
        if plane <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.int64)


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
        (y, argmax), both (N, OH, OW, C); ``argmax`` holds the flat positions ``h * W + w``
        within each image's plane in the smallest integers that hold them (`position_dtype`:
        the backward pass keeps them, 2 bytes each for images up to 256 x 256).
    """
    y_shape, pads, index_dtype, tiles = _forward_plan(x.shape, tuple(pool_size), tuple(strides), padding)
    y = memory.empty_aligned(y_shape, x.dtype)
    argmax = np.empty(y_shape, index_dtype)
    window_args = (*pool_size, *strides, pads[0], pads[2])
    if y.size and tiles and x.dtype.char in "fd" and x.flags.c_contiguous:  # whole vector registers
        _by_pieces(lambda i, j: functools.partial(_pool_tiles.maxpool_forward_tiles, x[i:j], y[i:j], argmax[i:j],
                                                     *pool_size), x, _split_min())
    elif y.size and _VECTOR_BYTES >= 64:
        _by_pieces(lambda i, j: functools.partial(_pool.maxpool_forward, x[i:j], y[i:j], argmax[i:j], *window_args),
                   x, _split_min())
    elif y.size:  # narrower vectors: the positions selected in lanes as wide as the values
        lane = np.int32 if x.dtype.itemsize <= 4 else np.int64
        _by_pieces(lambda i, j: functools.partial(_pool.maxpool_forward_lanes, x[i:j], y[i:j], argmax[i:j],
                                                     *window_args, np.empty(y_shape[3], lane)), x, _split_min())
    if tiles:
        _TILED[id(argmax)] = argmax
    return y, argmax


@functools.lru_cache(maxsize=256)
def _forward_plan(x_shape, pool_size, strides, padding):
    """``(y shape, pads, positions' dtype, whether the windows tile)`` of a max pooling forward
    pass: remembered per geometry (a network asks for the same few at every step, and in a
    training step, between large passes that leave the interpreter's data out of cache, computing
    them took 25-30 us a call)."""
    (oh_n, ow_n), pads = window(x_shape, pool_size, strides, padding)
    n_img, height, width, chans = x_shape
    y_shape = (n_img, oh_n, ow_n, chans)
    return y_shape, pads, position_dtype(height * width), _tiles(x_shape, y_shape, pool_size, strides, padding)


#: The positions arrays `maxpool2d_forward` returned for windows that tile the image, by id (the
#: entry goes when the array does): `maxpool2d_backward` takes the one-pass kernel for them
#: without being told the window.
_TILED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _tiles(x_shape, y_shape, pool_size, strides, padding) -> bool:
    """Whether the windows tile the image: 'valid', pool size = strides (each input cell in at
    most one window; the last rows or columns may be in none), and the window is what
    `maxpool_backward_tiles` takes from the shapes (``H // OH``: 11 rows pooled by 4 give 2
    windows, whose size the shapes would say is 5: such images keep the general kernels)."""
    return (padding == "valid" and tuple(pool_size) == tuple(strides)
            and y_shape[1] == x_shape[1] // pool_size[0] and y_shape[2] == x_shape[2] // pool_size[1]
            and x_shape[1] // max(y_shape[1], 1) == pool_size[0] and x_shape[2] // max(y_shape[2], 1) == pool_size[1])


def maxpool2d_backward(dy: np.ndarray, argmax: np.ndarray, x_shape: tuple[int, int, int, int],
                       pool_size: tuple[int, int] | None = None, strides: tuple[int, int] | None = None,
                       padding: str = "valid") -> np.ndarray:
    """Gradient of :func:`maxpool2d_forward`: each ``dy`` goes to its window's winner.

    Args:
        dy: output gradient, (N, OH, OW, C).
        argmax: the positions returned by :func:`maxpool2d_forward`.
        x_shape: shape of the forward input, (N, H, W, C).
        pool_size, strides, padding: the forward pass's window, when the caller gives it.

    Windows that tile the image ('valid', pool size = strides: the common 2x2 pooling; known from
    the window given, or from ``argmax`` being an array `maxpool2d_forward` made for such
    windows) take one pass that writes each input cell once (`maxpool_backward_tiles`, on whole
    vector registers for C-contiguous float arrays: `kernels.pool_tiles`) instead of zeroing
    ``dx`` and adding the gradients into it (the same bits).

    Returns:
        dx, ``x_shape``, dtype of ``dy``.
    """
    n_img, height, width, chans = x_shape
    dx = memory.empty_aligned(x_shape, dy.dtype)
    if not dy.size:
        dx[...] = 0
    elif ((_TILED.get(id(argmax)) is argmax if pool_size is None
           else _tiles(x_shape, dy.shape, pool_size, strides or pool_size, padding))
          and (dy.dtype.itemsize > 4 or height * width <= 1 << 24)):  # positions exact in dy's dtype
        vectors = dy.dtype.char in "fd" and dy.flags.c_contiguous and argmax.flags.c_contiguous
        kernel = _pool_tiles.maxpool_backward_tiles if vectors else _pool.maxpool_backward_tiles
        _by_pieces(lambda i, j: functools.partial(kernel, dy[i:j], argmax[i:j], dx[i:j]), dx, _split_min())
    else:
        flat = dx.reshape(n_img, height * width, chans)
        _by_pieces(lambda i, j: functools.partial(_pool.maxpool_backward, dy[i:j], argmax[i:j], flat[i:j]), dx,
                   _split_min())
    return dx


def avgpool2d_forward(x: np.ndarray, pool_size: tuple[int, int], strides: tuple[int, int],
                      padding: str) -> np.ndarray:
    """2-D average pooling of NHWC images ('same' padding: each mean over the real cells only)."""
    (oh_n, ow_n), pads = window(x.shape, pool_size, strides, padding)
    y = memory.empty_aligned((x.shape[0], oh_n, ow_n, x.shape[3]), x.dtype)
    if y.size:
        _by_pieces(lambda i, j: functools.partial(_pool.avgpool_forward, x[i:j], y[i:j], *pool_size, *strides, pads[0],
                                                 pads[2]), x, _split_min())
    return y


def avgpool2d_backward(dy: np.ndarray, x_shape: tuple[int, int, int, int], pool_size: tuple[int, int],
                       strides: tuple[int, int], padding: str) -> np.ndarray:
    """Gradient of :func:`avgpool2d_forward`: each ``dy`` shared evenly by its window's real cells."""
    _, pads = window(x_shape, pool_size, strides, padding)
    dx = memory.empty_aligned(x_shape, dy.dtype)
    if not dy.size:
        dx[...] = 0
    else:
        _by_pieces(lambda i, j: functools.partial(_pool.avgpool_backward, dy[i:j], dx[i:j], *pool_size, *strides,
                                                 pads[0], pads[2]), dx, _split_min())
    return dx


# -- global average pooling --------------------------------------------------------------------
#: Elements per segment of an image in global average pooling (1 MB of float32, about 35 us of
#: reading on one core): a batch of 8 images of 112 x 112 x 64 is 32 segments, where whole
#: images (7 pieces of one or two images) shared out unevenly between two threads.
GLOBAL_SEGMENT = 1 << 18


def global_segments(size: int, chans: int) -> tuple[int, int]:
    """``(k, rows)``: each image of ``size`` rows of ``chans`` values is cut into ``k`` segments
    of ``rows`` rows (the last may be shorter, none is empty) of about `GLOBAL_SEGMENT` values.

    Example:
        >>> global_segments(112 * 112, 64), global_segments(32 * 32, 64)
        ((4, 3136), (1, 1024))
    """
    k = min(max(1, -(-size * chans // GLOBAL_SEGMENT)), max(size, 1))
    rows = -(-size // k)
    return -(-size // rows), rows


#: Segments a pool thread leaves to the calling thread in global average pooling's forward pass
#: (`kernels.global_pool`), and the microseconds the calling thread waits after the others left
#: (their Python into the pool's wait, 15-30 us with the caches cold after the pass). Layer calls
#: in one process, blocks alternating with the unordered pass (chrt, load 10, the machine slow:
#: ms and voluntary context switches a call), 32x32x32x64: unordered 0.339-0.344 (0.84-1.07),
#: grace 5 us 0.330-0.333 (0.67-0.78: the calling thread often still found the GIL held and slept
#: on it), 20 us 0.278-0.282 (0.07), 30 us 0.287-0.291 (0.04-0.09), 45 us 0.302-0.308;
#: 8x112x112x64: 0.628-0.672, 0.651-0.660, 0.603-0.606, 0.611-0.619, 0.627-0.630. (On a quieter
#: machine, warm: grace 5, 10, 20 us 0.479-0.485, 0.488-0.491, 0.497-0.498 ms, unordered 0.580.)
#: Reserve 0 and 1 measured alike. Later (load 14-16 from other work at nice 19, the machine in
#: its fast mode; /tmp/small/gap_ab.py, blocks of back-to-back calls alternating grace 20 and the
#: other, medians us), grace 10: 32x32x32x64 194.5/196.7/197.0 -> 183.9/186.5/187.1 and
#: 203.5/212.1/206.9 -> 193.1/201.7/197.2 (voluntary switches a call 0.00-0.04 either way),
#: 8x112x112x64 513.3/526.9/526.5 -> 502.6/519.6/516.2 and 558.6/564.5/548.6 -> 556.5/560.6/548.2
#: (switches 0.00-0.04 -> 0.03-0.08); grace 5: 194.1/195.1/189.6 -> 180.3/181.3/182.8,
#: 528.1/523.6/526.7 -> 516.0/515.3/516.8. 10 us: the gain of a shorter wait on a quiet or
#: fast machine, with more margin than 5 us for a slow one.
GLOBAL_RESERVE, GLOBAL_GRACE_US = 1, 10


def _by_segments(call_of, total: int, work: int) -> None:
    """Runs ``call_of(claims, me)()`` (the call of a shared-segments kernel: a ``functools.partial``)
    in the calling thread (``me`` 0) and, for ``work`` elements of at least
    `parallel.memory_bound_min`, in the pool's threads at once (``me`` 1, 2, ...; the calls
    prepared here, `parallel.map_prepared`): the threads share the ``total`` segments by
    `kernels.pool._take_segment`, each its own contiguous range first (the caller the first one,
    as the batch-splitting passes give it), then the rest of the others'.

    The pass is memory-bound: on two threads it reads at the machine's rate (56 GB/s for 8 MB
    here, 2 x 28) only when each thread streams its own half. Segments taken one at a time from
    a common counter measured 10-20% slower (each thread hopping between the two halves, and
    reading lines the other core's cache held), a fixed split in halves as fast but held up by a
    late thread.
    """
    parts = max(1, min(parallel.num_threads(), total))
    claims = np.zeros(parts, np.int64)
    if parts == 1 or work < parallel.memory_bound_min():
        call_of(claims, 0)()
        return
    parallel.map_prepared(lambda me, start, stop: call_of(claims, me), parts)


#: The direction the forward pass's threads take their segments in (`read_order`: a range is
#: 4 MB for 32x32x32x64, 12.8 MB for 8x112x112x64, against 2 MB of L2 a core here). Each segment
#: is still summed front to back into its own row: the same bits in either order. Measured (chrt,
#: medians): layers_bench's layer calls on one batch, forward at every call -> alternating,
#: 32x32x32x64 0.188/0.187/0.190 -> 0.169/0.165/0.165 ms native, 0.187/0.188/0.191 ->
#: 0.163/0.165/0.163 AVX2; 8x112x112x64 0.512/0.502/0.506 -> 0.500/0.490/0.513 native,
#: 0.506/0.507/0.512 -> 0.507/0.495/0.498 AVX2 (its ranges are 6x the L2). After a two-thread
#: pass that wrote the array front to back (one process, forward -> backward): 32x32x32x64
#: 188.9 -> 165.0 us, 8x112x112x64 588.1 -> 559.1 us.
READ = ReadOrder()
#: Whether the forward pass runs as a native job (`kernels.inference_jobs.global_avgpool_run`)
#: when the pool's workers spin: the workers sum their segments without Python or the GIL, and
#: the calling thread computes the means once they are done, in the same kernel call; no order of
#: leaving is needed. In one process, blocks of 20 layer calls alternating (chrt, 20 blocks,
#: medians, 8x112x112x64): 647.6 -> 549.9 us native (19/20 faster), 635.0 -> 548.9 and 599.4 ->
#: 554.3 us AVX2. False: always the pool's path (the ordered kernel; measurements and tests).
NATIVE = True


def global_avgpool2d_forward(x: np.ndarray) -> np.ndarray:
    """The mean of each channel of NHWC ``x`` over its rows and columns: (N, C), in ``x``'s dtype
    from float64 sums (NaN for images with no pixels, as numpy's mean); a native job when the
    pool can take one (`NATIVE`), else the ordered kernel on the pool's threads."""
    n_img, height, width, chans = x.shape
    size = height * width
    y = np.empty((n_img, chans), x.dtype)
    if not size:
        y[...] = np.nan
    if not size or not y.size:
        return y
    flat = np.ascontiguousarray(x).reshape(n_img, size, chans)
    k, rows = global_segments(size, chans)
    sums = np.empty((n_img * k, chans))
    backward = READ.backward(x)
    if NATIVE and flat.dtype.char in "fd" and flat.size >= parallel.memory_bound_min() and _native(flat, k, rows,
                                                                                                 backward, sums, y):
        return y
    state = np.zeros(_global.STATE_CELLS, np.int64)
    wait, grace = leave_ticks(GLOBAL_GRACE_US)  # (kept per grace by leave_ticks)
    _by_segments(lambda claims, me: functools.partial(_global.global_avgpool_ordered, flat, k, rows, claims, state, me,
                                                      GLOBAL_RESERVE, wait, grace, backward, sums, y), n_img * k, flat.size)
    if not state[_global.MEANS]:  # the calling thread gave up waiting for the others in the kernel
        _pool.global_avgpool_mean(sums, k, size, y)
    return y


def _native(flat, k, rows, backward, sums, y) -> bool:
    """`global_avgpool2d_forward` as a native job (`NATIVE`); False (nothing done) when the pool
    cannot take one now."""
    job = _jobs.job_address(_jobs.global_avgpool_job, flat.dtype)
    return parallel.run_native(lambda slots, spins: _jobs.global_avgpool_run(
        slots, spins, job, flat, k, rows, np.zeros(slots.shape[0] + 1, np.int64), backward, sums, y))


def global_avgpool2d_backward(dy: np.ndarray, x_shape: tuple[int, int, int, int]) -> np.ndarray:
    """Gradient of `global_avgpool2d_forward`: each ``dy[n, c] / (H * W)`` spread over its image
    (NHWC, ``x_shape``, ``dy``'s dtype)."""
    n_img, height, width, chans = x_shape
    size = height * width
    dx = memory.empty_aligned(x_shape, dy.dtype)
    if not dx.size:
        return dx
    flat = dx.reshape(n_img, size, chans)
    dy = np.ascontiguousarray(dy)
    k, rows = global_segments(size, chans)
    _by_segments(lambda claims, me: functools.partial(_pool.global_avgpool_spread_shared, dy, k, rows, claims, me, flat),
                 n_img * k, flat.size)
    return dx
