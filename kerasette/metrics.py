"""Metrics computed on arrays after each batch: ``metric(y_true, y_pred)`` -> per-sample values."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kerasette.utils.validation import unknown_name_error


def categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """1 where the arg-max of the prediction is the arg-max of the one-hot target."""
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype("float32")


def sparse_categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """1 where the arg-max of the prediction equals the integer label."""
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim:
        labels = labels[..., 0]
    return (labels.astype(np.int64) == np.argmax(y_pred, axis=-1)).astype("float32")


def binary_accuracy(y_true: np.ndarray, y_pred: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Mean over the last axis of (prediction > threshold) == target."""
    return np.mean((y_pred > threshold) == (y_true > 0.5), axis=-1).astype("float32")


def mean_squared_error(y_true, y_pred):
    return np.mean(np.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    return np.mean(np.abs(y_pred - y_true), axis=-1)


METRICS: dict[str, Callable] = {
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
}


def accuracy_for(loss_name: str | None, output_shape=None) -> Callable:
    """The accuracy that ``'accuracy'``/``'acc'`` stands for, chosen as Keras 2 does.

    Args:
        loss_name: the name of the output's loss (e.g. ``'binary_crossentropy'``).
        output_shape: the output's shape (batch axis first), when known.

    Returns:
        `binary_accuracy` when the loss is the binary cross-entropy or the output's last
        dimension is 1, else `sparse_categorical_accuracy` for the sparse categorical
        cross-entropy, else `categorical_accuracy`.
    """
    last = tuple(output_shape)[-1] if output_shape else None
    if loss_name == "binary_crossentropy" or last == 1:
        return binary_accuracy
    if loss_name == "sparse_categorical_crossentropy":
        return sparse_categorical_accuracy
    return categorical_accuracy


def get(identifier, loss_name: str | None = None, output_shape=None) -> tuple[str, Callable]:
    """(display name, function) of a metric.

    Args:
        identifier: a metric name or a callable ``fn(y_true, y_pred)``.
        loss_name: the name of the loss of the output the metric is for.
        output_shape: the shape of that output (batch axis first); with ``loss_name`` it decides
            which accuracy ``'accuracy'``/``'acc'`` means (see `accuracy_for`).
    """
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return identifier, accuracy_for(loss_name, output_shape)
        if identifier not in METRICS:
            raise unknown_name_error("metric", identifier, list(METRICS) + ["accuracy", "acc"])
        return identifier, METRICS[identifier]
    if callable(identifier):
        return getattr(identifier, "__name__", "metric"), identifier
    raise TypeError(f"metric must be a name or a callable; received {identifier!r}")
