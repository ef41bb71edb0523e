"""Weight constraints: projections applied to a weight after each optimizer update.

A constraint maps the weight's values to new values of the same shape. The optimizer calls it on
the updated ndarray (``var.constraint(var.data)``); called on a Tensor it computes with numpy too
and returns a constant Tensor (constraints are not differentiated). The formulas are Keras 3's,
with its ``epsilon()`` in the denominators.

Example:
    >>> import numpy as np
    >>> MaxNorm(1.0)(np.array([[3.0], [4.0]])).round(3).tolist()
    [[0.6], [0.8]]
"""

from __future__ import annotations

import numpy as np

from kerasette import registry
from kerasette.backend.config import epsilon
from kerasette.backend.tensor import Tensor


def _norms(w: np.ndarray, axis) -> np.ndarray:
    return np.sqrt(np.sum(np.square(w), axis=_axes(axis), keepdims=True))


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _on_values(method):
    """Runs ``method`` on the ndarray of a Tensor or array; a Tensor in gives a Tensor out."""

    def wrapper(self, w):
        if isinstance(w, Tensor):
            return Tensor(method(self, w.data))
        return method(self, np.asarray(w))

    wrapper.__doc__ = method.__doc__
    return wrapper


class Constraint:
    """Base class: ``constraint(w)`` returns the projected weight (here: ``w`` unchanged)."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


@registry.register("constraint", aliases=("max_norm", "maxnorm"))
class MaxNorm(Constraint):
    """Rescales each slice along ``axis`` whose L2 norm exceeds ``max_value`` to that norm.

    ``axis=0`` is each output unit of a Dense kernel ``(in, units)``; for a Conv2D kernel
    ``(rows, cols, in, filters)`` use ``axis=[0, 1, 2]``. Keras 1 called ``max_value`` ``m``.
    """

    def __init__(self, max_value: float = 2.0, axis=0, m: float | None = None):
        self.max_value = float(max_value if m is None else m)
        self.axis = axis

    @_on_values
    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return (w * (desired / (epsilon() + norms))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


@registry.register("constraint", aliases=("non_neg", "nonneg"))
class NonNeg(Constraint):
    """Sets negative values to zero."""

    @_on_values
    def __call__(self, w):
        return np.maximum(w, 0).astype(w.dtype, copy=False)


@registry.register("constraint", aliases=("unit_norm", "unitnorm"))
class UnitNorm(Constraint):
    """Divides each slice along ``axis`` by its L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    @_on_values
    def __call__(self, w):
        return (w / (epsilon() + _norms(w, self.axis))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        return {"axis": self.axis}


@registry.register("constraint", aliases=("min_max_norm",))
class MinMaxNorm(Constraint):
    """Moves each slice's L2 norm towards ``[min_value, max_value]`` by the fraction ``rate``
    (1: exactly into the interval)."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis=0):
        if min_value > max_value:
            raise ValueError(f"MinMaxNorm: `min_value` must not exceed `max_value`; received "
                             f"min_value={min_value!r}, max_value={max_value!r}")
        self.min_value, self.max_value, self.rate, self.axis = float(min_value), float(max_value), float(rate), axis

    @_on_values
    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return (w * (desired / (epsilon() + norms))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm
maxnorm, nonneg, unitnorm = MaxNorm, NonNeg, UnitNorm  # Keras 1's names


def serialize(constraint):
    """``{'class_name', 'config'}`` as Keras writes it (None stays None; a function is its name)."""
    if constraint is None:
        return None
    return registry.serialize("constraint", constraint)


def deserialize(config, custom_objects: dict | None = None):
    """The inverse of `serialize`; also reads Keras 1's ``{'name': 'MaxNorm', 'm': 2, 'axis': 0}``.
    Names resolve through the registry (``custom_objects`` first), never by import."""
    if config is None:
        return None
    if isinstance(config, dict) and "class_name" not in config and "name" in config:  # Keras 1
        kwargs = {k: v for k, v in config.items() if k != "name"}
        return registry.deserialize("constraint", {"class_name": config["name"], "config": kwargs}, custom_objects)
    return registry.deserialize("constraint", config, custom_objects)


def get(identifier, custom_objects: dict | None = None):
    """A constraint from None, a name (``'max_norm'`` is ``MaxNorm()``), a config dict or a callable.

    Example:
        >>> get('nonneg').get_config()
        {}
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier, custom_objects)
    if callable(identifier):
        return identifier
    raise TypeError(f"constraint must be None, a name, a config dict or a callable; received {identifier!r:.80}")
