"""Activation functions by name, as layers use them (``activation='relu'``)."""

from __future__ import annotations

from collections.abc import Callable

from kerasette import registry
from kerasette.backend import ops


def _activation(elementwise: bool = True):
    """Registers an activation; ``elementwise`` says that each output value depends only on the
    input value at the same place, so the function works in any layout (the planner's fact)."""

    def decorate(fn):
        fn.elementwise = elementwise
        return registry.register("activation")(fn)

    return decorate


@_activation()
def linear(x):
    """The identity."""
    return x


@_activation()
def relu(x):
    """max(x, 0)."""
    return ops.relu(x)


@_activation(elementwise=False)
def softmax(x, axis: int = -1):
    """Softmax along the last axis."""
    return ops.softmax(x, axis)


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
