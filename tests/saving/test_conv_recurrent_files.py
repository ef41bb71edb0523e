"""A stateful ConvLSTM2D model written by real Keras 3 (``data/keras3_stateful``, made by
``data/keras3_layers/make_conv_recurrent.py``): kerasette predicts two consecutive batches as
Keras did, the second from the states the first left; the weights load under Keras's names.
(The stateless fixtures are in ``data/keras3_layers``, checked by ``test_keras3_layers.py`` and
``test_keras_interop.py``.)"""

from __future__ import annotations

import numpy as np

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
