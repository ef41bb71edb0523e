"""Files real Keras 3 wrote with each layer family load in kerasette with Keras's predictions.

Every ``NAME.h5`` in ``data/keras3_layers/`` with its ``NAME.npz`` (inputs ``x``, or ``x_0``,
``x_1``, ... for several, and Keras's inference predictions ``y``) is a case; the scripts beside
them (``make_*.py``, run with real Keras 3, not kerasette) wrote them. A new layer family adds a
``make_<family>.py`` and its files there, and is checked here and, the other way round, by
``test_keras_interop.py`` (kerasette trains the loaded model one step, saves it, and Keras 3
loads that file).
"""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.layers.operations import Operation, is_keras_operation
from kerasette.models import load_model
from tests.saving.conftest import DATA

FOLDER = DATA / "keras3_layers"


def layer_fixtures() -> list[str]:
    """The names of the fixture models (an ``.h5`` file with its ``.npz``)."""
    return sorted(p.stem for p in FOLDER.glob("*.h5") if p.with_suffix(".npz").exists())


def fixture_inputs(data):
    """``x``, or the list ``x_0``, ``x_1``, ... of a model with several inputs."""
    if "x" in data.files:
        return data["x"]
    return [data[f"x_{i}"] for i in range(sum(k.startswith("x_") for k in data.files))]


def test_the_folder_holds_every_family():
    assert {"batchnorm", "pooling"} <= set(layer_fixtures())


@pytest.mark.parametrize("name", layer_fixtures())
def test_keras3_layer_models_predict_as_keras(name):
    data = np.load(FOLDER / f"{name}.npz")
    model = load_model(FOLDER / f"{name}.h5")
    np.testing.assert_allclose(model.predict(fixture_inputs(data), verbose=0), data["y"], rtol=0, atol=1e-5)


def test_keras3_batch_normalization_weights_and_config():
    model = load_model(FOLDER / "batchnorm.h5")
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    assert [w.name.split("/")[-1] for w in bns[0].weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name.split("/")[-1] for w in bns[1].weights] == ["gamma", "moving_mean", "moving_variance"]
    assert bns[1].momentum == 0.8 and bns[1].epsilon == 1e-4 and not bns[1].center
    assert not np.allclose(bns[0].moving_mean.data, 0)  # Keras trained it: real statistics
    assert len(model.trainable_weights) == 2 + 2 + 1 + 2 + 2 + 2 + 1 + 2 and len(model.non_trainable_weights) == 6


def test_functional_models_list_their_layers_in_keras_order():
    """Keras lists a functional model's layers by depth from the inputs (ties in the order a
    walk from the outputs meets them) and writes its config in that order; kerasette's own
    listing, which decides the order weights are matched in, is the same."""
    import json

    import h5py

    checked = 0
    for path in sorted([*DATA.glob("keras3/*.h5"), *DATA.glob("keras3_functional/*.h5"), *FOLDER.glob("*.h5")]):
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs:
                continue
            config = json.loads(f.attrs["model_config"])
        if config["class_name"] != "Functional":
            continue
        # Keras 3's operation layers (``NotEqual`` of a mask, ``keras.ops`` calls) are not among
        # Keras's model.layers; kerasette keeps those its outputs read
        names = [entry["name"] for entry in config["config"]["layers"] if not is_keras_operation(entry)]
        loaded = load_model(path, compile=False).layers
        assert [layer.name for layer in loaded if not isinstance(layer, Operation)] == names, path.name
        checked += 1
    assert checked >= 2


def test_a_shared_layer_and_inputs_at_several_depths_are_listed_as_keras_lists_them():
    from kerasette.layers import Add, Dense, Input
    from kerasette.models import Model

    a, b, c = Input((4,), name="a"), Input((4,), name="b"), Input((4,), name="c")
    shared = Dense(4, name="shared")
    x = shared(Dense(4, name="d2")(Dense(4, name="d1")(a)))
    z = Dense(4, name="d3")(Add(name="add1")([x, shared(b)]))
    model = Model([a, b, c], [Dense(3, name="o1")(Add(name="add2")([z, c])), Dense(2, name="o2")(x)])
    # what Keras 3.15.1 lists for the same graph (printed there from model.layers)
    assert [layer.name for layer in model.layers] == ["a", "d1", "d2", "b", "shared", "add1", "d3", "c", "add2",
                                                      "o1", "o2"]
