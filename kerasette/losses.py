"""Loss functions: ``loss(y_true, y_pred)`` returns one value per sample (a Tensor)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kerasette.backend import ops
from kerasette.backend.tensor import Tensor
from kerasette.utils.validation import unknown_name_error


def categorical_crossentropy(y_true, y_pred):
    """-sum(y_true * log(y_pred)) per sample; exact from the logits when y_pred is a softmax."""
    return ops.categorical_crossentropy(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred):
    """Categorical cross-entropy with integer labels instead of one-hot targets."""
    labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    classes = y_pred.shape[-1]
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"sparse_categorical_crossentropy: labels must be in [0, {classes}); received labels "
            f"from {labels.min()} to {labels.max()}"
        )
    one_hot = np.zeros(labels.shape + (classes,), dtype=y_pred.dtype)
    np.put_along_axis(one_hot, labels[..., None], 1, axis=-1)
    return ops.categorical_crossentropy(Tensor(one_hot), y_pred)


def binary_crossentropy(y_true, y_pred):
    """Mean over the last axis of the elementwise binary cross-entropy."""
    return ops.mean(ops.binary_crossentropy(y_true, y_pred), axis=-1)


def mean_squared_error(y_true, y_pred):
    """mean((y_pred - y_true) ** 2) over the last axis."""
    return ops.mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_pred - y_true|) over the last axis."""
    return ops.mean(ops.abs(ops.subtract(y_pred, y_true)), axis=-1)


LOSSES: dict[str, Callable] = {
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
}
_CLASS_NAMES = {
    "CategoricalCrossentropy": "categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    "BinaryCrossentropy": "binary_crossentropy",
    "MeanSquaredError": "mean_squared_error",
    "MeanAbsoluteError": "mean_absolute_error",
}


def get(identifier) -> Callable:
    """A loss function from a name (Keras 1/2/3 spellings) or a callable."""
    if isinstance(identifier, dict):  # Keras 3 writes {'class_name': ..., 'config': ...}
        identifier = identifier.get("class_name") or identifier.get("config", {}).get("name")
    if isinstance(identifier, str):
        name = _CLASS_NAMES.get(identifier, identifier)
        if name not in LOSSES:
            raise unknown_name_error("loss", identifier, LOSSES)
        return LOSSES[name]
    if callable(identifier):
        return identifier
    raise TypeError(f"loss must be a name or a callable; received {identifier!r}")


def serialize(loss: Callable) -> str:
    for name, fn in LOSSES.items():
        if fn is loss:
            return name
    return getattr(loss, "__name__", str(loss))
