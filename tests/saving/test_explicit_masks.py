"""Files real Keras 3 wrote for models given a mask by hand (``LSTM(4)(x, mask=m)``, ``m`` a
tensor of the graph that differs from the mask ``x`` carries): kerasette wires the mask from the
node's ``kwargs`` and predicts as Keras (``data/keras3_layers/make_explicit_masks.py`` wrote
them; `test_keras3_layers` and `test_keras_archives` check the predictions of every fixture,
`test_keras_interop` that Keras 3 reads kerasette's files of them back)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.models import load_model
from tests.saving.conftest import DATA

NAMES = ["explicit_mask_lstm", "explicit_mask_bidirectional"]


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("name", NAMES)
def test_the_mask_given_in_a_keras3_file_is_the_mask_used(name, suffix):
    path = DATA / ("keras3_layers" if suffix == ".h5" else "keras3_archives") / (
        f"{name}{suffix}" if suffix == ".h5" else f"layers_{name}{suffix}")
    model = load_model(path, compile=False)
    given = {layer.name: node.kwargs["mask"]._keras_history[0].name
             for layer, _, node in model._graph.layer_calls() if "mask" in node.kwargs}
    assert given and set(given.values()) == {"given_mask"}, given
    data = np.load(DATA / "keras3_layers" / f"{name}.npz")
    x = [data["x_0"], data["x_1"]]
    np.testing.assert_allclose(model.predict(x, verbose=0), data["y"], rtol=0, atol=1e-5)
    # the mask given decides: all steps kept gives other predictions (Keras's script checks the same)
    assert np.abs(model.predict([x[0], np.ones_like(x[1])], verbose=0) - data["y"]).max() > 1e-3


def test_the_mask_given_in_a_keras2_file_is_the_mask_used():
    """tf.keras writes the keywords in each inbound entry, the mask as ``[layer, node, tensor]``
    (``data/tf_keras2_masks/make_explicit_mask.py``); the mask comes from a Lambda, whose
    function kerasette takes from ``custom_objects``."""
    import kerasette.backend as K

    folder = DATA / "tf_keras2_masks"
    with pytest.warns(UserWarning, match="not compiled"):
        model = load_model(folder / "explicit_mask.h5", custom_objects={"given_mask": lambda t: K.greater(t, 0.5)})
    given = {layer.name: node.kwargs["mask"]._keras_history[0].name
             for layer, _, node in model._graph.layer_calls() if "mask" in node.kwargs}
    assert given == {"lstm_given": "given_mask", "bidirectional_given": "given_mask"}
    data = np.load(folder / "explicit_mask.npz")
    x = [data["x_0"], data["x_1"]]
    np.testing.assert_allclose(model.predict(x, verbose=0), data["y"], rtol=0, atol=1e-5)
    assert np.abs(model.predict([x[0], np.ones_like(x[1])], verbose=0) - data["y"]).max() > 1e-3
