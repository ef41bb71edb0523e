"""Batch normalization's whole passes on rows, one kernel call per thread.

The forward pass (the statistics' reduction, the per-channel numbers, the map) and the backward
pass (the sums, the numbers, the input gradient's map) of `kerasette.backend.kernels.normalization`'s
kernels, run piece by piece inside one kernel that the threads call at once
(`kerasette.backend.engine.normalization.ChannelView._shared`): one hand-off to the thread pool a
pass where the reduction and the map took one each, and no Python per piece.

The threads share the pieces of the leading axis (rows ``bounds[p]:bounds[p + 1]``) by
`kerasette.backend.kernels.pool._take_segment`: each thread its own contiguous range of pieces
first (``claims[0]`` for the reduction, ``claims[1]`` for the map: the same ranges, so that a
thread maps the rows it has just read, from its own cache), then the rest of the others'. Each
piece of the reduction sums into its own float64 totals (the same pieces and the same kernels as
the passes one by one: the same bits on any thread count); the thread that finishes the last
piece (``state[0]`` counts them) computes the per-channel numbers and says so in ``state[1]``,
which the others watch (spinning, without the GIL) before they take pieces of the map. A thread
only waits for pieces that running threads have taken; one that starts late finds the pieces
taken and the numbers ready, and returns. A pass of one piece can be shared by two threads as two
halves (``bounds`` ``(0, R, h)``, `_units`): the first half summed as the one piece's first rows
are, the second block by block (`SUM_BLOCK` rows, each block's sums into their own totals), added
to the first half's in row order by the thread that finishes last (`_add_blocks`): the additions
of the one piece, the same bits (32x8x8x64, ResNet-20's third stage, in one training step:
forward 82-85 -> 48-49 us, backward 93-96 -> 60-61 us a call, the kernel's time).

Training's passes end in the other order from inference's map's
(`kernels.normalization_inference_passes`; `_leave_first`): the pool's threads leave first, and the
calling thread, spinning without the GIL, waits for every pool thread that started to leave and
then ``grace`` more (the pool thread's Python from its kernel into the pool's wait, which lets
the GIL go), so that the pool's join finds them finished. In the calling-thread-first order the
join waited for the other's ``grace`` after the calling thread left on every pass, 38.8 us a join
(`step_profile.py --joins`, ResNet-20: 1.01 ms a step over the 26 passes, the largest of any
call site). Blocks of ResNet-20 steps alternating the two orders in one process (chrt, 40 x 5
steps each, medians): the batch normalization ops 11.35 -> 10.85 and 10.51 -> 10.15 ms a step
(33 and 32 of 40 pairs faster), the step 54.08 -> 52.76 and 52.21 -> 51.53 ms; a grace of 10
us instead of 20 was slower than either (the pool thread still held the GIL), 30 in between.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from kerasette.backend.kernels._jit import inline, kernel
from kerasette.backend.kernels.normalization import (
    batch_norm_backward_coefficients,
    batch_norm_coefficients,
    channel_affine2_rows,
    channel_affine2_rows_inplace,
    channel_affine2_rows_relu,
    channel_affine2_rows_relu_inplace,
    channel_affine_rows,
    channel_stats_rows,
    channel_sums_rows,
    channel_sums_rows_relu,
)
from kerasette.backend.kernels.normalization_sums import SUM_BLOCK
from kerasette.backend.kernels.pool import _take_segment
from kerasette.backend.kernels.spin import _load_acquire, _pause, _store_release, fetch_add

#: ``state``'s cells: reduction pieces done, per-channel numbers ready.
_DONE, _READY = 0, 1
#: The training passes' ``state`` cells after `_DONE` and `_READY` (`_leave_first`): pool threads
#: started, pool threads left, the last one's time of leaving (ticks).
_WORKERS, _WORKERS_LEFT, _WORKERS_LEFT_AT = 2, 3, 4
#: ``state``'s length for the training passes.
PASS_STATE_CELLS = 5


@inline
def _finish_piece(state, pieces):
    """Counts a reduction piece done; True for the thread that finished the last one."""
    return fetch_add(state, _DONE, 1) == pieces - 1


@inline
def _wait_ready(state):
    """Waits (spinning) until the thread that finished the reduction's last piece has written the
    per-channel numbers."""
    while _load_acquire(state, _READY) == 0:
        _pause()


@inline
def _halves(bounds):
    """Whether ``bounds`` asks for one piece reduced by two threads: ``(0, R, h)`` (`_units`)."""
    return bounds.shape[0] == 3 and bounds[2] < bounds[1]


@inline
def _units(bounds):
    """How many units of rows the threads share: the pieces of ``bounds`` (P + 1 starts, then
    R), or the two halves of the one piece when ``bounds`` is ``(0, R, h)`` (`_halves`; ``h`` a
    multiple of `SUM_BLOCK`)."""
    return 2 if _halves(bounds) else bounds.shape[0] - 1


@inline
def _unit_rows(bounds, u):
    """The rows ``(start, stop)`` of unit ``u`` (see `_units`)."""
    if _halves(bounds):
        return (0, bounds[2]) if u == 0 else (bounds[2], bounds[1])
    return bounds[u], bounds[u + 1]


@inline
def _totals_rows(bounds, rows):
    """The reduction's rows of totals: one per piece, or with halves one for the first half and
    one per `SUM_BLOCK` rows of the second (see `_reduce_unit`)."""
    if _halves(bounds):
        return 1 + (rows - bounds[2] + SUM_BLOCK - 1) // SUM_BLOCK
    return bounds.shape[0] - 1


@inline
def _segments(bounds, u, totals):
    """How many kernel calls unit ``u``'s sums take: one, or with halves one per `SUM_BLOCK`
    rows of the second half (each into its own totals: `_add_blocks`)."""
    return totals.shape[0] - 1 if u == 1 and _halves(bounds) else 1


@inline
def _segment(bounds, u, i, j, s):
    """The rows ``(start, stop)`` of unit ``u``'s (rows ``i:j``) call ``s`` and its row of totals."""
    if u == 1 and _halves(bounds):
        r = i + s * SUM_BLOCK
        return r, min(r + SUM_BLOCK, j), 1 + s
    return i, j, u


@inline
def _add_blocks(totals, width):
    """With halves: the second half's block sums (``totals[1:]``) added to the first half's
    (``totals[0]``) in row order, the additions the one-piece reduction makes at the end of each
    block (each block's float64 sum is its sum in the dtype, exactly): the same bits."""
    for b in range(1, totals.shape[0]):
        for k in range(width):
            totals[0, 0, k] += totals[b, 0, k]
            totals[0, 1, k] += totals[b, 1, k]


def _batch_norm_forward_rows_shared(x, centre, first, count, gamma, beta, epsilon, lower, bounds, totals, scratch,
                                    claims, state, me, wait, grace, mean, var, inv, scale, shift, y):
    """Batch normalization's forward pass on (R, W) rows: the statistics' sums
    (`_channel_stats_rows` around ``centre``, ``first`` tiled), `_batch_norm_coefficients`,
    and the map `_channel_affine_rows` (clamped at ``lower``) into ``y``, the pieces shared as
    the module docstring says.

    Args:
        bounds: (P + 1,) int64 piece starts, then R; or ``(0, R, h)``: the one piece's two halves
            shared by two threads, the second half's sums taken block by block (`_units`,
            `_add_blocks`: the one piece's bits).
        totals: (`_totals_rows`, 2, >= W) float64 zeros; scratch: (threads, 2, >= W) of ``x``'s
            dtype.
        claims: (2, threads) int64 zeros; state: (`PASS_STATE_CELLS`,) int64 zeros; me: this
        thread's number; wait, grace: `_leave_first`'s ticks (the threads leave in its order).
        The rest: as `_batch_norm_coefficients` and `_channel_affine_rows` take them.
    """
    units, width, halves = _units(bounds), x.shape[1], _halves(bounds)
    if me != 0:
        fetch_add(state, _WORKERS, 1)
    while True:
        u = _take_segment(claims[0], me, units)
        if u < 0:
            break
        i, j = _unit_rows(bounds, u)
        for s in range(_segments(bounds, u, totals)):  # (one call site: the kernel inlined once)
            r, e, t = _segment(bounds, u, i, j, s)
            channel_stats_rows(x[r:e], centre, totals[t, 0, :width], totals[t, 1, :width], scratch[me, 0, :width],
                               scratch[me, 1, :width])
        if _finish_piece(state, units):
            if halves:
                _add_blocks(totals, width)
            batch_norm_coefficients(totals[:bounds.shape[0] - 1 if not halves else 1], width, first, count, gamma,
                                    beta, epsilon, mean, var, inv, scale, shift)
            _store_release(state, _READY, 1)
    _wait_ready(state)
    while True:
        u = _take_segment(claims[1], me, units)
        if u < 0:
            break
        i, j = _unit_rows(bounds, u)
        channel_affine_rows(x[i:j], scale, shift, lower, y[i:j])
    _leave_first(state, me, wait, grace)


def _batch_norm_backward_rows_shared(g, x, relu, scale, shift, g_centre, centre, zero, bounds, totals, scratch,
                                     claims, state, me, wait, grace, rounded, mean, inv, gamma, count, dbeta, dgamma,
                                     a, b, c0, map_out, dx):
    """Batch normalization's backward pass on (R, W) rows: the sums of ``dy`` and ``dy * (x -
    centre)`` (with ``relu``, of the gradient through the ReLU after the map ``x * scale +
    shift``: `_channel_sums_rows_relu`; without, `_channel_sums_rows` with ``g_centre``, zeros),
    `_batch_norm_backward_coefficients`, and the input gradient's map (``map_out``: 0 none, 1
    into ``dx``, 2 written over ``g``), the pieces shared as the module docstring says.

    Args: as `_batch_norm_forward_rows_shared` (``bounds`` ... ``me``), and as the kernels named
    take them.
    """
    units, width, halves = _units(bounds), g.shape[1], _halves(bounds)
    if me != 0:
        fetch_add(state, _WORKERS, 1)
    while True:
        u = _take_segment(claims[0], me, units)
        if u < 0:
            break
        i, j = _unit_rows(bounds, u)
        for s in range(_segments(bounds, u, totals)):  # (one call site: the kernels inlined once)
            r, e, t = _segment(bounds, u, i, j, s)
            if relu:
                channel_sums_rows_relu(g[r:e], x[r:e], scale, shift, centre, zero, totals[t, 0, :width],
                                       totals[t, 1, :width], scratch[me, 0, :width], scratch[me, 1, :width])
            else:
                channel_sums_rows(g[r:e], x[r:e], g_centre, centre, totals[t, 0, :width], totals[t, 1, :width],
                                  scratch[me, 0, :width], scratch[me, 1, :width])
        if _finish_piece(state, units):
            if halves:
                _add_blocks(totals, width)
            batch_norm_backward_coefficients(totals[:bounds.shape[0] - 1 if not halves else 1], width, rounded, mean,
                                             inv, gamma, count, dbeta, dgamma, a, b, c0)
            _store_release(state, _READY, 1)
    if map_out == 0:
        _leave_first(state, me, wait, grace)
        return
    _wait_ready(state)
    while True:
        u = _take_segment(claims[1], me, units)
        if u < 0:
            break
        i, j = _unit_rows(bounds, u)
        if relu:
            if map_out == 2:
                channel_affine2_rows_relu_inplace(g[i:j], x[i:j], scale, shift, a, b, c0, zero)
            else:
                channel_affine2_rows_relu(g[i:j], x[i:j], scale, shift, a, b, c0, zero, dx[i:j])
        elif map_out == 2:
            channel_affine2_rows_inplace(g[i:j], x[i:j], a, b, c0)
        else:
            channel_affine2_rows(g[i:j], x[i:j], a, b, c0, dx[i:j])
    _leave_first(state, me, wait, grace)


@intrinsic
def _ticks(typingctx):
    """The CPU's time-stamp counter (``llvm.readcyclecounter``: a constant rate on machines
    whose ``pause`` does not take a constant time, such as a virtual machine's)."""
    signature = types.int64()

    def codegen(context, builder, sig, args):
        counter = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                                 "llvm.readcyclecounter")
        return builder.call(counter, [])

    return signature, codegen


def _read_ticks(out):
    """``out[0] = `_ticks` ()`` (for the engine to find the counter's rate)."""
    out[0] = _ticks()


@inline
def _leave_first(state, me, wait, grace):
    """The pool's threads leave first (the training passes; see the module docstring): a pool
    thread (``me`` > 0) says when it left and returns; the calling thread waits, spinning, up to
    ``wait`` ticks until every pool thread that started (``state[_WORKERS]``) has left, and then
    until ``grace`` ticks after the last one did. (A pool thread that starts after that finds no
    piece left: the pool's join waits for it.)"""
    if me != 0:
        state[_WORKERS_LEFT_AT] = _ticks()
        fetch_add(state, _WORKERS_LEFT, 1)
        return
    give_up = _ticks() + wait
    while _load_acquire(state, _WORKERS_LEFT) < _load_acquire(state, _WORKERS):
        if _ticks() > give_up:
            return
        _pause()
    if _load_acquire(state, _WORKERS) > 0:
        until = state[_WORKERS_LEFT_AT] + grace
        while _ticks() < until:
            _pause()


@inline
def _unclaimed(claims, total):
    """How many of the ``total`` pieces `_take_segment` has not handed out yet."""
    parts = claims.shape[0]
    base, extra = total // parts, total % parts
    left = 0
    for r in range(parts):
        size = base + (1 if r < extra else 0)
        taken = _load_acquire(claims, r)
        taken = (taken & 0xFFFFFFFF) + (taken >> 32)
        if taken < size:
            left += size - taken
    return left


def _batch_norm_forward_rows_packed(x, gamma, beta, epsilon, lower, moving_mean, moving_var, momentum, bounds, work,
                                    small, cells, me, wait, grace, y):
    """`_batch_norm_forward_rows_shared` on (R, W) rows with its arrays packed into three, which
    the caller makes with one numpy call each (each costs 1-4 us on the caches a pass left cold),
    and the centre of the sums (each channel's first value) taken from ``x`` here.

    Args:
        gamma, beta: (C,); epsilon: a float; lower: the map's clamp, of ``x``'s dtype.
        moving_mean, moving_var, momentum: the layer's moving statistics (C,), moved toward the
            rounded batch statistics by the calling thread at the end (``moving * momentum +
            batch * (1 - momentum)``, as `kernels.normalization.moving_update`), or empty.
        bounds: as `_batch_norm_forward_rows_shared` takes them.
        work: float64 zeros: the mean, the biased variance and ``1 / sqrt(var + epsilon)``
            (C each), then the pieces' totals (`_totals_rows`, 2, S) with S >= W.
        small: ``x``'s dtype: the map's ``scale`` and ``shift`` (W each), the mean and the
            variance rounded to the dtype (C each, written by the calling thread, ``me`` 0),
            then each thread's scratch (T, 2, S') and centre (T, S'), S' >= W.
        cells: int64 zeros: the claims (2, T), then the state (`PASS_STATE_CELLS`).
        me, wait, grace, y: as `_batch_norm_forward_rows_shared` takes them.
    """
    chans, width, pieces = gamma.shape[0], x.shape[1], _totals_rows(bounds, x.shape[0])
    threads = (cells.shape[0] - PASS_STATE_CELLS) // 2
    totals = work[3 * chans:].reshape((pieces, 2, (work.shape[0] - 3 * chans) // (2 * pieces)))
    rest = small[2 * width + 2 * chans:]
    stride = rest.shape[0] // (3 * threads)
    scratch = rest[:2 * threads * stride].reshape((threads, 2, stride))
    centre = rest[(2 * threads + me) * stride:(2 * threads + me) * stride + width]
    for k in range(width):
        centre[k] = x[0, k % chans]
    first = np.empty(chans)
    for c in range(chans):
        first[c] = x[0, c]
    mean, var, inv = work[:chans], work[chans:2 * chans], work[2 * chans:3 * chans]
    batch_norm_forward_rows_shared(x, centre, first, float(x.shape[0] * (width // chans)), gamma, beta, epsilon,
                                   lower, bounds, totals, scratch, cells[:2 * threads].reshape((2, threads)),
                                   cells[2 * threads:], me, wait, grace, mean, var, inv, small[:width],
                                   small[width:2 * width], y)
    if me == 0:  # (every thread has waited for the numbers)
        for c in range(chans):
            small[2 * width + c] = mean[c]
            small[2 * width + chans + c] = var[c]
        rest = 1.0 - momentum
        for c in range(moving_mean.shape[0]):
            moving_mean[c] = moving_mean[c] * momentum + small[2 * width + c] * rest
            moving_var[c] = moving_var[c] * momentum + small[2 * width + chans + c] * rest


def _batch_norm_backward_rows_packed(g, x, relu, gamma, saved, saved_small, zero, bounds, work, small, cells, me,
                                     wait, grace, map_out, dx):
    """`_batch_norm_backward_rows_shared` on (R, W) rows with its arrays packed as
    `_batch_norm_forward_rows_packed` packs them, the forward pass's two read as it left them.

    Args:
        relu: whether a ReLU followed (its mask from the forward map's ``scale`` and ``shift``).
        gamma: (C,); saved, saved_small: the forward pass's ``work`` and ``small``.
        zero: 0 of ``g``'s dtype.
        work: float64 zeros: ``dbeta`` and ``dgamma`` (C each), then the pieces' totals
            (`_totals_rows`, 2, S).
        small: ``g``'s dtype: the map's ``a``, ``b``, ``c`` (W each), ``dgamma`` and ``dbeta``
            rounded to the dtype (C each, written by the calling thread), then each thread's
            scratch (T, 2, S'), centre (T, S': the mean rounded to the dtype) and zeros (T, S').
        map_out, dx: as `_batch_norm_backward_rows_shared` takes them.
    """
    chans, width, pieces = gamma.shape[0], g.shape[1], _totals_rows(bounds, g.shape[0])
    threads = (cells.shape[0] - PASS_STATE_CELLS) // 2
    totals = work[2 * chans:].reshape((pieces, 2, (work.shape[0] - 2 * chans) // (2 * pieces)))
    rest = small[3 * width + 2 * chans:]
    stride = rest.shape[0] // (4 * threads)
    scratch = rest[:2 * threads * stride].reshape((threads, 2, stride))
    at = (2 * threads + me) * stride
    centre = rest[at:at + width]
    at = (3 * threads + me) * stride
    zeros = rest[at:at + width]
    mean, inv = saved[:chans], saved[2 * chans:3 * chans]
    for k in range(width):
        centre[k] = mean[k % chans]
        zeros[k] = 0
    state = cells[2 * threads:]
    batch_norm_backward_rows_shared(g, x, relu, saved_small[:width], saved_small[width:2 * width], zeros, centre,
                                    zero, bounds, totals, scratch, cells[:2 * threads].reshape((2, threads)), state,
                                    me, wait, grace, centre[:chans], mean, inv, gamma,
                                    float(g.shape[0] * (width // chans)), work[:chans], work[chans:2 * chans],
                                    small[:width], small[width:2 * width], small[2 * width:3 * width], map_out, dx)
    if me == 0:
        _wait_ready(state)  # (without a map the threads return without waiting for the numbers)
        for c in range(chans):
            small[3 * width + c] = work[chans + c]
            small[3 * width + chans + c] = work[c]


batch_norm_forward_rows_shared = kernel(_batch_norm_forward_rows_shared)
batch_norm_backward_rows_shared = kernel(_batch_norm_backward_rows_shared)
batch_norm_forward_rows_packed = kernel(_batch_norm_forward_rows_packed)
batch_norm_backward_rows_packed = kernel(_batch_norm_backward_rows_packed)
read_ticks = kernel(_read_ticks)
