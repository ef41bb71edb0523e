"""Every model (Sequential and functional alike, through one planner) fuses Conv2D/Dense followed
by Activation('relu') into one op, and keeps channels-first stacks channels-last between layers:
same values, same gradients."""

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.backend.tensor import Tensor
from kerasette.layers import Activation, Conv2D, Dense, Flatten, Input
from kerasette.models import Model, Sequential


def _build(kind, layers):
    """The same stack as a Sequential or as a functional Model."""
    if kind == "sequential":
        return Sequential(layers)
    x = inp = Input(batch_shape=layers[0].batch_input_shape)
    for layer in layers:
        x = layer(x)
    return Model(inp, x)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_fused_relu_matches_layer_by_layer(kind):
    K.set_seed(0)
    model = _build(kind, [
        Conv2D(4, (3, 3), input_shape=(2, 6, 6), data_format="channels_first", dtype="float64"),
        Activation("relu"), Flatten(), Dense(5, dtype="float64"), Activation("relu"), Dense(3, dtype="float64"),
    ])
    x = np.random.default_rng(0).normal(size=(2, 2, 6, 6))
    fused = model.call_graph([Tensor(x)], training=True)[0]
    assert fused._op.name == "dense" and fused._inputs[0]._op.name == "dense"
    assert fused._inputs[0]._op.relu  # the Activation layer was folded into the Dense op
    y = Tensor(x)
    for layer in _own_layers(model):
        y = layer.run(y, training=True)
    np.testing.assert_allclose(fused.data, y.data, rtol=1e-12)
    K.sum(fused).backward()
    grads_fused = [w.grad.copy() for w in model.weights]
    for w in model.weights:
        w.grad = None
    K.sum(y).backward()
    for g, w in zip(grads_fused, model.weights):
        np.testing.assert_allclose(g, w.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_channels_first_stack_skips_transposes_but_not_results(kind):
    from kerasette.layers import Dropout, MaxPooling2D

    K.set_seed(1)
    cf = "channels_first"
    model = _build(kind, [
        Conv2D(3, (3, 3), input_shape=(2, 9, 8), data_format=cf, dtype="float64"), Activation("relu"),
        Conv2D(4, (2, 2), padding="same", data_format=cf, activation="tanh", dtype="float64"),
        MaxPooling2D((2, 2), data_format=cf), Dropout(0.5),
        Flatten(data_format=cf), Dense(3, dtype="float64"),
    ])
    x = np.random.default_rng(2).normal(size=(3, 2, 9, 8))
    planned = model.call_graph([Tensor(x)], training=False)[0]
    transposes = 0
    stack = [planned]
    while stack:
        t = stack.pop()
        transposes += t._op is not None and t._op.name == "transpose"
        stack.extend(t._inputs)
    assert transposes == 0  # the input's (not recorded: it needs no gradient); none between layers
    y = Tensor(x)
    for layer in _own_layers(model):
        y = layer.run(y, training=False)
    np.testing.assert_allclose(planned.data, y.data, rtol=1e-12)
    K.sum(planned).backward()
    grads = [w.grad.copy() for w in model.weights]
    for w in model.weights:
        w.grad = None
    K.sum(y).backward()
    for g, w in zip(grads, model.weights):
        np.testing.assert_allclose(g, w.grad, rtol=1e-10, atol=1e-12)


def _own_layers(model):
    """The model's layers without its InputLayer (a functional model lists it)."""
    return [layer for layer in model.layers if layer.weights or type(layer).__name__ != "InputLayer"]


def test_activation_is_not_fused_when_the_layer_output_is_also_read_elsewhere():
    from kerasette.layers import Add

    K.set_seed(2)
    inp = Input(shape=(4,))
    h = Dense(4, dtype="float64")(inp)
    out = Add()([Activation("relu")(h), h])  # h is read twice: the ReLU must not overwrite it
    model = Model(inp, out)
    x = np.random.default_rng(3).normal(size=(5, 4))
    k, b = model.layers[1].get_weights()
    pre = x @ k + b
    np.testing.assert_allclose(model.predict(x), np.maximum(pre, 0) + pre, rtol=1e-6)
