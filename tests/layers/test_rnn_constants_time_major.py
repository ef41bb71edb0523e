"""`RNN` with Keras 2's ``constants`` (tensors every step of the cell sees) and ``time_major``
(inputs and output sequences (steps, batch, ...)). Keras 3 has neither (its RNN has no
``constants`` argument and no ``time_major``), so there is no Keras 3 file to compare with: the
values are checked against numpy loops, the gradients by central differences in float64."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.backend as K
from kerasette import layers
from kerasette.backend.tensor import Tensor
from kerasette.layers import GRU, LSTM, RNN, Input, Layer, SimpleRNN
from kerasette.models import Model, load_model
from tests.helpers import check_gradients


def _x(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


class ConditionedCell(Layer):
    """h_t = tanh(x_t W + h_{t-1} U + c V): a cell conditioned on a constant vector per sample."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        step, constant = input_shape  # RNN builds it with [step_input_shape, constant_shape]
        self.kernel = self.add_weight("kernel", (step[-1], self.units), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units),
                                                initializer="orthogonal")
        self.constant_kernel = self.add_weight("constant_kernel", (constant[-1], self.units),
                                               initializer="glorot_uniform")
        self.built = True

    def call(self, inputs, states, constants):
        h = K.tanh(K.dot(inputs, self.kernel) + K.dot(states[0], self.recurrent_kernel)
                   + K.dot(constants[0], self.constant_kernel))
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _conditioned_reference(cell, x, c, mask=None, go_backwards=False):
    w, u, v = (np.asarray(t.data, np.float64) for t in (cell.kernel, cell.recurrent_kernel, cell.constant_kernel))
    h = np.zeros((x.shape[0], cell.units))
    outputs = []
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    for t in steps:
        new = np.tanh(x[:, t] @ w + h @ u + c @ v)
        h = new if mask is None else np.where(mask[:, t, None], new, h)
        outputs.append(h)
    return np.stack(outputs, 1)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_constants_reach_the_cell_at_every_step(go_backwards, masked):
    x, c = _x((3, 5, 4), 1), _x((3, 2), 2)
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1], [1, 1, 1, 1, 1]], bool) if masked else None
    layer = RNN(ConditionedCell(3), return_sequences=True, go_backwards=go_backwards)
    out = layer(Tensor(x), constants=Tensor(c), **({"mask": mask} if masked else {}))
    expected = _conditioned_reference(layer.cell, x, c, mask, go_backwards)
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)
    assert [tuple(w.shape) for w in layer.weights] == [(4, 3), (3, 3), (2, 3)]


def test_constants_with_initial_state_and_return_state():
    x, c, h0 = _x((2, 4, 3), 3), _x((2, 5), 4), _x((2, 2), 5)
    layer = RNN(ConditionedCell(2), return_state=True)
    out, h = layer(Tensor(x), initial_state=[Tensor(h0)], constants=[Tensor(c)])
    cell = layer.cell
    w, u, v = (t.data for t in (cell.kernel, cell.recurrent_kernel, cell.constant_kernel))
    expected = h0
    for t in range(4):
        expected = np.tanh(x[:, t] @ w + expected @ u + c @ v)
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.data, expected, rtol=1e-5, atol=1e-6)


def test_constants_gradients_float64():
    x, c = _x((2, 4, 3), 6, "float64"), _x((2, 2), 7, "float64")
    mask = np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool)
    layer = RNN(ConditionedCell(3, dtype="float64"), return_sequences=True, dtype="float64")
    layer(Tensor(x), constants=Tensor(c))  # build
    check_gradients(lambda xt, ct: layer(xt, constants=ct, mask=mask), [x, c], rtol=1e-4, atol=1e-7)


def test_constants_in_a_functional_model_round_trip_through_config_and_file(tmp_path):
    seq, cond = Input((5, 4)), Input((2,))
    h = RNN(ConditionedCell(3), name="conditioned")(seq, constants=cond)
    model = Model([seq, cond], layers.Dense(1)(h))
    x, c = _x((3, 5, 4), 8), _x((3, 2), 9)
    expected = model.predict([x, c], verbose=0)
    config = model.get_config()
    rnn_config = next(entry for entry in config["layers"] if entry["config"]["name"] == "conditioned")["config"]
    assert rnn_config["num_constants"] == 1 and "time_major" not in rnn_config
    custom = {"ConditionedCell": ConditionedCell}
    rebuilt = Model.from_config(config, custom)
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict([x, c], verbose=0), expected, rtol=1e-6)
    model.compile("sgd", "mse")
    model.fit([x, c], np.zeros((3, 1)), epochs=1, verbose=0)
    trained = model.predict([x, c], verbose=0)
    model.save(tmp_path / "conditioned.h5")
    loaded = load_model(tmp_path / "conditioned.h5", custom_objects=custom)
    np.testing.assert_allclose(loaded.predict([x, c], verbose=0), trained, rtol=1e-6)


def test_cell_without_constants_is_an_error():
    with pytest.raises(ValueError, match=r"RNN '.*': the cell LSTMCell does not take `constants`: its call must "
                                         r"accept them, call\(inputs, states, constants=None\)"):
        RNN(layers.LSTMCell(3))(Tensor(_x((2, 4, 3))), constants=Tensor(_x((2, 2))))
    with pytest.raises(ValueError, match=r"LSTM '.*': the cell LSTMCell does not take `constants`"):
        LSTM(3)(Input((4, 3)), constants=Input((2,)))


# ------------------------------------------------------------------------------- time_major
@pytest.mark.parametrize("kind", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("options", [{}, {"go_backwards": True}, {"return_state": True}],
                         ids=["", "backwards", "state"])
def test_time_major_is_the_batch_major_layer_transposed(kind, options):
    x = _x((3, 6, 4), 10)  # batch-major
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1]], bool)
    batch_major = kind(5, return_sequences=True, **options)
    time_major = kind(5, return_sequences=True, time_major=True, **options)
    batch_major(Tensor(x))
    time_major(Tensor(x.transpose(1, 0, 2)))
    time_major.set_weights(batch_major.get_weights())
    a = batch_major(Tensor(x), mask=mask)
    b = time_major(Tensor(x.transpose(1, 0, 2)), mask=mask.T)
    a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
    np.testing.assert_allclose(b[0].data, a[0].data.transpose(1, 0, 2), rtol=1e-6, atol=1e-7)
    for sa, sb in zip(a[1:], b[1:]):  # states stay (batch, units)
        np.testing.assert_allclose(sb.data, sa.data, rtol=1e-6, atol=1e-7)


def test_time_major_shapes_config_and_last_output():
    layer = LSTM(4, time_major=True)
    assert layer.compute_output_shape((7, None, 3)) == (None, 4)
    assert LSTM(4, time_major=True, return_sequences=True).compute_output_shape((7, None, 3)) == (7, None, 4)
    assert LSTM(4, time_major=True, return_state=True).compute_output_shape((7, 2, 3)) == [(2, 4), (2, 4), (2, 4)]
    x = _x((7, 2, 3), 11)
    out = layer(Tensor(x))
    assert out.shape == (2, 4)
    assert layer.get_config()["time_major"] is True and "time_major" not in LSTM(4).get_config()
    clone = LSTM.from_config(layer.get_config())
    clone(Tensor(x))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(Tensor(x)).data, out.data)


def test_time_major_gradients_float64():
    layer = SimpleRNN(3, time_major=True, return_sequences=True, dtype="float64")
    x = _x((4, 2, 3), 12, "float64")
    layer(Tensor(x))
    kernel = layer.cell.kernel.data.copy()

    def fn(xt, k):
        object.__setattr__(layer.cell, "kernel", k)
        return layer(xt, mask=np.array([[1, 1], [0, 1], [1, 1], [1, 0]], bool))

    saved = layer.cell.kernel
    try:
        check_gradients(fn, [x, kernel], rtol=1e-4, atol=1e-7)
    finally:
        object.__setattr__(layer.cell, "kernel", saved)


def test_time_major_stateful_takes_the_batch_from_the_second_axis():
    layer = LSTM(3, time_major=True, stateful=True, batch_input_shape=(4, 2, 3))
    x = _x((8, 2, 3), 13)
    first, second = layer(Tensor(x[:4])), layer(Tensor(x[4:]))
    whole = LSTM(3, time_major=True)
    whole(Tensor(x))
    whole.set_weights(layer.get_weights())
    np.testing.assert_allclose(second.data, whole(Tensor(x)).data, rtol=1e-5, atol=1e-6)
    assert first.shape == (2, 3)


def test_time_major_mask_shape_error():
    with pytest.raises(ValueError, match=r"LSTM '.*': the mask must have shape \(steps, batch\) = \(5, 2\); "
                                         r"received \(2, 5\)"):
        LSTM(3, time_major=True)(Tensor(_x((5, 2, 3))), mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match=r"LSTM '.*': the input must be \(steps, batch, features\); received input "
                                         r"shape \(5, 3\)"):
        LSTM(3, time_major=True).build((5, 3))
