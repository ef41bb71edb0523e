"""One registry for every name: built-ins register where they are defined, with their aliases;
your own objects by `custom_objects`, `custom_object_scope` or `register_keras_serializable`."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.backend as K
from kerasette import activations, initializers, layers, losses, metrics, optimizers, registry, saving
from kerasette.layers import Conv2D, Dense, MaxPooling2D
from kerasette.models import Sequential, load_model


@pytest.fixture
def clean_registrations():
    before = dict(registry.get_custom_objects())
    yield
    registry.get_custom_objects().clear()
    registry.get_custom_objects().update(before)


@pytest.mark.parametrize("kind,name,expected", [
    ("layer", "Convolution2D", Conv2D), ("layer", "Conv2D", Conv2D), ("layer", "MaxPool2D", MaxPooling2D),
    ("loss", "mse", losses.mean_squared_error), ("loss", "CategoricalCrossentropy", losses.CategoricalCrossentropy),
    ("metric", "mae", metrics.mean_absolute_error), ("activation", "relu", activations.relu),
    ("initializer", "he_normal", initializers.HeNormal), ("optimizer", "sgd", optimizers.SGD),
    ("optimizer", "ADAM", optimizers.Adam), ("optimizer", "Custom>SGD", optimizers.SGD),
])
def test_built_in_names_and_aliases(kind, name, expected):
    assert registry.get(kind, name) is expected


def test_aliases_are_the_same_class_in_the_layers_package():
    assert layers.Convolution2D is layers.Conv2D and layers.MaxPool2D is layers.MaxPooling2D
    assert registry.name_of("layer", layers.Convolution2D) == "Conv2D"


def test_unknown_name_lists_the_known_ones_and_the_fix():
    with pytest.raises(registry.UnknownObjectError, match=r"Unknown loss: 'msee'\. Known losses: .*mse.*"
                                                          r"custom_objects"):
        registry.get("loss", "msee")
    with pytest.raises(ValueError, match=r"registry: unknown kind 'layers'; expected one of layer, model"):
        registry.get("layers", "Dense")


def test_register_keras_serializable_names_package_and_object(clean_registrations):
    @registry.register_keras_serializable(package="my_pkg")
    def scaled_mse(y_true, y_pred):
        return K.mean(K.square(y_pred - y_true), axis=-1) * 2.0

    assert registry.get("loss", "my_pkg>scaled_mse") is scaled_mse
    assert registry.get("loss", "scaled_mse") is scaled_mse
    assert losses.serialize(scaled_mse) == "my_pkg>scaled_mse"
    with pytest.raises(ValueError, match=r"`package` must be a string without '>'; received package='a>b'"):
        registry.register_keras_serializable(package="a>b")


def test_custom_object_scope_resolves_inside_only():
    def my_act(x):
        return x * 2.0

    with registry.custom_object_scope({"my_act": my_act}):
        assert activations.get("my_act") is my_act
    with pytest.raises(ValueError, match="Unknown activation: 'my_act'"):
        activations.get("my_act")


def test_serialize_deserialize_round_trip():
    sgd = optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    spec = registry.serialize("optimizer", sgd)
    assert spec["class_name"] == "SGD"
    again = registry.deserialize("optimizer", spec)
    assert isinstance(again, optimizers.SGD) and again.get_config() == sgd.get_config()
    assert registry.deserialize("activation", {"class_name": "function", "config": "tanh"}) is activations.tanh
    assert isinstance(registry.deserialize("initializer", "glorot_uniform"), initializers.GlorotUniform)


def test_keras_backend_loss_and_metric_in_compile_save_and_load(tmp_path, clean_registrations):
    """Custom losses and metrics written with K.* ops, as the Keras docs write them."""

    @registry.register_keras_serializable(package="tests")
    def mean_pred(y_true, y_pred):
        return K.mean(y_pred)

    def my_mse(y_true, y_pred):
        return K.mean(K.square(y_pred - y_true), axis=-1)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")
    model = Sequential([Dense(1, input_dim=3)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss=my_mse, metrics=[mean_pred, "mae"])
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, verbose=0)
    loss, mean_value, mae = model.evaluate(x, y, verbose=0)
    assert loss < first[0] / 10 and mae < 0.2
    assert mean_value == pytest.approx(float(model.predict(x).mean()), rel=1e-5)
    assert model.metrics_names == ["loss", "mean_pred", "mae"]
    model.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5", custom_objects={"my_mse": my_mse})  # mean_pred is registered
    assert again.evaluate(x, y, verbose=0) == pytest.approx([loss, mean_value, mae], rel=1e-5)


def test_saving_reexports_the_registry_api():
    assert saving.register_keras_serializable is registry.register_keras_serializable
    assert saving.custom_object_scope is registry.custom_object_scope
