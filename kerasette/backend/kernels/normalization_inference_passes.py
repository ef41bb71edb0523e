"""Batch normalization at inference on rows, one kernel call per thread: the map, its backward pass,
and the whole layer from the weights to the output.

The threads share the pieces of the leading axis (rows ``bounds[p]:bounds[p + 1]``) as
`normalization_passes`' training passes do (`kernels.pool._take_segment`: each thread its own
contiguous range of pieces first, then the rest of the others'). Inference's backward pass
(`affine_backward_rows_shared`) is a reduction and a map in one sweep, its pieces shared that
way with nothing to wait for.

Inference's forward map (`affine_rows_shared`) shares its pieces the same way and ends in an
order: the calling thread (``me`` 0) leaves the last pieces to a thread that has started, says it
leaves (``state``) and returns, and the other returns no sooner than `_leave`'s ``grace`` after
that. Each thread takes the GIL back when its kernel returns; when the two ended together, the one
that found the GIL held slept on it, and a sleeping thread's wake-up took 50-70 us (the calling
thread's half of the 32x32x32x64 map took 383 us against the other's 307: calls time-stamped in
the two threads; 0.5-0.85 voluntary context switches a call, 0.01 in this order). The calling
thread's Python from its kernel's return to the pool's join (which waits without the GIL; 20-30
us measured) then ends before the other thread wants the GIL.

`batch_norm_inference_rows_shared` makes the per-channel numbers from the four weights in each
thread (`inference_numbers`) and then maps the thread's share of the rows as
`affine_rows_shared` does (`_map_shared`: the same pieces, the same order of leaving);
`kernels.inference_jobs` runs the same numbers and map as a native job. (Split from
`normalization_passes`, which keeps the training passes, `_ticks` and `_unclaimed`.)
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import inline, kernel
from kerasette.backend.kernels.folding import scale_and_shift
from kerasette.backend.kernels.normalization import affine_backward_rows, channel_affine_rows
from kerasette.backend.kernels.normalization_passes import _ticks, _unclaimed
from kerasette.backend.kernels.pool import _take_segment, _take_segment_toward
from kerasette.backend.kernels.spin import _load_acquire, _pause, _store_release

#: `affine_backward_rows_shared`'s ``state`` cell: the calling thread has left (then its time:
#: `_leave`).
_PASS_LEFT = 2
#: `affine_rows_shared`'s ``state`` cells: the calling thread has left the kernel, its time then
#: (`_ticks`), another thread has started.
_LEFT, _STARTED = 0, 2


def _affine_backward_rows_shared(g, x, scale, bounds, totals, scratch, claims, state, me, wait, grace, dx):
    """The backward pass of inference batch normalization's map ``y = x * scale + shift`` on
    (R, W) rows: `_affine_backward_rows` (``dx = g * scale``, and ``sum(g)``, ``sum(g * x)``) piece
    by piece, each piece into its own float64 totals (the caller adds them up in piece order:
    the same bits on any thread count), the pieces shared as the module docstring says
    (``claims[0]``; ``state`` unused: no map waits for the sums).

    Args: as `normalization_passes._batch_norm_forward_rows_shared` (``bounds`` ... ``me``);
    ``scale``: (W,) of ``g``'s dtype; ``dx``: (R, W), written.
    """
    pieces, width = bounds.shape[0] - 1, g.shape[1]
    while True:
        p = _take_segment(claims[0], me, pieces)
        if p < 0:
            break
        i, j = bounds[p], bounds[p + 1]
        affine_backward_rows(g[i:j], x[i:j], scale, dx[i:j], totals[p, 0, :width], totals[p, 1, :width],
                             scratch[me, 0, :width], scratch[me, 1, :width])
    _leave(state, _PASS_LEFT, me, wait, grace)


@inline
def _leave(state, at, me, wait, grace):
    """The calling thread (``me`` 0) says it leaves (``state[at]``, then its time in ticks in
    ``state[at + 1]``); another thread waits up to ``wait`` ticks until it has, and until
    ``grace`` ticks after it did, so that the calling thread holds the GIL before it and has let
    it go again by the time this one returns (see the module docstring)."""
    if me == 0:
        state[at + 1] = _ticks()
        _store_release(state, at, 1)
        return
    give_up = _ticks() + wait
    while _load_acquire(state, at) == 0:
        if _ticks() > give_up:
            return
        _pause()
    until = state[at + 1] + grace
    while _ticks() < until:
        _pause()


def _affine_rows_shared(x, scale, shift, lower, bounds, claims, state, me, reserve, wait, grace, y):
    """Inference batch normalization's map `_channel_affine_rows` (``y = max(x * scale + shift,
    lower)`` per channel) on (R, W) rows, the pieces ``bounds[p]:bounds[p + 1]`` shared by
    `_take_segment` (``claims``: (threads,) int64 zeros), the threads leaving in the order
    `_leave` says (``state``: (3,) int64 zeros; ``wait``, ``grace``: its ticks). Once another
    thread has started, the calling thread leaves the last ``reserve`` pieces to it: the others
    map them while it goes on to the pool's join, rather than wait for it there."""
    _map_shared(x, scale, shift, lower, bounds, claims, state, me, reserve, wait, grace, False, y)


@inline
def _map_shared(x, scale, shift, lower, bounds, claims, state, me, reserve, wait, grace, backward, y):
    """`_affine_rows_shared`, each thread taking its own range's pieces last one first when
    ``backward`` (`kernels.pool._take_segment_toward`); also the map of
    `batch_norm_inference_rows_shared`."""
    pieces = bounds.shape[0] - 1
    if me != 0:
        _store_release(state, _STARTED, 1)
    while True:
        if me == 0 and _load_acquire(state, _STARTED) != 0 and _unclaimed(claims, pieces) <= reserve:
            break
        p = _take_segment_toward(claims, me, pieces, backward)
        if p < 0:
            break
        channel_affine_rows(x[bounds[p]:bounds[p + 1]], scale, shift, lower, y[bounds[p]:bounds[p + 1]])
    _leave(state, _LEFT, me, wait, grace)


def _batch_norm_inference_rows_shared(x, gamma, beta, mean, variance, epsilon, relu, width, bounds, cells, me,
                                      reserve, wait, grace, backward, y):
    """Batch normalization at inference on the rows of ``width`` values that the C-contiguous
    ``x`` and ``y`` are (any shape, the same for both): each thread makes the per-channel
    ``scale`` and ``shift`` from the weights (`kernels.folding.scale_and_shift`, the numbers of
    `engine.normalization.inference_numbers`: the same bits), repeated over the ``width / C``
    copies of the channels, then maps its share of the pieces as
    `affine_rows_shared` does (`_map_shared`), clamped at 0 when ``relu``
    (with ``backward``, each thread its own range's last piece first). Nothing is made before the
    threads start but ``y`` and ``cells``.

    Args:
        gamma, beta, mean, variance: (C,) of ``x``'s dtype; epsilon: a float, rounded to it.
        bounds: as `affine_rows_shared`; cells: (threads + 3,) int64 zeros:
        its ``claims``, then its ``state``. The rest: as `affine_rows_shared`
        takes them.
    """
    numbers = np.empty((2, width), x.dtype)
    lower = inference_numbers(gamma, beta, mean, variance, epsilon, relu, numbers)
    rows, threads = x.size // width, cells.size - 3
    _map_shared(x.reshape((rows, width)), numbers[0], numbers[1], lower, bounds, cells[:threads], cells[threads:],
                me, reserve, wait, grace, backward, y.reshape((rows, width)))


@inline
def inference_numbers(gamma, beta, mean, variance, epsilon, relu, numbers):
    """Batch normalization's map at inference from the weights: ``numbers[0]`` the scale and
    ``numbers[1]`` the shift (W each: the C channels' numbers repeated over the W / C copies;
    `kernels.folding.scale_and_shift`, the numbers of `engine.normalization.inference_numbers`,
    the same bits); returns the map's clamp in ``numbers``' dtype (0 with ``relu``, else NaN).
    ``epsilon``, 1 and the clamp are rounded to the dtype as numpy's scalars round them."""
    chans, width = gamma.shape[0], numbers.shape[1]
    given = np.empty(3, numbers.dtype)
    given[0], given[1], given[2] = epsilon, 1.0, 0.0 if relu else np.nan
    scale, shift = numbers[0], numbers[1]
    scale_and_shift(gamma, beta, mean, variance, given[0], given[1], scale[:chans], shift[:chans])
    for c in range(chans, width):
        scale[c] = scale[c - chans]
        shift[c] = shift[c - chans]
    return given[2]


affine_backward_rows_shared = kernel(_affine_backward_rows_shared)
affine_rows_shared = kernel(_affine_rows_shared)
batch_norm_inference_rows_shared = kernel(_batch_norm_inference_rows_shared)
