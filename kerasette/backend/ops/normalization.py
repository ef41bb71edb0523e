"""Batch normalization and the parameterised rectifiers of the activation layers.

`batch_normalization` normalizes with the statistics of the batch (training) in one op whose
backward pass gives the input, scale and offset gradients together; with given statistics
(inference) it is a per-channel affine map whose scale and shift come from elementwise ops.
`thresholded_relu` is the ``ThresholdedReLU`` layer's rectifier (the ``ReLU`` layer uses
``general_relu`` of ``ops/activations.py``, as the ``relu`` activation does).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops import elementwise as ew
from kerasette.backend.ops.base import Op, apply, as_tensor


def _broadcast_shape(ndim: int, axes: tuple[int, ...], size_of) -> tuple[int, ...]:
    """The shape of the per-channel statistics, broadcastable against the input."""
    return tuple(1 if a in axes else size_of(a) for a in range(ndim))


class BatchNorm(Op):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the mean and the (biased)
    variance of ``x`` over ``axes``; ``gamma`` and ``beta`` have the shape of the kept axes.

    After the forward pass ``self.mean`` and ``self.var`` hold the batch statistics (shape of
    ``gamma``), for the caller's moving averages.

    When the kept axes are the last ones (channels-last images, (batch, features)) the passes
    work on the (rows, channels) matrix: sums over rows as BLAS products and ``einsum``, and
    one new array per pass besides the result (fresh memory costs more than arithmetic here).
    """

    name = "batch_normalization"

    def __init__(self, axes: tuple[int, ...], epsilon: float):
        self.axes, self.epsilon = axes, epsilon

    def forward(self, x, gamma, beta):
        self.x_shape = x.shape
        self.count = int(np.prod([x.shape[a] for a in self.axes]))
        self.rows = self.axes == tuple(range(len(self.axes)))  # the statistics are over leading axes
        if self.rows:
            x = np.ascontiguousarray(x).reshape(self.count, -1)
            axes, shape = (0,), (1, x.shape[1])
        else:
            axes, shape = self.axes, _broadcast_shape(x.ndim, self.axes, lambda a: x.shape[a])
        dtype = x.dtype.type
        mean = _sum(x, axes) / dtype(self.count)
        centered = x - mean.reshape(shape)
        var = _sum_of_squares(centered, axes) / dtype(self.count)
        inv = (1.0 / np.sqrt(var + dtype(self.epsilon))).astype(x.dtype, copy=False).reshape(shape)
        centered *= inv  # now x-hat
        self.xhat, self.inv, self.gamma, self.shape = centered, inv, gamma.reshape(shape), shape
        self.mean, self.var = mean.reshape(gamma.shape), var.reshape(gamma.shape)
        y = centered * self.gamma
        y += beta.reshape(shape)
        return y.reshape(self.x_shape)

    def backward(self, grad):
        g = np.ascontiguousarray(grad).reshape(self.xhat.shape)
        axes = (0,) if self.rows else self.axes
        dtype = g.dtype.type
        dbeta = _sum(g, axes).reshape(self.shape)
        dgamma = _sum_of_products(g, self.xhat, axes).reshape(self.shape)
        dx = None
        if self.needs_grad[0]:
            # dx = gamma * inv * (g - dbeta / count - xhat * dgamma / count)
            dx = self.xhat * (-dgamma / dtype(self.count))
            dx += g
            dx -= dbeta / dtype(self.count)
            dx *= self.gamma * self.inv
            dx = dx.reshape(self.x_shape)
        kept = self.mean.shape
        return (dx, dgamma.reshape(kept) if self.needs_grad[1] else None,
                dbeta.reshape(kept) if self.needs_grad[2] else None)


def _sum(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Sums over ``axes``; over the rows of a matrix as a product with ones (BLAS)."""
    if axes == (0,) and x.ndim == 2:
        return np.ones(x.shape[0], x.dtype) @ x
    return x.sum(axis=axes)


def _sum_of_products(a: np.ndarray, b: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``(a * b).sum(axes)``, without the product array for the rows of a matrix."""
    if axes == (0,) and a.ndim == 2:
        return np.einsum("ij,ij->j", a, b)
    return (a * b).sum(axis=axes)


def _sum_of_squares(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    return _sum_of_products(a, a, axes)


class ChannelAffine(Op):
    """``x * scale + shift`` with ``scale`` and ``shift`` broadcast along the kept axes (the
    inference form of batch normalization), in one new array."""

    name = "batch_normalization_affine"

    def __init__(self, axes: tuple[int, ...]):
        self.axes = axes

    def forward(self, x, scale, shift):
        self.rows = self.axes == tuple(range(len(self.axes)))
        shape = (1, scale.size) if self.rows else _broadcast_shape(x.ndim, self.axes, lambda a: x.shape[a])
        self.x, self.scale, self.shape = x, scale.reshape(shape), shape
        x2 = np.ascontiguousarray(x).reshape(-1, scale.size) if self.rows else x
        y = x2 * self.scale
        y += shift.reshape(shape)
        return y.reshape(x.shape)

    def backward(self, grad):
        kept = self.scale.size
        g = np.ascontiguousarray(grad).reshape(-1, kept) if self.rows else grad
        axes = (0,) if self.rows else self.axes
        dx = (g * self.scale).reshape(grad.shape) if self.needs_grad[0] else None
        dscale = None
        if self.needs_grad[1]:
            x = np.ascontiguousarray(self.x).reshape(-1, kept) if self.rows else self.x
            dscale = _sum_of_products(g, x, axes).reshape(-1)
        dshift = _sum(g, axes).reshape(-1) if self.needs_grad[2] else None
        return dx, dscale, dshift


def batch_normalization(x, gamma, beta, axes, epsilon: float, mean=None, variance=None):
    """Normalizes ``x`` over ``axes`` (every axis but the channel axis, for batch normalization).

    Args:
        x: the input tensor.
        gamma, beta: scale and offset, shaped like the axes that are kept (constants of ones
            and zeros when the layer has none).
        axes: the axes the statistics are taken over.
        epsilon: added to the variance.
        mean, variance: given statistics (inference); when None the batch's are used and
            returned.

    Returns:
        ``(y, batch_mean, batch_variance)``; the statistics are raw arrays (None when given).

    Example:
        >>> import numpy as np
        >>> x = np.array([[1.0], [3.0]])
        >>> y, m, v = batch_normalization(x, np.ones(1), np.zeros(1), (0,), 0.0)
        >>> y.data.ravel().tolist(), m.tolist(), v.tolist()
        ([-1.0, 1.0], [2.0], [1.0])
    """
    x = as_tensor(x)
    axes = tuple(sorted(a % x.ndim for a in axes))
    if mean is None:
        op = BatchNorm(axes, epsilon)
        y = apply(op, x, gamma, beta)
        return y, op.mean, op.var
    dtype = x.dtype
    inv = ew.divide(1.0, ew.sqrt(ew.add(as_tensor(variance, dtype=dtype), epsilon)))
    scale = ew.multiply(as_tensor(gamma, dtype=dtype), inv)
    shift = ew.subtract(as_tensor(beta, dtype=dtype), ew.multiply(as_tensor(mean, dtype=dtype), scale))
    return apply(ChannelAffine(axes), x, scale, shift), None, None


class ThresholdedRelu(Op):
    """``x`` where ``x > theta``, else 0."""

    name = "thresholded_relu"

    def __init__(self, theta: float):
        self.theta = theta

    def forward(self, x):
        self.mask = x > x.dtype.type(self.theta)
        return np.where(self.mask, x, x.dtype.type(0))

    def backward(self, grad):
        return (grad * self.mask,)


def thresholded_relu(x, theta: float = 1.0):
    """``x`` above ``theta``, zero elsewhere."""
    return apply(ThresholdedRelu(theta), x)
