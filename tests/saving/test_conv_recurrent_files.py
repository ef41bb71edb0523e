"""A stateful ConvLSTM2D model written by real Keras 3 (``data/keras3_stateful``, made by
``data/keras3_layers/make_conv_recurrent.py``): kerasette predicts two consecutive batches as
Keras did, the second from the states the first left; the weights load under Keras's names.
(The stateless fixtures are in ``data/keras3_layers``, checked by ``test_keras3_layers.py`` and
``test_keras_interop.py``.)"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from kerasette.layers import ConvLSTM2D
from kerasette.models import load_model
from tests.saving.conftest import DATA


def test_a_keras3_stateful_conv_lstm_carries_its_states_from_batch_to_batch():
    data = np.load(DATA / "keras3_stateful/conv_lstm_stateful.npz")
    model = load_model(DATA / "keras3_stateful/conv_lstm_stateful.h5", compile=False)
    recurrent = [layer for layer in model.layers if isinstance(layer, ConvLSTM2D)]
    assert len(recurrent) == 2 and all(layer.stateful for layer in recurrent)
    assert [w.name.split("/", 1)[1] for w in recurrent[0].weights] == [
        "conv_lstm_cell/kernel", "conv_lstm_cell/recurrent_kernel", "conv_lstm_cell/bias"]
    np.testing.assert_allclose(model.predict_on_batch(data["x_first"]), data["y_first"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(data["x_second"]), data["y_second"], rtol=0, atol=1e-5)
    for layer in recurrent:
        layer.reset_states()
    np.testing.assert_allclose(model.predict_on_batch(data["x_first"]), data["y_first"], rtol=0, atol=1e-5)


def test_the_keras3_conv_lstm_files_hold_keras_weights_not_initial_values():
    model = load_model(DATA / "keras3_layers/conv_recurrent_sequences.h5", compile=False)
    first = model.layers[0]
    assert isinstance(first, ConvLSTM2D) and first.return_sequences and not first.unit_forget_bias
    assert first.kernel.shape == (3, 3, 2, 12) and first.recurrent_kernel.shape == (3, 3, 3, 12)
    flat = first.recurrent_kernel.data.reshape(-1, 12)
    assert not np.allclose(flat.T @ flat, np.eye(12), atol=1e-3)  # trained away from its orthogonal start


def _keras1_config(dim_ordering: str) -> dict:
    shape = [None, 3, 2, 5, 6] if dim_ordering == "th" else [None, 3, 5, 6, 2]
    return {"name": "convlstm2d_1", "trainable": True, "batch_input_shape": shape, "input_dtype": "float32",
            "nb_filter": 2, "nb_row": 3, "nb_col": 2, "init": "glorot_uniform", "inner_init": "orthogonal",
            "forget_bias_init": "one", "activation": "tanh", "inner_activation": "sigmoid",
            "dim_ordering": dim_ordering, "border_mode": "same", "subsample": [1, 1], "W_regularizer": None,
            "U_regularizer": None, "b_regularizer": None, "dropout_W": 0.0, "dropout_U": 0.0,
            "return_sequences": True, "go_backwards": False, "stateful": False}


@pytest.mark.parametrize("dim_ordering", ["th", "tf"])
def test_a_keras1_file_with_per_gate_conv_lstm_weights_loads(tmp_path, dim_ordering):
    """Keras 1's 12 arrays (W, U, b per gate, in the order i, c, f, o; Theano's kernels in
    (filters, in, rows, cols) order and flipped by its true convolution) give the layer whose
    Keras 2 weights they were split from."""
    from kerasette.models import Sequential
    from tests.saving.test_recurrent_files import _write_keras1_recurrent_file

    config = _keras1_config(dim_ordering)
    data_format = "channels_first" if dim_ordering == "th" else "channels_last"
    original = Sequential([ConvLSTM2D(2, (3, 2), padding="same", data_format=data_format, return_sequences=True,
                                      batch_input_shape=config["batch_input_shape"])])
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in original.get_weights()]
    original.set_weights(weights)
    per_gate = []
    for g in (0, 2, 1, 3):  # Keras 1 stores i, c, f, o
        for k, label in enumerate("WUb"):
            value = weights[k][..., 2 * g:2 * g + 2]
            if dim_ordering == "th" and k < 2:
                value = value[::-1, ::-1].transpose(3, 2, 0, 1)  # as Theano trained it: flipped, (out, in, r, c)
            per_gate.append((f"convlstm2d_1_{label}_{'icfo'[[0, 2, 1, 3].index(g)]}", value))
    _write_keras1_recurrent_file(tmp_path / "k1.h5", {"convlstm2d_1": per_gate},
                                 [{"class_name": "ConvLSTM2D", "config": config}])
    context = pytest.warns(UserWarning, match="flipping the convolution kernels of convlstm2d_1 in") \
        if dim_ordering == "th" else contextlib.nullcontext()
    with context as record:
        model = load_model(tmp_path / "k1.h5", compile=False)
    if record is not None:
        assert str(record[0].message).count("convlstm2d_1") == 1
    layer = model.layers[0]
    assert (layer.filters, layer.kernel_size, layer.data_format) == (2, (3, 2), data_format)
    for got, want in zip(layer.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    x = rng.standard_normal((2, *config["batch_input_shape"][1:])).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
