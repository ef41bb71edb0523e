"""Global average pooling's forward pass in one kernel call per thread, its threads leaving in
an order.

The threads share the segments of `kerasette.backend.kernels.pool` (each its own contiguous
range first, then the rest of the others': `pool._take_segment`), sum them with
`pool.global_avgpool_sums` and the calling thread (``me`` 0) adds each image's segments up into
the means (`pool.global_avgpool_mean`) once every segment is summed: the same kernels, the same
bits as the passes one by one.

Why one order of leaving: each thread takes the GIL back when its kernel returns. When the two
ended together, the one that found the GIL held slept on it, and a sleeping thread's wake-up
takes 50-70 us on this machine (time-stamped in the two threads, 8x112x112x64: the segments
summed by 485 us, the call returned at 575-584). Here the pool's threads leave first: a pool
thread stops taking segments when ``reserve`` or fewer are left (the calling thread sums those
while the other runs its Python into the pool's wait, which releases the GIL) and says when it
left; the calling thread waits, spinning without the GIL, for every segment to be summed and
until ``grace`` ticks after the last pool thread left, computes the means, and returns to a
join that finds the others done. (Batch normalization's inference map orders its threads the
other way, `normalization_inference_passes._leave`: there the calling thread's way to the join overlaps
the others' last pieces; here that measured no better than no order at all.)
"""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.normalization_passes import _ticks, _unclaimed
from kerasette.backend.kernels.pool import _take_segment_toward, global_avgpool_mean, global_avgpool_sums
from kerasette.backend.kernels.spin import _load_acquire, _pause, _store_release, fetch_add

#: ``state``'s cells: pool threads started, pool threads left, the last one's time of leaving
#: (ticks), segments summed, the means written (by the calling thread).
STARTED, LEFT, LEFT_AT, SUMMED, MEANS = range(5)
#: cells of ``state``
STATE_CELLS = 5


def _global_avgpool_ordered(x, k, rows, claims, state, me, reserve, wait, grace, backward, sums, y):
    """Global average pooling of ``x`` ((N, S, C), segments of ``k`` a image and ``rows`` rows
    as `pool.global_avgpool_sums` takes them) by the threads that call this at once: segment
    sums into ``sums`` ((N * k, C) float64), then ``y`` ((N, C)) from them in the calling thread
    (``me`` 0), which sets ``state[MEANS]`` when it did (not when it gave up waiting: ``wait``
    ticks for the others; the caller then computes them after the pool's join).

    Args:
        claims: (threads,) int64 zeros: `pool._take_segment`'s counts.
        state: (`STATE_CELLS`,) int64 zeros.
        reserve: segments a pool thread leaves to the calling thread.
        wait, grace: ticks (`normalization_passes._ticks`) the calling thread waits at most for
            the others, and after the last one left.
        backward: each thread takes its own range's segments last one first
            (`pool._take_segment_toward`); each segment is still read and summed front to back.
    """
    total = sums.shape[0]
    if me != 0:
        fetch_add(state, STARTED, 1)
    while True:
        if me != 0 and _unclaimed(claims, total) <= reserve:
            break
        p = _take_segment_toward(claims, me, total, backward)
        if p < 0:
            break
        global_avgpool_sums(x, k, rows, p, p + 1, sums)
        fetch_add(state, SUMMED, 1)
    if me != 0:
        state[LEFT_AT] = _ticks()
        fetch_add(state, LEFT, 1)
        return
    give_up = _ticks() + wait
    while _load_acquire(state, SUMMED) < total or _load_acquire(state, LEFT) < _load_acquire(state, STARTED):
        if _ticks() > give_up:
            return
        _pause()
    if _load_acquire(state, STARTED) > 0:
        until = state[LEFT_AT] + grace
        while _ticks() < until:
            _pause()
    global_avgpool_mean(sums, k, x.shape[1], y)
    _store_release(state, MEANS, 1)


global_avgpool_ordered = kernel(_global_avgpool_ordered)
