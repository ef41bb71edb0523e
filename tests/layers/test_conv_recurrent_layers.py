"""ConvLSTM1D, ConvLSTM2D and ConvLSTM3D: values against the per-gate numpy step loops with the
layers' own weights (every option, both data formats, masks, initial states), the per-step
cell against the layer (dropout's per-gate masks included), stateful runs, penalties, Keras 1
and tf.keras 2 argument and config forms, Bidirectional, and the errors, each by its message.
(Gradients through time: ``tests/backend/conv_recurrent_op_cases.py``; Keras 3 files:
``tests/saving/data/keras3_layers/make_conv_recurrent.py``.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasette.backend.tensor import Tensor
from kerasette.layers import Bidirectional, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, Dense, Flatten, Input
from kerasette.models import Model, Sequential
from kerasette.optimizers import Adam
from kerasette.saving.layer_config import layer_from_spec
from tests.backend.conv_recurrent_op_cases import conv_lstm_reference


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _random_bias(layer, seed=1):
    bias = layer.cell.bias
    if bias is not None:
        bias.assign(np.random.default_rng(seed).standard_normal(bias.shape).astype("float32"))


def _channels_last(layer, a, leading):
    """``a`` (channels at axis ``leading``) with its channels last, for a channels-first layer."""
    if layer.data_format != "channels_first":
        return a
    return np.moveaxis(a, leading, -1)


def _reference(layer, x, mask=None, initial=None):
    """The layer's outputs (list: output, h, c) from the numpy loops, with its own weights."""
    cell = layer.cell
    w = [v.data.astype(np.float64) for v in (cell.kernel, cell.recurrent_kernel)]
    bias = None if cell.bias is None else cell.bias.data.astype(np.float64)
    xs = _channels_last(layer, x.astype(np.float64), 2)
    if initial is None:
        spatial = cell.split_step_shape((None, *x.shape[2:]))[0]
        h = np.zeros((x.shape[0], *cell.state_spatial(spatial), cell.filters))
        c = h
    else:
        h, c = (_channels_last(layer, s.astype(np.float64), 1) for s in initial)
    names = {"tanh": "tanh", "sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid", "relu": "relu",
             "linear": "linear"}
    out, h, c = conv_lstm_reference(xs, h, c, w[0], w[1], bias, cell.strides, cell.padding, cell.dilation_rate,
                                    names[cell.activation.__name__], names[cell.recurrent_activation.__name__],
                                    layer.go_backwards, mask, layer.return_sequences, layer.zero_output_for_mask)
    back = (lambda a, lead: np.moveaxis(a, -1, lead)) if layer.data_format == "channels_first" else \
        (lambda a, lead: a)
    return [back(out, 2 if layer.return_sequences else 1), back(h, 1), back(c, 1)]


CASES = {
    "2d-valid-last": (lambda: ConvLSTM2D(3, 2), (2, 4, 6, 5, 2)),
    "2d-same-sequences-return-state": (lambda: ConvLSTM2D(2, 3, padding="same", return_sequences=True,
                                                          return_state=True), (2, 3, 5, 5, 3)),
    "2d-channels-first-strided-backwards": (lambda: ConvLSTM2D(3, (3, 2), strides=(2, 1), go_backwards=True,
                                                               return_sequences=True, data_format="channels_first",
                                                               return_state=True), (2, 3, 2, 7, 5)),
    "2d-dilated-hard-sigmoid-relu-no-bias": (lambda: ConvLSTM2D(2, 2, dilation_rate=2, activation="relu",
                                                                recurrent_activation="hard_sigmoid",
                                                                use_bias=False), (3, 3, 6, 6, 1)),
    "1d-strided-same-channels-first": (lambda: ConvLSTM1D(2, 3, strides=2, padding="same", return_sequences=True,
                                                          data_format="channels_first"), (2, 4, 3, 9)),
    "3d-same": (lambda: ConvLSTM3D(2, (2, 3, 2), padding="same", return_state=True), (2, 3, 3, 4, 3, 2)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_layers_match_the_per_gate_numpy_loops(name):
    make, shape = CASES[name]
    layer = make()
    x = _x(shape)
    layer.build_for((None, *shape[1:]))
    _random_bias(layer)
    got = layer(x)
    got = [t.data for t in got] if isinstance(got, list) else [got.data]
    want = _reference(layer, x)
    want = want if layer.return_state else want[:1]
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    shapes = layer.compute_output_shape(shape)
    assert [tuple(s) for s in (shapes if layer.return_state else [shapes])] == [g.shape for g in got]


@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("backwards", [False, True])
def test_masked_steps_keep_the_states_and_repeat_the_output(zero_output, backwards):
    layer = ConvLSTM2D(2, 2, return_sequences=True, return_state=True, go_backwards=backwards,
                       zero_output_for_mask=zero_output)
    x = _x((3, 5, 4, 4, 2))
    mask = np.array([[0, 1, 1, 0, 1], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    got = layer(x, mask=Tensor(mask))
    for g, w in zip(got, _reference(layer, x, mask), strict=True):
        np.testing.assert_allclose(g.data, w, rtol=1e-4, atol=1e-5)
    masked_out = got[0].data[1, 2 if not backwards else 4 - 2]
    if zero_output:
        np.testing.assert_array_equal(masked_out, 0)
    output_mask, h_mask, c_mask = layer.compute_mask(x, mask)
    assert output_mask is mask and h_mask is None and c_mask is None


def test_initial_states_eager_and_in_the_functional_api():
    x = _x((2, 3, 5, 5, 2))
    h0, c0 = _x((2, 2, 5, 5), 3), _x((2, 2, 5, 5), 4)
    layer = ConvLSTM2D(2, 3, padding="same", data_format="channels_first", return_state=True)
    x_first = np.ascontiguousarray(np.moveaxis(x, -1, 2))
    got = layer(x_first, initial_state=[h0, c0])
    for g, w in zip(got, _reference(layer, x_first, initial=[h0, c0]), strict=True):
        np.testing.assert_allclose(g.data, w, rtol=1e-4, atol=1e-5)
    seq, h_in, c_in = Input((3, 2, 5, 5)), Input((2, 5, 5)), Input((2, 5, 5))
    out, h, c = layer(seq, initial_state=[h_in, c_in])
    model = Model([seq, h_in, c_in], [out, c])
    assert model.output_shape == [(None, 2, 5, 5), (None, 2, 5, 5)]
    y = model.predict([x_first, h0, c0], verbose=0)
    np.testing.assert_allclose(y[1], got[2].data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make,shape,state", [
    (lambda: ConvLSTM2D(3, 2, padding="same", dropout=0.3, recurrent_dropout=0.4, return_sequences=True, seed=5),
     (2, 4, 5, 4, 2), (2, 5, 4, 3)),
    (lambda: ConvLSTM1D(2, 3, strides=2, dropout=0.3, recurrent_dropout=0.4, return_sequences=True, seed=5,
                        data_format="channels_first"), (2, 4, 2, 7), (2, 2, 3)),
    (lambda: ConvLSTM3D(2, 2, padding="same", dropout=0.3, recurrent_dropout=0.4, return_sequences=True, seed=5),
     (2, 3, 3, 3, 2, 1), (2, 3, 3, 2, 2)),
], ids=["2d", "1d-channels-first", "3d"])
def test_the_per_step_cell_matches_the_layer_with_and_without_dropout(make, shape, state):
    """The cell's per-gate step (as Keras writes it) run in a Python loop equals the layer's
    grouped convolutions, in inference and in training with the per-gate dropout masks."""
    layer = make()
    x = _x(shape)
    for training in (False, True):
        got = layer(x, training=training).data
        cell = layer.cell
        h = Tensor(np.zeros(state, "float32"))
        states, outs = [h, h], []
        for t in range(shape[1]):
            out, states = cell.call(Tensor(x[:, t]), states, training=training)
            outs.append(out.data)
        np.testing.assert_allclose(got, np.stack(outs, axis=1), rtol=1e-5, atol=1e-6)
        if training:
            dp, rdp = cell._masks["input"], cell._masks["recurrent"]
            assert dp.shape == (4, shape[0], *_channels_last(layer, np.zeros(shape[2:]), 0).shape)
            assert rdp.shape == (4, *_channels_last(layer, np.zeros(state), 1).shape)
            assert not np.array_equal(dp[0], dp[1])  # one mask per gate
            assert set(np.unique(dp)) == {0.0, np.float32(1 / 0.7)}
    inference = layer(x).data
    np.testing.assert_array_equal(inference, layer(x, training=False).data)
    assert not np.allclose(layer(x, training=True).data, inference)


def test_dropout_seed_gives_the_same_masks():
    make = lambda: ConvLSTM2D(2, 2, dropout=0.5, recurrent_dropout=0.5, seed=3, kernel_initializer="ones",  # noqa: E731
                              recurrent_initializer="ones")
    x = _x((2, 3, 4, 4, 1))
    np.testing.assert_array_equal(make()(x, training=True).data, make()(x, training=True).data)


def test_stateful_runs_two_batches_as_one_sequence():
    x = _x((2, 6, 4, 4, 2))
    whole = ConvLSTM2D(2, 3, padding="same", return_state=True)
    stateful = ConvLSTM2D(2, 3, padding="same", stateful=True, batch_input_shape=(2, 3, 4, 4, 2))
    stateful.build_for((2, 3, 4, 4, 2))
    whole.build_for((None, 3, 4, 4, 2))
    whole.set_weights(stateful.get_weights())
    _, h, c = whole(x)
    stateful(x[:, :3])
    second = stateful(x[:, 3:])
    np.testing.assert_allclose(second.data, h.data, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stateful.states[1], c.data, rtol=1e-5, atol=1e-6)
    stateful.reset_states()
    assert not stateful.states[0].any()
    stateful.reset_states([h.data, c.data])
    np.testing.assert_array_equal(stateful.states[0], h.data)
    with pytest.raises(ValueError, match=r"ConvLSTM2D '.*': a state must have shape \(2, 4, 4, 2\); "
                                         r"received \(2, 4, 4, 3\)"):
        stateful.reset_states([np.zeros((2, 4, 4, 3)), np.zeros((2, 4, 4, 3))])
    with pytest.raises(ValueError, match="reset_states expected 2 state arrays"):
        stateful.reset_states([h.data])
    with pytest.raises(ValueError, match="a stateful layer takes batches of 2 samples"):
        stateful(x[:1, :3])


def test_weights_names_shapes_order_and_the_forget_bias():
    layer = ConvLSTM2D(3, (2, 3), name="clstm")
    layer.build_for((None, 4, 6, 6, 5))
    assert [(w.name, w.shape) for w in layer.weights] == [
        ("clstm/conv_lstm_cell/kernel", (2, 3, 5, 12)), ("clstm/conv_lstm_cell/recurrent_kernel", (2, 3, 3, 12)),
        ("clstm/conv_lstm_cell/bias", (12,))]
    np.testing.assert_array_equal(layer.bias.data, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    assert layer.filters == 3 and layer.kernel is layer.cell.kernel and layer.kernel_size == (2, 3)
    # the recurrent kernel is orthogonal as a (kh * kw * filters, 4 * filters) matrix
    flat = layer.recurrent_kernel.data.reshape(-1, 12)
    np.testing.assert_allclose(flat.T @ flat, np.eye(12), atol=1e-5)
    plain = ConvLSTM2D(3, 2, unit_forget_bias=False, bias_initializer="ones")
    plain.build_for((None, 4, 6, 6, 5))
    np.testing.assert_array_equal(plain.bias.data, np.ones(12))


def test_weight_and_activity_penalties_and_constraints():
    layer = ConvLSTM2D(2, 2, kernel_regularizer="l2", recurrent_regularizer="l1", bias_regularizer="l2",
                       activity_regularizer="l2", kernel_constraint="non_neg")
    model = Sequential([Input((3, 4, 4, 1)), layer, Flatten(), Dense(1)])
    model.compile("sgd", "mse")
    x, y = _x((4, 3, 4, 4, 1)), _x((4, 1), 1)
    model.train_on_batch(x, y)
    assert len(layer.losses) == 4
    assert (layer.kernel.data >= 0).all()
    config = layer.get_config()
    assert config["kernel_regularizer"]["class_name"] == "L2" and config["kernel_constraint"]["class_name"] == "NonNeg"


def test_a_trained_model_learns():
    model = Sequential([Input((4, 5, 5, 1)), ConvLSTM2D(3, 3, padding="same", return_sequences=True),
                        ConvLSTM2D(2, 3), Flatten(), Dense(1)])
    model.compile(Adam(learning_rate=0.02), "mse")
    x = _x((16, 4, 5, 5, 1))
    y = x.mean(axis=(1, 2, 3)).reshape(16, 1) * 3
    first = model.train_on_batch(x, y)
    for _ in range(30):
        last = model.train_on_batch(x, y)
    assert last < 0.5 * first


def test_bidirectional_conv_lstm():
    layer = Bidirectional(ConvLSTM2D(2, 2, return_sequences=True), merge_mode="sum")
    x = _x((2, 3, 4, 4, 1))
    y = layer(x)
    assert y.shape == (2, 3, 3, 3, 2) == layer.compute_output_shape((2, 3, 4, 4, 1))
    forward, backward = layer.forward_layer, layer.backward_layer
    want = _reference(forward, x)[0] + _reference(backward, x)[0][:, ::-1]
    np.testing.assert_allclose(y.data, want, rtol=1e-4, atol=1e-5)


def test_keras2_config_of_tf_keras():
    """A tf.keras 2 ConvLSTM2D config as it writes it (time_major, initializers without module)."""
    config = {"name": "conv_lst_m2d", "trainable": True, "batch_input_shape": [None, 4, 6, 6, 2],
              "dtype": "float32", "return_sequences": True, "return_state": False, "go_backwards": False,
              "stateful": False, "unroll": False, "time_major": False, "filters": 3, "kernel_size": [3, 3],
              "strides": [1, 1], "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1],
              "activation": "tanh", "recurrent_activation": "hard_sigmoid", "use_bias": True,
              "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": True,
              "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
              "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
              "bias_constraint": None, "dropout": 0.1, "recurrent_dropout": 0.0}
    layer = layer_from_spec(json.loads(json.dumps({"class_name": "ConvLSTM2D", "config": config})))
    assert isinstance(layer, ConvLSTM2D) and layer.name == "conv_lst_m2d"
    assert (layer.filters, layer.kernel_size, layer.padding, layer.dropout) == (3, (3, 3), "same", 0.1)
    assert layer.recurrent_activation.__name__ == "hard_sigmoid" and layer.return_sequences
    assert layer.batch_input_shape == (None, 4, 6, 6, 2)
    assert layer.compute_output_shape((None, 4, 6, 6, 2)) == (None, 4, 6, 6, 3)
    again = layer.get_config()
    assert "time_major" not in again and again["recurrent_activation"] == "hard_sigmoid"
    assert ConvLSTM2D.from_config(again).get_config() == again


def test_keras1_arguments():
    with pytest.warns(DeprecationWarning, match="Keras 1 arguments"):
        layer = ConvLSTM2D(nb_filter=4, nb_row=3, nb_col=2, border_mode="same", dim_ordering="th",
                           inner_activation="hard_sigmoid", forget_bias_init="one", dropout_W=0.2, subsample=(1, 1))
    assert (layer.filters, layer.kernel_size, layer.padding, layer.data_format) == (4, (3, 2), "same",
                                                                                    "channels_first")
    assert layer.recurrent_activation.__name__ == "hard_sigmoid" and layer.unit_forget_bias and layer.dropout == 0.2
    with pytest.warns(DeprecationWarning):
        assert ConvLSTM2D(4, 3, 3).kernel_size == (3, 3)


def test_errors_name_the_layer_the_argument_and_the_value():
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': expected a 5-D input \(batch, time, rows, cols, "
                                         r"channels\) or \(batch, time, channels, rows, cols\), received input "
                                         r"shape \(None, 6, 6, 2\)"):
        ConvLSTM2D(2, 2, name="c")(_x((2, 6, 6, 2)))
    with pytest.raises(ValueError, match=r"ConvLSTM1D 'c1': expected a 4-D input"):
        ConvLSTM1D(2, 2, name="c1").build_for((None, 3, 5, 2, 1))
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': strides greater than 1 cannot be combined with a "
                                         r"dilation_rate greater than 1; received strides=\(2, 2\), "
                                         r"dilation_rate=\(2, 2\)"):
        ConvLSTM2D(2, 2, strides=2, dilation_rate=2, name="c")
    with pytest.raises(ValueError, match=r"argument `padding` must be one of \('valid', 'same'\); received "
                                         r"padding='causal'"):
        ConvLSTM2D(2, 2, padding="causal")
    with pytest.raises(ValueError, match=r"Invalid value for argument `filters` of ConvLSTM2D 'c'. Expected a "
                                         r"strictly positive integer. Received filters=0"):
        ConvLSTM2D(0, 2, name="c")
    with pytest.raises(ValueError, match=r"ConvLSTM3D 'c': argument `kernel_size` must be an int or a tuple of 3 "
                                         r"ints; received kernel_size=\(2, 2\)"):
        ConvLSTM3D(2, (2, 2), name="c")
    with pytest.raises(ValueError, match=r"argument `data_format` must be 'channels_last' or 'channels_first'; "
                                         r"received data_format='nhwc'"):
        ConvLSTM2D(2, 2, data_format="nhwc")
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': argument `dropout` must be in the range \[0, 1\); "
                                         r"received dropout=1.5"):
        ConvLSTM2D(2, 2, dropout=1.5, name="c")
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': time_major=True is not supported"):
        ConvLSTM2D(2, 2, time_major=True, name="c")
    with pytest.raises(TypeError, match=r"ConvLSTM2D: unexpected keyword argument\(s\) \['filter'\]"):
        ConvLSTM2D(2, 2, filter=3)
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': spatial axis 1 of the input \(2\) is smaller than the "
                                         r"kernel \(3\) with padding='valid' \(input shape \(None, 4, 5, 2, 1\)\)"):
        ConvLSTM2D(2, 3, name="c").build_for((None, 4, 5, 2, 1))
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': the spatial axes of the input must be "
                                         r"known \(ConvLSTM layers need static spatial sizes\); received step "
                                         r"shape \(None, None, 5, 1\)"):
        ConvLSTM2D(2, 3, name="c").build_for((None, 4, None, 5, 1))
    with pytest.raises(ValueError, match=r"ConvLSTM2D '.*': the channel axis of the input must be known; received "
                                         r"step shape \(None, None, 5, 5\)"):
        ConvLSTM2D(2, 3, data_format="channels_first").build_for((None, 4, None, 5, 5))
    built = ConvLSTM2D(2, 3, name="c")
    built.build_for((None, 4, 5, 5, 1))
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': expected 1 input channels \(channels_last\), received "
                                         r"input shape \(None, 4, 5, 5, 2\)"):
        built(_x((2, 4, 5, 5, 2)))
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': a stateful layer needs a fixed batch size"):
        ConvLSTM2D(2, 3, stateful=True, name="c").build_for((None, 4, 5, 5, 1))
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': an initial state must have shape \(2, 3, 3, 2\); "
                                         r"received \(2, 5, 5, 2\)"):
        built(_x((2, 4, 5, 5, 1)), initial_state=[_x((2, 5, 5, 2)), _x((2, 5, 5, 2))])
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': the layer has 2 states \(h, c\); received 1 initial "
                                         r"states"):
        built(_x((2, 4, 5, 5, 1)), initial_state=[_x((2, 3, 3, 2))])
    with pytest.raises(ValueError, match=r"ConvLSTM2D 'c': the mask must have shape \(batch, time\) = \(2, 4\); "
                                         r"received \(2, 4, 5, 5\)"):
        built(_x((2, 4, 5, 5, 1)), mask=np.ones((2, 4, 5, 5), bool))
    with pytest.raises(AttributeError, match=r"ConvLSTM2D 'c': reset_states\(\) applies to stateful layers only"):
        built.reset_states()


@pytest.mark.parametrize("name", ["kerasette.layers.recurrent.conv_lstm", "kerasette.backend.ops.conv_recurrent"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


def test_a_stateful_model_trains_and_keeps_its_states_between_batches():
    model = Sequential([Input(batch_shape=(2, 3, 4, 4, 1)),
                        ConvLSTM2D(2, 3, padding="same", stateful=True, return_sequences=True),
                        ConvLSTM2D(2, 2, stateful=True), Flatten(), Dense(1)])
    model.compile(Adam(learning_rate=0.01), "mse")
    x, y = _x((2, 3, 4, 4, 1)), _x((2, 1), 1)
    first = model.train_on_batch(x, y)
    states = [np.array(s) for s in model.layers[0].states]
    assert np.isfinite(first) and np.abs(states[0]).sum() > 0
    model.train_on_batch(x, y)
    assert not np.allclose(model.layers[0].states[0], states[0])
    for layer in model.layers[:2]:
        layer.reset_states()
    assert not model.layers[1].states[1].any()
