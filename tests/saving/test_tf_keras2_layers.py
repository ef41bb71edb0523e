"""Files real Keras 2 (tf.keras) wrote for layers Keras 3 no longer has load in kerasette with
Keras's predictions, and Keras 2 loads kerasette's files.

Every ``NAME.h5`` in ``data/tf_keras2/`` with a ``make_NAME.py`` beside it (the script, run with
tf_keras, that wrote ``NAME.h5`` and ``NAME.npz``: inputs ``x``, Keras's predictions ``y``) is a
case. The other way round runs ``tf_keras2_check.py`` in a Python that has ``tf_keras``:
``KERASETTE_TF_KERAS_PYTHON`` (`.ci/run` builds one); the test skips, saying so, only when it
is not set (and under CI a skip is a failure).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

from kerasette.models import load_model
from kerasette.optimizers import SGD
from tests.saving.conftest import DATA

FOLDER = DATA / "tf_keras2"
SCRIPT = pathlib.Path(__file__).with_name("tf_keras2_check.py")
TF_KERAS_PYTHON = os.environ.get("KERASETTE_TF_KERAS_PYTHON", "")


def keras2_layer_fixtures() -> list[str]:
    """The fixtures written by a ``make_NAME.py`` in the folder (with their ``.h5`` and ``.npz``)."""
    return sorted(p.stem[len("make_"):] for p in FOLDER.glob("make_*.py")
                  if (FOLDER / f"{p.stem[len('make_'):]}.h5").exists()
                  and (FOLDER / f"{p.stem[len('make_'):]}.npz").exists())


def test_the_folder_holds_thresholded_relu():
    assert "thresholded_relu" in keras2_layer_fixtures()


@pytest.mark.parametrize("name", keras2_layer_fixtures())
def test_keras2_layer_models_predict_as_keras(name):
    data = np.load(FOLDER / f"{name}.npz")
    with pytest.warns(UserWarning, match="not compiled"):
        model = load_model(FOLDER / f"{name}.h5")
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], rtol=0, atol=1e-5)


def test_keras2_thresholded_relu_thresholds_matter():
    """The fixture's thetas decide some outputs: with the thetas at 0 the predictions move (so the
    comparison above would catch a ThresholdedReLU that ignored its theta)."""
    data = np.load(FOLDER / "thresholded_relu.npz")
    with pytest.warns(UserWarning):
        model = load_model(FOLDER / "thresholded_relu.h5")
    layers = [layer for layer in model.layers if type(layer).__name__ == "ThresholdedReLU"]
    assert [round(layer.theta, 6) for layer in layers] == [0.3, 0.05]
    for layer in layers:
        layer.theta = 0.0
    assert np.abs(model.predict(data["x"], verbose=0) - data["y"]).max() > 1e-3


def test_keras2_loads_kerasette_files(tmp_path):
    if not TF_KERAS_PYTHON or not os.path.exists(TF_KERAS_PYTHON):
        pytest.skip(f"needs a Python with tf_keras (Keras 2): KERASETTE_TF_KERAS_PYTHON is "
                    f"{TF_KERAS_PYTHON or 'not set'}; set it to one (.ci/run builds one)")
    names = keras2_layer_fixtures()
    for name in names:
        data = np.load(FOLDER / f"{name}.npz")
        with pytest.warns(UserWarning, match="not compiled"):
            model = load_model(FOLDER / f"{name}.h5")
        model.compile(SGD(learning_rate=0.05), "mse")
        target = np.random.default_rng(0).uniform(0, 1, data["y"].shape).astype("float32")
        model.train_on_batch(data["x"], target)  # kerasette's own weights, not the file's
        model.save(tmp_path / f"{name}.h5")
        np.savez(tmp_path / f"{name}.npz", x=data["x"], y=model.predict(data["x"], verbose=0))
    proc = subprocess.run([TF_KERAS_PYTHON, str(SCRIPT), str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{TF_KERAS_PYTHON} {SCRIPT.name} failed:\n{proc.stderr[-3000:]}"
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines[0]["keras_version"].startswith("2."), lines[0]
    results = {r["file"]: r for r in lines[1:]}
    assert set(results) == {f"{name}.h5" for name in names}
    for result in results.values():
        assert result["max_abs_diff"] <= 1e-5, result
    assert results["thresholded_relu.h5"]["layers"].count("ThresholdedReLU") == 2
