"""Metrics: the values, and which accuracy 'accuracy'/'acc' stands for (Keras 3's rule, from shapes)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import metrics
from kerasette.layers import Dense
from kerasette.models import Sequential


@pytest.mark.parametrize("y_true_shape, y_pred_shape, expected", [
    # one predicted column: binary accuracy (a sigmoid, or a regression output)
    ((8, 1), (8, 1), metrics.binary_accuracy),
    ((8,), (8, 1), metrics.binary_accuracy),
    # integer labels (one axis fewer, or one column) against several columns: sparse
    ((8,), (8, 4), metrics.sparse_categorical_accuracy),
    ((8, 1), (8, 4), metrics.sparse_categorical_accuracy),
    ((8, 5, 1), (8, 5, 4), metrics.sparse_categorical_accuracy),
    # targets shaped like the predictions: categorical, even under a binary cross-entropy (Keras 3)
    ((8, 4), (8, 4), metrics.categorical_accuracy),
    ((8, 3), (8, 3), metrics.categorical_accuracy),
])
def test_accuracy_is_chosen_from_the_shapes_as_keras3_does(y_true_shape, y_pred_shape, expected):
    assert metrics.accuracy_for(y_true_shape, y_pred_shape) is expected
    for name in ("accuracy", "acc"):
        assert metrics.get(name) == (name, metrics.accuracy)


@pytest.mark.parametrize("loss, units, y_kind, expected", [
    ("mse", 1, "column", metrics.binary_accuracy),
    ("binary_crossentropy", 2, "one_hot", metrics.categorical_accuracy),  # Keras 2 said binary here
    ("mse", 3, "one_hot", metrics.categorical_accuracy),
    ("sparse_categorical_crossentropy", 3, "labels", metrics.sparse_categorical_accuracy),
])
def test_the_logged_accuracy_is_the_one_the_shapes_choose(loss, units, y_kind, expected):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 2)).astype("float32")
    labels = rng.integers(0, units, 16)
    y = {"column": (labels[:, None] > 0).astype("float32"), "one_hot": np.eye(units, dtype="float32")[labels],
         "labels": labels}[y_kind]
    model = Sequential([Dense(units, activation="sigmoid" if units == 1 else "softmax", input_dim=2)])
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    accuracy = model.evaluate(x, y, batch_size=16, verbose=0)[1]
    targets = y[:, None] if y.ndim == 1 else y
    assert accuracy == pytest.approx(float(np.mean(expected(targets, model.predict(x)))))


def test_accuracy_of_a_one_column_regression_model_is_binary():
    model = Sequential([Dense(1, activation="sigmoid", input_dim=2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["acc"])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]], "float32")
    y = np.array([[1.0], [0.0], [1.0], [1.0]], "float32")
    p = model.predict(x)
    expected = np.mean((p > 0.5) == (y > 0.5))
    # categorical accuracy on one column would be 1.0 whatever the predictions
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0)[1], expected)


def test_binary_accuracy_thresholds_at_one_half():
    y_true = np.array([[1.0, 0.0], [0.0, 1.0]])
    y_pred = np.array([[0.7, 0.2], [0.6, 0.4]])
    np.testing.assert_allclose(metrics.binary_accuracy(y_true, y_pred), [1.0, 0.0])


def test_sparse_categorical_accuracy_accepts_a_trailing_axis_of_one():
    y_pred = np.array([[0.1, 0.9], [0.8, 0.2]])
    np.testing.assert_allclose(metrics.sparse_categorical_accuracy(np.array([[1], [1]]), y_pred), [1.0, 0.0])
    np.testing.assert_allclose(metrics.sparse_categorical_accuracy(np.array([1, 0]), y_pred), [1.0, 1.0])


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown metric.*'acuracy'"):
        metrics.get("acuracy")
