"""Symbolic tensors: placeholders and the graph that `function` and `Model` run with values.

(Filled in with the functional API; see `KerasTensor`.)
"""

from __future__ import annotations


class KerasTensor:
    """A tensor with a shape and dtype but no values yet."""


def is_symbolic(value) -> bool:
    """Whether ``value`` (or any item of a list of values) is symbolic."""
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, KerasTensor) for v in value)
    return isinstance(value, KerasTensor)


def call_layer(layer, inputs):
    raise NotImplementedError
