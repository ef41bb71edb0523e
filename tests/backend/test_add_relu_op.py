"""``ops.add_relu`` on tensors (`nn._add_relu_tensors`: `apply` written out) records exactly what
`apply` records, and the residual Add layer with a ReLU takes it."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import activations
from kerasette.backend import autograd, ops
from kerasette.backend.ops.nn import AddRelu
from kerasette.backend.tensor import Tensor, Variable, no_grad
from kerasette.layers.merge import Add


def _inputs(dtype=np.float32, shape=(2, 5, 4, 3)):
    rng = np.random.default_rng(0)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("grads", [(True, True), (False, True), (True, False), (False, False)])
def test_tensors_recorded_as_apply_records(grads):
    a, b = _inputs()
    ta, tb = (Variable(v) if g else Tensor(v) for v, g in zip((a, b), grads))
    out = ops.add_relu(ta, tb)
    assert type(out) is Tensor and out.data.dtype == np.float32
    np.testing.assert_array_equal(out.data, np.maximum(a + b, 0))
    assert out.requires_grad is any(grads)
    if not any(grads):
        assert out._op is None and out._inputs == ()
        return
    assert isinstance(out._op, AddRelu) and out._op.needs_grad == grads and out._inputs == (ta, tb)
    autograd.backward(out, np.ones(out.shape, np.float32))
    for tensor, needs in zip((ta, tb), grads):
        if needs:
            np.testing.assert_array_equal(tensor.grad, (a + b > 0).astype(np.float32))


def test_nothing_recorded_without_grad_mode():
    a, b = _inputs()
    with no_grad():
        out = ops.add_relu(Variable(a), Variable(b))
    assert out._op is None and not out.requires_grad


def test_arrays_and_numbers_still_wrapped():
    a, b = _inputs(np.float64)
    np.testing.assert_array_equal(ops.add_relu(a, Tensor(b)).data, np.maximum(a + b, 0))
    out = ops.add_relu(Tensor(a), 1.5)
    assert out.data.dtype == np.float64
    np.testing.assert_array_equal(out.data, np.maximum(a + 1.5, 0))


def test_add_layer_with_relu_pairs_and_ranks():
    """Two inputs of one rank go to the op straight away; three, or ranks that differ (axes of
    size 1 inserted after the batch axis), take the general path: the same values."""
    a, b = _inputs(shape=(2, 4, 3))
    layer = Add()
    pair = layer.call_with_activation([Variable(a), Variable(b)], activations.relu, training=True)
    assert isinstance(pair._op, AddRelu)
    np.testing.assert_array_equal(pair.data, np.maximum(a + b, 0))
    three = layer.call_with_activation([Tensor(a), Tensor(b), Tensor(a)], activations.relu, training=True)
    np.testing.assert_array_equal(three.data, np.maximum(a + b + a, 0))
    low = layer.call_with_activation([Tensor(a), Tensor(b[:, 0])], activations.relu, training=True)
    np.testing.assert_array_equal(low.data, np.maximum(a + b[:, None, 0], 0))
