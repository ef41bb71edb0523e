"""The Lambda layer in scripts: Sequential and functional models, list inputs, inferred and
declared output shapes, ``arguments``, ``training`` and ``mask``, gradients through the function,
its config (Keras 3's forms), and its errors. Files are in ``tests/saving/test_keras3_lambda.py``."""

from __future__ import annotations

import base64
import json
import marshal

import numpy as np
import pytest

from kerasette import backend as K
from kerasette.layers import Dense, Input, Lambda
from kerasette.models import Model, Sequential, load_model
from kerasette.optimizers import SGD


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def test_a_sequential_model_with_a_lambda_trains_through_it():
    first = Dense(4, input_dim=3)
    model = Sequential([first, Lambda(lambda t: K.tanh(t) * 2.0), Dense(1)])
    assert model.layers[1].output_shape == (None, 4)
    model.compile(SGD(learning_rate=0.1), "mse")
    x, y = _rand(16, 3), _rand(16, 1, seed=1)
    before = first.get_weights()[0]
    losses = [model.train_on_batch(x, y) for _ in range(10)]
    assert losses[-1] < losses[0]
    assert not np.array_equal(before, first.get_weights()[0])  # the gradient went through the function


def test_a_lambda_over_a_list_of_inputs_in_a_functional_model():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    out = Lambda(lambda xs: K.concatenate([xs[0] * xs[1], xs[0] - xs[1]], axis=-1))([a, b])
    assert out.shape == (None, 6)
    xa, xb = _rand(2, 3, seed=1), _rand(2, 3, seed=2)
    np.testing.assert_allclose(Model([a, b], out).predict([xa, xb]), np.concatenate([xa * xb, xa - xb], -1),
                               rtol=1e-6)


def test_output_shapes_inferred_declared_and_computed():
    inferred = Lambda(lambda t: K.sum(t, axis=1))
    assert inferred.compute_output_shape((None, 3, 4)) == (None, 4)
    assert inferred.compute_output_shape((None, None, 4)) == (None, 4)
    declared = Lambda(lambda t: t[:, :2], output_shape=(2,))
    assert declared.compute_output_shape((7, 5)) == (7, 2)
    computed = Lambda(lambda t: t, output_shape=lambda s: (s[0], s[1] * 1))
    assert computed.compute_output_shape((None, 5)) == (None, 5)


def test_arguments_training_and_mask_reach_the_function():
    seen = {}

    def fn(x, scale, training=None, mask=None):
        seen["training"], seen["mask"] = training, mask
        return x * scale

    layer = Lambda(fn, arguments={"scale": 3.0}, mask=lambda inputs, mask: mask)
    x = _rand(2, 3)
    np.testing.assert_allclose(layer(x, training=True).data, 3 * x)
    assert seen == {"training": True, "mask": None}
    model = Sequential([Input(shape=(3,)), layer])
    model.compile(SGD(0.1), "mse")
    model.predict(x)
    assert seen["training"] is False
    model.train_on_batch(x, x)
    assert seen["training"] is True
    assert layer.compute_mask(x, "m") == "m" and Lambda(fn, mask=[True]).compute_mask(x) == [True]


def test_the_config_is_keras3s():
    scale = 2.5
    anon = Lambda(lambda t, bias=1.0: t * scale + bias, output_shape=(3,), name="anon")
    config = anon.get_config()
    stored = config["function"]
    assert stored["class_name"] == "__lambda__"
    code = anon.function.__code__
    assert base64.decodebytes(stored["config"]["code"].encode("ascii")) == marshal.dumps(code)
    assert stored["config"]["defaults"] == [1.0] and stored["config"]["closure"] == [2.5]
    assert config["output_shape"] == [3] and config["arguments"] == {}
    json.dumps(config)

    table = np.arange(3, dtype="float32")
    named = Lambda(K.tanh, arguments={"table": table, "pair": (1, 2)}, name="named")
    config = named.get_config()
    assert config["function"]["class_name"] == "function"
    assert config["arguments"]["table"] == {"class_name": "__numpy__",
                                            "config": {"value": [0.0, 1.0, 2.0], "dtype": "float32"}}
    clone = Lambda.from_config(json.loads(json.dumps(config)), custom_objects={config["function"]["config"]: K.tanh})
    np.testing.assert_array_equal(clone.arguments["table"], table)
    assert clone.arguments["table"].dtype == np.float32 and clone.arguments["pair"] == [1, 2]

    unserialisable = object()
    closure = Lambda(lambda t: t if unserialisable else t).get_config()["function"]["config"]
    assert closure["closure"] is None  # not plain data: Keras 3 could not rebuild it either


def test_a_lambda_is_found_again_under_its_layer_name(tmp_path):
    model = Sequential([Dense(2, input_dim=3), Lambda(lambda t: t * 2.0, name="double")])
    model.save(tmp_path / "m.h5")
    x = _rand(2, 3)
    with pytest.raises(ValueError, match=r"Lambda 'double': the file stores this layer's `function` as a Python "
                                         r"lambda .*custom_objects=\{'double': your_function\}"):
        load_model(tmp_path / "m.h5", compile=False)
    again = load_model(tmp_path / "m.h5", custom_objects={"double": lambda t: t * 2.0}, compile=False)
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=1e-6)


def test_lambda_errors():
    with pytest.raises(ValueError, match=r"Lambda 'l1': argument `function` must be callable; received "
                                         r"function='x \* 2'"):
        Lambda("x * 2", name="l1")
    with pytest.raises(ValueError, match=r"Lambda 'l2': argument `output_shape` must be a tuple of sizes \(without "
                                         r"the batch axis\) or a function of the input shape; received "
                                         r"output_shape='3'"):
        Lambda(lambda t: t, output_shape="3", name="l2")
    with pytest.raises(ValueError, match=r"Lambda 'l3': argument `arguments` must be a dict of keyword arguments; "
                                         r"received arguments=\[1\]"):
        Lambda(lambda t: t, arguments=[1], name="l3")
    broken = Lambda(lambda t: K.reshape(t, (-1, 7)), name="l4")
    with pytest.raises(ValueError, match=r"Lambda 'l4': cannot infer the output shape by running the function on "
                                         r"zeros of input shape \(None, 3\) \(ValueError: .*\); pass "
                                         r"output_shape=\.\.\. \(the shape without the batch axis\)"):
        broken.compute_output_shape((None, 3))


def test_a_built_in_activation_is_saved_as_keras_s_and_found_without_custom_objects():
    from kerasette import activations

    layer = Lambda(activations.relu, name="r")
    config = layer.get_config()
    assert config["function"] == {"module": "keras.activations", "class_name": "function", "config": "relu",
                                  "registered_name": "function"}
    assert Lambda.from_config(json.loads(json.dumps(config))).function is activations.relu
