"""A residual network's fused elementwise passes as native jobs (`native_jobs`): Add + ReLU, the
ReLU's gradient (new array or in place) and the ReLU's gradient of a sum; and dropout's pass.

Each pass is a C function per element type (``*_job``: what every thread runs) over flat arrays
cut in `PIECES_PER_THREAD` pieces a thread, taken by `pool._take_segment_toward` (a worker that
takes the job late leaves its pieces to the others), each piece one call of the pool path's
kernel (`kernels.elementwise`); `elementwise_run` is the calling thread's one kernel call. A map:
each value computed by the same code whoever computes it, so the same bits as the pool's path.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types

from kerasette.backend.kernels._jit import CFunction, inline, kernel
from kerasette.backend.kernels.dropout import keep_scaled
from kerasette.backend.kernels.elementwise import (
    add_relu,
    relu_grad,
    relu_grad_add_inplace,
    relu_grad_inplace,
)
from kerasette.backend.kernels.native_jobs import address_of, int64_array, pointer_like, run_job
from kerasette.backend.kernels.pool import _take_segment_toward
from kerasette.backend.kernels.simd import keep

#: A job's arguments (int64 cells): the three flat arrays' addresses (the pass's operands in the
#: kernel's order, unused ones repeated), their length, the pieces, the claims (address, threads).
FIRST, SECOND, THIRD, SIZE, PIECES, CLAIMS, THREADS = range(7)
ARGUMENTS = 7
#: Dropout's job has three more cells: its key and threshold (uint32 values).
K1, K2, THRESHOLD = range(ARGUMENTS, ARGUMENTS + 3)
DROPOUT_ARGUMENTS = ARGUMENTS + 3
#: Pieces per thread: a late worker's share goes to the others a piece at a time.
PIECES_PER_THREAD = 4


def _job_signature(dtype):
    return types.void(types.CPointer(dtype), types.int64, types.int64)


@inline
def _piece(a, me):
    """The next piece's (start, stop) for thread ``me``, or (-1, -1) when none is left."""
    pieces, size = a[PIECES], a[SIZE]
    p = _take_segment_toward(int64_array(a[CLAIMS], a[THREADS]), me, pieces, False)
    if p < 0:
        return -1, -1
    return p * size // pieces, (p + 1) * size // pieces


@inline
def _flat(a, cell, like):
    """The flat array of ``a[SIZE]`` values at address ``a[cell]``, of ``like``'s type."""
    return numba.carray(pointer_like(a[cell], like), a[SIZE])


def _add_relu_job(zero, arguments, me):
    """Thread ``me``'s pieces of `elementwise.add_relu` (``zero``: points to 0 of the dtype)."""
    a = int64_array(arguments, ARGUMENTS)
    x, h, y = _flat(a, FIRST, zero), _flat(a, SECOND, zero), _flat(a, THIRD, zero)
    while True:
        i, j = _piece(a, me)
        if i < 0:
            return
        add_relu(x[i:j], h[i:j], zero[0], y[i:j])


def _relu_grad_job(zero, arguments, me):
    """Thread ``me``'s pieces of `elementwise.relu_grad`."""
    a = int64_array(arguments, ARGUMENTS)
    g, y, out = _flat(a, FIRST, zero), _flat(a, SECOND, zero), _flat(a, THIRD, zero)
    while True:
        i, j = _piece(a, me)
        if i < 0:
            return
        relu_grad(g[i:j], y[i:j], zero[0], out[i:j])


def _relu_grad_inplace_job(zero, arguments, me):
    """Thread ``me``'s pieces of `elementwise.relu_grad_inplace`."""
    a = int64_array(arguments, ARGUMENTS)
    g, y = _flat(a, FIRST, zero), _flat(a, SECOND, zero)
    while True:
        i, j = _piece(a, me)
        if i < 0:
            return
        relu_grad_inplace(g[i:j], y[i:j], zero[0])


def _relu_grad_add_job(zero, arguments, me):
    """Thread ``me``'s pieces of `elementwise.relu_grad_add_inplace`."""
    a = int64_array(arguments, ARGUMENTS)
    g, h, y = _flat(a, FIRST, zero), _flat(a, SECOND, zero), _flat(a, THIRD, zero)
    while True:
        i, j = _piece(a, me)
        if i < 0:
            return
        relu_grad_add_inplace(g[i:j], h[i:j], y[i:j], zero[0])


def _keep_scaled_job(scale, arguments, me):
    """Thread ``me``'s pieces of `dropout.keep_scaled` from ``FIRST`` into ``THIRD`` (``scale``:
    points to the scale in the dtype); a value's decision depends on its flat position only."""
    a = int64_array(arguments, DROPOUT_ARGUMENTS)
    x, out = _flat(a, FIRST, scale), _flat(a, THIRD, scale)
    k1, k2, threshold = numba.uint32(a[K1]), numba.uint32(a[K2]), numba.uint32(a[THRESHOLD])
    while True:
        i, j = _piece(a, me)
        if i < 0:
            return
        keep_scaled(x[i:j], k1, k2, i, threshold, scale[0], out[i:j])


add_relu_job = CFunction(_add_relu_job, _job_signature)
relu_grad_job = CFunction(_relu_grad_job, _job_signature)
relu_grad_inplace_job = CFunction(_relu_grad_inplace_job, _job_signature)
relu_grad_add_job = CFunction(_relu_grad_add_job, _job_signature)
keep_scaled_job = CFunction(_keep_scaled_job, _job_signature)


@inline
def _fill(arguments, claims, first, second, third):
    """The cells every job reads: the three arrays, their length, the pieces and the claims."""
    threads = claims.shape[0]
    arguments[FIRST], arguments[SECOND], arguments[THIRD] = address_of(first), address_of(second), address_of(third)
    arguments[SIZE], arguments[PIECES] = first.shape[0], min(first.shape[0], threads * PIECES_PER_THREAD)
    arguments[CLAIMS], arguments[THREADS] = address_of(claims), threads


def _elementwise_run(slots, spins, job, first, second, third):
    """Runs ``job`` (the address of one of the jobs above for the arrays' dtype) on the flat
    C-contiguous ``first``, ``second``, ``third`` (one length and dtype; the pass's operands in
    its kernel's order, an unused one repeated) with the pool's workers spinning in ``slots``."""
    zero = np.zeros(1, first.dtype)
    claims = np.zeros(slots.shape[0] + 1, np.int64)
    arguments = np.empty(ARGUMENTS, np.int64)
    _fill(arguments, claims, first, second, third)
    run_job(slots, spins, job, address_of(zero), address_of(arguments))
    keep(zero)
    keep(claims)
    keep(arguments)
    keep(first)
    keep(second)
    keep(third)


def _dropout_run(slots, spins, job, x, out, k1, k2, threshold, scale):
    """Runs ``job`` (`keep_scaled_job`'s address for the arrays' dtype): `dropout.keep_scaled`
    of the flat C-contiguous ``x`` into ``out`` (one length and dtype; may be ``x``) with the
    key ``(k1, k2)``, ``threshold`` (uint32) and ``scale`` (the dtype's), with the pool's workers
    spinning in ``slots``."""
    data = np.full(1, scale)
    claims = np.zeros(slots.shape[0] + 1, np.int64)
    arguments = np.empty(DROPOUT_ARGUMENTS, np.int64)
    _fill(arguments, claims, x, x, out)
    arguments[K1], arguments[K2], arguments[THRESHOLD] = k1, k2, threshold
    run_job(slots, spins, job, address_of(data), address_of(arguments))
    keep(data)
    keep(claims)
    keep(arguments)
    keep(x)
    keep(out)


elementwise_run = kernel(_elementwise_run)
dropout_run = kernel(_dropout_run)
