"""Activation ops beyond the basic ones in `nn`: Keras's general ReLU, GELU, hard sigmoid.

The other activations Keras names (selu, silu/swish, hard_swish, mish, relu6, leaky_relu) are
compositions of these and of the primitives, so their gradients come for free.
"""

from __future__ import annotations

import math

import numpy as np

from kerasette.backend.ops.base import Op, apply

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)


class GeneralRelu(Op):
    """Keras's ``relu(x, negative_slope, max_value, threshold)``.

    ``x`` where ``x > threshold`` (else 0), clipped to ``[0, max_value]`` when ``max_value`` is
    given, minus ``negative_slope * max(threshold - x, 0)``.
    """

    name = "general_relu"

    def __init__(self, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0):
        self.negative_slope, self.max_value, self.threshold = negative_slope, max_value, threshold

    def forward(self, x):
        kind = x.dtype.type
        threshold = kind(self.threshold)
        above = x > threshold
        out = np.where(above, x, kind(0))
        self.passes = above
        if self.max_value is not None:
            out = np.clip(out, kind(0), kind(self.max_value))
            self.passes = above & (x > 0) & (x < kind(self.max_value))
        if self.negative_slope != 0.0:
            self.below = x < threshold
            out = out - kind(self.negative_slope) * np.maximum(threshold - x, kind(0))
        return out

    def backward(self, grad):
        g = grad * self.passes
        if self.negative_slope != 0.0:
            g = g + grad * self.below * grad.dtype.type(self.negative_slope)
        return (g,)


class Gelu(Op):
    """Gaussian error linear unit: ``x * Phi(x)`` exactly (with erf), or with the tanh
    approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""

    name = "gelu"

    def __init__(self, approximate: bool = False):
        self.approximate = approximate

    def forward(self, x):
        self.x = x
        if self.approximate:
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
            self.t = np.tanh(inner)
            return (0.5 * x * (1 + self.t)).astype(x.dtype, copy=False)
        # numpy has no erf; math.erf is exact in float64 (slow, but gelu is not on the conv path)
        self.cdf = 0.5 * (1 + _erf(x.astype(np.float64) / _SQRT_2).astype(np.float64))
        return (x * self.cdf).astype(x.dtype, copy=False)

    def backward(self, grad):
        x = self.x
        if self.approximate:
            dinner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            d = 0.5 * (1 + self.t) + 0.5 * x * (1 - self.t * self.t) * dinner
        else:
            d = self.cdf + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return ((grad * d).astype(grad.dtype, copy=False),)


class HardSigmoid(Op):
    """``clip(slope * x + offset, 0, 1)``: Keras 3 uses slope 1/6 (``relu6(x + 3) / 6``),
    Keras 1 and 2 slope 0.2; the offset is 0.5 in both."""

    name = "hard_sigmoid"

    def __init__(self, slope: float, offset: float = 0.5):
        self.slope, self.offset = slope, offset

    def forward(self, x):
        kind = x.dtype.type
        y = kind(self.slope) * x + kind(self.offset)
        self.inside = (y > 0) & (y < 1)
        return np.clip(y, kind(0), kind(1))

    def backward(self, grad):
        return (grad * self.inside * grad.dtype.type(self.slope),)


def general_relu(x, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0):
    """Keras's ``relu`` with its options (see `GeneralRelu`); leaky_relu and relu6 are cases."""
    return apply(GeneralRelu(float(negative_slope), None if max_value is None else float(max_value),
                             float(threshold)), x)


def gelu(x, approximate: bool = False):
    """``x * Phi(x)``, Phi the standard normal CDF (tanh approximation when ``approximate``)."""
    return apply(Gelu(bool(approximate)), x)


def hard_sigmoid(x, slope: float = 1.0 / 6.0, offset: float = 0.5):
    """``clip(slope * x + offset, 0, 1)``; the default is Keras 3's (slope 1/6)."""
    return apply(HardSigmoid(float(slope), float(offset)), x)
