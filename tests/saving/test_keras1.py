"""Keras 1 files (written here in Keras 1.2's layout): list-style configs with Keras 1 argument
names, weights named ``dense_1_W``, Theano-order kernels transposed, and kernels trained with
Theano's true convolution flipped, with a warning and an argument to force or skip the flip."""

from __future__ import annotations

import json
import warnings

import h5py
import numpy as np
import pytest

from kerasette import saving
from kerasette.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from kerasette.models import Sequential, load_model
from tests.saving import keras1_files as k1
from tests.saving.conftest import optimizer_arrays


@pytest.fixture
def weights():
    return k1.random_weights(seed=3)


@pytest.fixture
def x_th():
    return np.random.RandomState(5).uniform(-1, 1, (4, 3, *k1.IMAGE)).astype("float32")


def _load(path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = saving.load_model(path, **kwargs)
    flips = [str(w.message) for w in caught if "flipping" in str(w.message)]
    others = [str(w.message) for w in caught if "flipping" not in str(w.message)]
    return model, flips, others


def test_theano_file_is_transposed_and_flipped_with_a_warning(tmp_path, weights, x_th):
    path = tmp_path / "theano.h5"
    k1.write_keras1_file(path, "th", weights)
    model, flips, others = _load(path)
    assert len(flips) == 1 and "convolution2d_1" in flips[0] and "Theano" in flips[0]
    assert "flip_kernels=False" in flips[0]
    assert others == []  # Keras 1 names in a file are translated without DeprecationWarnings
    expected = k1.reference_predict(x_th, weights, true_convolution=True)
    np.testing.assert_allclose(model.predict(x_th), expected, atol=1e-5)
    # the difference is real: without the flip the outputs differ
    assert np.abs(k1.reference_predict(x_th, weights, False) - expected).max() > 1e-3


def test_flip_can_be_skipped_for_tensorflow_trained_theano_order_kernels(tmp_path, weights, x_th):
    path = tmp_path / "tf_backend_th_order.h5"
    k1.write_keras1_file(path, "th", weights, suffix=":0")
    model, flips, _ = _load(path, flip_kernels=False)
    assert flips == []
    np.testing.assert_allclose(model.predict(x_th), k1.reference_predict(x_th, weights, False), atol=1e-5)


def test_keras1_config_is_translated(tmp_path, weights):
    path = tmp_path / "theano.h5"
    k1.write_keras1_file(path, "th", weights)
    model, _, _ = _load(path)
    conv, pool, drop, _, dense = model.layers
    assert isinstance(conv, Conv2D) and conv.filters == 4 and conv.kernel_size == (3, 2)
    assert conv.data_format == "channels_first" and conv.padding == "valid"
    assert pool.data_format == "channels_first" and drop.rate == 0.25 and dense.units == 5
    assert model.input_shape == (None, 3, *k1.IMAGE)


def test_keras1_optimizer_state_follows_the_kernel_conversion(tmp_path, weights):
    path = tmp_path / "theano.h5"
    k1.write_keras1_file(path, "th", weights)
    model, _, _ = _load(path)
    assert model.optimizer.learning_rate == pytest.approx(0.01) and model.optimizer.momentum == 0.9
    assert model.optimizer.iterations == 7
    with h5py.File(path, "r") as f:
        stored = f["optimizer_weights/param_1"][()]
    slots = optimizer_arrays(model)
    np.testing.assert_array_equal(slots[0], np.transpose(stored, (2, 3, 1, 0))[::-1, ::-1])
    assert slots[3][0] == np.float32(0.0625)


def test_channels_last_keras1_file_without_version_is_not_flipped(tmp_path, weights):
    path = tmp_path / "tf.h5"
    k1.write_keras1_file(path, "tf", weights, suffix=":0", keras_version=None)
    model, flips, _ = _load(path)
    assert flips == []
    x = np.random.RandomState(1).uniform(-1, 1, (3, *k1.IMAGE, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x), k1.reference_predict_channels_last(x, weights, False), atol=1e-5)


def test_flip_can_be_forced(tmp_path, weights):
    path = tmp_path / "tf.h5"
    k1.write_keras1_file(path, "tf", weights, suffix=":0")
    model, flips, _ = _load(path, flip_kernels=True)
    assert flips == []  # asked for: no warning
    x = np.random.RandomState(1).uniform(-1, 1, (3, *k1.IMAGE, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x), k1.reference_predict_channels_last(x, weights, True), atol=1e-5)


def test_backend_theano_attribute_flips_keras2_layout_kernels(tmp_path, weights, x_th):
    """A Keras 2 file written under Theano: kernels already (rows, cols, in, out), but flipped."""
    path = tmp_path / "keras2_theano.h5"
    k1.write_keras1_file(path, "th", weights, keras_version="2.0.8", backend="theano", with_training=False,
                         list_style=False)
    model, flips, _ = _load(path, compile=False)
    assert len(flips) == 1 and "backend 'theano'" in flips[0]
    np.testing.assert_allclose(model.predict(x_th), k1.reference_predict(x_th, weights, True), atol=1e-5)


def test_load_weights_into_a_hand_built_model(tmp_path, weights, x_th):
    path = tmp_path / "theano.h5"
    k1.write_keras1_file(path, "th", weights, with_training=False)
    model = Sequential([Conv2D(4, (3, 2), activation="relu", data_format="channels_first",
                               input_shape=(3, *k1.IMAGE)),
                        MaxPooling2D(data_format="channels_first"), Dropout(0.25), Flatten(),
                        Dense(5, activation="softmax")])
    with pytest.warns(UserWarning, match="flipping"):
        model.load_weights(path)
    np.testing.assert_allclose(model.predict(x_th), k1.reference_predict(x_th, weights, True), atol=1e-5)
    saving.load_weights(model, path, flip_kernels=False)
    np.testing.assert_allclose(model.predict(x_th), k1.reference_predict(x_th, weights, False), atol=1e-5)


def test_keras1_list_config_round_trips_through_kerasette(tmp_path, weights, x_th):
    path = tmp_path / "theano.h5"
    k1.write_keras1_file(path, "th", weights)
    model, _, _ = _load(path)
    model.save(tmp_path / "again.h5")
    again = load_model(tmp_path / "again.h5")  # kerasette's own file: no conversion, no warning
    np.testing.assert_allclose(again.predict(x_th), model.predict(x_th), atol=0)
    with h5py.File(tmp_path / "again.h5", "r") as f:
        config = json.loads(f.attrs["model_config"])
    assert config["config"]["layers"][1]["config"]["filters"] == 4  # written with Keras 2 names


def test_keras1_flatten_keeps_its_order_whatever_the_global_image_format(tmp_path, weights, x_th):
    """Keras 1's Flatten had no data_format: it flattened the tensor in its own order."""
    from kerasette.backend import config

    path = tmp_path / "theano.h5"
    k1.write_keras1_file(path, "th", weights)
    config.set_image_data_format("channels_first")
    model, _, _ = _load(path)
    np.testing.assert_allclose(model.predict(x_th), k1.reference_predict(x_th, weights, True), atol=1e-5)
