"""Batch normalization's training passes on rows as native jobs (`native_jobs`).

`normalization_passes.batch_norm_forward_rows_packed` and `batch_norm_backward_rows_packed`,
which the engine otherwise hands to the pool's threads as Python tasks
(`engine.normalization_training.RowsTraining._run_packed`), run by the pool's spinning workers in native
code: a C function per element type (``*_job``) that takes its arrays back from the addresses and
sizes in its arguments and calls the same packed kernel with the thread's number, and a kernel
the calling thread calls once (``*_run``) that writes the arguments and runs the job
(`native_jobs.run_job`). The same kernels on the same arrays, pieces, claims and state cells:
the same bits.

The threads leave in no particular order here (``wait`` and ``grace`` 0): `run_job` returns
only when no worker runs the job, and no thread takes the GIL.
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
from kerasette.backend.kernels.normalization_passes import (
    batch_norm_backward_rows_packed,
    batch_norm_forward_rows_packed,
)
from kerasette.backend.kernels.simd import keep

#: The arguments (int64 cells) of both jobs: the rows (count, width) and channels; the addresses
#: of the passes' arrays in the order the packed kernels take them (``FIRST``: the forward
#: pass's ``y`` / the backward pass's ``x``; ``SECOND``, ``THIRD``: ``gamma``, ``beta`` / ``gamma``,
#: ``dx``; ``MOVING_MEAN``, ``MOVING_VAR`` (``MOVING`` values each) / ``saved``, ``saved_small``
#: (``MOVING``: their sizes' ... see the run kernels)), the packed ``work``, ``small``, ``cells``
#: and ``bounds`` with their sizes, a (2,) float64 array of the scalars a flag, and the address of a (1,) array of the dtype: the forward map's clamp / the backward
#: pass's zero (made by the run kernels, so that the jobs allocate nothing).
(ROWS, WIDTH, CHANS, FIRST, SECOND, THIRD, MOVING_MEAN, MOVING_VAR, MOVING, MOVING_SMALL, BOUNDS, PIECES, WORK,
 WORK_SIZE, SMALL, SMALL_SIZE, CELLS, CELLS_SIZE, SCALARS, FLAG, CONSTANT) = range(21)
ARGUMENTS = 21


def _job_signature(dtype):
    return types.void(types.CPointer(dtype), types.int64, types.int64)


def _forward_job(x_data, arguments, me):
    """Thread ``me``'s call of `batch_norm_forward_rows_packed`: ``x_data`` points to the (R, W)
    rows, ``arguments`` to the `ARGUMENTS` (``SCALARS``: epsilon, momentum; ``FLAG``: ReLU)."""
    a = int64_array(arguments, ARGUMENTS)
    rows, width, chans = a[ROWS], a[WIDTH], a[CHANS]
    x = numba.carray(x_data, (rows, width))
    y = numba.carray(pointer_like(a[FIRST], x_data), (rows, width))
    gamma = numba.carray(pointer_like(a[SECOND], x_data), chans)
    beta = numba.carray(pointer_like(a[THIRD], x_data), chans)
    moving_mean = numba.carray(pointer_like(a[MOVING_MEAN], x_data), a[MOVING])
    moving_var = numba.carray(pointer_like(a[MOVING_VAR], x_data), a[MOVING])
    bounds = int64_array(a[BOUNDS], a[PIECES] + 1)
    work = numba.carray(float64_pointer(a[WORK]), a[WORK_SIZE])
    small = numba.carray(pointer_like(a[SMALL], x_data), a[SMALL_SIZE])
    cells = int64_array(a[CELLS], a[CELLS_SIZE])
    scalars = numba.carray(float64_pointer(a[SCALARS]), 2)
    lower = numba.carray(pointer_like(a[CONSTANT], x_data), 1)[0]
    batch_norm_forward_rows_packed(x, gamma, beta, scalars[0], lower, moving_mean, moving_var, scalars[1], bounds,
                                   work, small, cells, me, 0, 0, y)


batch_norm_forward_job = CFunction(_forward_job, _job_signature)


def _backward_job(g_data, arguments, me):
    """Thread ``me``'s call of `batch_norm_backward_rows_packed`: ``g_data`` points to the (R, W)
    gradient rows, ``arguments`` to the `ARGUMENTS` (``MOVING``, ``MOVING_SMALL``: the sizes of
    ``saved`` and ``saved_small``; ``SCALARS``: ``map_out``, the ReLU flag in ``FLAG``)."""
    a = int64_array(arguments, ARGUMENTS)
    rows, width, chans = a[ROWS], a[WIDTH], a[CHANS]
    g = numba.carray(g_data, (rows, width))
    x = numba.carray(pointer_like(a[FIRST], g_data), (rows, width))
    gamma = numba.carray(pointer_like(a[SECOND], g_data), chans)
    dx = numba.carray(pointer_like(a[THIRD], g_data), (rows, width))
    saved = numba.carray(float64_pointer(a[MOVING_MEAN]), a[MOVING])
    saved_small = numba.carray(pointer_like(a[MOVING_VAR], g_data), a[MOVING_SMALL])
    bounds = int64_array(a[BOUNDS], a[PIECES] + 1)
    work = numba.carray(float64_pointer(a[WORK]), a[WORK_SIZE])
    small = numba.carray(pointer_like(a[SMALL], g_data), a[SMALL_SIZE])
    cells = int64_array(a[CELLS], a[CELLS_SIZE])
    zero = numba.carray(pointer_like(a[CONSTANT], g_data), 1)[0]
    batch_norm_backward_rows_packed(g, x, a[FLAG] != 0, gamma, saved, saved_small, zero, bounds, work, small,
                                    cells, me, 0, 0, a[SCALARS], dx)


batch_norm_backward_job = CFunction(_backward_job, _job_signature)


def _common(arguments, rows, width, chans, bounds, work, small, cells):
    arguments[ROWS], arguments[WIDTH], arguments[CHANS] = rows, width, chans
    arguments[BOUNDS], arguments[PIECES] = address_of(bounds), bounds.shape[0] - 1
    arguments[WORK], arguments[WORK_SIZE] = address_of(work), work.shape[0]
    arguments[SMALL], arguments[SMALL_SIZE] = address_of(small), small.shape[0]
    arguments[CELLS], arguments[CELLS_SIZE] = address_of(cells), cells.shape[0]


_common = numba.njit(inline="always")(_common)


def _forward_run(slots, spins, job, x, gamma, beta, epsilon, relu, moving_mean, moving_var, momentum, bounds, work,
                 small, cells, y):
    """`batch_norm_forward_rows_packed` on the C-contiguous (R, W) ``x`` (``gamma``, ``beta`` and
    the moving statistics of its dtype, contiguous) run by this thread and the pool's workers
    spinning in ``slots`` (``job``: `batch_norm_forward_job`'s address for the dtype; ``cells``
    made for ``slots``' workers and this thread)."""
    arguments = np.empty(ARGUMENTS, np.int64)
    scalars = np.empty(2)
    scalars[0], scalars[1] = epsilon, momentum
    _common(arguments, x.shape[0], x.shape[1], gamma.shape[0], bounds, work, small, cells)
    arguments[FIRST], arguments[SECOND], arguments[THIRD] = address_of(y), address_of(gamma), address_of(beta)
    arguments[MOVING_MEAN], arguments[MOVING_VAR] = address_of(moving_mean), address_of(moving_var)
    arguments[MOVING], arguments[SCALARS] = moving_mean.shape[0], address_of(scalars)
    lower = np.empty(1, x.dtype)  # the clamp in the dtype, as the engine's ``dtype.type`` rounds it
    lower[0] = 0.0 if relu else np.nan
    arguments[FLAG], arguments[CONSTANT] = 1 if relu else 0, address_of(lower)
    run_job(slots, spins, job, address_of(x), address_of(arguments))
    keep(arguments)
    keep(scalars)
    keep(lower)


batch_norm_forward_run = kernel(_forward_run)


def _backward_run(slots, spins, job, g, x, relu, gamma, saved, saved_small, bounds, work, small, cells, map_out,
                  dx):
    """`batch_norm_backward_rows_packed` on the C-contiguous (R, W) ``g`` and ``x`` (``dx``: the
    same, or ``g``) run by this thread and the pool's workers spinning in ``slots``, as
    `_forward_run`."""
    arguments = np.empty(ARGUMENTS, np.int64)
    _common(arguments, g.shape[0], g.shape[1], gamma.shape[0], bounds, work, small, cells)
    arguments[FIRST], arguments[SECOND], arguments[THIRD] = address_of(x), address_of(gamma), address_of(dx)
    arguments[MOVING_MEAN], arguments[MOVING_VAR] = address_of(saved), address_of(saved_small)
    arguments[MOVING], arguments[MOVING_SMALL] = saved.shape[0], saved_small.shape[0]
    zero = np.zeros(1, g.dtype)
    arguments[SCALARS], arguments[FLAG], arguments[CONSTANT] = map_out, 1 if relu else 0, address_of(zero)
    run_job(slots, spins, job, address_of(g), address_of(arguments))
    keep(arguments)
    keep(zero)


batch_norm_backward_run = kernel(_backward_run)
