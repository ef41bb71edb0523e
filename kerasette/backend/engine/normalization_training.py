"""Batch normalization's training passes on rows: one kernel call per thread each way.

On rows ``(R, C)`` (`engine.normalization.ChannelView`), training's forward pass
(`RowsTraining.train_rows`) and backward pass (`RowsTraining.train_rows_backward`) are each one
kernel call per thread (`kerasette.backend.kernels.normalization_passes`; their arrays packed into
three, one numpy call each): the reduction's pieces, the per-channel numbers and the map's pieces
in one call. When the pool's workers spin (`parallel.run_native` accepts), the call is a native
job that they run without their Python (`kernels.normalization_jobs`); otherwise the calls are
prepared by the calling thread (`parallel.map_prepared`), the pool's threads leaving first
(`WORKERS_GRACE_US`). One hand-off to the pool per pass where the reduction and the map took one
each: on two threads (a loaded machine) the 32x32x32x16 forward pass with its ReLU took 142-148 us
where the two passes took 351-357, the 32x16x16x32 backward pass 127-130 us where they took
238-242. A pass of one piece (too few values to split: its sums' bits are one piece's) is shared
by two threads as two halves from `HALVES_MIN` values (`RowsTraining._pass_plan`).
"""

from __future__ import annotations

import functools

import numpy as np

from kerasette.backend import memory, parallel
from kerasette.backend.engine.shared_passes import PAD as _PAD
from kerasette.backend.engine.shared_passes import WORKERS_GRACE_US, leave_ticks
from kerasette.backend.kernels import normalization_jobs as _jobs
from kerasette.backend.kernels import normalization_passes as _passes
from kerasette.backend.kernels.inference_jobs import job_address
from kerasette.backend.kernels.normalization_sums import SUM_BLOCK

#: Whether the training passes on rows run as native jobs when the pool can take one
#: (`kernels.normalization_jobs`; False: always the pool's path, for measurements).
NATIVE = True
#: Values from which a pass of one piece (`ChannelView._pieces`: its reduction one sum, whose bits
#: a split into pieces would change) is shared by two threads as two halves, the second half's sums
#: taken block by block and added to the first's in order (`kernels.normalization_passes._units`:
#: the same bits): ResNet-20's 32x8x8x64 passes. Fewer: the calling thread alone.
HALVES_MIN = 1 << 17


class RowsTraining:
    """`ChannelView`'s training passes on rows (a base of `engine.normalization.ChannelView`,
    whose ``shape``, ``channels``, ``_bounds`` and ``_parts`` they use)."""

    def _normalize_rows(self, x, gamma, beta, epsilon, relu):
        """`normalize` on rows, from `train_rows`'s packed arrays."""
        y, work, small, _, _ = self.train_rows(x, gamma, beta, epsilon, relu)
        chans, width = self.channels, self.shape[1]
        mean, var, inv = work[:3 * chans].reshape(3, chans)
        return y, mean, var, inv, small[:width], small[width:2 * width]

    def _normalize_backward_rows(self, g, x, mean, inv, gamma, relu, input_gradient, overwrite_g):
        """`normalize_backward` on rows: `train_rows_backward` on the numbers packed as
        `train_rows` leaves them; dgamma and dbeta in float64."""
        chans, width = self.channels, self.shape[1]
        saved, saved_small = np.empty((3, chans)), np.zeros((2, width), g.dtype)
        saved[0], saved[2] = mean, inv
        if relu is not None:
            saved_small[0], saved_small[1] = relu
        dx, _, _, work = self.train_rows_backward(g, x, gamma, (saved.reshape(-1), saved_small.reshape(-1)),
                                                  relu is not None, input_gradient, overwrite_g)
        return dx, work[chans:2 * chans], work[:chans]

    def _pass_plan(self) -> tuple[np.ndarray, int, int]:
        """``(bounds, totals, parts)`` of a training pass: the pieces' bounds (or a lone piece's
        halves, ``(0, R, h)``, from `HALVES_MIN` values on two threads or more), the rows of
        totals the kernel sums into, and how many threads take part."""
        bounds = self._bounds()
        pieces, rows = len(bounds) - 1, self.shape[0]
        if pieces > 1 or self.size < HALVES_MIN or rows < 2 * SUM_BLOCK or parallel.num_threads() < 2:
            return bounds, pieces, self._parts(pieces)
        halves = self.__dict__.get("_halves")
        if halves is None:
            half = rows // 2 // SUM_BLOCK * SUM_BLOCK
            halves = self._halves = np.array([0, rows, half], np.int64), 1 + -(-(rows - half) // SUM_BLOCK)
        return halves[0], halves[1], 2

    def _run_packed(self, kernel, before: tuple, after: tuple, parts: int) -> None:
        """`_shared` for the packed kernels, whose scratch is in their arrays: ``kernel(*before,
        cells, me, wait, grace, *after)``."""
        cells = np.zeros(2 * parts + _passes.PASS_STATE_CELLS, np.int64)  # the claims, then the state
        wait, grace = leave_ticks(WORKERS_GRACE_US)
        if parts == 1:
            kernel(*before, cells, 0, wait, grace, *after)
            return
        parallel.map_prepared(lambda me, start, stop: functools.partial(kernel, *before, cells, me, wait, grace,
                                                                        *after), parts)

    def train_rows(self, x, gamma, beta, epsilon, relu, moving=None):
        """Training's forward pass on the rows ``x`` in one kernel call per thread
        (`kernels.normalization_passes.batch_norm_forward_rows_packed`; the statistics, the
        numbers and the map, then a ReLU when ``relu``), its arrays packed into three (few numpy
        calls: 1-4 us each on the caches a pass left cold). ``moving``: ``(moving_mean,
        moving_variance, momentum)``, flat, updated with the batch statistics in the kernel (as
        `moving_update`), or None.

        Returns:
            ``(y, work, small, mean, var)``: the output; the kernel's float64 and dtype arrays
            (for `train_rows_backward`); the batch mean and variance rounded to ``x``'s dtype, (C,).
        """
        bounds, pieces, parts = self._pass_plan()
        width, chans, dtype = self.shape[1], self.channels, x.dtype
        work = np.zeros(3 * chans + pieces * 2 * (width + _PAD))
        small = np.empty(2 * width + 2 * chans + parts * 3 * (width + _PAD), dtype)
        raw = np.empty(x.nbytes + memory.ALIGNMENT, np.uint8)  # `memory.empty_aligned` in two numpy calls
        y = np.ndarray(self.shape, dtype, raw, -memory.data_address(raw) % memory.ALIGNMENT)
        if moving is None:
            moving = (small[:0], small[:0], 0.0)
        gamma, beta = gamma.reshape(-1), beta.reshape(-1)
        if not (parts > 1 and NATIVE and _native_forward(x, gamma, beta, float(epsilon), relu, moving, bounds, work,
                                                         small, parts, y)):
            before = (x, gamma, beta, float(epsilon), dtype.type(0 if relu else np.nan), *moving, bounds, work, small)
            self._run_packed(_passes.batch_norm_forward_rows_packed, before, (y,), parts)
        if pieces >= len(bounds):  # halves: only the statistics are kept for the backward pass, not the blocks'
            work = work[:3 * chans].copy()  # sums (50 KB at 2048 x 64, else kept until then)
        at = 2 * width
        return y, work, small, small[at:at + chans], small[at + chans:at + 2 * chans]

    def train_rows_backward(self, g, x, gamma, saved, relu: bool, input_gradient: bool, overwrite_g: bool):
        """Training's backward pass on rows ``g`` and ``x`` in one kernel call per thread
        (`kernels.normalization_passes.batch_norm_backward_rows_packed`): the sums, the numbers
        and the input gradient's map (with ``relu``, through the ReLU after the forward map).

        Args:
            saved: `train_rows`'s ``(work, small)``.
            input_gradient, overwrite_g: as `normalize_backward` takes them.

        Returns:
            ``(dx or None, dgamma, dbeta, work)``: dx in the view's shape; dgamma and dbeta (C,)
            in ``g``'s dtype; the kernel's float64 array (dbeta, dgamma in float64 first).
        """
        bounds, pieces, parts = self._pass_plan()
        width, chans, dtype = self.shape[1], self.channels, g.dtype
        work = np.zeros(2 * chans + pieces * 2 * (width + _PAD))
        small = np.empty(3 * width + 2 * chans + parts * 4 * (width + _PAD), dtype)
        dx, map_out = None, 0
        if input_gradient and overwrite_g:
            dx, map_out = g, 2
        elif input_gradient:  # `memory.empty_aligned` in two numpy calls
            raw = np.empty(g.nbytes + memory.ALIGNMENT, np.uint8)
            dx, map_out = np.ndarray(self.shape, dtype, raw, -memory.data_address(raw) % memory.ALIGNMENT), 1
        gamma = gamma.reshape(-1)
        if parts > 1 and NATIVE and _native_backward(g, x, relu, gamma, saved, bounds, work, small, parts, map_out,
                                                     g if dx is None else dx):
            at = 3 * width
            return dx, small[at:at + chans], small[at + chans:at + 2 * chans], work
        before = (g, x, relu, gamma, *saved, dtype.type(0), bounds, work, small)
        self._run_packed(_passes.batch_norm_backward_rows_packed, before, (map_out, g if dx is None else dx), parts)
        at = 3 * width
        return dx, small[at:at + chans], small[at + chans:at + 2 * chans], work


#: The native jobs' addresses by the dtype's character (`job_address`'s, kept here: a look-up
#: by one character where `job_address` hashes the job and the dtype).
_FORWARD_JOBS: dict = {}
_BACKWARD_JOBS: dict = {}


def _native_takes(arrays, dtype) -> bool:
    """Whether the native jobs take a pass on ``arrays``: all C-contiguous, of ``dtype``
    (float32 or float64); the others go by the pool's path."""
    if dtype.char not in "fd":
        return False
    for a in arrays:  # (a loop, not a generator: fewer calls on the caches a pass left cold)
        if a.dtype is not dtype or not a.flags.c_contiguous:
            return False
    return True


def _native_forward(x, gamma, beta, epsilon, relu, moving, bounds, work, small, parts, y) -> bool:
    """`ChannelView.train_rows`'s kernel as a native job with the pool's spinning workers
    (`kernels.normalization_jobs`); False (nothing done) when it does not take the arrays or the
    pool cannot take a job now."""
    dtype = x.dtype
    if not _native_takes((x, gamma, beta, moving[0], moving[1]), dtype):
        return False
    job = _FORWARD_JOBS.get(dtype.char)
    if job is None:
        job = _FORWARD_JOBS[dtype.char] = job_address(_jobs.batch_norm_forward_job, dtype)

    def run(slots, spins):
        cells = np.zeros(2 * parts + _passes.PASS_STATE_CELLS, np.int64)  # the claims, then the state
        if slots.shape[0] + 1 != parts:  # (fewer pieces than threads: ``small`` has scratch for ``parts``)
            _passes.batch_norm_forward_rows_packed(x, gamma, beta, epsilon, dtype.type(0 if relu else np.nan),
                                                   *moving, bounds, work, small, cells, 0, 0, 0, y)
            return
        _jobs.batch_norm_forward_run(slots, spins, job, x, gamma, beta, epsilon, bool(relu), moving[0], moving[1],
                                     float(moving[2]), bounds, work, small, cells, y)

    return parallel.run_native(run)


def _native_backward(g, x, relu, gamma, saved, bounds, work, small, parts, map_out, dx) -> bool:
    """`ChannelView.train_rows_backward`'s kernel as a native job (as `_native_forward`)."""
    dtype = g.dtype
    if not _native_takes((g, x, gamma, dx), dtype):
        return False
    job = _BACKWARD_JOBS.get(dtype.char)
    if job is None:
        job = _BACKWARD_JOBS[dtype.char] = job_address(_jobs.batch_norm_backward_job, dtype)

    def run(slots, spins):
        cells = np.zeros(2 * parts + _passes.PASS_STATE_CELLS, np.int64)
        if slots.shape[0] + 1 != parts:
            _passes.batch_norm_backward_rows_packed(g, x, relu, gamma, *saved, dtype.type(0), bounds, work, small,
                                                    cells, 0, 0, 0, map_out, dx)
            return
        _jobs.batch_norm_backward_run(slots, spins, job, g, x, bool(relu), gamma, saved[0], saved[1], bounds, work,
                                      small, cells, map_out, dx)

    return parallel.run_native(run)
