"""Array-level fused elementwise passes on the numba kernels (a residual network's Add + ReLU and
ReLU gradient, dropout), split over the thread pool.

Passes over `PASS_MIN` values or more are split in contiguous chunks, one per thread, each one
kernel call that the calling thread prepares (`split_map`); batch normalization's maps
(`kerasette.backend.engine.normalization`) split the same way, its reductions by pieces of
`piece_work` values.
"""

from __future__ import annotations

import functools

import numpy as np

from kerasette.backend import memory, parallel
from kerasette.backend.kernels import dropout as _dropout
from kerasette.backend.kernels import elementwise as _k
from kerasette.backend.kernels import elementwise_jobs as _jobs
from kerasette.backend.kernels.inference_jobs import job_address

#: Passes over fewer values than this run in the calling thread (unless `parallel_settings` asks
#: for a lower `parallel.memory_bound_min`); larger ones split over the threads (`split_map`;
#: reductions in pieces of `piece_work` values). Measured on a quiet 2-core machine (float32, us, one thread /
#: split): the ReLU gradient 224/126 at 512K values, 102/47 at 256K; at 128K values, split in
#: pieces of 64K, 23/38 to 24/76 (the hand-off costs more than half a pass saves).
PASS_MIN = 1 << 18
#: Values per piece of a split reduction (see `PASS_MIN`), or more on large arrays (`piece_work`).
PASS_PIECE = 1 << 17


def piece_work(total: int) -> int:
    """Values per piece of a split reduction over ``total`` values: `PASS_PIECE`, or an eighth of the
    pass when that is more, up to `parallel.PIECE_WORK` (each piece costs a Python call and a GIL
    hand-over: eight are enough for the threads to finish together)."""
    return max(PASS_PIECE, min(total // 8, parallel.PIECE_WORK))


def _split_min() -> int:
    """`PASS_MIN`, or less when `parallel_settings` asks for a lower `parallel.memory_bound_min`."""
    return min(PASS_MIN, parallel.memory_bound_min())


def split_map(call_of, n_items: int, work_per_item: int = 1, min_work: int | None = None) -> None:
    """Runs a memory-bound map over ``range(n_items)``: ``call_of(start, stop)`` returns the
    kernel call of a contiguous chunk (a ``functools.partial``), one chunk per thread when the
    pass has `PASS_MIN` values or more (``n_items * work_per_item``; or fewer, as
    `parallel.memory_bound_min` asks; ``min_work``: another threshold), else one call here.

    The calls are made by the calling thread before any runs (`parallel.map_prepared`), so a
    worker reaches its kernel after its dispatch alone and the caller takes the GIL back sooner.
    Measured (float32, 2 threads, a loaded machine; us): Add + ReLU of 262144 values 92 -> 42,
    batch normalization's map of 524288 values 148 -> 68, of 2097152 values 357 -> 335, against
    pieces of `piece_work` taken in turn (`parallel.map_pieces`: a Python call and a GIL hand-over
    each, and the pool's longer settle).
    """
    parallel.map_prepared(lambda k, i, j: call_of(i, j), n_items, _split_min() if min_work is None else min_work,
                          work_per_item)


#: Whether Add + ReLU, the ReLU gradients and dropout of `NATIVE_MIN` values or more run as native
#: jobs (`kernels.elementwise_jobs`) when the pool's workers spin: no worker Python and no GIL
#: hand-over. False: always the pool's path (measurements and tests).
NATIVE = True
#: Passes of this many values or more run as native jobs (`NATIVE`) even below `PASS_MIN`: no
#: worker Python and no GIL hand-over, so the split pays off sooner than on the pool's path. In
#: the ResNet-20 step (float32, 2**17 values, the caches as the step leaves them): about 54 us in
#: the calling thread alone, 25 us as a native job.
NATIVE_MIN = 1 << 17


def _native(job, first: np.ndarray, second: np.ndarray, third: np.ndarray) -> bool:
    """The pass as a native job on flat arrays (`NATIVE`); False (nothing done) when it is too
    small to split (`NATIVE_MIN`), not float32/float64, or the pool cannot take a job now."""
    if not NATIVE or first.size < min(NATIVE_MIN, _split_min()) or first.dtype.char not in "fd":
        return False
    address = job_address(job, first.dtype)
    return parallel.run_native(lambda slots, spins: _jobs.elementwise_run(slots, spins, address, first, second, third))


def add_relu(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``max(a + b, 0)``, a new array (``a``, ``b``: one shape and dtype)."""
    raw = np.empty(a.nbytes + memory.ALIGNMENT, np.uint8)  # `memory.empty_aligned` in two numpy calls
    y = np.ndarray(a.shape, a.dtype, raw, -memory.data_address(raw) % memory.ALIGNMENT)
    fa, fb, fy = a.ravel(), b.ravel(), y.ravel()  # (contiguous: a copy when the input is not)
    if _native(_jobs.add_relu_job, fa, fb, fy):
        return y
    zero = a.dtype.type(0)
    split_map(lambda i, j: functools.partial(_k.add_relu, fa[i:j], fb[i:j], zero, fy[i:j]), fy.size)
    return y


def relu_grad(g: np.ndarray, y: np.ndarray, in_place: bool = False) -> np.ndarray:
    """The gradient through a ReLU whose output is ``y``: ``g`` where ``y > 0``, else 0: a new
    array, or, with ``in_place`` (a contiguous ``g`` no one else reads), written into ``g``."""
    fy, zero = np.ascontiguousarray(y).reshape(-1), g.dtype.type(0)
    if in_place and g.flags.c_contiguous and g.flags.writeable:
        fg = g.reshape(-1)
        if _native(_jobs.relu_grad_inplace_job, fg, fy, fy):
            return g
        split_map(lambda i, j: functools.partial(_k.relu_grad_inplace, fg[i:j], fy[i:j], zero), fg.size)
        return g
    out = memory.empty_aligned(g.shape, g.dtype)
    fg, fo = np.ascontiguousarray(g).reshape(-1), out.reshape(-1)
    if _native(_jobs.relu_grad_job, fg, fy, fo):
        return out
    split_map(lambda i, j: functools.partial(_k.relu_grad, fg[i:j], fy[i:j], zero, fo[i:j]), fo.size)
    return out


def relu_grad_add(g: np.ndarray, h: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The gradient through a ReLU whose output is ``y`` of the sum ``g + h``: ``g + h`` where
    ``y > 0``, else 0, written into ``g`` (contiguous, writeable, no one else reads it; all three
    of one shape and dtype): one pass where the sum and the mask took two."""
    fg, fh, fy = g.ravel(), h.ravel(), y.ravel()  # (contiguous: a copy when an input is not)
    if _native(_jobs.relu_grad_add_job, fg, fh, fy):
        return g
    zero = g.dtype.type(0)
    split_map(lambda i, j: functools.partial(_k.relu_grad_add_inplace, fg[i:j], fh[i:j], fy[i:j], zero), fg.size)
    return g


def dropout(x: np.ndarray, k1: np.uint32, k2: np.uint32, threshold: np.uint32, scale, in_place: bool = False) -> np.ndarray:
    """``x * scale`` where the hash of a value's flat position and the key ``(k1, k2)`` reaches
    ``threshold``, else 0 (`kerasette.backend.kernels.dropout`): dropout's forward pass and, on
    the output gradient with the same key, its backward pass. A new array, or, with
    ``in_place`` (a contiguous, writeable ``x`` no one else reads), written into ``x``.

    Args:
        x: a float32 or float64 array.
        k1, k2: the key, ``np.uint32`` (``k1`` odd).
        threshold: an ``np.uint32``.
        scale: ``1 / (1 - rate)`` in ``x``'s dtype.
        in_place: write into ``x`` when it is C-contiguous and writeable.
    """
    if in_place and x.flags.c_contiguous and x.flags.writeable:
        out = x
    else:
        out = memory.empty_aligned(x.shape, x.dtype)
    fx, fo = np.ascontiguousarray(x).reshape(-1), out.reshape(-1)
    if NATIVE and fo.size >= min(NATIVE_MIN, _split_min()) and fo.dtype.char in "fd":
        address = job_address(_jobs.keep_scaled_job, fo.dtype)
        if parallel.run_native(lambda slots, spins: _jobs.dropout_run(slots, spins, address, fx, fo, k1, k2,
                                                                      threshold, scale)):
            return out
    if fo.size < _split_min():  # one call here, without split_map's Python around it
        _dropout.keep_scaled(fx, k1, k2, 0, threshold, scale, fo)
        return out
    split_map(lambda i, j: functools.partial(_dropout.keep_scaled, fx[i:j], k1, k2, i, threshold, scale, fo[i:j]),
              fo.size)
    return out
