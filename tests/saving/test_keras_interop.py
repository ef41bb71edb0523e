"""Real Keras 3 loads the files kerasette writes and gives the same predictions.

Runs only where Keras 3 is available: either ``keras`` imports in this interpreter, or the
environment variable ``KERASETTE_KERAS_PYTHON`` names a Python that has it (for example a side
environment, as ``.ci/run`` builds: ``python3 -m venv /tmp/kerasenv && /tmp/kerasenv/bin/pip install
keras==3.15.1 'jax[cpu]==0.10.2' h5py numpy``, then ``KERASETTE_KERAS_PYTHON=/tmp/kerasenv/bin/python
pytest tests/saving``). The check itself is ``keras_interop_check.py``, run with ``KERAS_BACKEND`` set
to ``KERASETTE_KERAS_BACKEND`` (default: the backend CI installs, ``DEFAULT_BACKEND`` there).

Elsewhere the test skips, but under CI (the environment variable ``CI`` set, as ``.ci/run`` runs)
it fails instead: CI must prove on every change that real Keras still reads kerasette's files.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from kerasette.backend import random as krandom
from kerasette.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from kerasette.models import Sequential, load_model
from kerasette.optimizers import SGD
from tests.saving import keras1_files as k1
from tests.saving.conftest import DATA, optimizer_arrays, toy_data
from tests.saving.keras_interop_check import backend
from tests.saving.test_keras3_layers import fixture_inputs, layer_fixtures

KERAS_PYTHON = os.environ.get("KERASETTE_KERAS_PYTHON") or (
    sys.executable if importlib.util.find_spec("keras") is not None else None)
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
NO_KERAS = ("needs Keras 3: install keras, or set KERASETTE_KERAS_PYTHON to a Python that has keras "
            "and its backend (.ci/run builds one)")
SCRIPT = pathlib.Path(__file__).with_name("keras_interop_check.py")


def _require_keras() -> str:
    """The Python with Keras 3; without one, skips, except under CI, where it fails instead."""
    if KERAS_PYTHON is None:
        if IN_CI:
            pytest.fail(f"CI is set but no Keras is available, so the Keras interop test cannot run: "
                        f"{NO_KERAS}", pytrace=False)
        pytest.skip(NO_KERAS)
    return KERAS_PYTHON


def _save_with_predictions(model, x, folder: pathlib.Path, name: str) -> None:
    """``NAME.h5`` (legacy HDF5) and ``NAME.keras`` (Keras 3's archive) of the same model, with
    the inputs, kerasette's predictions and optimizer slots in ``NAME.npz``."""
    model.save(folder / f"{name}.h5")
    model.save(folder / f"{name}.keras")
    slots = {f"slot_{i}": a for i, a in enumerate(optimizer_arrays(model))} if model.compiled else {}
    inputs = {f"x_{i}": a for i, a in enumerate(x)} if isinstance(x, list) else {"x": x}
    np.savez(folder / f"{name}.npz", y=model.predict(x), **inputs, **slots)


def _functional(folder: pathlib.Path) -> None:
    from kerasette.layers import Add, Concatenate, Input
    from kerasette.models import Model

    krandom.set_seed(8)
    image, meta = Input(shape=(8, 8, 3)), Input(shape=(5,))
    h = Dense(6, activation="relu")(Flatten()(MaxPooling2D()(Conv2D(4, (3, 3), activation="relu")(image))))
    g = Dense(6, activation="tanh")(meta)
    out = Dense(3, activation="softmax")(Concatenate()([Add()([h, g]), g]))
    model = Model(inputs=[image, meta], outputs=out)
    model.compile(SGD(learning_rate=0.05, momentum=0.9), "categorical_crossentropy", ["accuracy"])
    x = [toy_data(n=8, shape=(8, 8, 3))[0], toy_data(n=8, shape=(5,))[0]]
    model.fit(x, toy_data(n=8, classes=3)[1], batch_size=4, epochs=1, verbose=0)
    _save_with_predictions(model, x, folder, "functional")


def _trained_convnet(folder: pathlib.Path) -> None:
    krandom.set_seed(5)
    model = Sequential([
        Conv2D(8, (3, 3), activation="relu", padding="same", input_shape=(12, 12, 3)), MaxPooling2D(),
        Dropout(0.3), Conv2D(16, (3, 3), activation="relu"), Flatten(), Dense(32, activation="tanh"),
        Dense(4, activation="softmax")])
    model.compile(SGD(learning_rate=0.05, momentum=0.9, nesterov=True), "categorical_crossentropy", ["accuracy"])
    x, y = toy_data(n=32, shape=(12, 12, 3), classes=4)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    _save_with_predictions(model, x[:6], folder, "trained_convnet")
    model.save_weights(folder / "trained_convnet.weights-only.h5")
    model.save_weights(folder / "trained_convnet.weights.h5")


def _channels_first_from_keras1(folder: pathlib.Path) -> None:
    k1.write_keras1_file(folder / "keras1.hdf5", "th", k1.random_weights(1), keras_version=None)
    with pytest.warns(UserWarning, match="flipping"):
        model = load_model(folder / "keras1.hdf5")
    x = np.random.RandomState(0).uniform(-1, 1, (3, 3, *k1.IMAGE)).astype("float32")
    _save_with_predictions(model, x, folder, "from_keras1_channels_first")


def _layers_trained_in_kerasette(folder: pathlib.Path) -> list[str]:
    """Every Keras 3 layer fixture (``data/keras3_layers``), trained one step in kerasette (which
    moves its weights and BatchNormalization's statistics) and saved by kerasette; their names."""
    names = []
    for name in layer_fixtures():
        data = np.load(DATA / f"keras3_layers/{name}.npz")
        x = fixture_inputs(data)
        model = load_model(DATA / f"keras3_layers/{name}.h5")
        if not model.compiled:
            model.compile(SGD(learning_rate=0.05), "mse")
        target = np.random.default_rng(0).uniform(0, 1, data["y"].shape).astype("float32")
        model.train_on_batch(x, target)
        _save_with_predictions(model, x, folder, f"layers_{name}")
        names.append(f"layers_{name}.h5")
    return names


def test_keras3_loads_kerasette_files(tmp_path):
    keras_python = _require_keras()
    _trained_convnet(tmp_path)
    _channels_first_from_keras1(tmp_path)
    _functional(tmp_path)
    layer_files = _layers_trained_in_kerasette(tmp_path)
    layer_files += [name.replace(".h5", ".keras") for name in layer_files]
    resaved = load_model(DATA / "keras3/vgg_like.h5")
    _save_with_predictions(resaved, np.load(DATA / "keras3/vgg_like.npz")["x"], tmp_path, "vgg_like_resaved")
    env = {**os.environ, "KERAS_BACKEND": backend()}
    proc = subprocess.run([keras_python, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, f"{keras_python} {SCRIPT.name} failed:\n{proc.stderr[-3000:]}"
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    header = next(r for r in lines if "keras_version" in r)
    assert header["keras_version"].startswith("3.") and header["backend"] == backend(), header
    results = {r["file"]: r for r in lines if "file" in r}
    print(json.dumps(lines, indent=1))  # the figures, for the record (pytest -s)
    models = ["trained_convnet", "from_keras1_channels_first", "vgg_like_resaved", "functional"]
    assert set(results) == {"trained_convnet.weights-only.h5", "trained_convnet.weights.h5", *layer_files,
                            *[f"{m}{suffix}" for m in models for suffix in (".h5", ".keras")]}
    for result in results.values():
        assert result["max_abs_diff"] <= 1e-5, result
    for model, iterations in (("trained_convnet", 8), ("vgg_like_resaved", 2), ("from_keras1_channels_first", 7),
                              ("functional", 2)):
        for name in (f"{model}.h5", f"{model}.keras"):
            assert results[name]["compiled"] and results[name]["optimizer_iterations"] == iterations, results[name]
            slots = results[name]["slots_max_abs_diff"]  # None: Keras restored no slots (see the script)
            assert slots is None or slots <= 1e-7, results[name]
        # Keras 3 restores every slot from a .keras archive (its legacy HDF5 loader does not, see the script)
        assert results[f"{model}.keras"]["slots_max_abs_diff"] is not None, results[f"{model}.keras"]
