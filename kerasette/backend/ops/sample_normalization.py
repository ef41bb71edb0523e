"""Normalizations with each sample's own statistics: group normalization and L2 normalization.

`group_normalization` splits the channels into groups and normalizes each sample's group with
its mean and (biased) variance over the group's channels and every other non-batch axis, then
scales and shifts per channel (Wu & He, 2018; Keras's ``GroupNormalization``). `l2_normalize`
divides by the Euclidean norm over some axes (Keras's ``ops.normalize(order=2)``, behind
``UnitNormalization``). Each is one op whose backward pass is written out, so a training step
keeps one saved array per op instead of a chain of elementwise ones.

Group normalization on the last axis (channels-last images, (batch, features), sequences) runs
numba kernels (`kerasette.backend.kernels.group_norm`), one chunk of samples per thread; other
axes use numpy on a view with the channel axis split in two.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.ops.base import Op, apply, floating_dtype


class GroupNorm(Op):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` per sample and group of channels.

    ``x`` is viewed with its channel axis ``axis`` split into (groups, channels per group); the
    statistics are over every axis but the batch axis and the groups axis; ``gamma`` and
    ``beta`` have one value per channel.
    """

    name = "group_normalization"

    def __init__(self, axis: int, groups: int, epsilon: float):
        self.axis, self.groups, self.epsilon = axis, groups, epsilon

    def forward(self, x, gamma, beta):
        self.last = self.axis == x.ndim - 1
        if self.last:
            return self._forward_kernel(x, gamma, beta)
        a, g = self.axis, self.groups
        channels = x.shape[a]
        self.x_shape = x.shape
        grouped = x.shape[:a] + (g, channels // g) + x.shape[a + 1:]
        self.param_shape = (1,) * a + (g, channels // g) + (1,) * (x.ndim - a - 1)
        self.stat_axes = tuple(i for i in range(1, len(grouped)) if i != a)
        self.param_axes = tuple(i for i in range(len(grouped)) if i not in (a, a + 1))
        dtype = x.dtype.type
        xg = x.reshape(grouped)
        centered = xg - xg.mean(axis=self.stat_axes, keepdims=True)
        var = np.square(centered).mean(axis=self.stat_axes, keepdims=True)
        self.inv = (1.0 / np.sqrt(var + dtype(self.epsilon))).astype(x.dtype, copy=False)
        centered *= self.inv  # now x-hat
        self.xhat, self.gamma = centered, gamma.astype(x.dtype, copy=False).reshape(self.param_shape)
        y = centered * self.gamma
        y += beta.astype(x.dtype, copy=False).reshape(self.param_shape)
        return y.reshape(x.shape)

    def backward(self, grad):
        if self.last:
            return self._backward_kernel(grad)
        g = grad.reshape(self.xhat.shape)
        channels = self.gamma.size
        dgamma = (g * self.xhat).sum(axis=self.param_axes).reshape(channels) if self.needs_grad[1] else None
        dbeta = g.sum(axis=self.param_axes).reshape(channels) if self.needs_grad[2] else None
        dx = None
        if self.needs_grad[0]:
            # dx = inv * (d - mean(d) - xhat * mean(d * xhat)) with d = grad * gamma, means per group
            d = g * self.gamma
            dx = self.xhat * (d * self.xhat).mean(axis=self.stat_axes, keepdims=True)
            np.subtract(d, dx, out=dx)
            dx -= d.mean(axis=self.stat_axes, keepdims=True)
            dx *= self.inv
            dx = dx.reshape(self.x_shape)
        return dx, dgamma, dbeta

    # -- the channels-last kernels: x as (batch, positions, channels) ----------------------------
    def _forward_kernel(self, x, gamma, beta):
        kernels = _kernels()
        batch, channels = x.shape[0], x.shape[-1]
        self.x3 = np.ascontiguousarray(x).reshape(batch, -1, channels)
        self.gamma = np.ascontiguousarray(gamma, x.dtype)
        beta = np.ascontiguousarray(beta, x.dtype)
        out = np.empty_like(self.x3)
        self.mean = np.empty((batch, self.groups))
        self.inv = np.empty((batch, self.groups))

        def samples(start, stop):
            kernels.forward(self.x3, self.gamma, beta, self.groups, self.epsilon, out, self.mean, self.inv,
                            start, stop)

        parallel.map_chunks(samples, batch, parallel.memory_bound_min(), self.x3[0].size)
        return out.reshape(x.shape)

    def _backward_kernel(self, grad):
        kernels = _kernels()
        x3 = self.x3
        g3 = np.ascontiguousarray(grad, x3.dtype).reshape(x3.shape)
        dx = np.empty_like(x3)
        dgamma = np.empty((x3.shape[0], x3.shape[2]))
        dbeta = np.empty_like(dgamma)

        def samples(start, stop):
            kernels.backward(g3, x3, self.gamma, self.mean, self.inv, self.groups, dx, dgamma, dbeta, start, stop)

        parallel.map_chunks(samples, x3.shape[0], parallel.memory_bound_min(), x3[0].size)
        kind = x3.dtype
        return (dx.reshape(grad.shape) if self.needs_grad[0] else None,
                dgamma.sum(axis=0).astype(kind) if self.needs_grad[1] else None,
                dbeta.sum(axis=0).astype(kind) if self.needs_grad[2] else None)


def _kernels():
    from kerasette.backend.kernels import group_norm  # deferred: imports numba

    return group_norm


def group_normalization(x, gamma, beta, groups: int, axis: int = -1, epsilon: float = 1e-3):
    """Group normalization of ``x`` (batch axis first) over ``groups`` groups of the channels on
    ``axis``; ``gamma`` and ``beta`` (one value per channel) may be None (1 and 0)."""
    ndim = len(x.shape)
    axis = axis % ndim
    channels = x.shape[axis]
    if not 0 < axis < ndim or channels % groups:
        raise ValueError(f"group_normalization: axis {axis} must be a non-batch axis whose size ({channels}) "
                         f"is a multiple of groups={groups}")
    dtype = floating_dtype((x,)) or np.dtype("float32")
    gamma = np.ones(channels, dtype) if gamma is None else gamma
    beta = np.zeros(channels, dtype) if beta is None else beta
    return apply(GroupNorm(axis, int(groups), float(epsilon)), x, gamma, beta)


class L2Normalize(Op):
    """``x / max(||x||, epsilon)`` with the Euclidean norm over ``axes`` (kept as size 1), as
    Keras's ``x * min(rsqrt(sum(x ** 2)), 1 / epsilon)``."""

    name = "l2_normalize"

    def __init__(self, axes: tuple[int, ...], epsilon: float):
        self.axes, self.epsilon = axes, epsilon

    def forward(self, x):
        norm = np.sqrt(np.square(x).sum(axis=self.axes, keepdims=True))
        self.floored = norm < x.dtype.type(self.epsilon)
        self.inv = 1 / np.maximum(norm, x.dtype.type(self.epsilon))
        self.y = x * self.inv
        return self.y

    def backward(self, grad):
        # where the norm is above epsilon: inv * (grad - y * sum(grad * y)); below it y = x / epsilon
        dot = (grad * self.y).sum(axis=self.axes, keepdims=True)
        if self.floored.any():
            dot[self.floored] = 0
        dx = self.y * dot
        np.subtract(grad, dx, out=dx)
        dx *= self.inv
        return (dx,)


def l2_normalize(x, axis=-1, epsilon: float = 1e-12):
    """``x`` divided by its Euclidean norm over ``axis`` (an int or a sequence of ints), the norm
    floored at ``epsilon`` (Keras's ``ops.normalize(x, axis, order=2)``)."""
    ndim = len(x.shape)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if not axes or any(not -ndim <= a < ndim for a in axes):
        raise ValueError(f"l2_normalize: axis {axis!r} is out of range for a {ndim}-D input")
    return apply(L2Normalize(tuple(sorted({a % ndim for a in axes})), float(epsilon)), x)
