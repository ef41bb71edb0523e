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
