"""End to end: train on the shipped digits to an accuracy threshold; the data and its labels."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.backend as K  # noqa: N812 - the Keras convention
from kerasette.datasets import digits
from kerasette.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from kerasette.models import Sequential
from kerasette.optimizers import SGD
from kerasette.utils import to_categorical


@pytest.fixture(scope="module")
def data():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    scale = np.float32(1 / 16)
    return (x_train.astype("float32") * scale, to_categorical(y_train, 10)), \
        (x_test.astype("float32") * scale, to_categorical(y_test, 10))


def test_digits_split_is_fixed():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1438, 8, 8) and y_train.shape == (1438,)
    assert x_test.shape == (359, 8, 8) and y_test.shape == (359,)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert x_train.min() == 0 and x_train.max() == 16
    assert set(np.unique(y_train)) == set(range(10)) and set(np.unique(y_test)) == set(range(10))
    (x_again, y_again), (xt_again, _) = digits.load_data()
    np.testing.assert_array_equal(x_again, x_train)  # the same split on every call
    np.testing.assert_array_equal(y_again, y_train)
    np.testing.assert_array_equal(xt_again, x_test)
    # train and test are disjoint parts of the 1,797 images
    both = np.concatenate([x_train, x_test]).reshape(1797, -1)
    assert len(np.unique(both, axis=0)) > 1700  # (a few images repeat in the source data)


def test_mlp_learns_the_digits(data):
    (x_train, y_train), (x_test, y_test) = data
    K.set_seed(0)
    model = Sequential([Dense(64, activation="relu", input_dim=64), Dropout(0.1), Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.1, momentum=0.9),
                  metrics=["accuracy"])
    history = model.fit(x_train.reshape(-1, 64), y_train, batch_size=32, epochs=10, verbose=0,
                        validation_split=0.1)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test.reshape(-1, 64), y_test, verbose=0)
    assert accuracy >= 0.9, f"test accuracy {accuracy:.3f}"
    predicted = model.predict(x_test.reshape(-1, 64)).argmax(axis=1)
    assert np.mean(predicted == y_test.argmax(axis=1)) == pytest.approx(accuracy)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_convnet_learns_the_digits(data, data_format):
    (x_train, y_train), (x_test, y_test) = data
    axis = 3 if data_format == "channels_last" else 1
    x_train, x_test = np.expand_dims(x_train, axis), np.expand_dims(x_test, axis)
    K.set_seed(0)
    model = Sequential([
        Conv2D(16, 3, padding="same", activation="relu", input_shape=x_train.shape[1:], data_format=data_format),
        MaxPooling2D(2, data_format=data_format),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=6, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.9, f"test accuracy {accuracy:.3f}"


def test_to_categorical():
    np.testing.assert_array_equal(to_categorical([0, 2, 1], 3), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert to_categorical([0, 2, 1], 3).dtype == np.float32
    assert to_categorical([1, 4]).shape == (2, 5)  # num_classes inferred as max + 1
    assert to_categorical(np.array([[1], [0]]), 2).shape == (2, 2)  # a trailing axis of 1 is dropped
    assert to_categorical(np.array([[0, 1], [1, 1]]), 2).shape == (2, 2, 2)
    assert to_categorical([1, 0], 2, dtype="int64").dtype == np.int64
    np.testing.assert_array_equal(to_categorical(np.array([2.0, 0.0]), 3), [[0, 0, 1], [1, 0, 0]])
    assert to_categorical(np.array([], dtype=int), 3).shape == (0, 3)
