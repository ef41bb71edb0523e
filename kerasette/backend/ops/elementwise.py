"""Elementwise ops with numpy broadcasting; gradients reduced by `unbroadcast`."""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.base import Op, apply, as_tensor, unbroadcast
from kerasette.backend.tensor import Tensor


class _Binary(Op):
    def forward(self, a, b):
        self.a, self.b = a, b
        return self.compute(a, b)

    def backward(self, grad):
        ga, gb = self.grads(grad)
        return (
            unbroadcast(ga, self.a.shape) if ga is not None else None,
            unbroadcast(gb, self.b.shape) if gb is not None else None,
        )


class Add(_Binary):
    name = "add"

    def compute(self, a, b):
        return a + b

    def grads(self, g):
        return g, g


class Subtract(_Binary):
    name = "subtract"

    def compute(self, a, b):
        return a - b

    def grads(self, g):
        return g, (-g if self.needs_grad[1] else None)


class Multiply(_Binary):
    name = "multiply"

    def compute(self, a, b):
        return a * b

    def grads(self, g):
        return (g * self.b if self.needs_grad[0] else None), (g * self.a if self.needs_grad[1] else None)


class Divide(_Binary):
    name = "divide"

    def compute(self, a, b):
        return a / b

    def grads(self, g):
        ga = g / self.b if self.needs_grad[0] else None
        gb = -g * self.a / (self.b * self.b) if self.needs_grad[1] else None
        return ga, gb


class Power(_Binary):
    name = "power"

    def compute(self, a, b):
        self.out = np.power(a, b)
        return self.out

    def grads(self, g):
        ga = g * self.b * np.power(self.a, self.b - 1) if self.needs_grad[0] else None
        gb = None
        if self.needs_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * self.out * np.where(self.a > 0, np.log(np.where(self.a > 0, self.a, 1)), 0)
        return ga, gb


class Maximum(_Binary):
    name = "maximum"

    def compute(self, a, b):
        return np.maximum(a, b)

    def grads(self, g):
        mask = self.a >= self.b
        return g * mask, g * ~mask


class Minimum(_Binary):
    name = "minimum"

    def compute(self, a, b):
        return np.minimum(a, b)

    def grads(self, g):
        mask = self.a <= self.b
        return g * mask, g * ~mask


class _Unary(Op):
    """An elementwise op of one input whose derivative is ``self.derivative()``."""

    def backward(self, grad):
        return (grad * self.derivative(),)


class Negative(Op):
    name = "negative"

    def forward(self, x):
        return -x

    def backward(self, grad):
        return (-grad,)


class Exp(_Unary):
    name = "exp"

    def forward(self, x):
        self.out = np.exp(x)
        return self.out

    def derivative(self):
        return self.out


class Log(_Unary):
    name = "log"

    def forward(self, x):
        self.x = x
        return np.log(x)

    def derivative(self):
        return 1.0 / self.x


class Sqrt(_Unary):
    name = "sqrt"

    def forward(self, x):
        self.out = np.sqrt(x)
        return self.out

    def derivative(self):
        return 0.5 / self.out


class Square(_Unary):
    name = "square"

    def forward(self, x):
        self.x = x
        return x * x

    def derivative(self):
        return 2 * self.x


class Abs(_Unary):
    name = "abs"

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def derivative(self):
        return np.sign(self.x)


class Clip(_Unary):
    name = "clip"

    def __init__(self, low: float, high: float):
        self.low, self.high = low, high

    def forward(self, x):
        self.x = x
        return np.clip(x, self.low, self.high)

    def derivative(self):
        return ((self.x >= self.low) & (self.x <= self.high)).astype(self.x.dtype)


class Cast(Op):
    """Converts to another floating-point dtype; the gradient goes back in the input's dtype."""

    name = "cast"

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, grad):
        return (grad.astype(self.in_dtype, copy=False),)


class Where(Op):
    """``condition ? x : y`` elementwise with broadcasting; each value's gradient goes to the
    input it was taken from (none to the condition)."""

    name = "where"

    def forward(self, condition, x, y):
        self.condition = condition.astype(bool, copy=False)
        self.x_shape, self.y_shape = x.shape, y.shape
        return np.where(self.condition, x, y)

    def backward(self, grad):
        gx = unbroadcast(np.where(self.condition, grad, 0), self.x_shape) if self.needs_grad[1] else None
        gy = unbroadcast(np.where(self.condition, 0, grad), self.y_shape) if self.needs_grad[2] else None
        return None, gx, gy


def add(a, b):
    """a + b with broadcasting."""
    return apply(Add(), a, b)


def subtract(a, b):
    """a - b with broadcasting."""
    return apply(Subtract(), a, b)


def multiply(a, b):
    """a * b with broadcasting."""
    return apply(Multiply(), a, b)


def divide(a, b):
    """a / b with broadcasting."""
    return apply(Divide(), a, b)


def power(a, b):
    """a ** b with broadcasting."""
    return apply(Power(), a, b)


def maximum(a, b):
    """Elementwise maximum (ties send the gradient to ``a``)."""
    return apply(Maximum(), a, b)


def minimum(a, b):
    """Elementwise minimum (ties send the gradient to ``a``)."""
    return apply(Minimum(), a, b)


def negative(x):
    """-x."""
    return apply(Negative(), x)


def exp(x):
    """e ** x."""
    return apply(Exp(), x)


def log(x):
    """Natural logarithm."""
    return apply(Log(), x)


def sqrt(x):
    """Square root."""
    return apply(Sqrt(), x)


def square(x):
    """x * x."""
    return apply(Square(), x)


def abs(x):  # noqa: A001 - the Keras backend name
    """|x|."""
    return apply(Abs(), x)


def clip(x, min_value: float, max_value: float):
    """Clips values to [min_value, max_value]; the gradient is zero outside."""
    return apply(Clip(min_value, max_value), x)


def cast(x, dtype):
    """``x`` converted to ``dtype``.

    Between floating-point dtypes the conversion is differentiable (the gradient is converted
    back); to or from any other dtype the result is a constant Tensor (no gradient).
    """
    x = as_tensor(x)
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating) and np.issubdtype(x.dtype, np.floating):
        return apply(Cast(dtype), x)
    return Tensor(x.data.astype(dtype))


def where(condition, x, y):
    """Elementwise ``x`` where ``condition`` is true, else ``y`` (numpy broadcasting).

    The condition is read as booleans and gets no gradient; ``x`` and ``y`` get the gradient of
    the values taken from them.
    """
    return apply(Where(), condition, x, y)
