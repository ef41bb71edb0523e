"""A Winograd convolution's forward pass as a native job (`kernels.conv_jobs`).

`algorithms._forward_winograd` otherwise hands each thread its chunk of images as a prepared
call (`parallel.map_prepared`), which a worker dispatches holding the GIL. Where the pool's
workers spin (`parallel.run_native` accepts), :func:`forward` runs the same chunk kernel
(`winograd_conv.conv_call`'s choice) on the same chunks and scratch arrays in native code
instead: the same bits. It returns False (nothing done) where the pool cannot take the job now,
for other dtypes, one thread or passes too small to split; the prepared calls then run.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from kerasette.backend import parallel, state
from kerasette.backend.engine import winograd_conv
from kerasette.backend.kernels import conv_jobs as _jobs
from kerasette.backend.kernels import winograd as _wino
from kerasette.backend.kernels.inference_jobs import job_address

#: False: the prepared calls always (for measurements and tests).
NATIVE = True

#: Each chunk kernel's job, whether it is the ``_v`` twin, and the C functions its kernels call
#: (made ready before the job is loaded).
_JOBS = {
    _wino.conv_chunk: (_jobs.winograd_forward_loops_job, 0, (_wino._INPUT, _wino._OUTPUT)),
    _wino.conv_chunk_v: (_jobs.winograd_forward_vectors_job, 1, (_wino._INPUT, _wino._OUTPUT, _wino._INPUT_V,
                                                                 _wino._OUTPUT_V)),
    _wino.conv_chunk_res: (_jobs.winograd_forward_residual_job, 0, (_wino._INPUT, _wino._OUTPUT_RES)),
    _wino.conv_chunk_v_res: (_jobs.winograd_forward_residual_vectors_job, 1,
                             (_wino._INPUT, _wino._OUTPUT_RES, _wino._INPUT_V, _wino._OUTPUT_V_RES)),
    _wino.conv_chunk_fused: (_jobs.winograd_forward_fused_job, 0, (_wino._CONV_FUSED,)),
}


class _Plan:
    """What a forward pass's job takes that depends only on its shapes, the settings and the
    calling thread: the chunks, the job's settings (``cells``), its address, each chunk's
    scratch and V and M (the views `winograd_conv`'s layouts keep)."""

    __slots__ = ("parts", "cells", "address", "scratch", "vs", "ms")


_PLANS: dict[tuple, _Plan | str | None] = {}
MAX_PLANS = 256
#: A pass seen once (see `backward`).
FIRST = "first"


def _address(job, calls, dtype) -> int:
    for function in calls:
        function.ready(numba.from_dtype(dtype))
    return job_address(job, dtype)


def _plan(x, w_shape, y, g, has_bias, relu, has_res, threads, scratch_of) -> _Plan | None:
    """The `_Plan` of a forward pass the job takes, else None."""
    if x.dtype.char not in "fd" or x.shape[0] < 2 or threads == 1 or x.size < state.conv.parallel_min_elements:
        return None
    plan = _Plan()
    plan.parts = parts = parallel.chunks(x.shape[0], threads)
    plan.scratch = [scratch_of(k) for k in range(len(parts))]
    # the layouts read only shapes and dtypes: a view of one value, no memory
    u = np.lib.stride_tricks.as_strided(np.empty(1, x.dtype), (36, w_shape[2], w_shape[3]), (0, 0, 0))
    residual = y if has_res else None
    block = state.conv.winograd_block_bytes
    layouts = [winograd_conv.conv_layout(x[i:j], u, y[i:j], s, block, residual)
               for s, (i, j) in zip(plan.scratch, parts)]
    found = _JOBS.get(layouts[0][0])
    if found is None:
        return None
    job, vectors, calls = found
    plan.vs, plan.ms = tuple(lay[3] for lay in layouts), tuple(lay[4] for lay in layouts)
    # a tuple, not an array: no small long-lived block in the heap (see `conv_jobs._plan`)
    plan.cells = tuple(int(cell) for cell in (*layouts[0][1:3], g.pads[0], g.pads[2], has_bias, relu, has_res,
                                              vectors))
    plan.address = _address(job, calls, x.dtype)
    return plan


def forward(x, w, b, relu, g, y, residual, scratch_of) -> bool:
    """`algorithms._forward_winograd` as a native job: True when done (``y`` filled), False when
    not taken (nothing done). ``scratch_of(k)``: chunk ``k``'s scratch (`algorithms._chunk_scratch`)."""
    if not NATIVE:
        return False
    settings, threads = state.conv, parallel.num_threads()
    has_res = residual is not None
    key = (g, b is not None, relu, has_res, settings.winograd_block_bytes, settings.parallel_min_elements, threads,
           threading.get_ident())
    plan = _PLANS.get(key, False)
    if plan is False or plan is FIRST:
        if len(_PLANS) >= MAX_PLANS:
            _PLANS.clear()
        # a pass's first call takes the prepared calls and its second makes the plan: the jobs
        # then compile (or load) after a first batch, which the kernels it needs anyway keep busy
        # (an empty-cache start of vgg_like measured 5.2 -> 6.4-6.6 s with them in it)
        plan = _PLANS[key] = FIRST if plan is False else _plan(x, w.shape, y, g, b is not None, relu, has_res,
                                                                       threads, scratch_of)
    if plan is None or plan is FIRST:
        return False
    u = winograd_conv.transient_transform(w)
    bias = u[0, 0] if b is None else b
    parts = len(plan.parts)
    if has_res:
        res = residual.copy() if np.may_share_memory(residual, y) else residual
        standins = (x,) * parts  # not used
    else:
        # one stand-in residual (never read: see winograd_conv.no_residual) of the first, largest
        # chunk's shape for every chunk
        res, standins = x, (winograd_conv.no_residual(y[:plan.parts[0][1]], plan.scratch[0]),) * parts
    return parallel.run_native(lambda slots, spins: _jobs.winograd_forward_run(
        slots, spins, plan.address, plan.cells, x, y, u, bias, res, plan.vs, plan.ms, standins))
