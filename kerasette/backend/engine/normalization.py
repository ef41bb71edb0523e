"""Batch normalization's passes on the numba kernels, split over the thread pool.

Batch normalization sees its input as rows ``(R, C)`` (channels last) or planes ``(A, C, S)``
(channels first; see `kerasette.backend.kernels.normalization`): `channel_view` finds the view
for the axes the statistics are taken over, or says there is none (kept axes that are not
adjacent), in which case the caller computes in numpy. Large arrays' leading axis is cut into
pieces (`elementwise.PASS_MIN`, `elementwise.piece_work`): reductions sum each piece into its own
float64 totals, added up in piece order at the end (the same bits on any number of threads);
maps write one contiguous chunk per thread (`elementwise.split_map`).

On rows, training's forward pass (`train_rows`) and backward pass (`train_rows_backward`) are
each one kernel call per thread (`engine.normalization_training`, the base `RowsTraining`).
Inference's backward pass on rows (`affine_backward`) is one kernel call per thread too, one
hand-off where the pieces taken in turn cost a Python call and a GIL hand-over each (calls
alternating in one process on a loaded machine, median ms: 8x112x112x64 2.09-2.40 -> 1.80-2.19,
32x32x32x64 0.70-0.74 -> 0.70-0.73, the same bits). Inference's map on rows (`ChannelView.affine`)
is one kernel call per thread as well, its threads leaving in an order that keeps them from
waiting for the GIL at the end (`kernels.normalization_inference_passes.affine_rows_shared`). The
other passes (planes, the layer's other uses) go pass by pass.

The batch statistics are taken in one pass over the input: the sums of ``x - k`` and
``(x - k)**2`` (runs of a few dozen values in the input's dtype, their totals in float64) with
``k`` the first row's values (close to the mean for real data), so that the variance
``E[(x-k)^2] - E[x-k]^2`` is a difference of numbers of the size of the variance, not of the
squared mean.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from kerasette.backend import memory, parallel
from kerasette.backend.engine import folding
from kerasette.backend.engine.elementwise import PASS_MIN, piece_work, relu_grad, split_map
from kerasette.backend.engine.normalization_training import RowsTraining
from kerasette.backend.engine.shared_passes import PAD as _PAD
from kerasette.backend.engine.shared_passes import WORKERS_GRACE_US, leave_ticks
from kerasette.backend.kernels import folding as _folding_kernels
from kerasette.backend.kernels import normalization as _k
from kerasette.backend.kernels import normalization_inference_passes as _inference_passes
from kerasette.backend.kernels import normalization_passes as _passes

#: Channels-last rows of fewer channels than this (dividing it) are given to the kernels this
#: many values wide (see `ChannelView`).
WIDE = 64
#: Values per piece of a map whose threads share its pieces (`ChannelView.affine` on rows): a few
#: tens of microseconds of one thread's work, so that the threads finish within one of each other.
MAP_PIECE = 1 << 16
#: Pieces of a shared map that the calling thread leaves to the others once they have started
#: (`kernels.normalization_inference_passes._affine_rows_shared`).
MAP_RESERVE = 2
#: `LEAVE_GRACE_US` of inference's backward pass (its threads share large pieces, none left to the
#: others), longer: the calling thread's way to the join.
PASS_GRACE_US = 30


class ChannelView(RowsTraining):
    """Where the channels of an array are: ``(R, C)`` rows or ``(A, C, S)`` planes.

    Rows of fewer than `WIDE` channels (a divisor of it) are seen ``k`` at a time, as ``(R / k,
    C * k)`` (``k = WIDE / C``, halved until it divides ``R``), and every per-channel number given
    to a kernel is repeated ``k`` times (`tile`); each kernel's per-column sums are then added up
    over the ``k`` copies of a channel (`_k.fold_totals`). The kernels' inner loops, over a row, are then
    ``C * k`` long: full vectors at 16 or 32 channels.

    Attributes:
        shape: the view's shape (2 or 3 numbers) as the kernels see it (rows: ``(R / k, C * k)``).
        channels: C.
        count: how many values each channel has (R, or A * S).
        rows: whether the view is rows.
        wide: ``k`` (1 for planes).
    """

    def __init__(self, shape: tuple[int, ...]):
        self.channels = shape[1]
        self.count = shape[0] * (shape[2] if len(shape) == 3 else 1)
        self.rows = len(shape) == 2
        wide = WIDE // shape[1] if self.rows and shape[1] < WIDE and WIDE % shape[1] == 0 else 1
        while shape[0] % wide:
            wide //= 2
        self.wide = wide
        self.shape = (shape[0] // wide, shape[1] * wide) if self.rows else shape
        self.size = math.prod(self.shape)
        self._bounds_of = None  # `_bounds`: (piece size setting, bounds)

    def of(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array).reshape(self.shape)

    def tile(self, values, dtype) -> np.ndarray:
        """Per-channel ``values`` as the kernels take them: ``dtype``, repeated `wide` times (a
        new array; written by broadcasting, 1.2 us where ``np.tile`` took 5.6)."""
        values = np.asarray(values).reshape(-1)
        if self.wide == 1:
            return values.astype(dtype)
        out = np.empty((self.wide, values.size), dtype)
        out[...] = values
        return out.reshape(-1)

    def _kernels(self):
        if self.rows:
            return _k.channel_sums_rows, _k.channel_affine_rows, _k.channel_affine2_rows
        return _k.channel_sums_planes, _k.channel_affine_planes, _k.channel_affine2_planes

    def _work(self) -> int:
        return math.prod(self.shape[1:])

    def _pieces(self) -> list[tuple[int, int]]:
        """The pieces of the leading axis that `_split` runs (see `parallel.pieces`)."""
        return parallel.pieces(self.shape[0], self._work(), piece_work(self.shape[0] * self._work()))

    def _split(self, fn, ordered: bool = False):
        """``fn(start, stop)`` over the pieces of the leading axis, taken by the threads in turn
        when the array is large (`parallel.map_pieces`, `PASS_MIN`; ``ordered``: a reduction,
        always by pieces)."""
        return parallel.map_pieces(fn, self.shape[0], min(PASS_MIN, parallel.memory_bound_min()), self._work(),
                                   piece_work(self.shape[0] * self._work()), ordered=ordered)

    def _map(self, kernel, *arrays_then_numbers, out=None, count: int = 0):
        """A map over the leading axis: ``kernel(*pieces of the first count arrays, *the rest,
        piece of out)`` (``out``: None when the kernel writes into its first array), one prepared
        call per thread for a large pass (`elementwise.split_map`), else one call here."""
        arrays, numbers = arrays_then_numbers[:count], arrays_then_numbers[count:]
        tail = () if out is None else (out,)
        if self.shape[0] * self._work() < min(PASS_MIN, parallel.memory_bound_min()) or parallel.num_threads() == 1:
            kernel(*arrays, *numbers, *tail)  # one call here, without the split's closures
            return

        def call_of(i, j):
            return functools.partial(kernel, *(a[i:j] for a in arrays), *numbers, *(t[i:j] for t in tail))

        split_map(call_of, self.shape[0], self._work(), min(PASS_MIN, parallel.memory_bound_min()))

    def _totals(self, kernel, arrays, centers) -> np.ndarray:
        """Runs the reduction ``kernel(*pieces of arrays, *centers, s1, s2, p1, p2)`` by pieces
        (the same pieces on any thread count), each into its own float64 totals: returns them,
        (pieces, 2, width + padding), for `fold_totals` or a coefficients kernel to add up in order."""
        parts = self._pieces()
        width, lanes = self.shape[1], self.shape[1] if self.rows else _k.LANES
        # made here (a worker waits for no GIL), each piece's rows padded apart
        totals = np.zeros((len(parts), 2, width + _PAD))
        scratch = np.empty((len(parts), 2, lanes + _PAD), arrays[0].dtype)
        if len(parts) == 1:  # the common small case without the pieces' bookkeeping
            kernel(*arrays, *centers, totals[0, 0, :width], totals[0, 1, :width], scratch[0, 0, :lanes],
                   scratch[0, 1, :lanes])
            return totals
        index = {start: t for t, (start, _) in enumerate(parts)}

        def part(i, j):
            t = index[i]
            kernel(*(a[i:j] for a in arrays), *centers, totals[t, 0, :width], totals[t, 1, :width],
                   scratch[t, 0, :lanes], scratch[t, 1, :lanes])

        self._split(part, ordered=True)
        return totals

    def _reduce(self, kernel, arrays, centers) -> tuple[np.ndarray, np.ndarray]:
        """`_totals` added up per channel (float64)."""
        s1, s2 = np.empty(self.channels), np.empty(self.channels)
        _k.fold_totals(self._totals(kernel, arrays, centers), self.shape[1], self.channels, s1, s2)
        return s1, s2

    # -- passes ---------------------------------------------------------------------------------
    def sums(self, a: np.ndarray, b: np.ndarray, a_center, b_center) -> tuple[np.ndarray, np.ndarray]:
        """Per channel, float64: ``sum(a - a_center)`` and ``sum((a - a_center) * (b - b_center))``
        (``a``, ``b``: views from `of`; centers: (C,), rounded to the input's dtype)."""
        if self.rows:
            centers = self.tile(a_center, a.dtype), self.tile(b_center, b.dtype)
        else:
            centers = a_center.astype(a.dtype), b_center.astype(b.dtype)
        return self._reduce(self._kernels()[0], (a, b), centers)

    def relu_sums(self, g: np.ndarray, x: np.ndarray, scale, shift, x_center) -> tuple[np.ndarray, np.ndarray]:
        """Per channel, float64: ``sum(m)`` and ``sum(m * (x - x_center))`` with ``m = g`` where
        ``x * scale + shift > 0``, else 0 (the gradient through a ReLU after the forward map of
        `affine` with those ``scale`` and ``shift``, as `tile` gives them); views from `of`."""
        if not self.rows:
            y = self.affine(x, scale, shift, relu=True, tiled=True)
            return self.sums(relu_grad(g, y), x, np.zeros(self.channels), x_center)
        return self._reduce(_k.channel_sums_rows_relu, (g, x),
                            (scale, shift, self.tile(x_center, x.dtype), g.dtype.type(0)))

    def affine(self, x: np.ndarray, scale: np.ndarray, shift: np.ndarray, relu: bool = False,
               tiled: bool = False) -> np.ndarray:
        """``x * scale + shift`` per channel (then a ReLU, when ``relu``), a new array of the
        view's shape (``tiled``: ``scale`` and ``shift`` are already as `tile` gives them)."""
        y = memory.empty_aligned(self.shape, x.dtype)
        if not tiled:
            scale, shift = self.tile(scale, x.dtype), self.tile(shift, x.dtype)
        lower = x.dtype.type(0 if relu else np.nan)
        if self.rows and self._splits():
            bounds = self._map_bounds()
            claims = np.zeros(parallel.num_threads() + 3, np.int64)  # the threads' claims, then the state
            wait, grace = leave_ticks()
            parallel.map_prepared(lambda me, start, stop: functools.partial(
                _inference_passes.affine_rows_shared, x, scale, shift, lower, bounds, claims[:-3], claims[-3:], me,
                MAP_RESERVE, wait, grace, y), parallel.num_threads())
            return y
        self._map(self._kernels()[1], x, scale, shift, lower, out=y, count=1)
        return y

    def _splits(self) -> bool:
        """Whether a map over the view is shared with the pool's threads (as `_map` splits)."""
        return parallel.num_threads() > 1 and self.size >= min(PASS_MIN, parallel.memory_bound_min())

    def _map_bounds(self) -> np.ndarray:
        """Pieces of `MAP_PIECE` values (whole rows) for a map's threads to share: int64 starts,
        then the end."""
        bounds = self.__dict__.get("_map_bounds_of")
        if bounds is None:
            step = max(1, MAP_PIECE // self._work())
            bounds = self._map_bounds_of = np.array([*range(0, self.shape[0], step), self.shape[0]], np.int64)
        return bounds

    def affine2(self, u: np.ndarray, v: np.ndarray, a, b, c, relu=None, mask: np.ndarray | None = None,
                tiled: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        """``u * a + v * b + c`` per channel (``tiled``: ``a``, ``b``, ``c`` are already as
        `tile` gives them).

        Args:
            u, v: views from `of` (the output gradient and the input).
            relu: ``(scale, shift)`` of a forward map with a ReLU (`affine`, as `tile` gives
                them), on rows: ``u`` is 0 where ``v * scale + shift`` is not positive.
            mask: the output of a ReLU (planes): ``u`` is 0 where it is not positive.
            out: the array written (``u`` itself: written in place), or None for a new one.
        """
        if not tiled:
            a, b, c = (self.tile(t, u.dtype) for t in (a, b, c))
        if not self.rows and (relu is not None or mask is not None):
            if mask is None:
                mask = self.affine(v, *relu, relu=True, tiled=True)
            return self.affine2(relu_grad(u, mask, in_place=out is u), v, a, b, c, tiled=True, out=out)
        if out is u and not self.rows:  # (no in-place planes kernel: one array as two would run unvectorized)
            out = None
        y = memory.empty_aligned(self.shape, u.dtype) if out is None else out
        if relu is not None:
            scale, shift, zero = *relu, u.dtype.type(0)
            if y is u:
                self._map(_k.channel_affine2_rows_relu_inplace, u, v, scale, shift, a, b, c, zero, count=2)
            else:
                self._map(_k.channel_affine2_rows_relu, u, v, scale, shift, a, b, c, zero, out=y, count=2)
        elif y is u:
            self._map(_k.channel_affine2_rows_inplace, u, v, a, b, c, count=2)
        else:
            self._map(self._kernels()[2], u, v, a, b, c, out=y, count=2)
        return y

    def affine_backward(self, g: np.ndarray, x: np.ndarray, scale: np.ndarray):
        """``(g * scale, sum(g), sum(g * x))`` per channel: the gradients of ``x * scale + shift``
        (rows: in one sweep, one kernel call per thread, `_shared`; planes: a map and a
        reduction)."""
        if not self.rows:
            zeros = np.zeros(self.channels)
            dshift, dscale = self.sums(g, x, zeros, zeros)
            return self.affine(g, scale, zeros), dshift, dscale
        bounds = self._bounds()
        pieces, width = len(bounds) - 1, self.shape[1]
        dx = memory.empty_aligned(self.shape, g.dtype)
        totals = np.zeros((pieces, 2, width + _PAD))
        self._shared(_inference_passes.affine_backward_rows_shared, (g, x, self.tile(scale, g.dtype), bounds, totals),
                     (dx,), pieces, g.dtype, PASS_GRACE_US)
        dshift, dscale = np.empty(self.channels), np.empty(self.channels)
        _k.fold_totals(totals, width, self.channels, dshift, dscale)
        return dx, dshift, dscale

    def normalize(self, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, epsilon: float, relu: bool = False):
        """Batch normalization's forward pass on the view ``x``: the statistics pass, the
        per-channel numbers in one kernel, and the map (then a ReLU, when ``relu``).

        Returns:
            ``(y, mean, var, inv, scale, shift)``: the output (the view's shape); per channel
            (float64) the mean, the biased variance and ``1 / sqrt(var + epsilon)``; and the map's
            ``scale`` and ``shift`` as the kernels took them (`tile`), for `normalize_backward`'s
            ReLU mask.
        """
        if self.rows:
            return self._normalize_rows(x, gamma, beta, epsilon, relu)
        first = self._first(x)
        totals = self._statistics_totals(x, first)
        chans, width = self.channels, self.shape[1]
        mean, var, inv = np.empty(chans), np.empty(chans), np.empty(chans)
        scale, shift = np.empty(width, x.dtype), np.empty(width, x.dtype)
        _k.batch_norm_coefficients(totals, width, first, float(self.count), gamma.reshape(-1), beta.reshape(-1),
                                   float(epsilon), mean, var, inv, scale, shift)
        return self.affine(x, scale, shift, relu=relu, tiled=True), mean, var, inv, scale, shift

    def normalize_backward(self, g: np.ndarray, x: np.ndarray, mean: np.ndarray, inv: np.ndarray,
                           gamma: np.ndarray, relu=None, y: np.ndarray | None = None,
                           input_gradient: bool = True, overwrite_g: bool = False):
        """Batch normalization's backward pass on views ``g`` (the output gradient) and ``x``:
        one reduction, the per-channel numbers in one kernel, and the input gradient's map.

        Args:
            mean, inv: what `normalize` returned.
            gamma: the scale, (C,).
            relu: with a ReLU after the normalization, ``(scale, shift)`` as `normalize`
                returned them: the ReLU's gradient runs inside the passes (rows: its mask
                computed from ``x``), or None.
            y: on planes, the ReLU's output (its mask; computed again from ``relu`` when None).
            input_gradient: whether to compute the input's gradient.
            overwrite_g: write the input gradient into ``g`` (the caller owns it: no one else
                reads it).

        Returns:
            ``(dx or None, dgamma, dbeta)``: dx in the view's shape, the others (C,) float64.
        """
        if self.rows:
            return self._normalize_backward_rows(g, x, mean, inv, gamma, relu, input_gradient, overwrite_g)
        rounded = mean.astype(g.dtype)  # the centre the kernel uses
        centre = self.tile(rounded, g.dtype)
        if relu is None:
            totals = self._totals(self._kernels()[0], (g, x), (np.zeros_like(centre), centre))
        else:  # (rows went to `_normalize_backward_rows`)
            g = relu_grad(g, self.affine(x, *relu, relu=True, tiled=True) if y is None else y, in_place=overwrite_g)
            relu, overwrite_g = None, True  # g is now a masked copy, or the caller's own
            totals = self._totals(self._kernels()[0], (g, x), (np.zeros_like(centre), centre))
        chans, width = self.channels, self.shape[1]
        dbeta, dgamma = np.empty(chans), np.empty(chans)
        a, b, c = np.empty(width, g.dtype), np.empty(width, g.dtype), np.empty(width, g.dtype)
        _k.batch_norm_backward_coefficients(totals, width, rounded, mean, inv, gamma.reshape(-1),
                                            float(self.count), dbeta, dgamma, a, b, c)
        dx = None
        if input_gradient:
            dx = self.affine2(g, x, a, b, c, relu=relu, tiled=True, out=g if overwrite_g else None)
        return dx, dgamma, dbeta

    # -- rows: each pass one kernel call per thread ---------------------------------------------
    def _bounds(self) -> np.ndarray:
        """The pieces of `_pieces` as int64 starts followed by the end (kept per piece size)."""
        cached = self._bounds_of
        if cached is None or cached[0] != parallel.PIECE_WORK:  # (the sizes' part of `piece_work` fixed)
            parts = self._pieces()
            starts = [start for start, _ in parts] + [parts[-1][1]]
            cached = self._bounds_of = (parallel.PIECE_WORK, np.array(starts, np.int64))
        return cached[1]

    def _shared(self, kernel, before: tuple, after: tuple, pieces: int, dtype, grace_us: float = WORKERS_GRACE_US):
        """Calls ``kernel(*before, scratch, claims, state, me, wait, grace, *after)``, a kernel that
        shares the ``pieces`` out itself (`kernels.normalization_passes`), in the
        calling thread (``me`` 0) and, for a pass of `PASS_MIN` values or more (or less, as
        `parallel.memory_bound_min` asks), in the pool's threads at once (``me`` 1, 2...; the
        calls prepared here: `parallel.map_prepared`), with the scratch and the counters it needs
        for that many threads (``grace_us``: its order of leaving's grace, `leave_ticks`)."""
        parts = self._parts(pieces)
        scratch = np.empty((parts, 2, self.shape[1] + _PAD), dtype)  # each thread's rows padded apart
        cells = np.zeros(2 * parts + _passes.PASS_STATE_CELLS, np.int64)  # the passes' claims, then the state
        shared = (scratch, cells[:2 * parts].reshape(2, parts), cells[2 * parts:])
        wait, grace = leave_ticks(grace_us)
        if parts == 1:
            kernel(*before, *shared, 0, wait, grace, *after)
            return
        parallel.map_prepared(lambda me, start, stop: functools.partial(kernel, *before, *shared, me, wait, grace,
                                                                        *after), parts)

    def _parts(self, pieces: int) -> int:
        """How many threads take part in a pass of ``pieces`` pieces (see `_shared`)."""
        threads = parallel.num_threads()
        split = threads > 1 and pieces > 1 and self.size >= min(PASS_MIN, parallel.memory_bound_min())
        return min(threads, pieces) if split else 1

    def _first(self, x: np.ndarray) -> np.ndarray:
        """The first value of each channel (float64): the centre of the statistics' sums."""
        return (x[0, :self.channels] if self.rows else x[0, :, 0]).astype(np.float64)

    def _statistics_totals(self, x: np.ndarray, first: np.ndarray) -> np.ndarray:
        """`_totals` of ``sum(x - first)`` and ``sum((x - first)**2)`` (rows: the kernel that
        reads each row once)."""
        centre = self.tile(first, x.dtype)
        if self.rows:
            return self._totals(_k.channel_stats_rows, (x,), (centre,))
        return self._totals(_k.channel_sums_planes, (x, x), (centre, centre))

    def statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (float64) mean and biased variance of each channel of the view ``x``."""
        first = self._first(x)
        s1, s2 = np.empty(self.channels), np.empty(self.channels)
        _k.fold_totals(self._statistics_totals(x, first), self.shape[1], self.channels, s1, s2)
        n = float(self.count)
        shifted_mean = s1 / n
        var = np.maximum(s2 / n - shifted_mean * shifted_mean, 0.0)
        return first + shifted_mean, var


def channel_view(shape: tuple[int, ...], axes: tuple[int, ...]) -> ChannelView | None:
    """The rows or planes view of an array of ``shape`` whose statistics are over ``axes``
    (sorted), or None when the kept axes are not adjacent (or there are none). A view holds
    nothing but sizes: one is made per shape and axes and shared (a training step asks for the
    same few every step; making one took 1.8 us)."""
    return _channel_view(tuple(shape), tuple(axes))


@functools.lru_cache(maxsize=256)
def _channel_view(shape: tuple[int, ...], axes: tuple[int, ...]) -> ChannelView | None:
    kept = [a for a in range(len(shape)) if a not in axes]
    if not kept or kept != list(range(kept[0], kept[-1] + 1)) or 0 in shape:
        return None
    outer = math.prod(shape[:kept[0]])
    chans = math.prod(shape[kept[0]:kept[-1] + 1])
    inner = math.prod(shape[kept[-1] + 1:])
    return ChannelView((outer, chans) if inner == 1 else (outer, chans, inner))


def inference_numbers(view: ChannelView | None, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
                      variance: np.ndarray, epsilon: float, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Batch normalization at inference as ``x * scale + shift``: ``scale = gamma * (1 /
    sqrt(variance + epsilon))`` and ``shift = beta - mean * scale`` in ``dtype``
    (`engine.folding.scale_and_shift`, one kernel call), laid out as
    ``view``'s kernels take them (repeated `ChannelView.wide` times on rows; ``view`` None: once).
    The four arrays have one size.

    Returns:
        ``(scale, shift)``, flat; their first ``variance.size`` values are the per-channel numbers.
    """
    copies = view.wide if view is not None and view.rows else 1
    both = np.empty((2, copies, variance.size), dtype)
    if variance.ndim == 1 and gamma.dtype is dtype and beta.dtype is dtype and mean.dtype is dtype \
            and variance.dtype is dtype:  # the layer's usual case: the kernel without the wrapper's conversions
        kind = dtype.type
        _folding_kernels.scale_and_shift(gamma, beta, mean, variance, kind(epsilon), kind(1), both[0, 0], both[1, 0])
    else:
        folding.scale_and_shift(gamma, beta, mean, variance, epsilon, dtype, out=(both[0, 0], both[1, 0]))
    if copies > 1:
        both[:, 1:] = both[:, :1]
    return both[0].reshape(-1), both[1].reshape(-1)


def moving_update(moving_mean: np.ndarray, moving_var: np.ndarray, mean, var, momentum: float) -> None:
    """``moving = moving * momentum + batch * (1 - momentum)`` for both statistics, in place
    (contiguous arrays of any shape; ``mean``, ``var`` with as many values)."""
    _k.moving_update(moving_mean.reshape(-1), moving_var.reshape(-1), np.asarray(mean).reshape(-1),
                     np.asarray(var).reshape(-1), float(momentum))
