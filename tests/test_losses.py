"""Losses (one value per sample) and metrics against numpy, and lookup by name."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import losses, metrics
from kerasette.backend import ops
from kerasette.backend.tensor import Tensor

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((5, 4))
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
LABELS = np.array([0, 3, 1, 1, 2])
ONE_HOT = np.eye(4)[LABELS]
BINARY = (RNG.random((5, 4)) > 0.5).astype(float)
SIGMOID = 1 / (1 + np.exp(-LOGITS))


@pytest.mark.parametrize("name,y_true,y_pred,expected", [
    ("categorical_crossentropy", ONE_HOT, PROBS, -np.log(PROBS[np.arange(5), LABELS])),
    ("sparse_categorical_crossentropy", LABELS, PROBS, -np.log(PROBS[np.arange(5), LABELS])),
    ("sparse_categorical_crossentropy", LABELS[:, None], PROBS, -np.log(PROBS[np.arange(5), LABELS])),
    ("binary_crossentropy", BINARY, SIGMOID,
     -np.mean(BINARY * np.log(SIGMOID) + (1 - BINARY) * np.log(1 - SIGMOID), axis=-1)),
    ("mse", ONE_HOT, PROBS, np.mean((PROBS - ONE_HOT) ** 2, axis=-1)),
    ("mean_absolute_error", ONE_HOT, PROBS, np.mean(np.abs(PROBS - ONE_HOT), axis=-1)),
])
def test_loss_values(name, y_true, y_pred, expected):
    out = losses.get(name)(Tensor(y_true), Tensor(y_pred))
    assert out.shape == (5,)
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)


def test_losses_fuse_with_the_activation_that_produced_the_output():
    z = Tensor(LOGITS, requires_grad=True)
    fused = losses.categorical_crossentropy(Tensor(ONE_HOT), ops.softmax(z))
    np.testing.assert_allclose(fused.data, -np.log(PROBS[np.arange(5), LABELS]), rtol=1e-10)
    fused = losses.binary_crossentropy(Tensor(BINARY), ops.sigmoid(z))
    np.testing.assert_allclose(fused.data, -np.mean(BINARY * np.log(SIGMOID) + (1 - BINARY) * np.log(1 - SIGMOID),
                                                    axis=-1), rtol=1e-10)


@pytest.mark.parametrize("keras_name,name", [
    ("CategoricalCrossentropy", "categorical_crossentropy"), ("MeanSquaredError", "mean_squared_error"),
    ("mse", "mean_squared_error"), ("mae", "mean_absolute_error"),
])
def test_loss_names(keras_name, name):
    loss = losses.get(keras_name)
    if keras_name[0].isupper():  # a Keras 3 class name gives an instance of that class, named as the function
        assert isinstance(loss, losses.Loss) and type(loss).__name__ == keras_name and loss.name == name
        assert losses.serialize(loss)["class_name"] == keras_name
    else:
        assert loss is getattr(losses, name) and losses.serialize(loss) == name


def test_accuracy_metrics():
    pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    np.testing.assert_array_equal(metrics.categorical_accuracy(np.eye(2)[[1, 1, 1]], pred), [1, 0, 1])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(np.array([1, 0, 0]), pred), [1, 1, 0])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(np.array([[1], [0], [0]]), pred), [1, 1, 0])
    np.testing.assert_allclose(metrics.binary_accuracy(np.array([[1, 0], [1, 1], [0, 0]]), pred), [0.0, 0.5, 0.5])
