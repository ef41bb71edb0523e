"""BatchNormalization folded into the Conv2D or Dense before it at inference (the planner's
folding): the same predictions as running the layers one by one, in Sequential and functional
models and both data formats; never in training; never when another layer reads the
convolution's output; never stale after the weights change; the ReLU after it still fused."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.backend.tensor import Tensor
from kerasette.layers import Activation, BatchNormalization, Conv2D, Dense, Flatten, Input, add
from kerasette.models import Model, Sequential
from kerasette.models.planner import Plan


def _randomize_batchnorms(model, rng):
    """Statistics and scales far from the initial ones, so that a missed fold shows."""
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):  # a test may know the types
            c = layer.moving_mean.shape
            layer.set_weights([rng.uniform(0.5, 2, c), rng.standard_normal(c), rng.standard_normal(c) * 0.5,
                               rng.uniform(0.2, 3, c)])


def _stack(data_format):
    cf = data_format == "channels_first"
    shape = (3, 10, 9) if cf else (10, 9, 3)
    axis = 1 if cf else -1
    return [Conv2D(6, 3, padding="same", data_format=data_format, input_shape=shape),
            BatchNormalization(axis=axis), Activation("relu"),
            Conv2D(5, 3, strides=2, use_bias=False, data_format=data_format), BatchNormalization(axis=axis),
            Flatten(data_format=data_format), Dense(7), BatchNormalization(), Activation("relu"), Dense(2)]


def _model(kind, layers):
    if kind == "sequential":
        return Sequential(layers)
    x = inp = Input(batch_shape=layers[0].batch_input_shape)
    for layer in layers:
        x = layer(x)
    return Model(inp, x)


def _unfolded(model, x):
    """The model's inference outputs with no folding (the planner without it)."""
    return Plan(model.inputs, model.outputs, fold=False).run([Tensor(x)], training=False)[0].data


def _op_names(tensor):
    names, stack, seen = [], [tensor], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._op is not None:
            names.append(t._op.name)
        stack.extend(t._inputs)
    return names


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_folded_predictions_equal_unfolded(kind, data_format):
    K.set_seed(0)
    model = _model(kind, _stack(data_format))
    rng = np.random.default_rng(0)
    _randomize_batchnorms(model, rng)
    x = rng.standard_normal((96,) + model.input_shape[1:]).astype("float32")  # the Dense's fold pays from 81
    plan = Plan(model.inputs, model.outputs)
    assert sum(step.fold is not None for step in plan.inference_steps) == 3  # every BN folded
    assert not any(step.fold is not None for step in plan.steps)
    expected = _unfolded(model, x)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model(x, training=False).data, expected, rtol=1e-5, atol=1e-5)
    model.compile(loss="mse", optimizer="sgd")
    target = rng.standard_normal(expected.shape).astype("float32")
    loss = model.evaluate(x, target, verbose=0)
    np.testing.assert_allclose(loss, np.mean((expected - target) ** 2), rtol=1e-5)
    # the graph of a folded call has no batch normalization and the ReLU runs inside the convolution
    names = _op_names(model(x, training=False))
    assert not any(n.startswith("batch_normalization") for n in names)
    assert "relu" not in names


def test_a_fold_is_made_from_the_batch_size_where_it_pays():
    """Folding into a Dense of 300 inputs costs a pass over its 300 x 4 kernel, running the
    normalization a pass over batch x 4 values: folded from a batch of 301 (weights and bias)."""
    model = Sequential([Dense(4, input_shape=(300,)), BatchNormalization()])
    _randomize_batchnorms(model, np.random.default_rng(7))
    plan = Plan(model.inputs, model.outputs)
    for batch, folded in [(8, False), (300, False), (301, True)]:
        x = Tensor(np.random.default_rng(batch).standard_normal((batch, 300)).astype("float32"))
        y = plan.run([x], training=False)[0]
        assert (not any(n.startswith("batch_normalization") for n in _op_names(y))) == folded
        np.testing.assert_allclose(y.data, _unfolded(model, x.data), rtol=1e-5, atol=1e-5)


def test_the_relu_after_a_folded_batchnorm_stays_fused():
    model = Sequential([Conv2D(4, 3, input_shape=(6, 6, 2)), BatchNormalization(), Activation("relu")])
    plan = Plan(model.inputs, model.outputs)
    conv_step = plan.inference_steps[0]
    assert conv_step.fold is not None and conv_step.fused is not None
    assert all(step.alias_of is not None for step in plan.inference_steps[1:])


def test_gradients_through_a_folded_model_equal_the_unfolded_ones():
    K.set_seed(1)
    model = Sequential([Conv2D(3, 3, input_shape=(5, 5, 2), dtype="float64"), BatchNormalization(dtype="float64"),
                        Activation("relu"), Flatten(), Dense(2, dtype="float64")])
    _randomize_batchnorms(model, np.random.default_rng(1))
    x = Tensor(np.random.default_rng(2).standard_normal((3, 5, 5, 2)))
    grads = []
    for fold in (True, False):
        y = Plan(model.inputs, model.outputs, fold=fold).run([x], training=False)[0]
        for w in model.weights:
            w.grad = None
        K.sum(y * y).backward()
        grads.append([None if w.grad is None else w.grad.copy() for w in model.weights])
    for folded, plain in zip(*grads):
        assert (folded is None) == (plain is None)
        if folded is not None:
            np.testing.assert_allclose(folded, plain, rtol=1e-9, atol=1e-12)


def test_no_folding_in_training():
    K.set_seed(2)
    model = Sequential([Conv2D(4, 3, input_shape=(6, 6, 2)), BatchNormalization(momentum=0.5)])
    x = np.random.default_rng(3).standard_normal((5, 6, 6, 2)).astype("float32")
    y = model.call_graph([Tensor(x)], training=True)[0]
    assert "batch_normalization" in _op_names(y)
    out = y.data.reshape(-1, 4)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)  # batch statistics, not folded ones
    assert not np.allclose(model.layers[1].moving_mean.data, 0)  # and the moving statistics moved


def test_no_folding_when_the_convolution_output_has_another_reader():
    inp = Input(shape=(6, 6, 3))
    conv = Conv2D(3, 3, padding="same")(inp)
    out = add([BatchNormalization()(conv), conv])
    model = Model(inp, out)
    assert not any(step.fold is not None for step in Plan(model.inputs, model.outputs).inference_steps)
    # nor when the convolution's output is itself a model output
    conv2 = Conv2D(3, 3)(inp)
    model2 = Model(inp, [conv2, BatchNormalization()(conv2)])
    assert not any(step.fold is not None for step in Plan(model2.inputs, model2.outputs).inference_steps)
    x = np.random.default_rng(4).standard_normal((2, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), _unfolded(model, x), rtol=1e-6)


@pytest.mark.parametrize("layer", [Conv2D(4, 3, activation="tanh"), Dense(4, activation="relu"),
                                   Conv2D(4, 3, activity_regularizer="l2")])
def test_no_folding_into_a_layer_with_an_activation_or_activity_penalty(layer):
    shape = (6, 6, 2) if isinstance(layer, Conv2D) else (5,)
    model = Sequential([Input(shape=shape), layer, BatchNormalization()])
    assert not any(step.fold is not None for step in Plan(model.inputs, model.outputs).inference_steps)


def test_no_folding_across_another_axis():
    # a BatchNormalization over the rows of a channels-last image is not per output channel
    model = Sequential([Conv2D(4, 3, input_shape=(6, 6, 2)), BatchNormalization(axis=1)])
    assert not any(step.fold is not None for step in Plan(model.inputs, model.outputs).inference_steps)
    x = np.random.default_rng(5).standard_normal((2, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), _unfolded(model, x), rtol=1e-6)


def test_folded_weights_follow_weight_changes():
    K.set_seed(3)
    model = Sequential([Conv2D(4, 3, input_shape=(6, 6, 2)), BatchNormalization(), Activation("relu")])
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 6, 6, 2)).astype("float32")
    before = model.predict(x, verbose=0)
    model.fit(x, rng.standard_normal((8, 4, 4, 4)).astype("float32"), epochs=2, batch_size=4, verbose=0)
    after = model.predict(x, verbose=0)
    assert not np.allclose(before, after)  # training moved the kernel and the statistics
    np.testing.assert_allclose(after, _unfolded(model, x), rtol=1e-5, atol=1e-5)
    _randomize_batchnorms(model, rng)
    model.layers[0].kernel.data[...] *= 2  # in place, as optimizers write
    np.testing.assert_allclose(model.predict(x, verbose=0), _unfolded(model, x), rtol=1e-5, atol=1e-5)
    assert model.layers[0].kernel.__class__.__name__ == "Variable"  # the real weights are back in place


@pytest.mark.parametrize("ahead_bytes", [0, 1 << 20])  # every fold made at its layer, or all before the first
def test_a_layer_shared_by_a_folded_and_an_unfolded_call(monkeypatch, ahead_bytes):
    """One Conv2D called twice: once followed by a BatchNormalization (folded), once not; the
    unfolded call sees the layer's own weights, however the folded weights were made."""
    from kerasette.models import planner

    monkeypatch.setattr(planner, "FOLD_AHEAD_BYTES", ahead_bytes)
    K.set_seed(5)
    conv = Conv2D(3, 3, padding="same")
    inp = Input(shape=(6, 6, 3))
    folded = Activation("relu")(BatchNormalization()(conv(inp)))
    plain = conv(Conv2D(3, 1)(inp))
    model = Model(inp, add([folded, plain]))
    _randomize_batchnorms(model, np.random.default_rng(8))
    plan = Plan(model.inputs, model.outputs)
    assert sum(step.fold is not None for step in plan.inference_steps) == 1
    assert len(planner._folds_ahead(plan.inference_steps)) == (1 if ahead_bytes else 0)
    x = np.random.default_rng(9).standard_normal((4, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(plan.run([Tensor(x)], training=False)[0].data, _unfolded(model, x), rtol=1e-5,
                               atol=1e-5)
    assert conv.kernel.__class__.__name__ == "Variable"


def test_folds_beyond_the_ahead_budget_are_made_at_their_layers(monkeypatch):
    from kerasette.models import planner

    model = _model("sequential", _stack("channels_last"))
    plan = Plan(model.inputs, model.outputs)
    sizes = [sum(w.size * w.dtype.itemsize for w in s.layer.weights) for s in plan.inference_steps if s.fold]
    monkeypatch.setattr(planner, "FOLD_AHEAD_BYTES", sizes[0] + sizes[1])
    assert len(planner._folds_ahead(plan.inference_steps)) == 2
    _randomize_batchnorms(model, np.random.default_rng(10))
    x = np.random.default_rng(11).standard_normal((96,) + model.input_shape[1:]).astype("float32")
    np.testing.assert_allclose(plan.run([Tensor(x)], training=False)[0].data, _unfolded(model, x), rtol=1e-5,
                               atol=1e-5)
