"""Reductions over axes: sum, mean, max, min, prod."""

from __future__ import annotations

import builtins

import numpy as np

from kerasette.backend.ops.base import Op, apply


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


class Prod(Op):
    """Product over axes. The gradient of each value is the product of the other values of its
    group, computed from prefix and suffix products (no division, so exact with zeros)."""

    name = "prod"

    def __init__(self, axis=None, keepdims: bool = False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x = x
        self.axes = _axes(self.axis, x.ndim)
        return np.asarray(np.prod(x, axis=self.axes, keepdims=self.keepdims))

    def backward(self, grad):
        x, axes = self.x, self.axes
        kept = tuple(a for a in range(x.ndim) if a not in axes)
        order = kept + axes
        # the reduced values of each group along one last axis
        groups = np.transpose(x, order).reshape(tuple(x.shape[a] for a in kept) + (-1,))
        ones = np.ones(groups.shape[:-1] + (1,), dtype=x.dtype)
        before = np.cumprod(np.concatenate([ones, groups[..., :-1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, groups[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        g = _expand(grad, axes, self.keepdims)
        g = np.transpose(g, order).reshape(groups.shape[:-1] + (1,))
        others = (before * after * g).reshape(tuple(x.shape[a] for a in order))
        return (np.ascontiguousarray(np.transpose(others, np.argsort(order))),)


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


def prod(x, axis=None, keepdims: bool = False):
    """Product over ``axis`` (all axes when None); the gradient is exact where values are 0."""
    return apply(Prod(axis, keepdims), x)
