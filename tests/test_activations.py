"""Activations by name and by callable."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import activations
from kerasette.backend.tensor import Tensor

X = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0]], np.float32)

EXPECTED = {
    "linear": X,
    "relu": np.maximum(X, 0),
    "sigmoid": 1 / (1 + np.exp(-X)),
    "tanh": np.tanh(X),
    "softmax": np.exp(X) / np.exp(X).sum(axis=-1, keepdims=True),
    "softplus": np.log1p(np.exp(X)),
    "softsign": X / (1 + np.abs(X)),
    "exponential": np.exp(X),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_activation_by_name(name):
    fn = activations.get(name)
    out = fn(Tensor(X))
    np.testing.assert_allclose(np.asarray(out.data if isinstance(out, Tensor) else out), EXPECTED[name],
                               rtol=1e-6, atol=1e-7)
    assert activations.serialize(fn) == name


def test_none_is_linear_and_callables_pass_through():
    assert activations.get(None) is activations.linear

    def custom(x):
        return x

    assert activations.get(custom) is custom
    assert activations.serialize(custom) == "custom"


def test_softmax_is_stable_for_large_inputs():
    out = activations.softmax(Tensor(np.array([[1000.0, 0.0]], np.float32))).data
    np.testing.assert_allclose(out, [[1.0, 0.0]])
