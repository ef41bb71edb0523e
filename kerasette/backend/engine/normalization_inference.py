"""Batch normalization at inference on channels-last rows: one kernel call per thread, from the
weights to the output.

``y = x * scale + shift`` per channel with ``scale = gamma * (1 / sqrt(variance + epsilon))``
and ``shift = beta - mean * scale``. `engine.normalization.inference_numbers` makes the two
numbers in one kernel call and `ChannelView.affine` maps with them in another, shared with the
pool's threads; here each thread makes the numbers itself (64 channels: well under a
microsecond) at the start of its share of the map
(`kernels.normalization_inference_passes.batch_norm_inference_rows_shared`). The same kernels inside, so
the same bits. Nothing derived from the weights is kept between calls: a weight written in place
is read at the next call.

Why: after a map of megabytes the interpreter's objects have left the core's caches, and each
numpy call before the hand-off costs 1-4 us (np.empty of the output 4, of which the numpy's
huge-page advice 2; a numpy scalar such as ``np.float32(epsilon)``: 1.4 us even warm). Time-stamped
in a 32x32x32x64 layer call (native, two threads), the calling thread entered its kernel 53 us
after the call began, 8.5 of them in the numbers' call and its arrays. Here the epsilon, the 1 and
the clamp are rounded to the dtype in the kernel, the input and the output are passed in their own
shape (the kernel sees them as rows): no reshape either side. (The output allocated by numba's
runtime instead, one call without numpy's huge-page advice, measured 4 us faster at 32x32x32x64
but up to 25 us slower at 8x112x112x64 in some processes: its memory then on 4 KB pages, likely.)

When the pool's workers are spinning, the map is a native job (`kernels.inference_jobs`,
`pool.Pool.run_native`): one kernel call of the calling thread makes the numbers, posts the map
to the workers, which run it in native code without the GIL, takes its own share and returns when
they are done; the pool's hand-off of a Python task (the worker's dispatch of a 16-argument call
with cold caches, both threads' GIL hand-overs) is gone. In one process, blocks of 20 layer calls
alternating (chrt, 20 blocks, medians, 32x32x32x64): 409.3 -> 357.0 us native (18/20 blocks
faster), 372.4 -> 335.4 and 429.4 -> 359.0 us AVX2. Otherwise (a worker asleep, spinning off
under load, the pool in use by another thread) the pool's path below, the same bits.

The threads take their pieces in the order that finds first what their cores' L2 still holds
(`read_order.ReadOrder`, as global average pooling does: `engine.pooling`), for arrays of up to
`BACKWARD_MAX_BYTES`.
"""

from __future__ import annotations

import functools

import numpy as np

from kerasette.backend import memory, parallel, state
from kerasette.backend.engine.elementwise import PASS_MIN
from kerasette.backend.engine.normalization import MAP_RESERVE, ChannelView, leave_ticks
from kerasette.backend.engine.read_order import ReadOrder
from kerasette.backend.kernels import inference_jobs as _jobs
from kerasette.backend.kernels import normalization_inference_passes as _passes


def takes(view: ChannelView | None, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
          variance: np.ndarray) -> bool:
    """Whether `inference_rows` takes this call: ``x`` C-contiguous with a rows view, and the
    four numbers (C,) arrays of ``x``'s dtype (the layer's usual case; the others go by
    `inference_numbers` and `ChannelView.affine`)."""
    dtype = x.dtype
    return view is not None and view.rows and gamma.dtype is dtype and beta.dtype is dtype and mean.dtype is dtype \
        and variance.dtype is dtype and gamma.shape == beta.shape == mean.shape == variance.shape == (view.channels,) \
        and x.flags.c_contiguous


def inference_rows(view: ChannelView, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
                   variance: np.ndarray, epsilon: float, relu: bool = False) -> np.ndarray:
    """``max(x * scale + shift, 0 if relu)`` per channel of ``x`` (whose rows view is ``view``)
    as a new array of ``x``'s shape, the numbers made from the four (C,) arrays in the kernel
    (see the module docstring; `takes` says when this applies)."""
    raw = np.empty(x.nbytes + memory.ALIGNMENT, np.uint8)  # numpy advises huge pages (module docstring)
    y = np.ndarray(x.shape, x.dtype, raw, -memory.data_address(raw) % memory.ALIGNMENT)
    threads = state.threads.count() or parallel.num_threads()  # `parallel`'s accessors, without their calls
    parts = threads if threads > 1 and view.size >= min(PASS_MIN, state.parallel.memory_bound_min) else 1
    backward = parts > 1 and x.nbytes <= BACKWARD_MAX_BYTES and READ.backward(x)
    if parts > 1 and NATIVE and x.dtype.char in "fd" and _native(view, x, gamma, beta, mean, variance, epsilon, relu,
                                                                 backward, y):
        return y
    head = (x, gamma, beta, mean, variance, float(epsilon), bool(relu), view.shape[1], view._map_bounds(),
            np.zeros(parts + 3, np.int64))  # the threads' claims, then the state
    wait, grace = leave_ticks()
    kernel = _passes.batch_norm_inference_rows_shared
    if parts == 1:
        kernel(*head, 0, MAP_RESERVE, wait, grace, False, y)
        return y
    parallel.map_prepared(lambda me, start, stop: functools.partial(kernel, *head, me, MAP_RESERVE, wait, grace,
                                                                    backward, y), parts)
    return y


def _native(view, x, gamma, beta, mean, variance, epsilon, relu, backward, y) -> bool:
    """`inference_rows`'s map as a native job with the pool's spinning workers (see the module
    docstring); False (nothing done) when the pool cannot take one now."""
    job = _jobs.job_address(_jobs.batch_norm_inference_job, x.dtype)
    return parallel.run_native(lambda slots, spins: _jobs.batch_norm_inference_run(
        slots, spins, job, x, gamma, beta, mean, variance, float(epsilon), bool(relu), view.shape[1],
        view._map_bounds(), np.zeros(slots.shape[0] + 1, np.int64), backward, y))


#: Arrays of more bytes than this are mapped front to back at every call (`READ` not
#: asked). On the pool's path the 8x112x112x64 rows (25.7 MB) took 980 -> 997 us alternating
#: (2 of 20 blocks faster), 32x32x32x64 (8.4 MB) 369 -> 351 us (37-38 of 40), hence 16 MB then.
#: As a native job (both threads start together), blocks of 10 calls alternating forward /
#: alternate (chrt, 16 blocks, medians): 8x112x112x64 native 1003.2 -> 987.2, 1008.8 -> 991.1,
#: 1047.6 -> 1015.5, 1051.5 -> 1044.0 us (9-15/16 faster), AVX2 1035.2 -> 1027.1, 1019.8 ->
#: 991.6 (11, 13/16); 16x112x112x64 (51 MB) 2450.1 -> 2475.4 (2/10); 32x32x32x64 368.8 ->
#: 328.0, 367.0 -> 336.0 (18, 20/20).
BACKWARD_MAX_BYTES = 32 << 20
#: The direction the threads take their pieces in (`read_order`) for arrays of up to
#: `BACKWARD_MAX_BYTES`; a map: the same bits in either order.
READ = ReadOrder()
#: Whether the map runs as a native job when the pool can take one (False: always the pool's
#: path; for measurements and tests).
NATIVE = True
