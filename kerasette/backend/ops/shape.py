"""Ops that move values around: reshape, transpose, indexing, concatenation."""

from __future__ import annotations

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.ops.base import Op, apply


class Reshape(Op):
    name = "reshape"

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, grad):
        return (grad.reshape(self.in_shape),)


class Transpose(Op):
    name = "transpose"

    def __init__(self, axes=None):
        self.axes = None if axes is None else tuple(axes)

    def forward(self, x):
        axes = self.axes if self.axes is not None else tuple(reversed(range(x.ndim)))
        self.inverse = tuple(np.argsort(axes))
        return np.ascontiguousarray(np.transpose(x, axes))

    def backward(self, grad):
        return (np.ascontiguousarray(np.transpose(grad, self.inverse)),)


class GetItem(Op):
    name = "getitem"

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.x_shape, self.x_dtype = x.shape, x.dtype
        return np.array(x[self.index])

    def backward(self, grad):
        out = np.zeros(self.x_shape, dtype=grad.dtype)
        if _basic(self.index):  # each element picked at most once: a plain assignment
            out[self.index] = grad
        else:  # integer or boolean arrays may pick an element twice: the gradients add up
            np.add.at(out, self.index, grad)
        return (out,)


def _basic(index) -> bool:
    """Whether ``index`` is numpy basic indexing (integers, slices, None, Ellipsis)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) and not isinstance(p, bool)
               for p in parts)


class Concatenate(Op):
    name = "concatenate"

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return np.concatenate(xs, axis=self.axis)

    def backward(self, grad):
        cuts = np.cumsum(self.sizes)[:-1]
        return tuple(np.split(grad, cuts, axis=self.axis))


class ExpandDims(Op):
    name = "expand_dims"

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        self.in_shape = x.shape
        return np.expand_dims(x, self.axis)

    def backward(self, grad):
        return (grad.reshape(self.in_shape),)


class Tile(Op):
    """``np.tile``: the gradient sums the copies."""

    name = "tile"

    def __init__(self, reps):
        self.reps = tuple(int(r) for r in reps)

    def forward(self, x):
        self.in_shape = x.shape
        return np.tile(x, self.reps)

    def backward(self, grad):
        ndim = grad.ndim
        reps = (1,) * (ndim - len(self.reps)) + self.reps
        shape = (1,) * (ndim - len(self.in_shape)) + self.in_shape
        # the output axis i is (reps[i] copies) x (shape[i] values): split it and sum the copies
        split = [n for pair in zip(reps, shape) for n in pair]
        summed = grad.reshape(split).sum(axis=tuple(range(0, 2 * ndim, 2)))
        return (summed.reshape(self.in_shape),)


#: From this many input values a pad of a batch (nothing added on axis 0) is split over the threads.
PARALLEL_PAD_ELEMENTS = 1 << 20
#: Output values per piece of a split pad. Images' rows and columns are padded by a kernel whose
#: calls take pieces of output rows from a shared counter (one call per thread, no Python per
#: piece); other pads by numpy, piece by piece (a 32 x 34 x 34 x 64 pad then is 10 pieces, which
#: two threads share within one piece of each other).
PAD_PIECE = 1 << 18
#: Output values per piece of the images' kernel (cheap pieces: no Python each).
ROWS_PIECE = 1 << 16


class Pad(Op):
    """Zeros around ``x``: ``widths`` is one (before, after) pair per axis. The output is written
    once (the interior copied, only the border zeroed), and the gradient is the interior of the
    output's gradient."""

    name = "pad"

    def __init__(self, widths):
        self.widths = tuple((int(before), int(after)) for before, after in widths)

    def forward(self, x):
        if len(self.widths) != x.ndim or any(b < 0 or a < 0 for b, a in self.widths):
            raise ValueError(f"pad: expected {x.ndim} pairs of non-negative widths for an input of shape "
                             f"{x.shape}; received {self.widths}")
        out = np.empty(tuple(n + b + a for n, (b, a) in zip(x.shape, self.widths, strict=True)), dtype=x.dtype)
        self.interior = tuple(slice(b, b + n) for n, (b, _) in zip(x.shape, self.widths, strict=True))
        if (x.ndim == 4 and self.widths[0] == self.widths[3] == (0, 0) and x.size
                and x.dtype in (np.float32, np.float64)):  # images' rows and columns (ZeroPadding2D)
            from kerasette.backend.kernels import pad as kernels  # deferred: imports numba

            x = np.ascontiguousarray(x)
            rows = out.shape[0] * out.shape[1]
            piece, counter = max(1, ROWS_PIECE // out[0, 0].size), np.zeros(1, np.int64)
            top, left, zero = self.widths[1][0], self.widths[2][0], x.dtype.type(0)
            parallel.run_shared(lambda: kernels.pad_rows_shared(x, top, left, zero, out, counter, piece),
                                -(-rows // piece), out.size, PARALLEL_PAD_ELEMENTS)
        elif self.widths[0] == (0, 0) and x.ndim > 1 and x.size >= PARALLEL_PAD_ELEMENTS:
            parallel.map_pieces(lambda i, j: self._fill(out[i:j], x[i:j]), x.shape[0], 0, out[0].size,
                                piece_work=PAD_PIECE)
        else:
            self._fill(out, x)
        return out

    def _fill(self, out, x) -> None:
        """Zeros the border slabs of ``out``, axis by axis, and copies ``x`` into the interior."""
        # nothing added on axis 0 (always so for a chunk of the batch): the whole of that axis
        interior = (slice(None), *self.interior[1:]) if self.widths[0] == (0, 0) else self.interior
        for axis, (before, after) in enumerate(self.widths):
            inner = interior[:axis]
            if before:
                out[(*inner, slice(0, before))] = 0
            if after:
                out[(*inner, slice(out.shape[axis] - after, None))] = 0
        out[interior] = x

    def backward(self, grad):
        return (grad[self.interior],)


def pad(x, widths):
    """``x`` with zeros around it: ``widths`` holds one (before, after) pair per axis."""
    return apply(Pad(widths), x)


def reshape(x, shape):
    """Reshape (one dimension may be -1)."""
    return apply(Reshape(shape), x)


def transpose(x, axes=None):
    """Permutes the axes (reverses them when ``axes`` is None)."""
    return apply(Transpose(axes), x)


def getitem(x, index):
    """Numpy indexing ``x[index]``."""
    return apply(GetItem(index), x)


def concatenate(tensors, axis: int = -1):
    """Joins tensors along an existing axis."""
    return apply(Concatenate(axis), *tensors)


def flatten(x):
    """Keeps the first (batch) axis and flattens the rest, in the tensor's own order."""
    return reshape(x, (x.shape[0], -1))


def expand_dims(x, axis: int = -1):
    """Inserts an axis of size 1 at ``axis`` (numpy's meaning of negative axes)."""
    return apply(ExpandDims(axis), x)


def tile(x, reps):
    """Repeats ``x`` ``reps[i]`` times along each axis i, as ``np.tile`` (an int repeats the last
    axis; a shorter ``reps`` applies to the last axes)."""
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    bad = [r for r in reps if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0]
    if bad:
        raise ValueError(f"tile: argument `n` must hold non-negative integers; received {reps!r}")
    return apply(Tile(reps), x)
