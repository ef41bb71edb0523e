"""Metrics computed on arrays after each batch: ``metric(y_true, y_pred)`` -> per-sample values."""

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


def accuracy_for(loss=None, output_shape=None) -> Callable:
    """The accuracy that ``'accuracy'``/``'acc'`` stands for, chosen as Keras 2 does.

    Args:
        loss: the output's loss function (or its registered name); a built-in loss declares the
            accuracy that goes with it.
        output_shape: the output's shape (batch axis first), when known.

    Returns:
        `binary_accuracy` when the loss declares it or the output's last dimension is 1, else
        the accuracy the loss declares (`sparse_categorical_accuracy` for the sparse categorical
        cross-entropy), else `categorical_accuracy`.
    """
    if isinstance(loss, str):
        loss = registry.lookup("loss", loss)
    declared = getattr(loss, "accuracy", None) if loss is not None else None
    last = tuple(output_shape)[-1] if output_shape else None
    if declared == "binary_accuracy" or last == 1:
        return binary_accuracy
    return registry.get("metric", declared) if declared else categorical_accuracy


def get(identifier, loss=None, output_shape=None) -> tuple[str, Callable]:
    """(display name, function) of a metric.

    Args:
        identifier: a metric name or a callable ``fn(y_true, y_pred)``.
        loss: the loss function (or name) of the output the metric is for.
        output_shape: the shape of that output (batch axis first); with ``loss`` it decides
            which accuracy ``'accuracy'``/``'acc'`` means (see `accuracy_for`).
    """
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return identifier, accuracy_for(loss, output_shape)
        found = registry.lookup("metric", identifier)
        if found is None and registry.lookup("loss", identifier) is not None:
            found = _loss_as_metric(registry.get("loss", identifier))
        if found is None:
            raise registry.unknown_error("metric", identifier, extra_known=("accuracy", "acc"))
        return identifier, found
    if callable(identifier):
        return getattr(identifier, "__name__", "metric"), identifier
    raise TypeError(f"metric must be a name or a callable; received {identifier!r}")


def _loss_as_metric(loss: Callable) -> Callable:
    """A loss computed on arrays, as a metric (Keras accepts any loss name in ``metrics``)."""

    def metric(y_true, y_pred):
        y_pred = np.asarray(y_pred)
        return np.asarray(loss(Tensor(np.asarray(y_true, dtype=y_pred.dtype)), Tensor(y_pred)))

    metric.__name__ = loss.__name__
    return metric
