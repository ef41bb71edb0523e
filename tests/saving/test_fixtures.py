"""Files written by real Keras (Keras 3, tf.keras 2, Keras 2.3.1 from the wild) load with Keras's
predictions to 1e-5, as full models and as weights loaded into the same architecture."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kerasette.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from kerasette.models import Sequential, load_model
from tests.saving.conftest import DATA, optimizer_arrays

FULL_MODELS = ["keras3/vgg_like", "keras3/mlp", "tf_keras2/vgg_like_keras2"]

# Keras 3.15.1's predictions for the wild file (its README), rounded to 7 decimals.
WILD_EXPECTED = np.array([
    [0.0468221, 0.0448491, 0.0462134, 0.0499256, 0.0509329, 0.0466617, 0.0468376, 0.0433070, 0.0457180,
     0.0431340, 0.0476450, 0.0435609, 0.0425079, 0.0475796, 0.0471467, 0.0448198, 0.0460887, 0.0433755,
     0.0387269, 0.0413899, 0.0525728, 0.0401849],
    [0.0456831, 0.0453176, 0.0460869, 0.0511597, 0.0534495, 0.0471733, 0.0457079, 0.0436843, 0.0440262,
     0.0430016, 0.0473186, 0.0433323, 0.0437664, 0.0471925, 0.0466849, 0.0440490, 0.0476133, 0.0434812,
     0.0380869, 0.0427671, 0.0519002, 0.0385175]])


def vgg_like() -> Sequential:
    return Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(16, 16, 3)),
        Conv2D(32, (3, 3), activation="relu"), MaxPooling2D((2, 2)), Dropout(0.25),
        Conv2D(64, (3, 3), activation="relu"), Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)), Dropout(0.25), Flatten(), Dense(256, activation="relu"), Dropout(0.5),
        Dense(10, activation="softmax")])


def mlp_like() -> Sequential:
    return Sequential([Dense(64, activation="relu", input_shape=(20,)), Dropout(0.5), Dense(3, activation="softmax")])


ARCHITECTURES = {"keras3/vgg_like": vgg_like, "keras3/mlp": mlp_like, "tf_keras2/vgg_like_keras2": vgg_like}


@pytest.mark.parametrize("stem", FULL_MODELS)
def test_full_model_reproduces_keras_predictions(stem):
    data = np.load(DATA / f"{stem}.npz")
    model = load_model(DATA / f"{stem}.h5")
    np.testing.assert_allclose(model.predict(data["x"]), data["y"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("stem", FULL_MODELS)
def test_full_model_is_compiled_with_the_optimizer_state(stem):
    model = load_model(DATA / f"{stem}.h5")
    config = model.optimizer.get_config()
    assert type(model.optimizer).__name__ == "SGD"
    assert config["momentum"] == pytest.approx(0.9) and config["nesterov"] is True
    assert config["learning_rate"] == pytest.approx(0.01)
    assert model.optimizer.iterations == 2
    slots = optimizer_arrays(model)
    assert len(slots) == len(model.trainable_weights)
    assert all(np.any(s != 0) for s in slots)  # two steps were taken: momentum is non-zero
    assert model.metrics_names == ["loss", "accuracy"]


def test_full_model_continues_training():
    data = np.load(DATA / "keras3/mlp.npz")
    model = load_model(DATA / "keras3/mlp.h5")
    before = model.get_weights()
    model.fit(data["x"], np.eye(3, dtype="float32")[[0, 1, 2, 0]], epochs=1, verbose=0)
    assert model.optimizer.iterations == 3
    assert any(np.any(a != b) for a, b in zip(before, model.get_weights(), strict=True))


@pytest.mark.parametrize("stem", FULL_MODELS)
def test_keras3_weights_file_loads_into_the_same_architecture(stem):
    data = np.load(DATA / f"{stem}.npz")
    model = ARCHITECTURES[stem]()  # kerasette's names (conv2d_1, ...) differ from the file's (conv2d, ...)
    model.load_weights(DATA / f"{stem}.weights.h5")
    np.testing.assert_allclose(model.predict(data["x"]), data["y"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("stem", FULL_MODELS)
def test_legacy_full_model_file_loads_as_weights(stem):
    data = np.load(DATA / f"{stem}.npz")
    model = ARCHITECTURES[stem]()
    model.load_weights(DATA / f"{stem}.h5")
    np.testing.assert_allclose(model.predict(data["x"]), data["y"], atol=1e-5, rtol=0)


def test_wild_keras_2_3_file_with_batch_input_shape_and_mixed_formats():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(DATA / "wild/dl4j_simpleconv2d.hdf5")
    assert any("no training config" in str(w.message) for w in caught)
    assert not model.compiled
    assert [layer.output_shape[1:] for layer in model.layers] == [
        (30, 26, 26), (15, 13, 26), (13, 11, 15), (6, 5, 15), (6, 5, 15), (450,), (128,), (80,), (80,), (22,)]
    x = np.random.RandomState(0).uniform(0, 1, (2, 1, 28, 28)).astype("float32")
    np.testing.assert_allclose(model.predict(x), WILD_EXPECTED, atol=1e-6, rtol=0)


def test_wild_file_loads_uncompiled_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_model(DATA / "wild/dl4j_simpleconv2d.hdf5", compile=False)
    assert model.layers[0].data_format == "channels_first"
    assert model.layers[1].data_format == "channels_last"


def test_keras3_functional_model():
    data = np.load(DATA / "keras3_functional/functional.npz")
    x = [data["x_image"], data["x_meta"]]
    model = load_model(DATA / "keras3_functional/functional.h5")
    assert type(model).__name__ == "Model" and model.optimizer.iterations == 1
    np.testing.assert_allclose(model.predict(x), data["y"], atol=1e-5, rtol=0)
    rebuilt = load_model(DATA / "keras3_functional/functional.h5", compile=False)
    for var in rebuilt.weights:
        var.assign(np.zeros(var.shape, var.dtype))
    rebuilt.load_weights(DATA / "keras3_functional/functional.weights.h5")
    np.testing.assert_allclose(rebuilt.predict(x), data["y"], atol=1e-5, rtol=0)
