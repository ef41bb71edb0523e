"""The planner's residual sums (rewrite 3 of `kerasette.models.planner`): at inference an Add of
two tensors, one of which a layer that `takes_residual` computes for the Add alone, becomes that
layer's epilogue. Most tests give the facts to small subclasses (computing the sum with ops, in
the order the Add does) and check that the plan rewrites exactly where it may, that the
predictions are the bits of the Add's, in both data formats and through a folded
BatchNormalization, and that training and masks never rewrite; the built-in Conv2D (the engine's
output pass) is checked against the Add as well, and the engine's errors."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import activations
from kerasette.backend import ops
from kerasette.backend.tensor import Tensor
from kerasette.layers import Activation, Add, BatchNormalization, Conv2D, Dense, Input, Masking, add
from kerasette.models import Model
from kerasette.models.planner import Plan

CALLS: list[str] = []


class ResidualConv(Conv2D):
    """A Conv2D that takes a residual: the convolution, then the Add's sum (and ReLU) as ops."""

    def takes_residual(self, activation) -> bool:
        return activation in (None, activations.relu) and self.activation is activations.linear

    def call_with_residual(self, inputs, residual, activation=None, training=False):
        CALLS.append(self.name)
        if self.runs_channels_last():
            y = Conv2D.call_channels_last(self, inputs)
        else:
            y = Conv2D.call(self, inputs)
        return ops.add_relu(residual, y) if activation is activations.relu else ops.add(residual, y)


class ResidualDense(Dense):
    """A Dense that takes a residual (no activation after it)."""

    def takes_residual(self, activation) -> bool:
        return activation is None and self.activation is activations.linear

    def call_with_residual(self, inputs, residual, activation=None, training=False):
        CALLS.append(self.name)
        return ops.add(residual, Dense.call(self, inputs))


def _block(data_format="channels_last", folded=True, relu=True):
    """conv -> (BN) -> Add with the block's input -> (ReLU), twice, the second with a strided
    1x1 shortcut convolution (two candidate layers for the sum)."""
    cf = data_format == "channels_first"
    axis = 1 if cf else -1
    inp = Input(shape=(4, 8, 8) if cf else (8, 8, 4))
    x = Conv2D(4, 3, padding="same", data_format=data_format, name="stem")(inp)
    y = ResidualConv(4, 3, padding="same", data_format=data_format, name="body")(x)
    if folded:
        y = BatchNormalization(axis=axis)(y)
    x = Add()([x, y])
    if relu:
        x = Activation("relu")(x)
    y = ResidualConv(6, 3, strides=2, padding="same", data_format=data_format, name="down")(x)
    if folded:
        y = BatchNormalization(axis=axis)(y)
    shortcut = ResidualConv(6, 1, strides=2, data_format=data_format, name="shortcut")(x)
    out = Activation("relu")(Add()([shortcut, y]))
    model = Model(inp, out)
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):  # a test may know the types
            c = layer.moving_mean.shape
            layer.set_weights([rng.uniform(0.5, 2, c), rng.standard_normal(c), rng.standard_normal(c) * 0.5,
                               rng.uniform(0.2, 3, c)])
    return model, rng.standard_normal((5,) + inp.shape[1:]).astype(np.float32)


def _plain(model, x):
    """The predictions without the rewrite: the layers' `takes_residual` switched off."""
    saved = ResidualConv.takes_residual
    ResidualConv.takes_residual = lambda self, activation: False
    try:
        return Plan(model.inputs, model.outputs).run([Tensor(x)], training=False)[0].data
    finally:
        ResidualConv.takes_residual = saved


def _steps_taking(plan: Plan) -> list[str]:
    return [step.layer.name for step in plan.inference_steps if step.residual is not None]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("folded", [True, False])
def test_residual_sums_give_the_bits_of_the_add(data_format, folded):
    model, x = _block(data_format, folded)
    CALLS.clear()
    got = model.predict(x, batch_size=len(x))
    # the later-computed input of each Add takes the sum: the body conv, then the strided conv
    # (the graph computes the shortcut before it), through their folded BatchNormalizations
    assert CALLS == ["body", "down"]
    np.testing.assert_array_equal(got, _plain(model, x))


def test_no_residual_sum_through_a_normalization_not_folded():
    model, _ = _block()
    assert _steps_taking(Plan(model.inputs, model.outputs)) == ["body", "down"]
    assert _steps_taking(Plan(model.inputs, model.outputs, fold=False)) == []


def test_the_add_without_an_activation_and_a_dense_layer():
    inp = Input(shape=(5,))
    h = Dense(5, name="h")(inp)
    model = Model(inp, Add()([h, ResidualDense(5, name="r")(h)]))
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    CALLS.clear()
    got = model.predict(x)
    assert CALLS == ["r"]
    hidden = x @ model.get_layer("h").kernel.data + model.get_layer("h").bias.data
    np.testing.assert_array_equal(got, hidden + (hidden @ model.get_layer("r").kernel.data
                                                 + model.get_layer("r").bias.data))


def test_no_residual_sum_in_training():
    model, x = _block()
    plan = Plan(model.inputs, model.outputs)
    assert _steps_taking(plan) == ["body", "down"]
    assert all(step.residual is None for step in plan.steps)
    CALLS.clear()
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(x, np.zeros((len(x), 4, 4, 6), np.float32))
    assert CALLS == []


def test_no_residual_sum_when_the_layer_output_has_another_reader():
    inp = Input(shape=(5,))
    h = Dense(5, name="h")(inp)
    r = ResidualDense(5, name="r")(h)
    out = add([add([h, r]), r])  # r is read twice: neither Add may take it into the layer
    assert _steps_taking(Plan([inp], [out])) == []


def test_no_residual_sum_when_the_layer_output_is_a_model_output():
    inp = Input(shape=(5,))
    h = Dense(5, name="h")(inp)
    r = ResidualDense(5, name="r")(h)
    assert _steps_taking(Plan([inp], [add([h, r]), r])) == []


def test_no_residual_sum_across_broadcasting_or_three_inputs():
    inp = Input(shape=(5,))
    h = Dense(5, name="h")(inp)
    one = Dense(1, name="one")(inp)
    assert _steps_taking(Plan([inp], [add([one, ResidualDense(5, name="r")(h)])])) == []
    assert _steps_taking(Plan([inp], [add([h, h, ResidualDense(5, name="r3")(h)])])) == []


def _masked_pair(model, x, mask=None):
    """The model's output and its mask, with the rewrite and without it."""
    out = []
    for takes in (ResidualDense.takes_residual, lambda self, activation: False):
        saved, ResidualDense.takes_residual = ResidualDense.takes_residual, takes
        try:
            model._plan = None
            y = model(Tensor(x), mask=mask) if mask is not None else model(Tensor(x))
        finally:
            ResidualDense.takes_residual = saved
        out.append((y.data, getattr(y, "_keras_mask", None)))
    model._plan = None
    return out


def test_masks_at_the_sum_run_the_layer_and_the_add_as_they_are():
    inp = Input(shape=(3, 5))
    h = Masking()(inp)  # a mask on h and on the Dense's output: the Add's mask is their union
    out = add([h, ResidualDense(5, name="r")(h)])
    model = Model(inp, out)
    assert _steps_taking(Plan([inp], [out])) == ["r"]
    x = np.random.default_rng(1).standard_normal((2, 3, 5)).astype(np.float32)
    x[0, 1] = 0.0
    CALLS.clear()
    (got, got_mask), (want, want_mask) = _masked_pair(model, x)
    assert CALLS == []  # the sum was not taken into the layer
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_mask, want_mask)
    assert not got_mask[0, 1] and got_mask[0, 0]


def test_masks_given_to_the_model_reach_the_sum():
    inp = Input(shape=(3, 5))
    model = Model(inp, add([inp, ResidualDense(5, name="r")(inp)]))
    x = np.random.default_rng(2).standard_normal((2, 3, 5)).astype(np.float32)
    mask = np.array([[True, False, True], [True, True, False]])
    CALLS.clear()
    (got, got_mask), (want, want_mask) = _masked_pair(model, x, mask)
    assert CALLS == []
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_mask, want_mask)
    CALLS.clear()
    model(Tensor(x))
    assert CALLS == ["r"]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_residual_sums_give_the_bits_of_the_add(data_format):
    """The built-in Conv2D's residual (the engine's output pass) against the Add after it, with
    the strided block's shortcut, and with gradients recorded (ops then)."""
    cf = data_format == "channels_first"
    axis = 1 if cf else -1
    inp = Input(shape=(16, 9, 9) if cf else (9, 9, 16))
    x = Activation("relu")(BatchNormalization(axis=axis)(Conv2D(16, 3, padding="same", data_format=data_format)(inp)))
    y = BatchNormalization(axis=axis)(Conv2D(16, 3, padding="same", data_format=data_format)(x))
    x = Activation("relu")(Add()([x, y]))
    y = BatchNormalization(axis=axis)(Conv2D(32, 3, strides=2, padding="same", data_format=data_format)(x))
    out = Add()([Conv2D(32, 1, strides=2, data_format=data_format)(x), y])
    model = Model(inp, out)
    rng = np.random.default_rng(4)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):  # a test may know the types
            c = layer.moving_mean.shape
            layer.set_weights([rng.uniform(0.5, 2, c), rng.standard_normal(c), rng.standard_normal(c) * 0.5,
                               rng.uniform(0.2, 3, c)])
    assert len([s for s in Plan(model.inputs, model.outputs).inference_steps if s.residual is not None]) == 2
    x = rng.standard_normal((6,) + inp.shape[1:]).astype(np.float32)
    saved = Conv2D.takes_residual
    Conv2D.takes_residual = lambda self, activation: False
    try:
        want = Plan(model.inputs, model.outputs).run([Tensor(x)], training=False)[0].data
    finally:
        Conv2D.takes_residual = saved
    np.testing.assert_array_equal(model.predict(x, batch_size=6), want)
    recorded = model(Tensor(x, requires_grad=True))
    np.testing.assert_allclose(recorded.data, want, rtol=1e-5, atol=1e-5)
    assert recorded._op is not None  # a gradient can flow (ops)


def test_no_residual_sum_across_dtypes():
    inp = Input(shape=(5,))
    h = Dense(5, name="h", dtype="float64")(inp)
    model = Model(inp, add([h, ResidualDense(5, name="r")(inp)]))
    x = np.random.default_rng(5).standard_normal((3, 5)).astype(np.float32)
    CALLS.clear()
    got = model.predict(x)
    assert CALLS == []  # the symbolic dtypes do not tell: the values' do
    (want, _), = _masked_pair(model, x)[1:]
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


def test_conv2d_forward_residual_errors():
    """The engine's residual argument: the output's shape, and not with groups or dilation."""
    from kerasette.backend.engine.conv import conv2d_forward  # deferred: imports numba

    x = np.zeros((2, 6, 6, 4), np.float32)
    w = np.zeros((3, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: the residual has shape \(2, 6, 6, 3\), the output \(2, 6, 6, 4\)"):
        conv2d_forward(x, w, None, (1, 1), "same", residual=np.zeros((2, 6, 6, 3), np.float32))
    with pytest.raises(ValueError, match="conv2d: a residual is added only without groups and dilation"):
        conv2d_forward(x, w, None, (1, 1), "same", dilation=(2, 2), residual=np.zeros((2, 6, 6, 4), np.float32))
    y = conv2d_forward(x + 1, w + 0.5, None, (1, 1), "same", relu=True, residual=np.full((2, 6, 6, 4), -1e3, np.float32))
    assert y.shape == (2, 6, 6, 4) and float(y.max()) == 0.0  # the residual is added before the ReLU
