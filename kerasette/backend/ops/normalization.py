"""Batch normalization and the parameterised rectifiers of the activation layers.

`batch_normalization` normalizes with the statistics of the batch (training) in one op whose
backward pass gives the input, scale and offset gradients together; with given statistics
(inference) it is an affine map composed of elementwise ops. `relu_general` is Keras's ``ReLU``
layer (``max_value``, ``negative_slope``, ``threshold``) in one op.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops import elementwise as ew
from kerasette.backend.ops.base import Op, apply, as_tensor
from kerasette.backend.ops.shape import reshape


def _broadcast_shape(ndim: int, axes: tuple[int, ...], size_of) -> tuple[int, ...]:
    """The shape of the per-channel statistics, broadcastable against the input."""
    return tuple(1 if a in axes else size_of(a) for a in range(ndim))


class BatchNorm(Op):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the mean and the (biased)
    variance of ``x`` over ``axes``; ``gamma`` and ``beta`` have the shape of the kept axes.

    After the forward pass ``self.mean`` and ``self.var`` hold the batch statistics (shape of
    ``gamma``), for the caller's moving averages.
    """

    name = "batch_normalization"

    def __init__(self, axes: tuple[int, ...], epsilon: float):
        self.axes, self.epsilon = axes, epsilon

    def forward(self, x, gamma, beta):
        shape = _broadcast_shape(x.ndim, self.axes, lambda a: x.shape[a])
        self.count = int(np.prod([x.shape[a] for a in self.axes]))
        mean = x.mean(axis=self.axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=self.axes, keepdims=True)
        inv = (1.0 / np.sqrt(var + x.dtype.type(self.epsilon))).astype(x.dtype, copy=False)
        centered *= inv  # now x-hat
        self.xhat, self.inv, self.gamma = centered, inv, gamma.reshape(shape)
        self.mean, self.var = mean.reshape(gamma.shape), var.reshape(gamma.shape)
        y = centered * self.gamma
        y += beta.reshape(shape)
        return y

    def backward(self, grad):
        dbeta = grad.sum(axis=self.axes, keepdims=True)
        dgamma = (grad * self.xhat).sum(axis=self.axes, keepdims=True)
        dx = None
        if self.needs_grad[0]:
            scale = self.gamma * self.inv / grad.dtype.type(self.count)
            dx = grad * grad.dtype.type(self.count)
            dx -= dbeta
            dx -= self.xhat * dgamma
            dx *= scale
        shape = self.gamma.shape
        flat = tuple(n for a, n in enumerate(shape) if a not in self.axes)
        return (dx, dgamma.reshape(flat) if self.needs_grad[1] else None,
                dbeta.reshape(flat) if self.needs_grad[2] else None)


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
    shape = _broadcast_shape(x.ndim, axes, lambda a: x.shape[a])
    dtype = x.dtype
    inv = ew.divide(1.0, ew.sqrt(ew.add(as_tensor(variance, dtype=dtype), epsilon)))
    scale = ew.multiply(as_tensor(gamma, dtype=dtype), inv)
    shift = ew.subtract(as_tensor(beta, dtype=dtype), ew.multiply(as_tensor(mean, dtype=dtype), scale))
    return ew.add(ew.multiply(x, reshape(scale, shape)), reshape(shift, shape)), None, None


class ReluGeneral(Op):
    """``negative_slope * (x - threshold)`` below ``threshold``, ``x`` above it, capped at
    ``max_value`` (None: no cap); Keras's ``ReLU`` layer."""

    name = "relu_general"

    def __init__(self, max_value: float | None, negative_slope: float, threshold: float):
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x):
        t = x.dtype.type(self.threshold)
        self.below = x < t
        y = np.where(self.below, x.dtype.type(self.negative_slope) * (x - t), x)
        if self.max_value is not None:
            self.capped = y > self.max_value
            y = np.minimum(y, x.dtype.type(self.max_value))
        return y.astype(x.dtype, copy=False)

    def backward(self, grad):
        dx = np.where(self.below, grad * grad.dtype.type(self.negative_slope), grad)
        if self.max_value is not None:
            dx[self.capped] = 0
        return (dx,)


def relu_general(x, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0):
    """Keras's rectifier with a cap, a slope below the threshold and a threshold.

    Example:
        >>> import numpy as np
        >>> relu_general(np.array([-2.0, 0.5, 3.0]), max_value=1.0, negative_slope=0.1).data.tolist()
        [-0.2, 0.5, 1.0]
    """
    return apply(ReluGeneral(max_value, negative_slope, threshold), x)


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
