"""Sequential: building, shape inference, naming, weights, summary, and the issue's VGG-like scripts."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.backend as K  # noqa: N812 - the Keras convention
from kerasette.layers import (
    Activation,
    Conv2D,
    Convolution2D,
    Dense,
    Dropout,
    Flatten,
    InputLayer,
    MaxPooling2D,
)
from kerasette.models import Sequential
from kerasette.optimizers import SGD

VGG_PARAMS = 7_998_250


def test_add_list_pop():
    model = Sequential()
    model.add(Dense(4, input_dim=3))
    assert model.built and model.output_shape == (None, 4)
    model.add(Dense(2, activation="softmax"))
    assert [layer.name for layer in model.layers] == ["dense_1", "dense_2"]
    assert model.input_shape == (None, 3) and model.output_shape == (None, 2)
    model.pop()
    assert [layer.name for layer in model.layers] == ["dense_1"]
    assert model.output_shape == (None, 4)
    model.add(Dense(5))
    assert model.output_shape == (None, 5)
    assert model.count_params() == 3 * 4 + 4 + 4 * 5 + 5


def test_pop_on_an_empty_model():
    with pytest.raises(TypeError, match="there are no layers in the model"):
        Sequential().pop()


def test_from_a_list_with_an_input_layer():
    model = Sequential([InputLayer(input_shape=(8, 8, 1)), Conv2D(4, 3), Flatten(), Dense(3)])
    assert len(model.layers) == 3  # the InputLayer is not listed, as in Keras
    assert model.input_shape == (None, 8, 8, 1)
    assert model.output_shape == (None, 3)


@pytest.mark.parametrize("first", [
    lambda: Dense(2, input_shape=(5,)),
    lambda: Dense(2, input_dim=5),
    lambda: Dense(2, batch_input_shape=(None, 5)),
])
def test_ways_to_declare_the_input_shape(first):
    model = Sequential([first()])
    assert model.input_shape == (None, 5) and model.output_shape == (None, 2)


def test_fixed_batch_size():
    model = Sequential([Dense(2, batch_input_shape=(4, 5))])
    assert model.input_shape == (4, 5) and model.output_shape == (4, 2)


def test_shape_inference_at_add_time():
    model = Sequential()
    model.add(Conv2D(8, 3, padding="same", input_shape=(10, 12, 3)))
    assert model.layers[0].built and model.layers[0].kernel.shape == (3, 3, 3, 8)
    model.add(MaxPooling2D(2))
    assert model.output_shape == (None, 5, 6, 8)
    model.add(Conv2D(4, (2, 3), strides=(1, 2)))
    assert model.output_shape == (None, 4, 2, 4)
    model.add(Flatten())
    model.add(Dense(3))
    assert model.layers[-1].kernel.shape == (32, 3)  # built at add time, before any data


def test_deferred_build_from_data():
    model = Sequential([Dense(3), Dense(2)])
    assert model.input_shape is None
    out = model.predict(np.ones((4, 6), np.float32))
    assert out.shape == (4, 2) and model.input_shape == (None, 6)
    assert model.layers[0].kernel.shape == (6, 3)


def test_unique_names_and_clear_session():
    a = Sequential([Dense(2, input_dim=2), Dense(2), Activation("relu"), Dropout(0.1)])
    assert [layer.name for layer in a.layers] == ["dense_1", "dense_2", "activation_1", "dropout_1"]
    b = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), MaxPooling2D(), Flatten(), Dense(1)])
    assert [layer.name for layer in b.layers] == ["conv2d_1", "max_pooling2d_1", "flatten_1", "dense_3"]
    assert (a.name, b.name) == ("sequential_1", "sequential_2")
    assert a.layers[0].kernel.name == "dense_1/kernel"
    K.clear_session()
    assert Dense(1).name == "dense_1"


def test_duplicate_layer_names_are_refused():
    model = Sequential([Dense(2, input_dim=2, name="same")])
    with pytest.raises(ValueError, match="already has a layer named 'same'"):
        model.add(Dense(2, name="same"))


def test_get_and_set_weights():
    a = Sequential([Dense(3, input_dim=4), Dense(2)])
    b = Sequential([Dense(3, input_dim=4), Dense(2)])
    weights = a.get_weights()
    assert [w.shape for w in weights] == [(4, 3), (3,), (3, 2), (2,)]
    x = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    assert not np.allclose(a.predict(x), b.predict(x))
    b.set_weights(weights)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    weights[0][...] = 7.0  # copies: changing them does not change the model
    assert not (a.get_weights()[0] == 7.0).any()
    with pytest.raises(ValueError, match=r"Sequential '.*': set_weights expected a list of 4 arrays, received 3"):
        b.set_weights(weights[:3])
    with pytest.raises(ValueError, match=r"weight 'dense_3/kernel' has shape \(4, 3\), received an array of "
                                         r"shape \(3, 4\)"):
        b.set_weights([np.ones((3, 4))] + weights[1:])


def test_summary_table(capsys):
    model = Sequential([Dense(3, input_dim=4, trainable=False), Dense(2)])
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "sequential_1"' in out
    assert "dense_1 (Dense)" in out and "(None, 3)" in out and "15" in out
    assert "Total params: 23" in out
    assert "Trainable params: 8" in out
    assert "Non-trainable params: 15" in out


def test_get_config_round_trip():
    model = Sequential([Conv2D(2, 3, input_shape=(6, 6, 1)), Flatten(), Dense(3, activation="softmax")])
    config = model.get_config()
    clone = Sequential.from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()


# ------------------------------------------------------------------ the scripts
def _keras1_vgg():
    """The Keras 1 documentation's VGG-like convnet, exactly as issue 2 quotes it."""
    model = Sequential()
    model.add(Convolution2D(32, 3, 3, border_mode="valid", input_shape=(3, 100, 100)))
    model.add(Activation("relu"))
    model.add(Convolution2D(32, 3, 3))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Convolution2D(64, 3, 3, border_mode="valid"))
    model.add(Activation("relu"))
    model.add(Convolution2D(64, 3, 3))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(256))
    model.add(Activation("relu"))
    model.add(Dropout(0.5))
    model.add(Dense(10))
    model.add(Activation("softmax"))
    return model


def _random_data(shape, n):
    rng = np.random.default_rng(0)
    return rng.random((n,) + shape, dtype=np.float32), np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]


def _check_trains_one_step(model, x, y, **fit_args):
    before = model.get_weights()
    history = model.fit(x, y, verbose=0, **fit_args)
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)]
    assert all(changed), f"weights that did not change: {[i for i, c in enumerate(changed) if not c]}"


def test_keras1_vgg_script_channels_first(capsys):
    K.set_image_data_format("channels_first")
    with pytest.warns(DeprecationWarning):
        model = _keras1_vgg()
        sgd = SGD(lr=0.1, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss="categorical_crossentropy", optimizer=sgd)
    assert model.count_params() == VGG_PARAMS
    assert model.layers[0].output_shape == (None, 32, 98, 98)
    assert model.layers[12].output_shape == (None, 64 * 22 * 22)
    model.summary()
    assert "Total params: 7,998,250" in capsys.readouterr().out
    x, y = _random_data((3, 100, 100), 4)
    _check_trains_one_step(model, x, y, batch_size=32, nb_epoch=1)
    assert sgd.iterations == 1


def test_keras1_vgg_script_with_dim_ordering_th():
    with pytest.warns(DeprecationWarning, match="set_image_dim_ordering is the Keras 1 name"):
        K.set_image_dim_ordering("th")
    assert K.image_data_format() == "channels_first" and K.image_dim_ordering() == "th"
    with pytest.warns(DeprecationWarning):
        model = _keras1_vgg()
        model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.1, decay=1e-6, momentum=0.9,
                                                                     nesterov=True))
    assert model.count_params() == VGG_PARAMS
    assert all(layer.data_format == "channels_first" for layer in model.layers if hasattr(layer, "data_format")
               and not isinstance(layer, Flatten))
    _check_trains_one_step(model, *_random_data((3, 100, 100), 2), batch_size=32, nb_epoch=1)


def test_keras2_vgg_script_channels_last():
    model = Sequential([
        InputLayer(input_shape=(100, 100, 3)),
        Conv2D(32, (3, 3), padding="valid", activation="relu"),
        Conv2D(32, (3, 3), activation="relu"),
        MaxPooling2D(pool_size=(2, 2)),
        Dropout(0.25),
        Conv2D(64, (3, 3), padding="valid", activation="relu"),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D(pool_size=(2, 2)),
        Dropout(0.25),
        Flatten(),
        Dense(256, activation="relu"),
        Dropout(0.5),
        Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
                  metrics=["accuracy"])
    assert model.count_params() == VGG_PARAMS
    assert model.output_shape == (None, 10)
    _check_trains_one_step(model, *_random_data((100, 100, 3), 2), batch_size=32, epochs=1)


def test_keras2_vgg_with_per_layer_channels_first():
    cf = {"data_format": "channels_first"}
    model = Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(3, 100, 100), **cf),
        Conv2D(32, (3, 3), activation="relu", **cf),
        MaxPooling2D(pool_size=(2, 2), **cf),
        Conv2D(64, (3, 3), activation="relu", **cf),
        Conv2D(64, (3, 3), activation="relu", **cf),
        MaxPooling2D(pool_size=(2, 2), **cf),
        Flatten(),
        Dense(256, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    assert K.image_data_format() == "channels_last"  # the global default is untouched
    assert model.count_params() == VGG_PARAMS
    assert model.layers[5].output_shape == (None, 64, 22, 22)
    out = model.predict(np.random.default_rng(0).random((1, 3, 100, 100), dtype=np.float32))
    assert out.shape == (1, 10)
    np.testing.assert_allclose(out.sum(), 1.0, rtol=1e-5)
