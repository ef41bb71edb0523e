"""Weight and activity regularizers: penalties added to the training loss.

A regularizer is called on a weight (or, as an activity regularizer, on a layer's output) and
returns a scalar Tensor built from backend ops, so its gradient flows into the weight. The values
are Keras 3's: ``L1(l1)(w) = l1 * sum(|w|)``, ``L2(l2)(w) = l2 * sum(w ** 2)``, ``L1L2`` both.

Example:
    >>> import numpy as np
    >>> float(l2(0.01)(np.array([1.0, 2.0])).data)
    0.05
"""

from __future__ import annotations

import math

import numpy as np

from kerasette import registry
from kerasette.backend import ops
from kerasette.backend.config import epsilon
from kerasette.backend.ops.base import as_tensor


def _factor(value, name: str, owner: str) -> float:
    """A finite float factor (None means 0, as in Keras)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{owner}: `{name}` must be a finite number; received {name}={value!r}")
    return float(value)


def _float_tensor(x):
    x = as_tensor(x)
    return x if np.issubdtype(x.dtype, np.floating) else ops.cast(x, "float32")


class Regularizer:
    """Base class: ``regularizer(x)`` returns a scalar penalty Tensor."""

    def __call__(self, x):
        return as_tensor(np.zeros((), dtype=np.float32))

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


@registry.register("regularizer", aliases=("l1_l2",))
class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x ** 2)`` (both factors 0 by default, as in Keras 3).

    Keras 1's ``WeightRegularizer`` and ``ActivityRegularizer`` configs load as this class.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor(l1, "l1", "L1L2")
        self.l2 = _factor(l2, "l2", "L1L2")

    def __call__(self, x):
        x = _float_tensor(x)
        total = None
        if self.l1:
            total = ops.multiply(ops.sum(ops.abs(x)), self.l1)
        if self.l2:
            term = ops.multiply(ops.sum(ops.square(x)), self.l2)
            total = term if total is None else ops.add(total, term)
        return total if total is not None else as_tensor(np.zeros((), dtype=x.dtype))

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


@registry.register("regularizer", aliases=("l1",))
class L1(Regularizer):
    """``l1 * sum(|x|)``."""

    def __init__(self, l1: float = 0.01):
        self.l1 = _factor(0.01 if l1 is None else l1, "l1", "L1")

    def __call__(self, x):
        return ops.multiply(ops.sum(ops.abs(_float_tensor(x))), self.l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


@registry.register("regularizer", aliases=("l2",))
class L2(Regularizer):
    """``l2 * sum(x ** 2)``."""

    def __init__(self, l2: float = 0.01):
        self.l2 = _factor(0.01 if l2 is None else l2, "l2", "L2")

    def __call__(self, x):
        return ops.multiply(ops.sum(ops.square(_float_tensor(x))), self.l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


@registry.register("regularizer", aliases=("orthogonal_regularizer",))
class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2-D weight towards orthogonality.

    The rows (``mode='rows'``) or columns are L2-normalized; the penalty is ``factor / 2`` times
    the mean, over the ``n (n - 1) / 2`` pairs, of the absolute dot products of distinct pairs
    (the sum of the off-diagonal absolute values of the Gram matrix divided by ``n (n - 1)``).
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows"):
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: `mode` must be 'rows' or 'columns'; received mode={mode!r}")
        self.mode = mode

    def __call__(self, x):
        x = _float_tensor(x)
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer: the weight must be 2-D; received shape {tuple(x.shape)}")
        axis = 1 if self.mode == "rows" else 0
        eps = epsilon()
        norms = ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), eps * eps))
        unit = ops.divide(x, norms)
        gram = ops.matmul(unit, ops.transpose(unit)) if axis == 1 else ops.matmul(ops.transpose(unit), unit)
        n = gram.shape[0]
        off_diagonal = ops.multiply(gram, (1.0 - np.eye(n)).astype(x.dtype))
        pairs = n * (n - 1) / 2.0
        return ops.multiply(ops.sum(ops.abs(off_diagonal)), 0.5 * self.factor / pairs if pairs else 0.0)

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


#: Keras 3's lower-case names are the classes (``l1_l2()`` has both factors 0, as in Keras 3;
#: Keras 2's ``l1_l2()`` had 0.01 for both: pass them).
l1_l2 = L1L2
l1 = L1
l2 = L2
orthogonal_regularizer = OrthogonalRegularizer


def l1l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # noqa: E741 - Keras 1's names
    """Keras 1's helper: ``L1L2`` with both factors 0.01 by default."""
    return L1L2(l1, l2)


def activity_l1(l: float = 0.01) -> L1:  # noqa: E741 - Keras 1's argument name
    """Keras 1's activity helper (pass it as ``activity_regularizer``)."""
    return L1(l)


def activity_l2(l: float = 0.01) -> L2:  # noqa: E741 - Keras 1's argument name
    """Keras 1's activity helper (pass it as ``activity_regularizer``)."""
    return L2(l)


def activity_l1l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Keras 1's activity helper (pass it as ``activity_regularizer``)."""
    return L1L2(l1, l2)

_KERAS1 = ("WeightRegularizer", "ActivityRegularizer")


def _from_keras1(config: dict) -> L1L2:
    """Keras 1 wrote ``{'name': 'WeightRegularizer', 'l1': 0.0, 'l2': 0.01}``."""
    return L1L2(l1=config.get("l1", 0.0), l2=config.get("l2", 0.0))


def serialize(regularizer):
    """``{'class_name', 'config'}`` as Keras writes it (None stays None; a function is its name)."""
    if regularizer is None:
        return None
    return registry.serialize("regularizer", regularizer)


def deserialize(config, custom_objects: dict | None = None):
    """The inverse of `serialize`; also reads Keras 1's ``{'name': 'WeightRegularizer', ...}``
    and Keras 2/3's ``{'class_name': 'L1L2', 'config': {...}}``. Names resolve through the
    registry (``custom_objects`` first), never by import."""
    if config is None:
        return None
    if isinstance(config, dict) and "class_name" not in config and config.get("name") in _KERAS1:
        return _from_keras1(config)
    if isinstance(config, dict) and config.get("class_name") in _KERAS1:
        return _from_keras1(config.get("config") or {})
    return registry.deserialize("regularizer", config, custom_objects)


def get(identifier, custom_objects: dict | None = None):
    """A regularizer from None, a name (``'l2'`` is ``L2()``), a config dict or a callable.

    Example:
        >>> get('l1_l2').get_config()
        {'l1': 0.0, 'l2': 0.0}
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier, custom_objects)
    if callable(identifier):
        return identifier
    raise TypeError(f"regularizer must be None, a name, a config dict or a callable; received {identifier!r:.80}")
