"""Metrics: the values, and which accuracy 'accuracy'/'acc' stands for (Keras 2's rule)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import metrics
from kerasette.layers import Dense
from kerasette.models import Sequential


@pytest.mark.parametrize("loss, output_shape, expected", [
    # the binary cross-entropy, or any output with one column: binary accuracy
    ("binary_crossentropy", (None, 3), metrics.binary_accuracy),
    ("mean_squared_error", (None, 1), metrics.binary_accuracy),
    ("categorical_crossentropy", (None, 1), metrics.binary_accuracy),
    ("sparse_categorical_crossentropy", (None, 1), metrics.binary_accuracy),  # Keras 2 checks shape first
    # otherwise the sparse loss gives the sparse accuracy, anything else the categorical one
    ("sparse_categorical_crossentropy", (None, 4), metrics.sparse_categorical_accuracy),
    ("categorical_crossentropy", (None, 4), metrics.categorical_accuracy),
    ("mean_squared_error", (None, 4), metrics.categorical_accuracy),
    ("mean_squared_error", None, metrics.categorical_accuracy),  # shape unknown
])
def test_accuracy_is_chosen_from_the_loss_and_the_output_shape(loss, output_shape, expected):
    for name in ("accuracy", "acc"):
        assert metrics.get(name, loss, output_shape) == (name, expected)


@pytest.mark.parametrize("loss, units, expected", [
    ("mse", 1, "binary_accuracy"),
    ("binary_crossentropy", 2, "binary_accuracy"),
    ("mse", 3, "categorical_accuracy"),
    ("categorical_crossentropy", 3, "categorical_accuracy"),
])
def test_compile_passes_the_output_shape(loss, units, expected):
    model = Sequential([Dense(units, activation="sigmoid", input_dim=2)])
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    assert model._trainer._metrics[0][2].__name__ == expected


def test_accuracy_of_a_one_column_regression_model_is_binary():
    model = Sequential([Dense(1, activation="sigmoid", input_dim=2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["acc"])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]], "float32")
    y = np.array([[1.0], [0.0], [1.0], [1.0]], "float32")
    p = model.predict(x)
    expected = np.mean((p > 0.5) == (y > 0.5))
    # categorical accuracy on one column would be 1.0 whatever the predictions
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0)[1], expected)


def test_accuracy_is_chosen_once_a_deferred_sequential_knows_its_shape():
    model = Sequential([Dense(3), Dense(1, activation="sigmoid")])  # no input shape yet
    model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    assert model._trainer._metrics[0][2] is metrics.binary_accuracy


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
