"""Files real Keras 3 wrote for models given a mask by hand (``LSTM(4)(x, mask=m)``, ``m`` a
tensor of the graph that differs from the mask ``x`` carries): kerasette wires the mask from the
node's ``kwargs`` and predicts as Keras (``data/keras3_layers/make_explicit_masks.py`` wrote
them; `test_keras3_layers` and `test_keras_archives` check the predictions of every fixture,
`test_keras_interop` that Keras 3 reads kerasette's files of them back), and real Keras 3 loads a
model built in kerasette with masks given by hand, with kerasette's predictions."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Concatenate,
    Dense,
    GlobalAveragePooling1D,
    Input,
    Masking,
    ReLU,
)
from kerasette.models import Model, load_model
from kerasette.optimizers import SGD
from tests.saving.conftest import DATA
from tests.saving.keras_interop_check import backend
from tests.saving.test_keras_interop import SCRIPT, _require_keras

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


def _kerasette_model():
    """Built in kerasette: LSTM and bidirectional GRU given ``mask=ReLU()(keep)`` by hand, a
    masked pooling fed the LSTM's output mask, the sequence masked otherwise by ``Masking``."""
    K.set_seed(3)
    sequence, keep = Input((6, 3), name="sequence"), Input((6,), name="keep")
    masked, given = Masking(name="masking")(sequence), ReLU(name="given_mask")(keep)
    h = LSTM(4, return_sequences=True, name="lstm_given")(masked, mask=given)
    last = Bidirectional(GRU(3), name="bidirectional_given")(h, mask=given)
    pooled = GlobalAveragePooling1D(name="pooled")(h)
    return Model([sequence, keep], Dense(2, name="out")(Concatenate()([last, pooled])))


def test_keras3_loads_a_kerasette_model_given_masks(tmp_path):
    keras_python = _require_keras()
    model = _kerasette_model()
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 6, 3)).astype("float32")
    x[:, -2:] = 0.0
    keep = (rng.uniform(size=(6, 6)) > 0.4).astype("float32")
    keep[:, 0] = 1.0
    model.compile(SGD(learning_rate=0.1), "mse")
    model.train_on_batch([x, keep], rng.normal(size=(6, 2)).astype("float32"))
    y = model.predict([x, keep], verbose=0)
    assert np.abs(model.predict([x, np.ones_like(keep)], verbose=0) - y).max() > 1e-3  # the masks matter
    for suffix in (".h5", ".keras"):
        model.save(tmp_path / f"given_masks{suffix}")
    np.savez(tmp_path / "given_masks.npz", x_0=x, x_1=keep, y=y)
    env = {**os.environ, "KERAS_BACKEND": backend()}
    proc = subprocess.run([keras_python, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["file"]: r for r in map(json.loads, filter(lambda line: line.startswith("{"),
                                                             proc.stdout.splitlines())) if "file" in r}
    assert set(results) == {"given_masks.h5", "given_masks.keras"}
    for result in results.values():
        assert result["max_abs_diff"] <= 1e-5, result


def _initial_state_model(cell):
    """An LSTM or GRU given its initial states as tensors of the graph (``initial_state=``)."""
    K.set_seed(5)
    sequence = Input((6, 3), name="sequence")
    states = [Input((4,), name=f"state_{i}") for i in range(2 if cell is LSTM else 1)]
    h = cell(4, name="rnn")(sequence, initial_state=states)
    return Model([sequence, *states], Dense(2, name="out")(h))


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_initial_states_given_as_tensors_are_the_calls_keyword(cell):
    """Recorded as Keras 3 records them (the call's ``initial_state`` keyword, not a list input),
    used in the call, and the same after a config round trip."""
    model = _initial_state_model(cell)
    node = next(e for e in model.get_config()["layers"] if e["name"] == "rnn")["inbound_nodes"][0]
    assert len(node["args"]) == 1 and "initial_state" in node["kwargs"]
    rng = np.random.default_rng(7)
    xs = [rng.normal(size=(3, 6, 3)).astype("float32")] + [rng.normal(size=(3, 4)).astype("float32")
                                                          for _ in model.inputs[1:]]
    y = model.predict(xs, verbose=0)
    zeros = model.predict([xs[0]] + [np.zeros_like(s) for s in xs[1:]], verbose=0)
    assert np.abs(y - zeros).max() > 1e-3  # the states given matter
    rebuilt = Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(xs, verbose=0), y, rtol=0, atol=1e-6)


def test_keras3_loads_a_kerasette_model_given_initial_states(tmp_path):
    keras_python = _require_keras()
    rng = np.random.default_rng(8)
    files = set()
    for cell in (LSTM, GRU):
        model = _initial_state_model(cell)
        xs = [rng.normal(size=(3, 6, 3)).astype("float32")] + [rng.normal(size=(3, 4)).astype("float32")
                                                              for _ in model.inputs[1:]]
        name = f"initial_state_{cell.__name__.lower()}"
        for suffix in (".h5", ".keras"):
            model.save(tmp_path / f"{name}{suffix}")
            files.add(f"{name}{suffix}")
        np.savez(tmp_path / f"{name}.npz", **{f"x_{i}": x for i, x in enumerate(xs)}, y=model.predict(xs, verbose=0))
    env = {**os.environ, "KERAS_BACKEND": backend()}
    proc = subprocess.run([keras_python, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["file"]: r for r in map(json.loads, filter(lambda line: line.startswith("{"),
                                                             proc.stdout.splitlines())) if "file" in r}
    assert set(results) == files
    for result in results.values():
        assert result["max_abs_diff"] <= 1e-5, result
