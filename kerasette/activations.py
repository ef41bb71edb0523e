"""Activation functions by name, as layers use them (``activation='relu'``)."""

from __future__ import annotations

from collections.abc import Callable

from kerasette import registry
from kerasette.backend import ops


def _activation(elementwise: bool = True, aliases: tuple[str, ...] = ()):
    """Registers an activation (and its ``aliases``); ``elementwise`` says that each output value
    depends only on the input value at the same place, so the function works in any layout (the
    planner's fact)."""

    def decorate(fn):
        fn.elementwise = elementwise
        return registry.register("activation", aliases=aliases)(fn)

    return decorate


@_activation()
def linear(x):
    """The identity."""
    return x


@_activation()
def relu(x, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0,
         *, alpha: float | None = None):
    """Rectified linear unit, with Keras's options.

    ``x`` where ``x > threshold`` (else 0), clipped to ``[0, max_value]`` when ``max_value`` is
    given, minus ``negative_slope * max(threshold - x, 0)``. ``alpha`` is Keras 2's name for
    ``negative_slope``.

    Example:
        >>> import numpy as np
        >>> relu(np.array([-2.0, 1.0, 8.0]), alpha=0.1, max_value=6.0).data.tolist()
        [-0.2, 1.0, 6.0]
    """
    if alpha is not None:
        negative_slope = alpha
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    return ops.general_relu(x, negative_slope, max_value, threshold)


@_activation()
def leaky_relu(x, negative_slope: float = 0.2):
    """``x`` for ``x >= 0``, ``negative_slope * x`` below."""
    return ops.general_relu(x, negative_slope)


@_activation()
def relu6(x):
    """min(max(x, 0), 6)."""
    return ops.general_relu(x, max_value=6.0)


@_activation()
def elu(x, alpha: float = 1.0):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below."""
    return ops.elu(x, alpha)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@_activation()
def selu(x):
    """Scaled ELU: ``SELU_SCALE * elu(x, SELU_ALPHA)`` (use with ``lecun_normal`` weights)."""
    return ops.multiply(ops.elu(x, SELU_ALPHA), SELU_SCALE)


@_activation()
def gelu(x, approximate: bool = False):
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate=True`` uses the tanh form."""
    return ops.gelu(x, approximate)


@_activation(aliases=("swish",))
def silu(x):
    """``x * sigmoid(x)`` (also called swish; saved as ``'silu'``, Keras 3's name)."""
    return ops.multiply(x, ops.sigmoid(x))



@_activation()
def hard_sigmoid(x, slope: float = 1.0 / 6.0):
    """Keras 3's piecewise-linear sigmoid ``clip(x / 6 + 0.5, 0, 1)`` (that is ``relu6(x + 3) / 6``).

    Keras 1 and 2 used slope 0.2 (``clip(0.2 * x + 0.5, 0, 1)``); a file naming
    ``'hard_sigmoid'`` gets Keras 3's form, as in Keras 3. For the old one, write
    ``activation=lambda x: hard_sigmoid(x, slope=0.2)`` or use ``kerasette.backend.hard_sigmoid``
    (Keras 2's backend function).
    """
    return ops.hard_sigmoid(x, slope, 0.5)


@_activation(aliases=("hard_swish",))
def hard_silu(x):
    """``x * hard_sigmoid(x)`` (also called hard_swish; saved as ``'hard_silu'``, Keras 3's name)."""
    return ops.multiply(x, ops.hard_sigmoid(x))



@_activation()
def mish(x):
    """``x * tanh(softplus(x))``."""
    return ops.multiply(x, ops.tanh(ops.softplus(x)))


@_activation(elementwise=False)
def softmax(x, axis: int = -1):
    """Softmax along ``axis`` (the last by default)."""
    return ops.softmax(x, axis)


@_activation(elementwise=False)
def log_softmax(x, axis: int = -1):
    """``log(softmax(x))`` along ``axis``, computed stably."""
    return ops.log_softmax(x, axis)


@_activation()
def sigmoid(x):
    """The logistic function."""
    return ops.sigmoid(x)


@_activation()
def tanh(x):
    """Hyperbolic tangent."""
    return ops.tanh(x)


@_activation()
def softplus(x):
    """log(1 + exp(x)), computed stably."""
    return ops.softplus(x)


@_activation()
def softsign(x):
    """x / (1 + |x|)."""
    return ops.softsign(x)


@_activation()
def exponential(x):
    """exp(x)."""
    return ops.exp(x)


def get(identifier) -> Callable:
    """An activation function from a name, a callable or None (linear).

    Example:
        >>> get('relu') is relu
        True
    """
    if identifier is None:
        return linear
    if isinstance(identifier, dict):  # Keras 3: {'class_name': 'function', 'config': 'relu'}
        return registry.deserialize("activation", identifier)
    if isinstance(identifier, str):
        return registry.get("activation", identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name or a callable; received {identifier!r}")


def serialize(activation: Callable) -> str:
    """The name under which an activation is saved."""
    return registry.name_of("activation", activation) or getattr(activation, "__name__", str(activation))
