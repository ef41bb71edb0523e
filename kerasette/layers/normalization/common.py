"""What the normalization layers share: axis arguments, fraction checks, and the regularizers and
constraints of ``gamma`` and ``beta``."""

from __future__ import annotations

from kerasette import constraints, regularizers
from kerasette.layers.base import Layer
from kerasette.utils.validation import shape_str


def normalize_axes(layer, axis) -> list[int]:
    axes = [axis] if isinstance(axis, int) else list(axis) if isinstance(axis, (list, tuple)) else None
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `axis` must be an int or a list of ints; "
                         f"received axis={axis!r}")
    return axes


def resolve_axes(layer, axes: list[int], input_shape) -> list[int]:
    """``axes`` as non-negative axes of ``input_shape``; each must exist, be known and not be the batch."""
    ndim = len(input_shape)
    resolved = []
    for a in axes:
        if not -ndim <= a < ndim or a % ndim == 0 or input_shape[a % ndim] is None:
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}': axis {a} must be a non-batch axis of known size of the "
                f"input; received input shape {shape_str(input_shape)}")
        resolved.append(a % ndim)
    return sorted(resolved)


def check_fraction(layer, name: str, value, low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            (0 < value if low_open else 0 <= value) and (value < 1 if not low_open else True)):
        rule = "a number > 0" if low_open else "a number in [0, 1)"
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `{name}` must be {rule}; received {name}={value!r}")
    return float(value)


class ScaleAndOffset(Layer):
    """The regularizers and constraints of ``gamma`` and ``beta``, shared by the normalizations."""

    supports_masking = True  # Keras 3: passes its input's mask on

    def _init_penalties(self, beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint) -> None:
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _penalties_config(self) -> dict:
        return {"beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}
