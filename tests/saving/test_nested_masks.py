"""Models holding a nested functional model fed a mask, both ways with real Keras 3.

``data/keras3_nested_masks/make_nested_masks.py`` wrote, with Keras 3, ``nested_mask_zero``
(``Embedding(mask_zero=True)`` outside, the nested model's LSTM skipping the padded steps, a
pooling after it fed the nested model's output mask; Keras writes the mask into the nested
model's node as ``mask=`` a ``NotEqual`` operation) and ``nested_explicit_mask`` (``mask=`` given
by hand to the nested model). kerasette predicts as Keras from the ``.h5`` and ``.keras`` files,
and Keras 3 loads kerasette's files of a model built in kerasette with Keras's predictions.

The fixtures live in their own folder, beside the script that made them. In a ``.keras``
archive Keras names a nested functional model's weights group by its class,
``layers/functional/...`` (`kerasette.saving.native_weights` does the same).
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.layers import LSTM, Dense, Embedding, GlobalAveragePooling1D, Input, Masking, ReLU
from kerasette.models import Model, load_model
from kerasette.optimizers import SGD
from tests.saving.conftest import DATA
from tests.saving.keras_interop_check import backend
from tests.saving.test_keras_interop import SCRIPT, _require_keras

FOLDER = DATA / "keras3_nested_masks"
NAMES = ["nested_mask_zero", "nested_explicit_mask"]


def _inputs(data):
    return data["x"] if "x" in data.files else [data["x_0"], data["x_1"]]


def _check_keras_file(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "runs without the mask" warning
        model = load_model(path, compile=False)
    nested = model.get_layer("inner")
    node = next(node for layer, _, node in model._graph.layer_calls() if layer is nested)
    assert "mask" in node.kwargs  # Keras wrote the mask into the nested model's call
    data = np.load(FOLDER / f"{path.stem}.npz")
    np.testing.assert_allclose(model.predict(_inputs(data), verbose=0), data["y"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_a_keras3_h5_file_with_a_masked_nested_model_predicts_as_keras(name):
    _check_keras_file(FOLDER / f"{name}.h5")


@pytest.mark.parametrize("name", NAMES)
def test_a_keras3_archive_with_a_masked_nested_model_predicts_as_keras(name):
    _check_keras_file(FOLDER / f"{name}.keras")


def _kerasette_models():
    """Built in kerasette, as the fixtures: a mask from ``Embedding(mask_zero=True)`` (not
    recorded in the node: it flows along the graph) and one given by hand (``mask=``)."""
    K.set_seed(8)

    def inner(width):
        inp = Input((None, width))
        return Model(inp, Dense(3)(LSTM(4, return_sequences=True)(inp)), name="inner")

    ids = Input((None,), name="ids")
    pooled = GlobalAveragePooling1D()(inner(4)(Embedding(10, 4, mask_zero=True)(ids)))
    mask_zero = Model(ids, Dense(2)(pooled))
    sequence, keep = Input((6, 3), name="sequence"), Input((6,), name="keep")
    h = inner(3)(Masking()(sequence), mask=ReLU(name="given_mask")(keep))
    explicit = Model([sequence, keep], Dense(2)(GlobalAveragePooling1D()(h)))
    rng = np.random.default_rng(9)
    tokens = rng.integers(1, 10, size=(5, 6)).astype("float32")
    tokens[1:, 4:] = 0.0
    x = rng.normal(size=(5, 6, 3)).astype("float32")
    x[:, -2:] = 0.0
    given = (rng.uniform(size=(5, 6)) > 0.4).astype("float32")
    given[:, 0] = 1.0
    return {"kerasette_mask_zero": (mask_zero, tokens), "kerasette_explicit_mask": (explicit, [x, given])}


def _run_keras(folder) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend()}
    proc = subprocess.run([_require_keras(), str(SCRIPT), str(folder)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["file"]: r for r in map(json.loads, filter(lambda line: line.startswith("{"),
                                                         proc.stdout.splitlines())) if "file" in r}


def _save_trained(folder, suffix):
    for name, (model, x) in _kerasette_models().items():
        model.compile(SGD(learning_rate=0.1), "mse")
        model.train_on_batch(x, np.ones((5, 2), "float32"))
        model.save(folder / f"{name}{suffix}")
        inputs = {f"x_{i}": a for i, a in enumerate(x)} if isinstance(x, list) else {"x": x}
        np.savez(folder / f"{name}.npz", y=model.predict(x, verbose=0), **inputs)
    return {f"{name}{suffix}" for name in _kerasette_models()}


def test_keras3_loads_a_kerasette_h5_with_a_masked_nested_model(tmp_path):
    _require_keras()
    files = _save_trained(tmp_path, ".h5")
    results = _run_keras(tmp_path)
    assert set(results) == files
    for result in results.values():
        assert result["max_abs_diff"] <= 1e-5, result


def test_keras3_loads_a_kerasette_archive_with_a_masked_nested_model(tmp_path):
    _require_keras()
    files = _save_trained(tmp_path, ".keras")
    results = _run_keras(tmp_path)
    assert set(results) == files
    for result in results.values():
        assert result["max_abs_diff"] <= 1e-5, result
