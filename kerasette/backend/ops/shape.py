"""Ops that move values around: reshape, transpose, indexing, concatenation."""

from __future__ import annotations

import numpy as np

from kerasette.backend.autograd import Op, apply


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
        np.add.at(out, self.index, grad)
        return (out,)


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
