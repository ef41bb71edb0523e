"""Files real Keras 3 wrote with BatchNormalization, pooling and activation layers load in
kerasette with Keras's predictions (see ``data/keras3_layers/make_layers.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.models import load_model
from tests.saving.conftest import DATA

FOLDER = DATA / "keras3_layers"


@pytest.mark.parametrize("name", ["batchnorm", "pooling"])
def test_keras3_layer_models_predict_as_keras(name):
    data = np.load(FOLDER / f"{name}.npz")
    model = load_model(FOLDER / f"{name}.h5")
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], rtol=0, atol=1e-5)


def test_keras3_batch_normalization_weights_and_config():
    model = load_model(FOLDER / "batchnorm.h5")
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    assert [w.name.split("/")[-1] for w in bns[0].weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name.split("/")[-1] for w in bns[1].weights] == ["gamma", "moving_mean", "moving_variance"]
    assert bns[1].momentum == 0.8 and bns[1].epsilon == 1e-4 and not bns[1].center
    assert not np.allclose(bns[0].moving_mean.data, 0)  # Keras trained it: real statistics
    assert len(model.trainable_weights) == 2 + 2 + 1 + 2 + 2 + 2 + 1 + 2 and len(model.non_trainable_weights) == 6
