"""A Winograd convolution's backward pass as a native job (`kernels.conv_jobs`).

`conv.conv2d_backward` hands each thread its chunk of images as prepared Python calls
(`parallel.map_prepared`): a worker dispatches each of the chunk's four kernels holding the
GIL, and the calling thread waits for it at both ends. Where the pool's workers spin
(`parallel.run_native` accepts), :func:`backward` runs the same kernels on the same chunks and
scratch arrays in native code instead (the same bits); otherwise, or for passes it does not
take (another algorithm on either gradient, the adjoint input gradient, a kernel gradient that
takes the output pass, other dtypes, one thread, small passes), it returns None and the
prepared calls run as before.

Example:
    >>> import numpy as np
    >>> from kerasette.backend.engine import conv
    >>> x = np.ones((2, 8, 8, 16), np.float32); w = np.ones((3, 3, 16, 16), np.float32)
    >>> dx, dw, db = conv.conv2d_backward(np.ones((2, 8, 8, 16), np.float32), x, w, None, False, True,
    ...                                   (1, 1), "same")
    >>> float(db[0])
    128.0
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from kerasette.backend import memory, parallel, state
from kerasette.backend.engine import direct_conv, winograd_conv
from kerasette.backend.engine.algorithms import Summed, _chunk_scratch, _winograd_adjoint_applies, choose
from kerasette.backend.kernels import conv_jobs as _jobs
from kerasette.backend.kernels import winograd as _wino
from kerasette.backend.kernels.inference_jobs import job_address
from kerasette.backend.kernels.simd import lanes

#: False: the prepared calls always (for measurements and tests).
NATIVE = True

#: The job's code for each chunk kernel (`kernels.conv_jobs`' ``*_KIND`` values).
_KINDS = {_wino.conv_chunk: _jobs.LOOPS, _wino.conv_chunk_v: _jobs.VECTORS, _wino.conv_chunk_fused: _jobs.FUSED,
          _wino.weight_grad_chunk: _jobs.LOOPS, _wino.weight_grad_chunk_v: _jobs.VECTORS,
          _wino.weight_grad_chunk_fused: _jobs.FUSED}

#: Each family's job and the C functions its kernels call (made ready before the job is loaded).
_FAMILIES = {
    _jobs.LOOPS: (_jobs.winograd_backward_loops_job, (_wino._INPUT, _wino._OUTPUT, _wino._OUTPUT_GRAD)),
    _jobs.VECTORS: (_jobs.winograd_backward_vectors_job, (_wino._INPUT, _wino._OUTPUT, _wino._OUTPUT_GRAD,
                                                          _wino._INPUT_V, _wino._OUTPUT_V, _wino._OUTPUT_GRAD_V)),
    _jobs.FUSED: (_jobs.winograd_backward_fused_job, (_wino._CONV_FUSED, _wino._WEIGHT_GRAD_FUSED)),
}

_ADDRESSES: dict = {}


def _job(family: int, dtype: np.dtype) -> int:
    """The address of ``family``'s job for ``dtype``, the C functions its kernels call readied."""
    address = _ADDRESSES.get((family, dtype))
    if address is None:
        job, calls = _FAMILIES[family]
        for function in calls:
            function.ready(numba.from_dtype(dtype))
        address = _ADDRESSES[(family, dtype)] = job_address(job, dtype)
    return address


def _family(kinds) -> int | None:
    """The job that runs these kinds of chunk kernels (-1: a pass not needed), or None: fused
    kernels only with fused ones."""
    needed = [kind for kind in kinds if kind >= 0]
    if _jobs.FUSED in needed:
        return _jobs.FUSED if all(kind == _jobs.FUSED for kind in needed) else None
    return _jobs.VECTORS if _jobs.VECTORS in needed else _jobs.LOOPS


def _applies(x, g, need_input, kernel_grad, threads) -> bool:
    """Whether the job takes this backward pass (see the module's docstring)."""
    if x.dtype.char not in "fd" or x.shape[0] < 2 or threads == 1:
        return False
    if x.size < state.conv.parallel_min_elements or g.cin * g.cout < lanes(x.dtype.itemsize):
        return False  # (the kernel transforms take whole vectors of channel pairs)
    if kernel_grad is not None and kernel_grad.name != "winograd":
        return False
    if need_input:
        return choose("input_grad", g).name == "winograd" and not _winograd_adjoint_applies(g)
    return kernel_grad is not None


class _Plan:
    """What a backward pass's job takes that depends only on its shapes, the settings and the
    calling thread: the chunks, the job's settings (``cells``), its address, and each chunk's
    scratch (`algorithms._chunk_scratch`; the views `winograd_conv`'s layouts keep)."""

    __slots__ = ("parts", "cells", "address", "scratch", "v_ins", "m_ins", "v_ws", "dm_ws")


#: Plans by (geometry, the gradients wanted, output pass, settings, threads, calling thread).
_PLANS: dict[tuple, _Plan | str | None] = {}
MAX_PLANS = 256
#: A pass seen once (see `backward`).
FIRST = "first"


def _plan(dz, x, w_shape, g, need_input, kernel_grad, out_pass, threads) -> _Plan | None:
    """The `_Plan` of a backward pass the job takes, else None."""
    if not _applies(x, g, need_input, kernel_grad, threads):
        return None
    need_kernel = kernel_grad is not None
    plan = _Plan()
    plan.parts = parts = parallel.chunks(x.shape[0], threads)
    block = state.conv.winograd_block_bytes
    plan.scratch = scratch_of = [_chunk_scratch(k) for k in range(len(parts))]
    kinds = [-1, -1]
    if need_input:
        # the layouts read only shapes and dtypes: views of one value, no memory
        u = np.lib.stride_tricks.as_strided(np.empty(1, x.dtype), (36, g.cout, g.cin), (0, 0, 0))
        dx = np.lib.stride_tricks.as_strided(np.empty(1, x.dtype), x.shape, (0, 0, 0, 0))
        layouts = [winograd_conv.conv_layout(dz[i:j], u, dx[i:j], s, block)
                   for s, (i, j) in zip(scratch_of, parts)]
        kinds[0] = _KINDS.get(layouts[0][0])
        plan.v_ins, plan.m_ins = tuple(lay[3] for lay in layouts), tuple(lay[4] for lay in layouts)
        in_tiles = layouts[0][1:3]
    if need_kernel:
        layouts = [winograd_conv.weight_grad_layout(dz[i:j], x[i:j], s, block) for s, (i, j) in zip(scratch_of, parts)]
        kinds[1] = _KINDS.get(layouts[0][0])
        plan.v_ws, plan.dm_ws = tuple(lay[3] for lay in layouts), tuple(lay[4] for lay in layouts)
        w_tiles = layouts[0][1:3]
    family = None if None in kinds else _family(kinds)
    if family is None:
        return None
    if not need_input:  # stand-ins of the right types, never used
        plan.v_ins, plan.m_ins, in_tiles = plan.v_ws, plan.dm_ws, (0, 0)
    if not need_kernel:
        plan.v_ws, plan.dm_ws, w_tiles = plan.v_ins, plan.m_ins, (0, 0)
    (kh, kw), (pt, _, pl, _) = g.kernel, g.pads
    # a tuple, not an array: no small long-lived block in the heap between the step's arrays
    # (its high-water mark is the peak memory, see `memory`)
    plan.cells = tuple(int(cell) for cell in (out_pass, *kinds, *in_tiles, kh - 1 - pt, kw - 1 - pl, *w_tiles, pt, pl))
    plan.address = _job(family, x.dtype)
    return plan


def backward(dy, dz, x, w, out, relu, g, need_input, kernel_grad, masked, output_pass, in_place):
    """`conv._backward_prepared`'s ``(dx, [(db part, dw part) per chunk], finish)`` computed by
    the job, or None where it does not apply or the pool cannot take it now."""
    if not NATIVE or masked is not None:
        return None
    out_pass = 0 if not output_pass else (1 if in_place and not relu else (2 if in_place else 3))
    settings, threads = state.conv, parallel.num_threads()
    key = (g, need_input, kernel_grad, out_pass, settings.allow, settings.deny, settings.full_conv_min_cin,
           settings.winograd_block_bytes, settings.parallel_min_elements, threads, threading.get_ident())
    plan = _PLANS.get(key, False)
    if plan is False or plan is FIRST:
        if len(_PLANS) >= MAX_PLANS:
            _PLANS.clear()
        # a pass's first call takes the prepared calls and its second makes the plan: the jobs
        # then compile (or load) after a first batch, which the kernels it needs anyway keep busy
        # (an empty-cache start of vgg_like measured 5.2 -> 6.4-6.6 s with them in it)
        plan = _PLANS[key] = FIRST if plan is False else _plan(dz, x, w.shape, g, need_input, kernel_grad, out_pass,
                                                                       threads)
    if plan is None or plan is FIRST:
        return None
    return _run(plan, dy, dz, x, w, out, relu, g, need_input, kernel_grad is not None, output_pass)


def _run(plan, dy, dz, x, w, out, relu, g, need_input, need_kernel, output_pass):
    """`backward` with its plan."""
    cin, cout, dtype, parts = g.cin, g.cout, x.dtype, len(plan.parts)
    if need_input:
        # the prepared calls' arrays in their order (the flipped kernel, the input gradient, the
        # transform; then the chunks' parts): the heap's high-water mark, the peak memory, may
        # depend on it (`memory`)
        flipped = np.empty((9, cout, cin), dtype)
        dx = memory.empty_aligned(x.shape, dtype)
        u = memory.empty_aligned((36, cout, cin), dtype)
        # one stand-in residual (never read: see winograd_conv.no_residual) of the first,
        # largest chunk's shape for every chunk
        ress = (winograd_conv.no_residual(dx[:plan.parts[0][1]], plan.scratch[0]),) * parts
        dx_arg = dx
    else:  # stand-ins of the right types, never used
        dx, u, dx_arg, ress = None, x[:0].reshape(-1, 1, 1), x, (x,) * parts
        flipped = u
    ii, jj = direct_conv._flipped_taps(3, 3)
    # each chunk's parts as the prepared calls make them (one array each, in this order)
    dbs, dus, dws = [], [], []
    for _ in plan.parts:
        dbs.append(np.zeros(cout, dtype))
        if need_kernel:
            dus.append(np.empty((36, cin, cout), dtype))
            dws.append(np.empty((3, 3, cin, cout), dtype))
    if not need_kernel:
        dus, dws = [x[:0, 0]] * parts, [x[:0]] * parts  # stand-ins, not used
    if not parallel.run_native(lambda slots, spins: _jobs.winograd_backward_run(
            slots, spins, plan.address, plan.cells, dy, dz, x, dx_arg, np.ascontiguousarray(w, dtype), ii, jj, flipped, u,
            np.ascontiguousarray(out) if relu else dy,
            tuple(dbs), tuple(dus), tuple(dws), plan.v_ins, plan.m_ins, ress, plan.v_ws, plan.dm_ws)):
        return None
    chunk_parts = [(dbs[k] if output_pass else None, dws[k] if need_kernel else None) for k in range(parts)]
    return dx, chunk_parts, (Summed(dtype, w.shape) if need_kernel else None)
