"""Sequential fuses Conv2D/Dense followed by Activation('relu') into one op: same values, same gradients."""

import numpy as np

import kerasette.backend as K
from kerasette.backend.tensor import Tensor
from kerasette.layers import Activation, Conv2D, Dense, Flatten
from kerasette.models import Sequential


def test_fused_relu_matches_layer_by_layer():
    K.set_seed(0)
    model = Sequential([
        Conv2D(4, (3, 3), input_shape=(2, 6, 6), data_format="channels_first", dtype="float64"),
        Activation("relu"), Flatten(), Dense(5, dtype="float64"), Activation("relu"), Dense(3, dtype="float64"),
    ])
    x = np.random.default_rng(0).normal(size=(2, 2, 6, 6))
    fused = model.call_graph([Tensor(x)], training=True)[0]
    assert fused._op.name == "dense" and fused._inputs[0]._op.name == "dense"
    assert fused._inputs[0]._op.relu  # the Activation layer was folded into the Dense op
    y = Tensor(x)
    for layer in model.layers:
        y = layer.call(y, training=True)
    np.testing.assert_allclose(fused.data, y.data, rtol=1e-12)
    K.sum(fused).backward()
    grads_fused = [w.grad.copy() for w in model.weights]
    for w in model.weights:
        w.grad = None
    K.sum(y).backward()
    for g, w in zip(grads_fused, model.weights):
        np.testing.assert_allclose(g, w.grad, rtol=1e-10, atol=1e-12)


def test_channels_first_stack_skips_transposes_but_not_results():
    from kerasette.layers import Dropout, MaxPooling2D

    K.set_seed(1)
    cf = "channels_first"
    model = Sequential([
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
    for layer in model.layers:
        y = layer.call(y, training=False)
    np.testing.assert_allclose(planned.data, y.data, rtol=1e-12)
    K.sum(planned).backward()
    grads = [w.grad.copy() for w in model.weights]
    for w in model.weights:
        w.grad = None
    K.sum(y).backward()
    for g, w in zip(grads, model.weights):
        np.testing.assert_allclose(g, w.grad, rtol=1e-10, atol=1e-12)
