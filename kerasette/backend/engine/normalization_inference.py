"""Batch normalization at inference on channels-last rows: one kernel call per thread, from the
weights to the output.

``y = x * scale + shift`` per channel with ``scale = gamma * (1 / sqrt(variance + epsilon))``
and ``shift = beta - mean * scale``. `engine.normalization.inference_numbers` makes the two
numbers in one kernel call and `ChannelView.affine` maps with them in another, shared with the
pool's threads; here each thread makes the numbers itself (64 channels: well under a
microsecond) at the start of its share of the map
(`kernels.normalization_passes.batch_norm_inference_rows_shared`). The same kernels inside, so
the same bits. Nothing derived from the weights is kept between calls: a weight written in place
is read at the next call.

Why: after a map of megabytes the interpreter's objects have left the core's caches, and each
numpy call before the hand-off costs 1-4 us (np.empty of the output 4, of which the numpy's
huge-page advice 2; a numpy scalar such as ``np.float32(epsilon)``: 1.4 us even warm). Time-stamped
in a 32x32x32x64 layer call (native, two threads), the calling thread entered its kernel 53 us
after the call began, 8.5 of them in the numbers' call and its arrays. Here the epsilon, the 1 and
the clamp are rounded to the dtype in the kernel, the input and the output are passed in their own
shape (the kernel sees them as rows): no reshape either side, and the output is allocated in one
numba call (`kernels.normalization_passes.output_like`) where numpy's aligned allocation took three.
"""

from __future__ import annotations

import functools

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.engine.elementwise import PASS_MIN
from kerasette.backend.engine.normalization import MAP_RESERVE, ChannelView, leave_ticks
from kerasette.backend.kernels import normalization_passes as _passes


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
    y = _passes.output_like(x)
    threads = parallel.num_threads()
    parts = threads if threads > 1 and view.size >= min(PASS_MIN, parallel.memory_bound_min()) else 1
    head = (x, gamma, beta, mean, variance, float(epsilon), bool(relu), view.shape[1], view._map_bounds(),
            np.zeros(parts + 3, np.int64))  # the threads' claims, then the state
    wait, grace = leave_ticks()
    kernel = _passes.batch_norm_inference_rows_shared
    if parts == 1:
        kernel(*head, 0, MAP_RESERVE, wait, grace, y)
        return y
    parallel.map_prepared(lambda me, start, stop: functools.partial(kernel, *head, me, MAP_RESERVE, wait, grace, y),
                          parts)
    return y

