"""Shared pieces of the checkpoint tests: fixture paths, small models, data."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from kerasette.backend import random as krandom
from kerasette.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from kerasette.models import Sequential
from kerasette.optimizers import SGD

DATA = pathlib.Path(__file__).parent / "data"


def small_convnet(dropout_seed=None, name=None) -> Sequential:
    """Conv -> pool -> dropout -> flatten -> dense softmax on 8x8x3 inputs (a few hundred weights)."""
    return Sequential([
        Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 3)),
        MaxPooling2D((2, 2)),
        Dropout(0.3, seed=dropout_seed),
        Flatten(),
        Dense(5, activation="softmax"),
    ], name=name)


def mlp(units: int = 16) -> Sequential:
    return Sequential([Dense(units, activation="relu", input_dim=6), Dropout(0.5), Dense(3, activation="softmax")])


def toy_data(n: int = 24, shape=(8, 8, 3), classes: int = 5, seed: int = 0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (n,) + tuple(shape)).astype("float32")
    y = np.eye(classes, dtype="float32")[rng.randint(0, classes, n)]
    return x, y


def compiled(model, decay: float = 0.0):
    model.compile(SGD(learning_rate=0.05, momentum=0.9, nesterov=True, decay=decay),
                  "categorical_crossentropy", ["accuracy"])
    return model


def optimizer_arrays(model) -> list[np.ndarray]:
    return [a for _, a in model.optimizer.get_state(model.trainable_weights)[1]]


@pytest.fixture
def trained_convnet():
    """A compiled small convnet after two training steps (momentum is non-zero)."""
    krandom.set_seed(7)
    model = compiled(small_convnet())
    x, y = toy_data()
    model.train_on_batch(x[:12], y[:12])
    model.train_on_batch(x[12:], y[12:])
    return model, x
