"""Activation functions by name, as layers use them (``activation='relu'``)."""

from __future__ import annotations

from collections.abc import Callable

from kerasette.backend import ops
from kerasette.utils.validation import unknown_name_error


def linear(x):
    """The identity."""
    return x


def relu(x):
    """max(x, 0)."""
    return ops.relu(x)


def softmax(x, axis: int = -1):
    """Softmax along the last axis."""
    return ops.softmax(x, axis)


def sigmoid(x):
    """The logistic function."""
    return ops.sigmoid(x)


def tanh(x):
    """Hyperbolic tangent."""
    return ops.tanh(x)


def softplus(x):
    """log(1 + exp(x)), computed as relu(x) + log(1 + exp(-|x|))."""
    return ops.add(ops.relu(x), ops.log(ops.add(ops.exp(ops.negative(ops.abs(x))), 1.0)))


def softsign(x):
    """x / (1 + |x|)."""
    return ops.divide(x, ops.add(ops.abs(x), 1.0))


def exponential(x):
    """exp(x)."""
    return ops.exp(x)


_ACTIVATIONS: dict[str, Callable] = {
    "linear": linear,
    "relu": relu,
    "softmax": softmax,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softplus": softplus,
    "softsign": softsign,
    "exponential": exponential,
}


def get(identifier) -> Callable:
    """An activation function from a name, a callable or None (linear).

    Example:
        >>> get('relu') is relu
        True
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        try:
            return _ACTIVATIONS[identifier]
        except KeyError:
            raise unknown_name_error("activation", identifier, _ACTIVATIONS) from None
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name or a callable; received {identifier!r}")


def serialize(activation: Callable) -> str:
    """The name under which an activation is saved."""
    for name, fn in _ACTIVATIONS.items():
        if fn is activation:
            return name
    return getattr(activation, "__name__", str(activation))
