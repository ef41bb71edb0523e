"""Users' own layers and models, written the way Keras 1, 2 and 3 document them, run unchanged:
they train on the digits to an accuracy threshold, and save and load with their predictions."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.backend import random as krandom
from kerasette.datasets import digits
from kerasette.layers import Dense, Dropout, InputSpec, Layer
from kerasette.models import Model, Sequential, load_model
from kerasette.optimizers import SGD
from kerasette.utils import to_categorical


@pytest.fixture(scope="module")
def data():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x_train = x_train.reshape(len(x_train), 64).astype("float32") / 16.0
    x_test = x_test.reshape(len(x_test), 64).astype("float32") / 16.0
    return x_train, to_categorical(y_train, 10), x_test, to_categorical(y_test, 10)


class Keras1Dense(Layer):
    """The custom layer of the Keras 1 documentation ("Writing your own Keras layers")."""

    def __init__(self, output_dim, **kwargs):
        self.output_dim = output_dim  # Keras 1 layers set attributes before the base __init__
        super().__init__(**kwargs)

    def build(self, input_shape):
        input_dim = input_shape[1]
        initial = np.random.default_rng(0).uniform(-0.1, 0.1, (input_dim, self.output_dim))
        self.W = K.variable(initial)
        self.b = K.zeros((self.output_dim,))
        self.trainable_weights = [self.W, self.b]

    def call(self, x, mask=None):
        return K.dot(x, self.W) + self.b

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        config = {"output_dim": self.output_dim}
        base_config = super().get_config()
        return dict(list(base_config.items()) + list(config.items()))


class Keras2Dense(Layer):
    """Keras 2's form: ``add_weight(name=..., shape=..., initializer=...)``, ``compute_output_shape``."""

    def __init__(self, output_dim, **kwargs):
        self.output_dim = output_dim
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[1], self.output_dim),
                                      initializer="uniform", trainable=True)
        super().build(input_shape)

    def call(self, x):
        return K.dot(x, self.kernel)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "output_dim": self.output_dim}


class Keras3Linear(Layer):
    """Keras 3's form: keyword ``add_weight``, ``call(self, inputs)``, no shape method at all."""

    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return K.dot(inputs, self.w) + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class MLP(Model):
    """A subclassed Keras 3 model: layers as attributes, ``call`` with ``training``."""

    def __init__(self, hidden=32, classes=10, **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.classes = hidden, classes
        self.dense_in = Dense(hidden, activation="relu")
        self.drop = Dropout(0.1, seed=1)
        self.dense_out = Dense(classes, activation="softmax")

    def call(self, inputs, training=False):
        return self.dense_out(self.drop(self.dense_in(inputs), training=training))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "classes": self.classes}


def _train_and_check(model, data, tmp_path, custom_objects, threshold=0.85):
    x, y, x_test, y_test = data
    model.compile(optimizer=SGD(learning_rate=0.1, momentum=0.9), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > threshold, accuracy
    model.save(tmp_path / "model.h5")
    again = load_model(tmp_path / "model.h5", custom_objects=custom_objects)
    np.testing.assert_allclose(again.predict(x_test), model.predict(x_test), rtol=1e-5, atol=1e-6)
    again.fit(x[:64], y[:64], epochs=1, verbose=0)  # compiled from the file, optimizer state included
    return again


def test_keras1_custom_layer_trains_and_round_trips(data, tmp_path):
    krandom.set_seed(0)
    model = Sequential([Dense(32, activation="relu", input_dim=64), Keras1Dense(10, name="k1"),
                        Dense(10, activation="softmax")])
    assert model.layers[1].output_shape == (None, 10)
    assert [w.shape for w in model.layers[1].trainable_weights] == [(32, 10), (10,)]
    again = _train_and_check(model, data, tmp_path, {"Keras1Dense": Keras1Dense})
    assert isinstance(again.layers[1], Keras1Dense) and again.layers[1].output_dim == 10


def test_keras2_custom_layer_trains_and_round_trips(data, tmp_path):
    krandom.set_seed(1)
    model = Sequential([Dense(32, activation="relu", input_dim=64), Keras2Dense(10),
                        Dense(10, activation="softmax")])
    _train_and_check(model, data, tmp_path, {"Keras2Dense": Keras2Dense})


def test_keras3_custom_layer_trains_and_round_trips(data, tmp_path):
    krandom.set_seed(2)
    model = Sequential([Keras3Linear(32, input_shape=(64,)), Dense(10, activation="softmax")])
    assert model.layers[0].output_shape == (None, 32)  # found by running call on probes
    again = _train_and_check(model, data, tmp_path, {"Keras3Linear": Keras3Linear})
    assert [w.name for w in again.layers[0].weights] == [f"{again.layers[0].name}/weight_0",
                                                         f"{again.layers[0].name}/weight_1"]


def test_subclassed_model_builds_on_first_call_trains_and_round_trips(data, tmp_path):
    krandom.set_seed(3)
    model = MLP(hidden=32)
    assert not model.built and model.weights == []
    again = _train_and_check(model, data, tmp_path, {"MLP": MLP})
    assert isinstance(again, MLP) and again.hidden == 32
    assert [layer.name for layer in model.layers] == [layer.name for layer in model.layers]
    assert model.count_params() == 64 * 32 + 32 + 32 * 10 + 10
    # weights alone, into a fresh instance built by calling it
    model.save_weights(tmp_path / "w.h5")
    fresh = MLP(hidden=32)
    fresh.build((None, 64))
    fresh.load_weights(tmp_path / "w.h5")
    np.testing.assert_allclose(fresh.predict(data[2]), model.predict(data[2]), rtol=1e-6)


def test_subclassed_model_without_get_config_says_how_to_save(data, tmp_path):
    class Bare(Model):
        def __init__(self):
            super().__init__()
            self.d = Dense(2)

        def call(self, inputs):
            return self.d(inputs)

    model = Bare()
    model(np.ones((1, 3), "float32"))
    with pytest.raises(NotImplementedError, match=r"Model 'bare_\d+': a subclassed model has no config unless "
                                                  r"its class defines get_config\(\); save its weights"):
        model.save(tmp_path / "bare.h5")


def test_models_nest_as_layers(data, tmp_path):
    x, y, x_test, y_test = data
    krandom.set_seed(4)
    inner = Sequential([Dense(32, activation="relu", input_dim=64)], name="features")
    outer = Sequential([inner, Dense(10, activation="softmax")])
    assert outer.weights[:2] == inner.weights and outer.count_params() == inner.count_params() + 330
    outer.compile(SGD(0.1, momentum=0.9), "categorical_crossentropy", ["accuracy"])
    outer.fit(x, y, epochs=4, verbose=0)
    assert outer.evaluate(x_test, y_test, verbose=0)[1] > 0.85
    outer.save(tmp_path / "nested.h5")
    again = load_model(tmp_path / "nested.h5")
    assert [type(layer).__name__ for layer in again.layers] == ["Sequential", "Dense"]
    np.testing.assert_array_equal(again.predict(x_test), outer.predict(x_test))
    inner.trainable = False
    assert outer.trainable_weights == outer.weights[2:]
    assert len(outer.non_trainable_weights) == 2


def test_add_weight_forms_regularizer_and_constraint():
    class Forms(Layer):
        def build(self, input_shape):
            self.a = self.add_weight("a", (2, 3))  # Keras 2 positional
            self.b = self.add_weight((3,), "ones", "b_name")  # Keras 1 positional
            self.c = self.add_weight(shape=(1,), initializer="zeros", dtype="float64", trainable=False)
            self.d = self.add_weight(shape=(2,), initializer="ones",
                                     regularizer=lambda w: K.sum(K.square(w)) * 0.5,
                                     constraint=lambda w: K.clip(w, 0.0, 0.25))

        def call(self, inputs):
            return inputs

    layer = Forms(name="forms")
    layer.build_for((None, 4))
    assert [w.name for w in layer.weights] == ["forms/a", "forms/b_name", "forms/weight_3", "forms/weight_2"]
    assert layer.c.dtype == np.float64 and layer.non_trainable_weights == [layer.c]
    np.testing.assert_array_equal(layer.b.data, np.ones(3))
    assert float(layer.losses[0].data) == pytest.approx(1.0)
    SGD(learning_rate=0.1).apply_gradients([(np.zeros(2, "float32"), layer.d)])
    np.testing.assert_array_equal(layer.d.data, [0.25, 0.25])  # the constraint ran after the update


def test_add_weight_errors_name_the_layer():
    layer = Layer(name="mine")
    with pytest.raises(TypeError, match=r"Layer 'mine': add_weight needs a `shape`"):
        layer.add_weight(name="w")
    with pytest.raises(TypeError, match=r"Layer 'mine': add_weight got unexpected argument\(s\) \['shap'\]"):
        layer.add_weight(shap=(2,))
    with pytest.raises(TypeError, match=r"Layer 'mine': add_weight got argument `shape` twice"):
        layer.add_weight((2,), shape=(2,))


def test_regularization_adds_to_the_training_loss():
    class Reg(Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 1), initializer="ones",
                                     regularizer=lambda w: K.sum(K.square(w)))

        def call(self, inputs):
            return K.dot(inputs, self.w)

    model = Sequential([Reg(input_shape=(2,))])
    model.compile(SGD(0.0), "mse")
    x, y = np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32")
    assert model.evaluate(x, y, verbose=0) == pytest.approx(2.0)  # 0 data loss + sum of squares of two ones


def test_input_spec_is_checked_once_for_every_call():
    class NeedsThree(Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.input_spec = InputSpec(ndim=2, axes={-1: 3})

        def call(self, inputs):
            return inputs

    layer = NeedsThree(name="three")
    with pytest.raises(ValueError, match=r"NeedsThree 'three': expected axis -1 of the input to have size 3, "
                                         r"received input shape \(None, 4\)"):
        layer(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"NeedsThree 'three': expected a 2-D input, received input shape "
                                         r"\(None, 3, 1\)"):
        Sequential([layer], name="s").build((None, 3, 1))


def test_call_gets_training_and_mask_only_when_it_takes_them():
    seen = {}

    class Plain(Layer):
        def call(self, inputs):
            return inputs

    class Both(Layer):
        def call(self, inputs, training=None, mask=None):
            seen["training"], seen["mask"] = training, mask
            return inputs

    x = np.ones((2, 3), "float32")
    Plain()(x, training=True)  # no TypeError
    Both()(x, training=True)
    assert seen == {"training": True, "mask": None}


def test_eager_call_on_a_built_layer_passes_training_and_the_input_mask():
    """A built layer called on a tensor with only ``training=`` (the quick way to `run`): the
    phase and the mask the tensor carries reach ``call``, the output mask is left on the result,
    and a layer whose call takes neither still runs."""
    seen = []

    class Both(Layer):
        supports_masking = True

        def call(self, inputs, training=None, mask=None):
            seen.append((training, None if mask is None else mask.tolist()))
            return inputs * 2

    class Plain(Layer):
        def call(self, inputs):
            return inputs + 1

    x = K.variable(np.ones((2, 3), "float32"))
    both, plain = Both(), Plain()
    both(x), plain(x)  # built on the first call
    mask = np.array([True, False])
    x._keras_mask = mask
    for training in (True, False, None):
        out = both(x, training=training)
        assert out._keras_mask is mask
        np.testing.assert_array_equal(out.numpy(), 2 * np.ones((2, 3)))
    np.testing.assert_array_equal(plain(x, training=True).numpy(), 2 * np.ones((2, 3)))
    assert seen[-3:] == [(True, [True, False]), (False, [True, False]), (None, [True, False])]
