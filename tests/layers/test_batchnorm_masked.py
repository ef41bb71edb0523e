"""BatchNormalization with a sequence's mask in training: the batch statistics over the unmasked
positions only, as Keras 3 does. Checked against Keras 3.15.1's outputs, moving statistics and
gradients (``masking_golden/make_batchnorm_golden.py``), by central differences in float64, and
through a model whose mask comes from ``Embedding(mask_zero=True)``."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from kerasette import activations, layers
from kerasette.backend import ops
from kerasette.backend.tensor import Tensor
from kerasette.models import Model, Sequential
from tests.helpers import check_gradients

GOLDEN = np.load(pathlib.Path(__file__).parent / "masking_golden" / "batchnorm_masked.npz")
SETTINGS = {"sequence": dict(momentum=0.8), "plane": dict(momentum=0.5, epsilon=1e-2),
            "no_scale_center": dict(momentum=0.9, scale=False, center=False)}


def _reference(x, mask, epsilon):
    """Keras 3's masked moments, written plainly in float64: (normalized x, mean, variance)."""
    x = x.astype(np.float64)
    w = np.broadcast_to(mask[..., None], x.shape).astype(np.float64)
    axes = tuple(range(x.ndim - 1))
    n = w.sum(axes) + 1e-7
    mean = (w * x).sum(axes) / n
    var = (w * (x - mean) ** 2).sum(axes) / n
    return (x - mean) / np.sqrt(var + epsilon), mean, var


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_masked_training_matches_keras3(case):
    g = {k[: -len(case) - 1]: GOLDEN[k] for k in GOLDEN.files if k.endswith("_" + case)}
    x, mask, r = g["x"], g["mask"], g["r"]
    layer = layers.BatchNormalization(**SETTINGS[case])
    layer.build(x.shape)
    layer.set_weights([GOLDEN[f"w_{case}_{i}"] for i in range(len(layer.weights))])
    xt = Tensor(x, requires_grad=True)
    y = layer(xt, training=True, mask=mask)
    np.testing.assert_allclose(y.data, g["y"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.data, g["moving_mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.data, g["moving_variance"], rtol=1e-5, atol=1e-6)
    ops.sum(ops.multiply(y, r)).backward()
    np.testing.assert_allclose(xt.grad, g["dx"], rtol=1e-4, atol=1e-5)
    for name in ("gamma", "beta"):
        if f"d{name}" in g:
            np.testing.assert_allclose(getattr(layer, name).grad, g[f"d{name}"], rtol=1e-4, atol=1e-5)


def test_masked_statistics_ignore_the_masked_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    mask = rng.random((3, 5)) > 0.4
    garbage = x.copy()
    garbage[~mask] = 1e4  # padded steps hold anything: nothing of them reaches the statistics
    layer = layers.BatchNormalization(momentum=0.0, epsilon=1e-3)
    y = layer(garbage, training=True, mask=mask)
    expected, mean, var = _reference(x, mask, 1e-3)
    np.testing.assert_allclose(y.data[mask], expected[mask], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.data, mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.data, var, rtol=1e-5)


def test_mask_changes_nothing_in_inference():
    x = np.random.default_rng(1).normal(size=(2, 4, 3)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 1]], bool)
    layer = layers.BatchNormalization()
    layer.build(x.shape)
    np.testing.assert_array_equal(layer(x, mask=mask).data, layer(x).data)


@pytest.mark.parametrize("shape", [(3, 4, 2), (2, 3, 2, 3)])
@pytest.mark.parametrize("relu", [False, True])
def test_masked_gradients_float64(shape, relu):
    rng = np.random.default_rng(2)
    x = rng.normal(size=shape) * 1.5 + 0.3
    mask = rng.random(shape[:-1]) > 0.3
    mask.reshape(-1)[:2] = [False, True]
    gamma, beta = rng.normal(size=shape[-1:]), rng.normal(size=shape[-1:])
    axes = tuple(range(len(shape) - 1))
    if relu:  # keep the outputs away from the ReLU's kink
        y = _reference(x, mask, 1e-3)[0] * gamma + beta
        beta = beta + np.where(np.abs(y).min(axis=axes) < 0.05, 0.2, 0.0)
    check_gradients(lambda xt, g, b: ops.batch_normalization(xt, g, b, axes, 1e-3, relu=relu, mask=mask)[0],
                    [x, gamma, beta], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("relu", [False, True], ids=["", "then-relu"])
def test_embedding_mask_reaches_batch_normalization_in_a_model(relu):
    """Through the model's planner, also when a ReLU follows (a step it may fuse)."""
    tokens = np.array([[3, 1, 2, 0, 0], [4, 4, 0, 0, 0]])
    model = Sequential([layers.Input((5,)), layers.Embedding(6, 2, mask_zero=True),
                        layers.BatchNormalization(momentum=0.0, name="bn"),
                        *([layers.Activation("relu")] if relu else []), layers.LSTM(1)])
    embedded = model.layers[0](tokens).data
    model.compile("sgd", "mse")
    model.train_on_batch(tokens, np.zeros((2, 1), "float32"))
    _, mean, var = _reference(embedded, tokens != 0, 1e-3)
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.data, mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bn.moving_variance.data, var, rtol=1e-5, atol=1e-7)


def test_fused_relu_keeps_the_mask():
    x = np.random.default_rng(3).normal(size=(2, 4, 3)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 1]], bool)
    layer = layers.BatchNormalization()
    layer.build(x.shape)
    y = layer.call_with_activation(Tensor(x), activations.relu, True, mask=mask)
    np.testing.assert_allclose(y.data, np.maximum(_reference(x, mask, 1e-3)[0], 0), rtol=1e-5, atol=1e-5)


def test_mask_of_the_wrong_shape_is_an_error():
    layer = layers.BatchNormalization(name="bn")
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': the mask must have the input's shape without "
                                         r"its last axis; received mask of shape \(2, 4, 3\) for an input of "
                                         r"shape \(2, 4, 3\)"):
        layer(np.zeros((2, 4, 3), "float32"), training=True, mask=np.ones((2, 4, 3), bool))


def test_model_with_masked_batch_normalization_trains():
    inp = layers.Input((5,))
    h = layers.BatchNormalization()(layers.Embedding(6, 3, mask_zero=True)(inp))
    model = Model(inp, layers.Dense(1)(layers.LSTM(2)(h)))
    model.compile("adam", "mse")
    tokens = np.array([[3, 1, 2, 0, 0], [4, 4, 0, 0, 0], [1, 2, 3, 4, 5]])
    model.fit(tokens, np.ones((3, 1)), epochs=2, verbose=0)
    assert np.isfinite(model.predict(tokens, verbose=0)).all()


def test_masked_batch_normalization_fused_with_relu_in_a_model_uses_the_mask():
    """A masked BatchNormalization followed by Activation('relu') runs as one fused step in a
    functional model; the mask still reaches it (statistics over the unmasked steps)."""
    from kerasette.models.planner import Plan

    inp = layers.Input((5,), dtype="int32")
    emb = layers.Embedding(10, 4, mask_zero=True)(inp)
    out = layers.Activation("relu")(layers.BatchNormalization(momentum=0.0)(emb))
    model = Model(inp, out)
    assert any(s.fused is not None for s in Plan([inp], [out]).steps)
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    model(x, training=True)
    values = model.layers[1].embeddings.data[x[x > 0]]
    bn = model.layers[2]
    np.testing.assert_allclose(bn.moving_mean.data, values.mean(axis=0), rtol=1e-5, atol=1e-6)
