"""The activation catalogue: numpy references, Keras 3 golden values, names and planner facts."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import kerasette.backend as K
from kerasette import activations
from kerasette.backend.tensor import Tensor
from tests.backend.activation_op_cases import gelu_reference, relu_reference

GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "golden_functions", "functions.npz"))
X = GOLDEN["x"]


def _softplus(x):
    return np.logaddexp(0, x)


def _log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)

# name -> (kerasette call, numpy reference)
CASES = {
    "relu": (activations.relu, lambda x: np.maximum(x, 0)),
    "relu_options": (lambda x: activations.relu(x, negative_slope=0.1, max_value=2.5, threshold=-1.0),
                     lambda x: relu_reference(x, 0.1, 2.5, -1.0)),
    "relu_threshold": (lambda x: activations.relu(x, threshold=0.5), lambda x: relu_reference(x, threshold=0.5)),
    "relu_max": (lambda x: activations.relu(x, max_value=3.0), lambda x: np.clip(x, 0, 3)),
    "relu_slope": (lambda x: activations.relu(x, alpha=0.3), lambda x: np.where(x > 0, x, 0.3 * x)),
    "leaky_relu": (activations.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x)),
    "relu6": (activations.relu6, lambda x: np.clip(x, 0, 6)),
    "elu": (activations.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    "elu_alpha": (lambda x: activations.elu(x, alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    "selu": (activations.selu, lambda x: SELU[1] * np.where(x > 0, x, SELU[0] * np.expm1(x))),
    "gelu": (activations.gelu, gelu_reference),
    "gelu_approximate": (lambda x: activations.gelu(x, approximate=True), lambda x: gelu_reference(x, True)),
    "silu": (activations.silu, lambda x: x / (1 + np.exp(-x))),
    "swish": (activations.get("swish"), lambda x: x / (1 + np.exp(-x))),
    "hard_sigmoid": (activations.hard_sigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    "hard_swish": (activations.get("hard_swish"), lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
    "hard_silu": (activations.hard_silu, lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
    "softplus": (activations.softplus, _softplus),
    "softsign": (activations.softsign, lambda x: x / (1 + np.abs(x))),
    "mish": (activations.mish, lambda x: x * np.tanh(_softplus(x))),
    "log_softmax": (activations.log_softmax, _log_softmax),
    "softmax": (activations.softmax, lambda x: np.exp(_log_softmax(x))),
    "exponential": (lambda x: activations.exponential(np.clip(x, -7, 7)), lambda x: np.exp(np.clip(x, -7, 7))),
    "sigmoid": (activations.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "tanh": (activations.tanh, np.tanh),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_matches_numpy_and_keras3(name):
    fn, reference = CASES[name]
    out = fn(Tensor(X.copy(), dtype="float64")).data
    np.testing.assert_allclose(out, reference(X), rtol=1e-12, atol=1e-12)
    # Keras 3.15 (torch backend), float64 inputs: see tests/golden_functions/make_golden.py
    np.testing.assert_allclose(out, GOLDEN[f"activation/{name}"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_in_float32_stays_float32(name):
    out = CASES[name][0](Tensor(X.astype(np.float32)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, GOLDEN[f"activation/{name}"], rtol=2e-5, atol=2e-5)


NAMES = ["elu", "selu", "gelu", "swish", "silu", "hard_sigmoid", "hard_swish", "hard_silu", "leaky_relu",
         "relu6", "softplus", "softsign", "mish", "log_softmax", "exponential", "relu"]


@pytest.mark.parametrize("name", NAMES)
def test_names_resolve_and_serialize(name):
    fn = activations.get(name)
    assert activations.get(activations.serialize(fn)) is fn
    assert activations.get({"class_name": "function", "config": name}) is fn


def test_aliases_save_under_keras3_names():
    assert activations.serialize(activations.get("swish")) == "silu"
    assert activations.serialize(activations.get("hard_swish")) == "hard_silu"


def test_elementwise_facts():
    for name in NAMES:
        assert activations.get(name).elementwise is (name != "log_softmax"), name
    assert activations.softmax.elementwise is False


def test_gradients_flow_through_composite_activations():
    from tests.helpers import check_gradients, spaced

    rng = np.random.default_rng(5)
    for fn in (activations.selu, activations.silu, activations.mish, activations.get("hard_swish"),
               activations.leaky_relu, activations.relu6, lambda x: activations.log_softmax(x)):
        check_gradients(fn, [spaced((3, 4), rng, -5, 5, avoid=(0.0, -3.0, 3.0), margin=1e-2)])


def test_backend_relu_and_keras2_hard_sigmoid():
    x = np.array([-4.0, -1.0, 0.5, 2.0, 7.0])
    np.testing.assert_allclose(K.relu(x, alpha=0.1, max_value=6.0).data, [-0.4, -0.1, 0.5, 2.0, 6.0])
    np.testing.assert_allclose(K.relu(x).data, np.maximum(x, 0))
    np.testing.assert_allclose(K.hard_sigmoid(x).data, np.clip(0.2 * x + 0.5, 0, 1))
    np.testing.assert_allclose(activations.hard_sigmoid(x, slope=0.2).data, np.clip(0.2 * x + 0.5, 0, 1))
    np.testing.assert_allclose(K.elu(x, 0.5).data, np.where(x > 0, x, 0.5 * np.expm1(x)))


def test_backend_relu_on_a_placeholder():
    x = K.placeholder(shape=(None, 3))
    f = K.function([x], [K.relu(x, alpha=0.5)])
    np.testing.assert_allclose(f([np.array([[-2.0, 0.5, 1.0]])])[0], [[-1.0, 0.5, 1.0]])


def test_gelu_in_a_dense_layer_trains():
    from kerasette.layers import Dense
    from kerasette.models import Sequential

    model = Sequential([Dense(4, activation="gelu", input_dim=3), Dense(1, activation="mish")])
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).standard_normal((16, 3)).astype("float32")
    loss = model.train_on_batch(x, np.zeros((16, 1), "float32"))
    assert math.isfinite(float(np.asarray(loss).ravel()[0]))
