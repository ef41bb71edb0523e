"""Checkpoints real Keras 3 wrote with every optimizer (``tests/optimizers_golden/keras3_*.h5``,
made by ``make_keras3_files.py``): kerasette restores the optimizer, its schedule, its slots and
its iteration count, and the next training step gives the weights Keras's next step gave."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from kerasette import optimizers
from kerasette.models import load_model
from tests.optimizers_golden import problem

FOLDER = pathlib.Path(problem.__file__).parent
CASES = sorted(p.stem.removeprefix("keras3_") for p in FOLDER.glob("keras3_*.h5"))
DATA = np.load(FOLDER / "keras3_files.npz")


def _keras(name: str, prefix: str) -> list[np.ndarray]:
    keys = sorted((k for k in DATA.files if k.startswith(f"{name}/{prefix}")), key=lambda k: int(k.rsplit("_", 1)[1]))
    return [DATA[k] for k in keys]


def test_every_optimizer_has_a_file():
    assert {problem.CASES[c][0] for c in CASES} == {"SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax",
                                                    "Nadam", "Ftrl", "Lion"}


@pytest.mark.parametrize("name", CASES)
def test_keras3_optimizer_state_loads_and_training_continues_as_in_keras(name):
    model = load_model(FOLDER / f"keras3_{name}.h5")
    optimizer = model.optimizer
    assert type(optimizer).__name__ == problem.CASES[name][0] and optimizer.iterations == 3
    _, state = optimizer.get_state(model.trainable_weights)
    keras_slots = _keras(name, "slot_")
    assert len(state) == len(keras_slots) > 0
    for (key, got), want in zip(state, keras_slots, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7, err_msg=key)
    model.train_on_batch(DATA["x"], DATA["y"])
    for got, want in zip(model.get_weights(), _keras(name, "weights_after_step_4_"), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_a_keras3_schedule_is_restored_from_the_training_config():
    optimizer = load_model(FOLDER / "keras3_adam_cosine_warmup.h5").optimizer
    assert type(optimizer._learning_rate).__name__ == "CosineDecay"
    assert optimizer.learning_rate == pytest.approx(0.05)  # step 3 is the warmup's end


KERAS_LOADS = """
import json, sys, warnings
import keras
for path in sys.argv[1:]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer = keras.saving.load_model(path).optimizer
    print(json.dumps({"file": path, "class_name": type(optimizer).__name__,
                      "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
                      "config": keras.optimizers.serialize(optimizer)["config"]}))
"""


def test_keras3_loads_what_kerasette_writes_for_every_optimizer(tmp_path):
    """The other direction: Keras 3 compiles each re-saved model with the same optimizer, its
    schedule and its iteration count (Keras 3.15 restores no slots of a legacy Sequential file;
    see keras_interop_check.py)."""
    import json
    import os
    import subprocess

    from tests.saving.keras_interop_check import backend
    from tests.saving.test_keras_interop import _require_keras

    keras_python = _require_keras()
    paths = []
    for name in CASES:
        model = load_model(FOLDER / f"keras3_{name}.h5")
        model.train_on_batch(DATA["x"], DATA["y"])
        model.save(tmp_path / f"{name}.h5")
        paths.append(str(tmp_path / f"{name}.h5"))
    decayed = load_model(FOLDER / "keras3_sgd_nesterov.h5", compile=False)  # Keras 1/2's `decay` too
    decayed.compile(optimizers.SGD(learning_rate=0.1, momentum=0.9, decay=0.25), "mean_squared_error")
    decayed.train_on_batch(DATA["x"], DATA["y"])
    decayed.save(tmp_path / "sgd_decay.h5")
    paths.append(str(tmp_path / "sgd_decay.h5"))
    proc = subprocess.run([keras_python, "-c", KERAS_LOADS, *paths], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "KERAS_BACKEND": backend()})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(CASES) + 1
    for name, result in zip(CASES, results[:-1], strict=True):
        assert result["class_name"] == problem.CASES[name][0] and result["iterations"] == 4, result
    schedule = results[CASES.index("adam_cosine_warmup")]["config"]["learning_rate"]
    assert schedule["class_name"] == "CosineDecay" and schedule["config"]["warmup_target"] == 0.05
    rate = results[-1]["config"]["learning_rate"]  # Keras 3 ignores `decay`; it reads the schedule
    assert results[-1]["iterations"] == 1 and rate["class_name"] == "InverseTimeDecay"
    assert (rate["config"]["initial_learning_rate"], rate["config"]["decay_steps"], rate["config"]["decay_rate"]) == (
        0.1, 1, 0.25)


def test_keras1_decay_is_written_for_keras3_as_a_schedule_and_read_back_as_decay(tmp_path):
    import json

    import h5py

    model = load_model(FOLDER / "keras3_sgd_nesterov.h5", compile=False)
    model.compile(optimizers.SGD(learning_rate=0.1, momentum=0.9, decay=0.25), "mse")
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        config = json.loads(f.attrs["training_config"])["optimizer_config"]["config"]
    assert config["decay"] == 0.25 and config["learning_rate"]["class_name"] == "InverseTimeDecay"
    optimizer = load_model(tmp_path / "m.h5").optimizer
    assert (optimizer.learning_rate, optimizer.decay) == (0.1, 0.25)
    optimizer.learning_rate = 0.05  # a number again, so callbacks can set it
