"""Metrics: functions of per-sample values (``functions.py``) and Keras 3's stateful `Metric`
classes (``classes.py``). In ``compile``, every metric becomes a `Metric` object, reset at the
start of each epoch: a function is averaged over the epoch's samples (`MeanMetricWrapper`)."""

from __future__ import annotations

import copy

from kerasette import registry
from kerasette.metrics import functions
from kerasette.metrics.classes import (
    AUC,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    F1Score,
    Mean,
    MeanAbsoluteError,
    MeanIoU,
    MeanMetricWrapper,
    MeanSquaredError,
    Metric,
    Precision,
    Recall,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    Sum,
    TopKCategoricalAccuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from kerasette.metrics.functions import (
    accuracy,
    accuracy_for,
    binary_accuracy,
    categorical_accuracy,
    loss_as_metric,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_accuracy,
)

mse = mean_squared_error
mae = mean_absolute_error


def get(identifier):
    """(display name, function or `Metric` class instance) of a metric: a registered metric's
    name (a class name gives an instance with its defaults), any loss's name, ``'accuracy'``/
    ``'acc'`` (see `accuracy`), Keras 3's ``{'class_name', 'config'}``, a `Metric` object, or a
    callable ``fn(y_true, y_pred)``."""
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return identifier, accuracy
        found = registry.lookup("metric", identifier)
        if found is None and registry.lookup("loss", identifier) is not None:
            loss = registry.get("loss", identifier)
            found = loss_as_metric(loss() if isinstance(loss, type) else loss)
        if found is None:
            raise registry.unknown_error("metric", identifier, extra_known=("accuracy", "acc"))
        return identifier, (found() if isinstance(found, type) else found)
    if isinstance(identifier, dict):
        found = registry.deserialize("metric", identifier)
        return getattr(found, "name", None) or identifier.get("class_name"), found
    if isinstance(identifier, Metric):
        return identifier.name, identifier
    if callable(identifier):
        return getattr(identifier, "__name__", "metric"), identifier
    raise TypeError(f"metric must be a name or a callable; received {identifier!r}")


def as_metric_object(identifier, name: str) -> Metric:
    """A fresh `Metric` for compile: a function becomes a `MeanMetricWrapper`; an object is
    copied, so that two outputs never share one state."""
    _, found = get(identifier)
    if isinstance(found, Metric):
        return copy.deepcopy(found)
    return MeanMetricWrapper(found, name=name)


__all__ = ["AUC", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "F1Score", "Mean", "MeanAbsoluteError",
           "MeanIoU", "MeanMetricWrapper", "MeanSquaredError", "Metric", "Precision", "Recall",
           "RootMeanSquaredError", "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "Sum",
           "TopKCategoricalAccuracy", "accuracy", "accuracy_for", "as_metric_object", "binary_accuracy",
           "categorical_accuracy", "functions", "get", "mae", "mean_absolute_error", "mean_squared_error", "mse",
           "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy"]
