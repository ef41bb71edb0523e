"""Two memory-bound passes as native jobs (`native_jobs`): batch normalization's inference map on
rows and global average pooling's segment sums.

Each is a C function per element type (``*_job``: what every thread runs, its share taken by
`pool._take_segment_toward` as the kernels run by the pool take theirs) and a kernel the calling
thread calls once (``*_run``): it makes what the threads share (the per-channel numbers, the
arguments), runs the job with the pool's spinning workers (`native_jobs.run_job`) and finishes
the pass (the means). The same kernels on the same pieces as `normalization_inference_passes` and
`global_pool`: the same bits.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types

from kerasette.backend.kernels._jit import CFunction, kernel
from kerasette.backend.kernels.native_jobs import (
    address_of,
    float64_pointer,
    int64_array,
    pointer_like,
    run_job,
)
from kerasette.backend.kernels.normalization import channel_affine_rows
from kerasette.backend.kernels.normalization_inference_passes import inference_numbers
from kerasette.backend.kernels.pool import _take_segment_toward, global_avgpool_mean, global_avgpool_sums
from kerasette.backend.kernels.simd import keep

#: The batch normalization map's arguments (int64 cells): the input's and the output's addresses,
#: their rows and width, the pieces' bounds (address, count), the claims (address, threads), and
#: whether each thread takes its own range last piece first.
BN_X, BN_Y, BN_ROWS, BN_WIDTH, BN_BOUNDS, BN_PIECES, BN_CLAIMS, BN_THREADS, BN_BACKWARD = range(9)
BN_ARGUMENTS = 9


def _job_signature(dtype):
    return types.void(types.CPointer(dtype), types.int64, types.int64)


def _batch_norm_inference_job(numbers, arguments, me):
    """Thread ``me``'s share of ``y = max(x * scale + shift, lower)`` on rows (the map of
    `normalization_inference_passes.batch_norm_inference_rows_shared`): ``numbers`` points to (3, width)
    values (the scale, the shift, then the clamp first), ``arguments`` to the `BN_ARGUMENTS`."""
    a = int64_array(arguments, BN_ARGUMENTS)
    rows, width, pieces = a[BN_ROWS], a[BN_WIDTH], a[BN_PIECES]
    x = numba.carray(pointer_like(a[BN_X], numbers), (rows, width))
    y = numba.carray(pointer_like(a[BN_Y], numbers), (rows, width))
    table = numba.carray(numbers, (3, width))
    bounds = int64_array(a[BN_BOUNDS], pieces + 1)
    claims = int64_array(a[BN_CLAIMS], a[BN_THREADS])
    scale, shift, lower = table[0], table[1], table[2, 0]
    while True:
        p = _take_segment_toward(claims, me, pieces, a[BN_BACKWARD] != 0)
        if p < 0:
            return
        channel_affine_rows(x[bounds[p]:bounds[p + 1]], scale, shift, lower, y[bounds[p]:bounds[p + 1]])


batch_norm_inference_job = CFunction(_batch_norm_inference_job, _job_signature)


def _batch_norm_inference_run(slots, spins, job, x, gamma, beta, mean, variance, epsilon, relu, width, bounds,
                              claims, backward, y):
    """Batch normalization at inference on the rows of ``width`` values of the C-contiguous ``x``
    and ``y``, as `normalization_inference_passes.batch_norm_inference_rows_shared` (the same numbers, the
    same map), run by this thread and the pool's workers spinning in ``slots`` (``job``: the
    address of `batch_norm_inference_job` for ``x``'s dtype; ``claims``: (workers + 1,) int64
    zeros)."""
    table = np.empty((3, width), x.dtype)
    table[2, 0] = inference_numbers(gamma, beta, mean, variance, epsilon, relu, table[:2])
    arguments = np.empty(BN_ARGUMENTS, np.int64)
    arguments[BN_X], arguments[BN_Y] = address_of(x), address_of(y)
    arguments[BN_ROWS], arguments[BN_WIDTH] = x.size // width, width
    arguments[BN_BOUNDS], arguments[BN_PIECES] = address_of(bounds), bounds.shape[0] - 1
    arguments[BN_CLAIMS], arguments[BN_THREADS] = address_of(claims), claims.shape[0]
    arguments[BN_BACKWARD] = 1 if backward else 0
    run_job(slots, spins, job, address_of(table), address_of(arguments))
    keep(table)
    keep(arguments)


batch_norm_inference_run = kernel(_batch_norm_inference_run)

#: Global average pooling's arguments: the (N, S, C) input's sizes, the segments (per image, rows
#: each), the float64 sums' address, the claims (address, threads), the order.
GAP_IMAGES, GAP_SIZE, GAP_CHANS, GAP_K, GAP_ROWS, GAP_SUMS, GAP_CLAIMS, GAP_THREADS, GAP_BACKWARD = range(9)
GAP_ARGUMENTS = 9


def _global_avgpool_job(data, arguments, me):
    """Thread ``me``'s share of `pool.global_avgpool_sums` over every segment: ``data`` points to
    the (N, S, C) input, ``arguments`` to the `GAP_ARGUMENTS`."""
    a = int64_array(arguments, GAP_ARGUMENTS)
    k, rows = a[GAP_K], a[GAP_ROWS]
    x = numba.carray(data, (a[GAP_IMAGES], a[GAP_SIZE], a[GAP_CHANS]))
    sums = numba.carray(float64_pointer(a[GAP_SUMS]), (a[GAP_IMAGES] * k, a[GAP_CHANS]))
    claims = int64_array(a[GAP_CLAIMS], a[GAP_THREADS])
    total = sums.shape[0]
    while True:
        p = _take_segment_toward(claims, me, total, a[GAP_BACKWARD] != 0)
        if p < 0:
            return
        global_avgpool_sums(x, k, rows, p, p + 1, sums)


global_avgpool_job = CFunction(_global_avgpool_job, _job_signature)


def _global_avgpool_run(slots, spins, job, x, k, rows, claims, backward, sums, y):
    """Global average pooling of the C-contiguous (N, S, C) ``x`` into ``y`` ((N, C)), as
    `global_pool.global_avgpool_ordered` (the same segment sums into ``sums``, (N * k, C)
    float64, the same means), run by this thread and the pool's workers spinning in ``slots``
    (``job``: the address of `global_avgpool_job` for ``x``'s dtype)."""
    arguments = np.empty(GAP_ARGUMENTS, np.int64)
    arguments[GAP_IMAGES], arguments[GAP_SIZE], arguments[GAP_CHANS] = x.shape[0], x.shape[1], x.shape[2]
    arguments[GAP_K], arguments[GAP_ROWS], arguments[GAP_SUMS] = k, rows, address_of(sums)
    arguments[GAP_CLAIMS], arguments[GAP_THREADS] = address_of(claims), claims.shape[0]
    arguments[GAP_BACKWARD] = 1 if backward else 0
    run_job(slots, spins, job, address_of(x), address_of(arguments))
    keep(arguments)
    global_avgpool_mean(sums, k, x.shape[1], y)


global_avgpool_run = kernel(_global_avgpool_run)


def job_address(job: CFunction, dtype: np.dtype) -> int:
    """The address of ``job``'s C function for the numpy ``dtype`` (compiled or loaded once)."""
    address = _ADDRESSES.get((job, dtype))
    if address is None:
        numba_type = numba.from_dtype(dtype)
        job.ready(numba_type)
        address = _ADDRESSES[(job, dtype)] = job.overloads[(numba_type,)].address
    return address


_ADDRESSES: dict = {}
