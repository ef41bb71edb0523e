"""A stateful recurrent model written by real Keras 3 (``data/keras3_stateful``, made by
``data/keras3_layers/make_recurrent.py``): kerasette predicts two consecutive batches as Keras
did, the second from the states the first left. (The stateless recurrent fixtures are in
``data/keras3_layers`` and checked by ``test_keras3_layers.py`` and ``test_keras_interop.py``.)"""

from __future__ import annotations

import numpy as np

from kerasette.models import load_model
from tests.saving.conftest import DATA


def test_a_keras3_stateful_model_carries_its_states_from_batch_to_batch():
    data = np.load(DATA / "keras3_stateful/stateful.npz")
    model = load_model(DATA / "keras3_stateful/stateful.h5", compile=False)
    assert all(layer.stateful for layer in model.layers[:2])
    np.testing.assert_allclose(model.predict_on_batch(data["x_first"]), data["y_first"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(data["x_second"]), data["y_second"], rtol=0, atol=1e-5)
    for layer in model.layers[:2]:
        layer.reset_states()
    np.testing.assert_allclose(model.predict_on_batch(data["x_first"]), data["y_first"], rtol=0, atol=1e-5)
