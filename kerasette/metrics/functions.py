"""Metric functions on arrays: ``metric(y_true, y_pred)`` -> per-sample values (`kerasette.metrics`
exports them with the stateful `Metric` classes of ``classes.py``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kerasette import registry
from kerasette.backend.tensor import Tensor


@registry.register("metric")
def categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """1 where the arg-max of the prediction is the arg-max of the one-hot target."""
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype("float32")


@registry.register("metric")
def sparse_categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """1 where the arg-max of the prediction equals the integer label."""
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim:
        labels = labels[..., 0]
    return (labels.astype(np.int64) == np.argmax(y_pred, axis=-1)).astype("float32")


@registry.register("metric")
def binary_accuracy(y_true: np.ndarray, y_pred: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Mean over the last axis of (prediction > threshold) == target."""
    return np.mean((y_pred > threshold) == (y_true > 0.5), axis=-1).astype("float32")


@registry.register("metric", aliases=("mse",))
def mean_squared_error(y_true, y_pred):
    return np.mean(np.square(y_pred - y_true), axis=-1)


@registry.register("metric", aliases=("mae",))
def mean_absolute_error(y_true, y_pred):
    return np.mean(np.abs(y_pred - y_true), axis=-1)


def accuracy_for(y_true_shape, y_pred_shape) -> Callable:
    """The accuracy that ``'accuracy'``/``'acc'`` stands for, from the shapes of the targets and
    the predictions, as Keras 3 chooses it (whatever the loss).

    Returns:
        `binary_accuracy` when the predictions have one column; `sparse_categorical_accuracy`
        when the targets have fewer axes than the predictions, or one column against several;
        `categorical_accuracy` otherwise.

    Example:
        >>> accuracy_for((32, 1), (32, 10)) is sparse_categorical_accuracy
        True
    """
    p_last = y_pred_shape[-1] if len(y_pred_shape) else None
    t_last = y_true_shape[-1] if len(y_true_shape) else None
    if p_last == 1:
        return binary_accuracy
    if len(y_true_shape) < len(y_pred_shape) or (t_last == 1 and p_last is not None and p_last > 1):
        return sparse_categorical_accuracy
    return categorical_accuracy


def accuracy(y_true, y_pred) -> np.ndarray:
    """``'accuracy'``/``'acc'`` in ``compile``: the accuracy `accuracy_for` picks for these
    arrays' shapes."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return accuracy_for(y_true.shape, y_pred.shape)(y_true, y_pred)


def loss_as_metric(loss: Callable) -> Callable:
    """A loss computed on arrays, as a metric (Keras accepts any loss name in ``metrics``)."""

    per_sample = getattr(loss, "call", loss)  # a Loss object's values per sample

    def metric(y_true, y_pred):
        y_pred = np.asarray(y_pred)
        return np.asarray(per_sample(Tensor(np.asarray(y_true, dtype=y_pred.dtype)), Tensor(y_pred)))

    metric.__name__ = getattr(loss, "__name__", None) or loss.name
    return metric
