"""Reductions over axes: sum, mean, max, min."""

from __future__ import annotations

import builtins

import numpy as np

from kerasette.backend.autograd import Op, apply


def _axes(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim for a in axis))


def _expand(grad: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Puts back the reduced axes (size 1) so that ``grad`` broadcasts against the input."""
    return grad if keepdims else np.expand_dims(grad, axes)


class Sum(Op):
    name = "sum"

    def __init__(self, axis=None, keepdims: bool = False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        self.axes = _axes(self.axis, x.ndim)
        return np.asarray(x.sum(axis=self.axes, keepdims=self.keepdims))

    def backward(self, grad):
        return (np.broadcast_to(_expand(grad, self.axes, self.keepdims), self.shape).copy(),)


class Mean(Sum):
    name = "mean"

    def forward(self, x):
        out = super().forward(x)
        self.count = builtins.max(int(np.prod([x.shape[a] for a in self.axes])), 1)
        return np.asarray(out / self.count, dtype=x.dtype)

    def backward(self, grad):
        (g,) = super().backward(grad)
        return (g / np.asarray(self.count, dtype=g.dtype),)


class Max(Op):
    """Maximum over axes; the gradient is shared equally between tied maxima."""

    name = "max"
    reduce = staticmethod(np.max)

    def __init__(self, axis=None, keepdims: bool = False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x = x
        self.axes = _axes(self.axis, x.ndim)
        self.out = np.asarray(self.reduce(x, axis=self.axes, keepdims=True))
        return self.out if self.keepdims else np.squeeze(self.out, axis=self.axes)

    def backward(self, grad):
        mask = (self.x == self.out).astype(self.x.dtype)
        mask /= mask.sum(axis=self.axes, keepdims=True)
        return (mask * _expand(grad, self.axes, self.keepdims),)


class Min(Max):
    name = "min"
    reduce = staticmethod(np.min)


def sum(x, axis=None, keepdims: bool = False):  # noqa: A001 - the Keras backend name
    """Sum over ``axis`` (all axes when None)."""
    return apply(Sum(axis, keepdims), x)


def mean(x, axis=None, keepdims: bool = False):
    """Mean over ``axis`` (all axes when None)."""
    return apply(Mean(axis, keepdims), x)


def max(x, axis=None, keepdims: bool = False):  # noqa: A001 - the Keras backend name
    """Maximum over ``axis`` (all axes when None)."""
    return apply(Max(axis, keepdims), x)


def min(x, axis=None, keepdims: bool = False):  # noqa: A001 - the Keras backend name
    """Minimum over ``axis`` (all axes when None)."""
    return apply(Min(axis, keepdims), x)
