"""Configs: every layer, optimizer and model round-trips through get_config/from_config and JSON;
Keras 1/2/3 configs translate; names resolve only through the registry and custom_objects."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasette import layers, optimizers, registry, saving
from kerasette.backend import ops
from kerasette.layers import Activation, Conv2D, Dense, Dot, Dropout, Flatten, InputLayer, Layer, MaxPooling2D
from kerasette.models import Sequential, model_from_config, model_from_json
from kerasette.saving.layer_config import layer_from_spec, translate_layer_config
from tests.layers.test_layers import SPECS as LAYER_SPECS
from tests.saving.conftest import DATA, small_convnet

LAYER_EXAMPLES = {
    "Activation": lambda: Activation("tanh", name="act"),
    "Conv2D": lambda: Conv2D(3, (2, 3), strides=2, padding="same", data_format="channels_first",
                             activation="relu", use_bias=False, kernel_initializer="he_normal"),
    "Dense": lambda: Dense(4, activation="softmax", bias_initializer="ones"),
    "Dropout": lambda: Dropout(0.2, seed=3),
    "Flatten": lambda: Flatten(data_format="channels_first"),
    "InputLayer": lambda: InputLayer(input_shape=(5, 6)),
    "MaxPooling2D": lambda: MaxPooling2D((3, 2), strides=(1, 2), padding="same"),
    "Dot": lambda: Dot(axes=(1, 2), normalize=True),
    "Embedding": lambda: layers.Embedding(20, 4, mask_zero=True),
    "SimpleRNNCell": lambda: layers.SimpleRNNCell(3, activation="relu"),
    "LSTMCell": lambda: layers.LSTMCell(3, unit_forget_bias=False),
    "GRUCell": lambda: layers.GRUCell(3, reset_after=False),
    "StackedRNNCells": lambda: layers.StackedRNNCells([layers.LSTMCell(2), layers.GRUCell(3)]),
    "CuDNNLSTM": lambda: registry.get("layer", "CuDNNLSTM")(3),
    "CuDNNGRU": lambda: registry.get("layer", "CuDNNGRU")(3),
}


# Layers not given above are made as the layer test table makes them (one entry per new layer).
for _spec in reversed(LAYER_SPECS):
    LAYER_EXAMPLES.setdefault(type(_spec.make()).__name__, _spec.make)

# Every registered layer class (models, which are layers too, have their own tests).
REGISTERED = {cls.__name__: cls for cls in map(lambda n: registry.get("layer", n), registry.known("layer"))
              if not hasattr(cls, "call_graph")}


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_layer_config_round_trip(name):
    """Every registered layer (those without an example here are built with their defaults)."""
    layer = LAYER_EXAMPLES.get(name, REGISTERED[name])()
    config = layer.get_config()
    json.dumps(config)
    again = type(layer).from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config
    spec = {"class_name": type(layer).__name__, "config": config}
    assert layer_from_spec(json.loads(json.dumps(spec))).get_config() == config


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.RMSprop, optimizers.Adam])
def test_optimizer_config_round_trip(cls):
    optimizer = cls(learning_rate=0.123, decay=0.01)
    config = optimizers.serialize(optimizer)
    again = optimizers.deserialize(json.loads(json.dumps(config)))
    assert type(again) is cls and again.get_config() == optimizer.get_config()


def test_to_json_and_model_from_json():
    model = small_convnet()
    again = model_from_json(model.to_json())
    assert again.get_config() == model.get_config()
    assert [type(a) for a in again.layers] == [type(b) for b in model.layers]
    assert again.count_params() == model.count_params()
    assert model_from_config(json.loads(model.to_json())).get_config() == model.get_config()


def test_list_style_sequential_config_of_keras_2_1():
    model = small_convnet()
    layers = model.get_config()["layers"][1:]
    layers[0]["config"]["batch_input_shape"] = [None, 8, 8, 3]
    again = model_from_config({"class_name": "Sequential", "config": layers})
    assert again.output_shape == model.output_shape and again.count_params() == model.count_params()


def test_keras3_config_file_translates():
    content = saving.read_checkpoint(DATA / "keras3/mlp.h5")
    model = model_from_config(json.loads(content.model_config))
    assert [layer.name for layer in model.layers] == ["dense", "dropout", "dense_1"]
    assert model.input_shape == (None, 20)


def test_keras1_arguments_translate_without_deprecation_warnings(recwarn):
    kwargs = translate_layer_config("Convolution2D", {"nb_filter": 8, "nb_row": 3, "nb_col": 1, "border_mode": "same",
                                                      "subsample": [2, 2], "dim_ordering": "th", "init": "he_normal",
                                                      "input_dtype": "float32", "bias": False})
    assert kwargs == {"filters": 8, "kernel_size": (3, 1), "padding": "same", "strides": [2, 2],
                      "data_format": "channels_first", "kernel_initializer": "he_normal", "dtype": "float32",
                      "use_bias": False}
    assert translate_layer_config("Dropout", {"p": 0.3}) == {"rate": 0.3}
    assert len(recwarn) == 0


def test_keras3_options_that_ask_for_something_unsupported_are_rejected():
    with pytest.raises(saving.CheckpointError, match=r"layer 'x' \(InputLayer\): option ragged=True is not supported"):
        layer_from_spec({"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 3], "ragged": True}})
    with pytest.raises(saving.CheckpointError, match="dtype policy 'mixed_float16' is not supported"):
        layer_from_spec({"class_name": "Dense", "config": {"units": 2, "dtype": {
            "class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}}})
    with pytest.raises(saving.CheckpointError, match=r"Dense does not accept the argument\(s\) \['units_typo'\]"):
        layer_from_spec({"class_name": "Dense", "config": {"units_typo": 2}})


class Scale(Layer):
    """A custom layer: multiplies by a constant."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs, training=False):
        return ops.multiply(inputs, np.float32(self.factor))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def my_activation(x):
    return ops.multiply(x, np.float32(3.0))


def _custom_model() -> Sequential:
    return Sequential([Dense(3, input_dim=2, activation=my_activation), Scale(0.5)])


def test_unknown_layer_names_custom_objects(tmp_path):
    model = _custom_model()
    model.save(tmp_path / "c.h5")
    with pytest.raises(saving.CheckpointError, match=r"c\.h5: .*unknown layer 'Scale'.*custom_objects=\{'Scale'"):
        saving.load_model(tmp_path / "c.h5", compile=False, custom_objects={"my_activation": my_activation})
    with pytest.raises(saving.CheckpointError, match="Unknown activation: 'my_activation'.*custom_objects"):
        saving.load_model(tmp_path / "c.h5", compile=False, custom_objects={"Scale": Scale})
    again = saving.load_model(tmp_path / "c.h5", compile=False,
                              custom_objects={"Scale": Scale, "my_activation": my_activation})
    x = np.ones((2, 2), "float32")
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_registered_objects_resolve_without_custom_objects(tmp_path):
    model = _custom_model()
    model.save(tmp_path / "c.h5")
    saving.register_serializable(Scale)
    saving.register_serializable(my_activation)
    try:
        again = saving.load_model(tmp_path / "c.h5", compile=False)
    finally:
        for key in ("Scale", "Custom>Scale", "my_activation", "Custom>my_activation"):
            registry.get_custom_objects().pop(key, None)
    assert isinstance(again.layers[1], Scale) and again.layers[1].factor == 0.5


def test_lambda_layers_are_never_deserialised():
    """Keras's Lambda stores Python bytecode (CVE-2024-3660): it is only a name here, and unknown."""
    spec = {"class_name": "Lambda", "config": {"name": "evil", "function": ["4wEAAAAAAAAA", None, None],
                                               "function_type": "lambda"}}
    with pytest.raises(saving.CheckpointError, match="Lambda 'evil': the file stores this layer's `function` as a "
                                                     "Python lambda"):
        layer_from_spec(spec)


def test_short_loss_names_are_written_under_their_full_names(tmp_path):
    """Keras 3 cannot read 'mse' back from a training_config; 'mean_squared_error' it can."""
    model = Sequential([Dense(1, input_dim=2)])
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "m.h5")
    import h5py

    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert json.loads(f.attrs["training_config"])["loss"] == "mean_squared_error"
    from kerasette import losses

    assert saving.load_model(tmp_path / "m.h5").loss is losses.mean_squared_error


def test_an_integer_input_dtype_is_accepted_only_where_a_layer_takes_integers():
    """Keras 3 text models declare ``Input(dtype='int32')`` (token ids); other layers compute
    in floats and refuse an integer policy."""
    from kerasette.saving.layer_config import translate_layer_config

    config = translate_layer_config("InputLayer", {"batch_shape": [None, 5], "dtype": "int32", "name": "t"})
    assert config["dtype"] == "int32"
    with pytest.raises(saving.CheckpointError, match="dtype policy 'int32' is not supported"):
        translate_layer_config("Dense", {"units": 2, "dtype": "int32", "name": "d"})
