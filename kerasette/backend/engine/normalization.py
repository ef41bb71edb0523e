"""Batch normalization's passes on the numba kernels, split over the thread pool.

Batch normalization sees its input as rows ``(R, C)`` (channels last) or planes ``(A, C, S)``
(channels first; see `kerasette.backend.kernels.normalization`): `channel_view` finds the view
for the axes the statistics are taken over, or says there is none (kept axes that are not
adjacent), in which case the caller computes in numpy. The leading axis is cut into pieces of
about a megabyte that the threads take in turn (`parallel.map_pieces`): reductions sum each piece
into its own float64 totals, added up in piece order at the end (the same bits on any number of
threads); maps write disjoint pieces of the output.

The batch statistics are taken in one pass over the input: the sums of ``x - k`` and
``(x - k)**2`` (runs of a few dozen values in the input's dtype, their totals in float64) with
``k`` the first row's values (close to the mean for real data), so that the variance
``E[(x-k)^2] - E[x-k]^2`` is a difference of numbers of the size of the variance, not of the
squared mean.
"""

from __future__ import annotations

import math

import numpy as np

from kerasette.backend import memory, parallel
from kerasette.backend.kernels import normalization as _k


class ChannelView:
    """Where the channels of an array are: ``(R, C)`` rows or ``(A, C, S)`` planes.

    Attributes:
        shape: the view's shape (2 or 3 numbers).
        channels: C.
        count: how many values each channel has (R, or A * S).
    """

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape
        self.channels = shape[1]
        self.count = shape[0] * (shape[2] if len(shape) == 3 else 1)
        self.rows = len(shape) == 2

    def of(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array).reshape(self.shape)

    def _kernels(self):
        if self.rows:
            return _k.channel_sums_rows, _k.channel_affine_rows, _k.channel_affine2_rows
        return _k.channel_sums_planes, _k.channel_affine_planes, _k.channel_affine2_planes

    def _pieces(self) -> list[tuple[int, int]]:
        """The pieces of the leading axis that `_split` runs (see `parallel.pieces`)."""
        return parallel.pieces(self.shape[0], math.prod(self.shape[1:]))

    def _split(self, fn, ordered: bool = False):
        """``fn(start, stop)`` over the pieces of the leading axis, taken by the threads in turn
        when the array is large (`parallel.map_pieces`; ``ordered``: a reduction, always by
        pieces)."""
        return parallel.map_pieces(fn, self.shape[0], parallel.memory_bound_min(), math.prod(self.shape[1:]),
                                   ordered=ordered)

    # -- passes ---------------------------------------------------------------------------------
    def sums(self, a: np.ndarray, b: np.ndarray, a_center, b_center) -> tuple[np.ndarray, np.ndarray]:
        """Per channel, float64: ``sum(a - a_center)`` and ``sum((a - a_center) * (b - b_center))``
        (``a``, ``b``: views from `of`; centers: (C,), rounded to the input's dtype)."""
        kernel = self._kernels()[0]
        index = {start: t for t, (start, _) in enumerate(self._pieces())}
        totals = np.zeros((len(index), 2, self.channels))  # made here: a worker waits for no GIL
        scratch = np.empty((len(index), 2, self.channels if self.rows else _k.LANES), a.dtype)
        centers = a_center.astype(a.dtype), b_center.astype(b.dtype)

        def part(i, j):
            t = index[i]  # each piece its own totals, added up in piece order: the same bits on any thread count
            kernel(a[i:j], b[i:j], *centers, totals[t, 0], totals[t, 1], scratch[t, 0], scratch[t, 1])

        self._split(part, ordered=True)
        s1, s2 = totals.sum(axis=0)
        return s1, s2

    def affine(self, x: np.ndarray, scale: np.ndarray, shift: np.ndarray, relu: bool = False) -> np.ndarray:
        """``x * scale + shift`` per channel (then a ReLU, when ``relu``), a new array of the
        view's shape."""
        kernel = self._kernels()[1]
        y = memory.empty_aligned(self.shape, x.dtype)
        scale, shift = scale.astype(x.dtype), shift.astype(x.dtype)
        lower = x.dtype.type(0 if relu else np.nan)
        self._split(lambda i, j: kernel(x[i:j], scale, shift, lower, y[i:j]))
        return y

    def affine2(self, u: np.ndarray, v: np.ndarray, a, b, c) -> np.ndarray:
        """``u * a + v * b + c`` per channel, a new array of the view's shape."""
        kernel = self._kernels()[2]
        y = memory.empty_aligned(self.shape, u.dtype)
        a, b, c = (np.asarray(t).astype(u.dtype) for t in (a, b, c))
        self._split(lambda i, j: kernel(u[i:j], v[i:j], a, b, c, y[i:j]))
        return y

    def affine_backward(self, g: np.ndarray, x: np.ndarray, scale: np.ndarray):
        """``(g * scale, sum(g), sum(g * x))`` per channel: the gradients of ``x * scale + shift``
        (rows: in one sweep; planes: a map and a reduction)."""
        if not self.rows:
            zeros = np.zeros(self.channels)
            dshift, dscale = self.sums(g, x, zeros, zeros)
            return self.affine(g, scale, zeros), dshift, dscale
        index = {start: t for t, (start, _) in enumerate(self._pieces())}
        totals = np.zeros((len(index), 2, self.channels))
        scratch = np.empty((len(index), 2, self.channels), g.dtype)
        dx = memory.empty_aligned(self.shape, g.dtype)
        scale = scale.astype(g.dtype)

        def part(i, j):
            t = index[i]
            _k.affine_backward_rows(g[i:j], x[i:j], scale, dx[i:j], totals[t, 0], totals[t, 1], scratch[t, 0],
                                    scratch[t, 1])

        self._split(part, ordered=True)
        dshift, dscale = totals.sum(axis=0)
        return dx, dshift, dscale

    def statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (float64) mean and biased variance of each channel of the view ``x``."""
        first = (x[0] if self.rows else x[0, :, 0]).astype(np.float64)
        s1, s2 = self.sums(x, x, first, first)
        n = float(self.count)
        shifted_mean = s1 / n
        var = np.maximum(s2 / n - shifted_mean * shifted_mean, 0.0)
        return first + shifted_mean, var


def channel_view(shape: tuple[int, ...], axes: tuple[int, ...]) -> ChannelView | None:
    """The rows or planes view of an array of ``shape`` whose statistics are over ``axes``
    (sorted), or None when the kept axes are not adjacent (or there are none)."""
    kept = [a for a in range(len(shape)) if a not in axes]
    if not kept or kept != list(range(kept[0], kept[-1] + 1)) or 0 in shape:
        return None
    outer = math.prod(shape[:kept[0]])
    chans = math.prod(shape[kept[0]:kept[-1] + 1])
    inner = math.prod(shape[kept[-1] + 1:])
    return ChannelView((outer, chans) if inner == 1 else (outer, chans, inner))


def moving_update(moving_mean: np.ndarray, moving_var: np.ndarray, mean, var, momentum: float) -> None:
    """``moving = moving * momentum + batch * (1 - momentum)`` for both statistics, in place
    (contiguous arrays of any shape; ``mean``, ``var`` with as many values)."""
    _k.moving_update(moving_mean.reshape(-1), moving_var.reshape(-1), np.asarray(mean).reshape(-1),
                     np.asarray(var).reshape(-1), float(momentum))
