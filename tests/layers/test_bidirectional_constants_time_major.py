"""Bidirectional with Keras 2's ``time_major`` and ``constants``, and constants through
`StackedRNNCells`. Keras 3 has neither option, so the values are checked against the two
direction layers run by hand and against numpy loops, the gradients by central differences in
float64."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.backend as K
from kerasette import layers
from kerasette.backend.tensor import Tensor
from kerasette.layers import GRU, LSTM, RNN, Bidirectional, Input, Layer, SimpleRNN, StackedRNNCells
from kerasette.models import Model, load_model
from kerasette.saving import register_keras_serializable
from tests.helpers import check_gradients
from tests.layers.test_rnn_constants_time_major import ConditionedCell as _Cell
from tests.layers.test_rnn_constants_time_major import _conditioned_reference, _x


@register_keras_serializable(package="bidirectional_tests")
class ConditionedCell(_Cell):
    """The conditioned cell, registered: Bidirectional makes its two directions from the
    layer's config, as Keras does, so the cell's class must be found by name."""

MASK = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1]], bool)  # (batch, steps)


# ------------------------------------------------------------------------------- time_major
@pytest.mark.parametrize("kind", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
@pytest.mark.parametrize("masked", [False, True])
def test_time_major_is_the_batch_major_wrapper_transposed(kind, merge_mode, masked):
    x = _x((3, 6, 4), 1)
    batch_major = Bidirectional(kind(3, return_sequences=True), merge_mode=merge_mode)
    time_major = Bidirectional(kind(3, return_sequences=True, time_major=True), merge_mode=merge_mode)
    batch_major(Tensor(x))
    time_major(Tensor(x.transpose(1, 0, 2)))
    time_major.set_weights(batch_major.get_weights())
    a = batch_major(Tensor(x), **({"mask": MASK} if masked else {}))
    b = time_major(Tensor(x.transpose(1, 0, 2)), **({"mask": MASK.T} if masked else {}))
    for ya, yb in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        np.testing.assert_allclose(yb.data, ya.data.transpose(1, 0, 2), rtol=1e-6, atol=1e-7)


def test_time_major_backward_output_is_reversed_along_the_steps():
    x = _x((5, 2, 3), 2)  # (steps, batch, features)
    wrapper = Bidirectional(SimpleRNN(4, return_sequences=True, time_major=True), merge_mode=None)
    forward, backward = wrapper(Tensor(x))
    b = wrapper.backward_layer
    w, u, bias = (v.data.astype(np.float64) for v in b.weights)
    h, expected = np.zeros((2, 4)), np.zeros((5, 2, 4))
    for t in range(4, -1, -1):  # the backward direction reads the last step first ...
        h = np.tanh(x[t] @ w + h @ u + bias)
        expected[t] = h  # ... and its output is put back in time order
    np.testing.assert_allclose(backward.data, expected, rtol=1e-5, atol=1e-6)
    assert wrapper.compute_output_shape((5, None, 3)) == [(5, None, 4), (5, None, 4)]
    assert forward.shape == (5, 2, 4)


def test_time_major_last_output_and_states():
    x = _x((6, 3, 4), 3)
    wrapper = Bidirectional(LSTM(2, time_major=True, return_state=True))
    out, hf, cf, hb, cb = wrapper(Tensor(x), mask=MASK.T)
    assert out.shape == (3, 4) and hf.shape == cf.shape == hb.shape == cb.shape == (3, 2)
    np.testing.assert_allclose(out.data, np.concatenate([hf.data, hb.data], -1), rtol=1e-6)
    single = LSTM(2, time_major=True)
    single(Tensor(x))
    single.set_weights(wrapper.forward_layer.get_weights())
    np.testing.assert_allclose(hf.data, single(Tensor(x), mask=MASK.T).data, rtol=1e-6, atol=1e-7)


def test_time_major_gradients_float64():
    wrapper = Bidirectional(GRU(2, return_sequences=True, time_major=True, dtype="float64"), merge_mode="ave",
                            dtype="float64")
    x = _x((4, 2, 3), 4, "float64")
    wrapper(Tensor(x))
    check_gradients(lambda xt: wrapper(xt, mask=np.array([[1, 1], [1, 0], [1, 1], [0, 1]], bool)), [x],
                    rtol=1e-4, atol=1e-7)


def test_time_major_in_a_model_round_trips_through_a_file(tmp_path):
    inp = Input(batch_shape=(5, None, 3))
    model = Model(inp, Bidirectional(LSTM(2, return_sequences=True, time_major=True), name="bi")(inp))
    x = _x((5, 2, 3), 5)  # predict splits the first axis (here the steps): one batch of all of them
    expected = model.predict(x, verbose=0, batch_size=5)
    assert model.get_layer("bi").get_config()["layer"]["config"]["time_major"] is True
    model.save(tmp_path / "time_major.h5")
    again = load_model(tmp_path / "time_major.h5", compile=False)
    np.testing.assert_allclose(again.predict(x, verbose=0, batch_size=5), expected, rtol=1e-6)


# -------------------------------------------------------------------------------- constants
def _bidirectional_reference(wrapper, x, c, mask=None):
    forward = _conditioned_reference(wrapper.forward_layer.cell, x, c, mask)
    backward = _conditioned_reference(wrapper.backward_layer.cell, x, c, mask, go_backwards=True)
    return forward, backward[:, ::-1]


@pytest.mark.parametrize("masked", [False, True])
def test_constants_reach_both_directions(masked):
    x, c = _x((3, 6, 4), 6), _x((3, 2), 7)
    wrapper = Bidirectional(RNN(ConditionedCell(3), return_sequences=True))
    out = wrapper(Tensor(x), constants=Tensor(c), **({"mask": MASK} if masked else {}))
    forward, backward = _bidirectional_reference(wrapper, x, c, MASK if masked else None)
    if masked:  # Bidirectional sets zero outputs at masked steps, as Keras does
        forward, backward = forward * MASK[..., None], backward * MASK[..., None]
    np.testing.assert_allclose(out.data, np.concatenate([forward, backward], -1), rtol=1e-5, atol=1e-6)
    assert [tuple(w.shape) for w in wrapper.weights] == [(4, 3), (3, 3), (2, 3)] * 2
    assert wrapper.get_config()["num_constants"] == 1 and "num_constants" not in Bidirectional(LSTM(2)).get_config()


def test_constants_with_initial_states_and_return_state():
    x, c = _x((2, 4, 3), 8), _x((2, 5), 9)
    h0f, h0b = _x((2, 2), 10), _x((2, 2), 11)
    wrapper = Bidirectional(RNN(ConditionedCell(2), return_state=True), merge_mode="sum")
    out, hf, hb = wrapper(Tensor(x), initial_state=[Tensor(h0f), Tensor(h0b)], constants=[Tensor(c)])

    def run(cell, h, steps):
        w, u, v = (t.data for t in (cell.kernel, cell.recurrent_kernel, cell.constant_kernel))
        for t in steps:
            h = np.tanh(x[:, t] @ w + h @ u + c @ v)
        return h

    expected_f = run(wrapper.forward_layer.cell, h0f, range(4))
    expected_b = run(wrapper.backward_layer.cell, h0b, range(3, -1, -1))
    np.testing.assert_allclose(hf.data, expected_f, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hb.data, expected_b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.data, expected_f + expected_b, rtol=1e-5, atol=1e-6)


def test_constants_and_time_major_together():
    x, c = _x((3, 5, 4), 12), _x((3, 2), 13)
    wrapper = Bidirectional(RNN(ConditionedCell(3), return_sequences=True, time_major=True), merge_mode=None)
    forward, backward = wrapper(Tensor(x.transpose(1, 0, 2)), constants=Tensor(c))
    expected_f, expected_b = _bidirectional_reference(wrapper, x, c)
    np.testing.assert_allclose(forward.data, expected_f.transpose(1, 0, 2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(backward.data, expected_b.transpose(1, 0, 2), rtol=1e-5, atol=1e-6)


def test_constants_gradients_float64():
    x, c = _x((2, 4, 3), 14, "float64"), _x((2, 2), 15, "float64")
    wrapper = Bidirectional(RNN(ConditionedCell(2, dtype="float64"), return_sequences=True, dtype="float64"),
                            dtype="float64")
    wrapper(Tensor(x), constants=Tensor(c))
    mask = np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool)
    check_gradients(lambda xt, ct: wrapper(xt, constants=ct, mask=mask), [x, c], rtol=1e-4, atol=1e-7)


def test_constants_in_a_functional_model_round_trip_through_config_and_file(tmp_path):
    seq, cond = Input((5, 4)), Input((2,))
    h = Bidirectional(RNN(ConditionedCell(3)), name="bi")(seq, constants=cond)
    model = Model([seq, cond], layers.Dense(1)(h))
    x, c = _x((3, 5, 4), 16), _x((3, 2), 17)
    expected = model.predict([x, c], verbose=0)
    rebuilt = Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict([x, c], verbose=0), expected, rtol=1e-6)
    model.compile("sgd", "mse")
    model.fit([x, c], np.zeros((3, 1)), epochs=1, verbose=0)
    trained = model.predict([x, c], verbose=0)
    model.save(tmp_path / "bidirectional_constants.h5")
    loaded = load_model(tmp_path / "bidirectional_constants.h5")
    np.testing.assert_allclose(loaded.predict([x, c], verbose=0), trained, rtol=1e-6)


def test_constants_need_a_cell_that_takes_them():
    with pytest.raises(ValueError, match=r"LSTM 'forward_lstm.*': the cell LSTMCell does not take `constants`"):
        Bidirectional(LSTM(3))(Tensor(_x((2, 4, 3))), constants=Tensor(_x((2, 2))))


# ---------------------------------------------------------------------- StackedRNNCells constants
def test_constants_reach_the_stacked_cells_that_take_them():
    x, c = _x((3, 5, 4), 18), _x((3, 2), 19)
    stacked = StackedRNNCells([ConditionedCell(3), layers.SimpleRNNCell(2), ConditionedCell(2)])
    layer = RNN(stacked, return_sequences=True)
    out = layer(Tensor(x), constants=Tensor(c), mask=MASK[:, :5])
    first, middle, last = stacked.cells
    assert tuple(last.constant_kernel.shape) == (2, 2) and not hasattr(middle, "constant_kernel")
    h1 = _conditioned_reference(first, x, c, MASK[:, :5])
    w, u, b = (v.data for v in middle.weights)
    h2, seq = np.zeros((3, 2)), []
    for t in range(5):
        new = np.tanh(h1[:, t] @ w + h2 @ u + b)
        h2 = np.where(MASK[:, t, None], new, h2)
        seq.append(h2)
    expected = _conditioned_reference(last, np.stack(seq, 1), c, MASK[:, :5])
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)


def test_stacked_cells_constants_gradients_float64():
    x, c = _x((2, 4, 3), 20, "float64"), _x((2, 2), 21, "float64")
    stacked = StackedRNNCells([ConditionedCell(2, dtype="float64"), layers.GRUCell(2, dtype="float64")],
                              dtype="float64")
    layer = RNN(stacked, dtype="float64")
    layer(Tensor(x), constants=Tensor(c))
    check_gradients(lambda xt, ct: layer(xt, constants=ct), [x, c], rtol=1e-4, atol=1e-7)


def test_stacked_cells_with_constants_round_trip_through_config():
    seq, cond = Input((5, 4)), Input((2,))
    out = RNN(StackedRNNCells([ConditionedCell(3), layers.LSTMCell(2)]), name="rnn")(seq, constants=cond)
    model = Model([seq, cond], out)
    x, c = _x((2, 5, 4), 22), _x((2, 2), 23)
    rebuilt = Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict([x, c], verbose=0), model.predict([x, c], verbose=0), rtol=1e-6)


class _KwargsCell(Layer):
    """A cell whose call takes **kwargs: it receives the constants too (Keras 2's rule)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def call(self, inputs, states, **kwargs):
        c = kwargs["constants"][0]
        return K.sum(c, axis=-1, keepdims=True) + states[0], [states[0] + 1.0]


def test_a_cell_taking_keyword_arguments_gets_the_constants():
    c = _x((2, 3), 24)
    out = RNN(StackedRNNCells([_KwargsCell(1)]))(Tensor(_x((2, 3, 1), 25)), constants=Tensor(c))
    np.testing.assert_allclose(out.data, c.sum(-1, keepdims=True) + 2.0, rtol=1e-6)
