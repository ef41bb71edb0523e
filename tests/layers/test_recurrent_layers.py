"""The recurrent layers, Embedding, Masking and the wrappers: values against numpy step loops,
float64 gradient checks through time for each option, masks through models, stateful runs,
Keras 1 arguments and weight layouts, K.rnn, and the errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kerasette.backend as K
from kerasette import layers
from kerasette.backend.tensor import Tensor
from kerasette.layers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    Dense,
    Embedding,
    GRUCell,
    Input,
    LSTMCell,
    Masking,
    SimpleRNN,
    SimpleRNNCell,
    TimeDistributed,
)
from kerasette.models import Model, Sequential
from tests.backend.recurrent_op_cases import gru_reference, lstm_reference, simple_reference
from tests.helpers import check_gradients

RNG = np.random.default_rng(0)


def _x(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _reference(layer, x, mask=None):
    """The layer's output from the numpy step loops with its own weights (time-major inside)."""
    w = [v.data.astype(np.float64) for v in layer.weights]
    xs = x.astype(np.float64)
    if layer.go_backwards:
        xs = xs[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    xs = xs.transpose(1, 0, 2)
    m = None if mask is None else mask.T
    batch, units = x.shape[0], layer.units
    h0 = np.zeros((batch, units))
    kernel, rk = w[0], w[1]
    seq = layer.return_sequences
    if isinstance(layer, LSTM):
        xp = xs @ kernel + (w[2] if layer.use_bias else 0)
        out = lstm_reference(xp, h0, h0, rk, mask=m, sequences=seq, act="tanh",
                             ract={"sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid"}[
                                 layer.recurrent_activation.__name__])
    elif isinstance(layer, GRU):
        if layer.reset_after:
            bias = w[2] if layer.use_bias else np.zeros((2, 3 * units))
            out = gru_reference(xs @ kernel + bias[0], h0, rk, bias[1], True, mask=m, sequences=seq)
        else:
            out = gru_reference(xs @ kernel + (w[2] if layer.use_bias else 0), h0, rk, None, False, mask=m,
                                sequences=seq)
    else:
        out = simple_reference(xs @ kernel + (w[2] if layer.use_bias else 0), h0, rk, mask=m, sequences=seq)
    return out.transpose(1, 0, 2) if seq else out


LAYERS = [
    ("simple", lambda: SimpleRNN(4, return_sequences=True)),
    ("simple-backwards-last", lambda: SimpleRNN(3, go_backwards=True)),
    ("lstm", lambda: LSTM(4, return_sequences=True)),
    ("lstm-hard-sigmoid-backwards", lambda: LSTM(3, recurrent_activation="hard_sigmoid", go_backwards=True,
                                                 return_sequences=True)),
    ("lstm-no-bias-last", lambda: LSTM(3, use_bias=False)),
    ("gru", lambda: GRU(4, return_sequences=True, bias_initializer="random_normal")),
    ("gru-reset-before-backwards", lambda: GRU(3, reset_after=False, go_backwards=True,
                                               bias_initializer="random_normal")),
]


@pytest.mark.parametrize("make", [m for _, m in LAYERS], ids=[i for i, _ in LAYERS])
@pytest.mark.parametrize("masked", [False, True], ids=["", "masked"])
def test_layers_match_the_numpy_step_loops(make, masked):
    x = _x((3, 6, 5))
    mask = None
    if masked:
        mask = np.ones((3, 6), bool)
        mask[0, 4:] = False
        mask[1, :2] = False
        mask[2, 3] = False
    layer = make()
    out = layer(x, mask=mask) if masked else layer(x)
    np.testing.assert_allclose(out.data, _reference(layer, x, mask), rtol=2e-5, atol=2e-6)


def test_the_per_step_cells_agree_with_the_fused_sequence():
    """Each built-in cell's own ``call`` (used by user code and stacked user cells) runs the step
    the kernels run; a cell with an activation the kernels lack runs step by step."""
    x = _x((2, 5, 3))
    for cell in (SimpleRNNCell(4), LSTMCell(4, recurrent_activation="hard_sigmoid"),
                 GRUCell(4, bias_initializer="random_normal"), GRUCell(4, reset_after=False)):
        layer = RNN(cell, return_sequences=True)
        fused = layer(x).data
        states = [Tensor(np.zeros((2, 4), "float32")) for _ in np.atleast_1d(cell.state_size)]
        outs = []
        for t in range(5):
            out, states = cell.call(Tensor(x[:, t]), states)
            outs.append(out.data)
        np.testing.assert_allclose(fused, np.stack(outs, 1), rtol=1e-5, atol=1e-6)
    # softsign is not a kernel activation: the Python loop runs the cell
    looped = RNN(SimpleRNNCell(3, activation="softsign"), return_sequences=True)
    assert not looped.cell.fusable()
    y = looped(x).data
    w = [v.data for v in looped.weights]
    h = np.zeros((2, 3))
    for t in range(5):
        z = x[:, t] @ w[0] + h @ w[1] + w[2]
        h = z / (1 + np.abs(z))
        np.testing.assert_allclose(y[:, t], h, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ gradients through time
def _layer_gradient_check(layer, x, wrt_weights=True, mask=None, states=None, output=lambda out: out):
    """Central differences of ``output(layer(x))`` with respect to ``x`` and each weight."""
    layer(x.astype("float64"))  # build (float64 layer)
    names = [v.name.rsplit("/", 1)[-1] for v in layer.weights]
    cell = layer.cell if hasattr(layer, "cell") else None

    def fn(x_t, *weights):
        for owner, name, w in zip(owners, names, weights):
            object.__setattr__(owner, name, w)
        kwargs = {}
        if mask is not None:
            kwargs["mask"] = mask
        if states is not None:
            kwargs["initial_state"] = [Tensor(s) for s in states]
        out = layer(x_t, **kwargs)
        return output(out)

    owners = [cell] * len(names) if cell is not None else []
    arrays = [x.astype(np.float64)] + ([v.data.astype(np.float64) for v in layer.weights] if wrt_weights else [])
    try:
        check_gradients(fn, arrays, rtol=1e-4, atol=1e-6)
    finally:
        for owner, name, var in zip(owners, names, layer.weights):
            object.__setattr__(owner, name, var)


def _float64(make):
    return lambda: make(dtype="float64")


GRADIENT_CASES = [
    ("simple-sequences", lambda: SimpleRNN(3, return_sequences=True, dtype="float64")),
    ("simple-backwards", lambda: SimpleRNN(3, go_backwards=True, dtype="float64")),
    ("lstm", lambda: LSTM(3, dtype="float64")),
    ("lstm-sequences-backwards", lambda: LSTM(3, return_sequences=True, go_backwards=True, dtype="float64")),
    ("gru-after", lambda: GRU(3, return_sequences=True, bias_initializer="random_normal", dtype="float64")),
    ("gru-before-backwards", lambda: GRU(3, reset_after=False, go_backwards=True, bias_initializer="random_normal",
                                         dtype="float64")),
]


@pytest.mark.parametrize("make", [m for _, m in GRADIENT_CASES], ids=[i for i, _ in GRADIENT_CASES])
@pytest.mark.parametrize("masked", [False, True], ids=["", "masked"])
def test_layer_gradients_through_time(make, masked):
    mask = None
    if masked:
        mask = np.array([[1, 1, 0, 1], [0, 1, 1, 1]], bool)
    _layer_gradient_check(make(), _x((2, 4, 3), seed=1), mask=mask)


@pytest.mark.parametrize("kind", [LSTM, GRU, SimpleRNN])
def test_gradients_of_returned_states_and_initial_states(kind):
    layer = kind(3, return_state=True, return_sequences=True, dtype="float64")
    n_states = 2 if kind is LSTM else 1
    states = [_x((2, 3), seed=5 + i, dtype="float64") for i in range(n_states)]

    def total(outs):  # every output and state takes part
        return K.concatenate([K.reshape(outs[0], (2, -1))] + list(outs[1:]), axis=-1)

    _layer_gradient_check(layer, _x((2, 4, 3), seed=2), states=states, output=total)


def test_gradients_flow_into_the_initial_states():
    layer = LSTM(3, dtype="float64")
    x = _x((2, 4, 3), seed=3, dtype="float64")
    layer(x)
    check_gradients(lambda h, c: layer(Tensor(x), initial_state=[h, c]),
                    [_x((2, 3), seed=1, dtype="float64"), _x((2, 3), seed=2, dtype="float64")], rtol=1e-4)


def test_stateful_runs_two_batches_as_one_sequence_and_checks_gradients_of_the_second():
    x = _x((2, 8, 3), seed=4, dtype="float64")
    whole = LSTM(3, return_sequences=True, dtype="float64")
    expected = whole(x).data
    stateful = LSTM(3, return_sequences=True, stateful=True, batch_input_shape=(2, 4, 3), dtype="float64")
    stateful.build_for((2, 4, 3))
    stateful.set_weights(whole.get_weights())
    first = stateful(x[:, :4]).data
    carried = [s.copy() for s in stateful.states]
    second = stateful(x[:, 4:]).data
    np.testing.assert_allclose(np.concatenate([first, second], 1), expected, rtol=1e-10)
    stateful.reset_states()
    np.testing.assert_array_equal(stateful.states[0], 0)
    np.testing.assert_allclose(stateful(x[:, :4]).data, first, rtol=1e-12)
    # the second batch's gradients (the first batch's states are constants, as in Keras)
    names = ["kernel", "recurrent_kernel", "bias"]
    cell = stateful.cell

    def second_batch(x2, *weights):
        for name, w in zip(names, weights):
            object.__setattr__(cell, name, w)
        stateful.reset_states(carried)
        return stateful(x2)

    try:
        check_gradients(second_batch, [x[:, 4:]] + [w.data.copy() for w in stateful.weights], rtol=1e-4)
    finally:
        for name, var in zip(names, stateful.weights):
            object.__setattr__(cell, name, var)


def test_stateful_in_a_model_and_its_errors():
    model = Sequential([GRU(2, stateful=True, batch_input_shape=(3, 4, 2)), Dense(1)])
    x = _x((3, 4, 2))
    a = model.predict(x, batch_size=3, verbose=0)
    b = model.predict(x, batch_size=3, verbose=0)
    assert not np.allclose(a, b)  # the second call started from the first's states
    model.layers[0].reset_states()
    np.testing.assert_allclose(model.predict(x, batch_size=3, verbose=0), a, rtol=1e-6)
    with pytest.raises(ValueError, match="stateful RNN needs a fixed batch size"):
        Sequential([LSTM(2, stateful=True, input_shape=(4, 2))]).build((None, 4, 2))
    with pytest.raises(ValueError, match="takes batches of 3 samples"):
        model.layers[0](_x((2, 4, 2)))
    with pytest.raises(ValueError, match=r"a state must have shape \(3, 2\)"):
        model.layers[0].reset_states([np.zeros((2, 2))])
    with pytest.raises(AttributeError, match="stateful layers only"):
        LSTM(2).reset_states()


def test_dropout_masks_are_the_same_on_every_step_and_only_in_training():
    layer = SimpleRNN(4, dropout=0.5, recurrent_dropout=0.5, seed=1, return_sequences=True)
    x = np.ones((2, 5, 3), "float32")
    inference = layer(x).data
    np.testing.assert_allclose(layer.run(Tensor(x), training=False).data, inference)
    dp, rdp = layer.cell.dropout_masks(2, 3, "float32", True)
    assert set(np.unique(dp)) <= {0.0, 2.0} and rdp.shape == (2, 4)
    trained = layer.run(Tensor(x), training=True).data
    assert not np.allclose(trained, inference)


# ---------------------------------------------------------------------------- masks in models
def test_embedding_mask_skips_padding_in_sequential_and_functional_models():
    x = RNG.integers(1, 30, (3, 6))
    x[0, 4:] = 0
    x[1, :3] = 0
    seq = Sequential([Embedding(30, 4, mask_zero=True, input_shape=(None,)), LSTM(3)])
    out = seq.predict(x, verbose=0)
    np.testing.assert_allclose(out[0], seq.predict(x[:1, :4], verbose=0)[0], rtol=1e-5)
    np.testing.assert_allclose(out[1], seq.predict(x[1:2, 3:], verbose=0)[0], rtol=1e-5)
    inp = Input((None,))
    emb = Embedding(30, 4, mask_zero=True)
    both = Bidirectional(GRU(2, return_sequences=True))(emb(inp))
    model = Model(inp, TimeDistributed(Dense(2))(both))
    y = model.predict(x, verbose=0)
    assert y.shape == (3, 6, 2)
    # Bidirectional outputs zeros at masked steps; Dense maps them to its bias
    np.testing.assert_allclose(y[0, 4:], np.broadcast_to(model.layers[-1].layer.bias.data, (2, 2)), atol=1e-6)


def test_masking_layer_and_eager_masks():
    x = _x((2, 5, 3))
    x[0, 3:] = 0.0
    masked = Masking(0.0)(x)
    assert masked._keras_mask.tolist() == [[True, True, True, False, False], [True] * 5]
    layer = LSTM(2)
    np.testing.assert_allclose(layer(masked).data[0], layer(x[:1, :3]).data[0], rtol=1e-5)
    model = Sequential([Masking(0.0, input_shape=(5, 3)), layers.Dropout(0.1), SimpleRNN(2)])
    np.testing.assert_allclose(model.predict(x, verbose=0)[0], model.layers[-1](x[:1, :3]).data[0], rtol=1e-5)


def test_compute_mask_of_a_custom_layer_reaches_the_recurrent_layer():
    class DropLastSteps(layers.Layer):
        def call(self, inputs):
            return inputs

        def compute_mask(self, inputs, mask=None):
            keep = np.ones(inputs.shape[:2], bool)
            keep[:, -2:] = False
            return keep

    x = _x((2, 5, 3))
    model = Sequential([DropLastSteps(input_shape=(5, 3)), GRU(2)])
    np.testing.assert_allclose(model.predict(x, verbose=0), model.layers[-1](x[:, :3]).data, rtol=1e-5)


def test_return_state_in_the_functional_api_and_initial_state():
    inp = Input((4, 3))
    seq, h, c = LSTM(3, return_sequences=True, return_state=True)(inp)
    decoded = GRU(3)(seq, initial_state=h)
    model = Model(inp, [decoded, c])
    x = _x((2, 4, 3))
    out, cell = model.predict(x, verbose=0)
    assert out.shape == (2, 3) and cell.shape == (2, 3)
    config = model.get_config()
    gru = next(entry for entry in config["layers"] if entry["class_name"] == "GRU")
    assert [len(node) for node in gru["inbound_nodes"]] == [2]  # the GRU reads [seq, h]
    clone = Model.from_config(json.loads(json.dumps(config)))
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0)[0], out, rtol=1e-6)


# ---------------------------------------------------------------------------- wrappers
@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes(mode):
    x = _x((2, 5, 3))
    layer = Bidirectional(LSTM(2, return_sequences=True), merge_mode=mode)
    out = layer(x)
    f = layer.forward_layer(x).data
    b = layer.backward_layer(x).data[:, ::-1]
    expected = {"concat": np.concatenate([f, b], -1), "sum": f + b, "mul": f * b, "ave": (f + b) / 2}
    if mode is None:
        np.testing.assert_allclose(out[0].data, f, rtol=1e-6)
        np.testing.assert_allclose(out[1].data, b, rtol=1e-6)
    else:
        np.testing.assert_allclose(out.data, expected[mode], rtol=1e-6)
    assert [w.name.split("/")[1] for w in layer.weights] == ["forward_lstm_" + layer.layer.name.split("_")[-1]] * 3 + \
        ["backward_" + layer.layer.name.removeprefix("forward_")] * 3


def test_bidirectional_backward_layer_return_state_and_errors():
    layer = Bidirectional(LSTM(2, return_state=True), backward_layer=GRU(3, go_backwards=True, return_state=True))
    out = layer(_x((2, 4, 3)))
    assert [o.shape for o in out] == [(2, 5), (2, 2), (2, 2), (2, 3)]
    assert layer.compute_output_shape((None, 4, 3)) == [(None, 5), (None, 2), (None, 2), (None, 3)]
    with pytest.raises(ValueError, match="merge_mode must be one of"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="opposite directions"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(ValueError, match="must be a recurrent layer"):
        Bidirectional(Dense(2))


def test_time_distributed_dense_and_conv2d():
    x = _x((2, 3, 5, 5, 2))
    td = TimeDistributed(layers.Conv2D(4, 3))
    y = td(x).data
    conv = td.layer
    for t in range(3):
        np.testing.assert_allclose(y[:, t], conv(x[:, t]).data, rtol=1e-5, atol=1e-6)
    assert td.compute_output_shape((None, 3, 5, 5, 2)) == (None, 3, 3, 3, 4)
    dense = TimeDistributed(Dense(2))
    seq = _x((2, 4, 3))
    np.testing.assert_allclose(dense(seq).data, seq @ dense.layer.kernel.data + dense.layer.bias.data, rtol=1e-5)
    with pytest.raises(ValueError, match="at least 3 axes"):
        TimeDistributed(Dense(2)).build_for((None, 3))


# ---------------------------------------------------------------------------- Embedding
def test_embedding_gathers_rows_masks_and_trains():
    layer = Embedding(10, 3, mask_zero=True, input_length=4)
    idx = np.array([[1, 2, 0, 9], [3, 3, 3, 0]])
    out = layer(idx)
    np.testing.assert_array_equal(out.data, layer.embeddings.data[idx])
    assert layer.compute_mask(idx).tolist() == [[True, True, False, True], [True, True, True, False]]
    assert layer.batch_input_shape == (None, 4)
    assert layer.compute_output_shape((None, 4)) == (None, 4, 3)
    with pytest.raises(ValueError, match=r"Embedding 'embedding_\d+': embedding: indices must be in \[0, 10\)"):
        layer(np.array([[10]]))
    model = Sequential([Embedding(10, 3, input_length=4), layers.Flatten(), Dense(1)])
    model.compile("sgd", "mse")
    before = model.layers[0].get_weights()[0].copy()
    model.train_on_batch(idx, np.ones((2, 1), "float32"))
    changed = np.any(before != model.layers[0].get_weights()[0], axis=1)
    assert changed.tolist() == [i in idx for i in range(10)]  # only the rows looked up


def test_embedding_keras1_arguments_and_row_dropout():
    with pytest.warns(DeprecationWarning, match="init -> embeddings_initializer"):
        layer = Embedding(6, 2, init="ones", dropout=0.5, input_length=3)
    idx = np.array([[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(layer(idx).data, 1.0)
    dropped = layer.run(Tensor(idx), training=True).data
    assert set(np.unique(dropped)) <= {0.0, 2.0}
    rows = dropped[..., 0].reshape(-1)
    np.testing.assert_array_equal(dropped[..., 1].reshape(-1), rows)  # whole rows (words) dropped
    with pytest.raises(ValueError, match=r"argument `input_dim` of Embedding 'embedding_\d+'.*Received input_dim=0"):
        Embedding(0, 2)
    with pytest.raises(ValueError, match="`lora_rank` is not supported"):
        Embedding(4, 2, lora_rank=2)


# ---------------------------------------------------------------------------- Keras 1, files
def test_keras1_arguments():
    with pytest.warns(DeprecationWarning):
        layer = LSTM(output_dim=4, input_dim=3, input_length=5, inner_activation="hard_sigmoid", init="he_normal",
                     inner_init="orthogonal", forget_bias_init="one", dropout_W=0.1, dropout_U=0.2,
                     W_regularizer="l2", U_regularizer="l1", consume_less="gpu", return_sequences=True)
    assert layer.units == 4 and layer.batch_input_shape == (None, 5, 3)
    assert layer.recurrent_activation.__name__ == "hard_sigmoid" and layer.unit_forget_bias
    assert layer.dropout == 0.1 and layer.recurrent_dropout == 0.2 and layer.implementation == 2
    assert layer.kernel_regularizer is not None and layer.recurrent_regularizer is not None
    config = GRU.translate_config({"output_dim": 3, "inner_activation": "sigmoid", "name": "gru_1"})
    assert config["units"] == 3 and config["reset_after"] is False  # Keras 1's GRU resets before


def test_keras1_per_gate_weights_regroup_into_keras2_layout():
    lstm = LSTM(2)
    lstm.build_for((None, 3, 4))
    rng = np.random.default_rng(0)
    arrays = []
    for _gate in "icfo":  # Keras 1 order: i, c, f, o; each (W, U, b)
        arrays += [rng.standard_normal((4, 2)), rng.standard_normal((2, 2)), rng.standard_normal(2)]
    kernel, recurrent, bias = lstm.regroup_stored_weights(arrays)
    np.testing.assert_array_equal(kernel, np.concatenate([arrays[0], arrays[6], arrays[3], arrays[9]], -1))
    np.testing.assert_array_equal(recurrent, np.concatenate([arrays[1], arrays[7], arrays[4], arrays[10]], -1))
    np.testing.assert_array_equal(bias, np.concatenate([arrays[2], arrays[8], arrays[5], arrays[11]], -1))
    gru = GRU(2, reset_after=False)
    gru.build_for((None, 3, 4))
    nine = [rng.standard_normal(s) for _ in range(3) for s in ((4, 2), (2, 2), (2,))]
    assert [a.shape for a in gru.regroup_stored_weights(nine)] == [(4, 6), (2, 6), (6,)]
    assert lstm.regroup_stored_weights(arrays[:3]) == arrays[:3]  # already Keras 2's


def test_cudnn_configs_build_lstm_and_gru_that_convert_stored_weights():
    lstm = layers.deserialize({"class_name": "CuDNNLSTM", "config": {"units": 2, "name": "cu", "return_sequences": True}})
    assert type(lstm) is LSTM and lstm.return_sequences
    lstm.build_for((None, 3, 3))
    kernel, recurrent, bias = lstm.weights
    stored = np.arange(3 * 8, dtype=np.float64).reshape(3, 8)
    converted = lstm.stored_weight_converter(kernel, stored.shape, None)(stored)
    gate = stored[:, :2]
    np.testing.assert_array_equal(converted[:, :2], gate.T.reshape(gate.shape, order="F"))
    np.testing.assert_array_equal(lstm.stored_weight_converter(recurrent, (2, 8), None)(np.eye(2, 8))[:, :2],
                                  np.eye(2, 8)[:, :2].T)
    b = np.arange(16.0)
    np.testing.assert_array_equal(lstm.stored_weight_converter(bias, (16,), None)(b), b[:8] + b[8:])
    gru = layers.deserialize({"class_name": "CuDNNGRU", "config": {"units": 2}})
    assert type(gru) is GRU and gru.reset_after
    gru.build_for((None, 3, 3))
    assert gru.stored_weight_converter(gru.weights[2], (12,), None)(np.arange(12.0)).shape == (2, 6)
    assert LSTM(2).stored_weight_converter(kernel, (3, 8), None) is None  # a Keras LSTM's own file


def test_config_round_trips_keep_every_option():
    layer = GRU(3, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False, reset_after=False,
                return_sequences=True, return_state=True, go_backwards=True, stateful=False, unroll=True,
                dropout=0.25, recurrent_dropout=0.5, kernel_regularizer="l2", recurrent_constraint="non_neg",
                seed=3)
    config = layer.get_config()
    assert config["reset_after"] is False and config["return_state"] and config["unroll"]
    assert config["recurrent_activation"] == "hard_sigmoid" and config["seed"] == 3
    assert GRU.from_config(json.loads(json.dumps(config))).get_config() == config
    stacked = RNN([LSTMCell(2), SimpleRNNCell(3)], return_sequences=True)
    config = stacked.get_config()
    assert config["cell"]["module"] == "keras.layers" and config["cell"]["class_name"] == "StackedRNNCells"
    assert RNN.from_config(json.loads(json.dumps(config))).get_config() == config


def test_rnn_with_a_user_cell():
    class MinimalCell(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")

        def call(self, inputs, states):
            out = K.dot(inputs, self.kernel) + K.dot(states[0], self.recurrent)
            return out, [out]

    x = _x((2, 4, 3))
    layer = RNN(MinimalCell(2), return_sequences=True, return_state=True)
    out, state = layer(x)
    k, r = (w.data.astype(np.float64) for w in layer.weights)
    h = np.zeros((2, 2))
    # a float64 reference; outputs can be near zero, so the float32 result must meet an absolute
    # bound too: 1e-5 (the largest error over 300 seeds was 1.3e-6, with |h| up to 12)
    for t in range(4):
        h = x[:, t] @ k + h @ r
        np.testing.assert_allclose(out.data[:, t], h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(state.data, h, rtol=1e-5, atol=1e-5)
    model = Sequential([RNN(MinimalCell(2), input_shape=(4, 3)), Dense(1)])
    model.compile("sgd", "mse")
    assert np.isfinite(model.train_on_batch(x, np.ones((2, 1), "float32")))
    with pytest.raises(ValueError, match="needs a `call"):
        RNN(object())


def test_k_rnn_matches_keras_semantics():
    def step(x, states):
        out = x + states[0]
        return out, [out]

    x = np.ones((2, 3, 1), "float32")
    mask = np.array([[1, 0, 1], [1, 1, 1]], bool)
    last, outputs, states = K.rnn(step, x, [np.zeros((2, 1), "float32")], mask=mask)
    assert outputs.data[..., 0].tolist() == [[1, 1, 2], [1, 2, 3]]  # a masked step repeats the output
    assert last.data.ravel().tolist() == [2, 3] and states[0].data.ravel().tolist() == [2, 3]
    last, outputs, _ = K.rnn(step, x, [np.zeros((2, 1), "float32")], go_backwards=True, constants=[])
    assert outputs.shape == (2, 3, 1) and last.data.ravel().tolist() == [3, 3]
    # gradients flow through the steps
    check_gradients(lambda xs: K.rnn(lambda a, s: (K.tanh(a + s[0]), [K.tanh(a + s[0])]), xs,
                                      [Tensor(np.zeros((2, 2)))])[1], [_x((2, 3, 2), dtype="float64")])
    with pytest.raises(ValueError, match="at least 3 axes"):
        K.rnn(step, np.ones((2, 3)), [])


def test_recurrent_layer_errors():
    with pytest.raises(ValueError, match=r"`units` of LSTM 'lstm_\d+'.*Received units=0"):
        LSTM(0)
    with pytest.raises(ValueError, match="the input must be \\(batch, steps, features\\)|expected min_ndim=3"):
        LSTM(2)(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="the cell has 2 states; received 1 initial states"):
        LSTM(2)(_x((2, 3, 2)), initial_state=[np.zeros((2, 2), "float32")])
    with pytest.raises(ValueError, match=r"the mask must have shape \(batch, steps\)"):
        GRU(2)(_x((2, 3, 2)), mask=np.ones((2, 4), bool))
