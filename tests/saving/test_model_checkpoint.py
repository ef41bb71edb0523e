"""ModelCheckpoint: filepath formatting, monitor/mode/save_best_only, weights only, period, save_freq."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from kerasette.backend import random as krandom
from kerasette.callbacks import ModelCheckpoint
from kerasette.models import load_model
from tests.saving.conftest import compiled, small_convnet, toy_data


class _Recorder:
    """Stands in for a model: records the paths it is asked to save to."""

    def __init__(self):
        self.saved: list[tuple[str, str]] = []

    def save(self, path, overwrite=True):
        self.saved.append(("model", path))

    def save_weights(self, path, overwrite=True):
        self.saved.append(("weights", path))


def _run(cb: ModelCheckpoint, epoch_logs: list[dict], batches: int = 0) -> list[tuple[str, str]]:
    model = _Recorder()
    cb.set_model(model)
    cb.on_train_begin({})
    for epoch, logs in enumerate(epoch_logs):
        cb.on_epoch_begin(epoch, {})
        for batch in range(batches):
            cb.on_batch_end(batch, {"loss": 1.0})
        cb.on_epoch_end(epoch, logs)
    return model.saved


def test_save_best_only_min_and_formatting():
    cb = ModelCheckpoint("ckpt/w.{epoch:02d}-{val_loss:.2f}.h5", monitor="val_loss", save_best_only=True)
    saved = _run(cb, [{"val_loss": v} for v in (0.9, 0.7, 0.8, 0.5)])
    assert saved == [("model", "ckpt/w.01-0.90.h5"), ("model", "ckpt/w.02-0.70.h5"), ("model", "ckpt/w.04-0.50.h5")]


@pytest.mark.parametrize("mode, monitor, expected", [
    ("max", "val_loss", [1, 3]), ("auto", "val_acc", [1, 3]), ("auto", "val_loss", [1, 2]), ("min", "val_acc", [1, 2])])
def test_modes(mode, monitor, expected):
    cb = ModelCheckpoint("e{epoch}.h5", monitor=monitor, save_best_only=True, mode=mode)
    saved = _run(cb, [{monitor: v} for v in (0.5, 0.4, 0.6)])
    assert saved == [("model", f"e{e}.h5") for e in expected]


def test_weights_only_period_and_logs_formatting():
    cb = ModelCheckpoint("w-{epoch}-{loss:.1f}.h5", save_weights_only=True, period=2)
    saved = _run(cb, [{"loss": 1.0 + e} for e in range(5)])
    assert saved == [("weights", "w-2-2.0.h5"), ("weights", "w-4-4.0.h5")]


def test_save_freq_in_batches():
    cb = ModelCheckpoint("b{epoch}.h5", save_freq=3)
    assert _run(cb, [{}, {}], batches=4) == [("model", "b1.h5"), ("model", "b2.h5")]


def test_missing_monitor_warns_and_skips():
    cb = ModelCheckpoint("m.h5", monitor="val_loss", save_best_only=True)
    with pytest.warns(UserWarning, match="ModelCheckpoint: the monitored quantity .val_loss. is not in the logs"):
        assert _run(cb, [{"loss": 1.0}]) == []


def test_errors_name_the_argument():
    with pytest.raises(KeyError, match="names 'val_loss', which is not in the logs of epoch 1"):
        _run(ModelCheckpoint("{val_loss}.h5"), [{"loss": 1.0}])
    with pytest.raises(ValueError, match="argument `mode` must be 'auto', 'min' or 'max'; received mode='best'"):
        ModelCheckpoint("m.h5", mode="best")
    with pytest.raises(ValueError, match="argument `period` must be a positive int; received period=0"):
        ModelCheckpoint("m.h5", period=0)
    with pytest.raises(ValueError, match="`save_freq` must be 'epoch' or a positive int"):
        ModelCheckpoint("m.h5", save_freq="sometimes")


def test_with_fit(tmp_path):
    krandom.set_seed(3)
    model = compiled(small_convnet())
    x, y = toy_data(n=32)
    full = ModelCheckpoint(str(tmp_path / "ckpt" / "m.{epoch:02d}-{val_loss:.3f}.h5"), monitor="val_loss")
    weights = ModelCheckpoint(str(tmp_path / "w.h5"), save_weights_only=True)
    history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.25, callbacks=[full, weights], verbose=0)
    names = sorted(os.listdir(tmp_path / "ckpt"))
    assert names == [f"m.{e + 1:02d}-{v:.3f}.h5" for e, v in enumerate(history.history["val_loss"])]
    last = load_model(tmp_path / "ckpt" / names[-1])
    np.testing.assert_array_equal(last.predict(x), model.predict(x))
    assert last.optimizer.iterations == model.optimizer.iterations
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert "model_config" not in f.attrs and "layer_names" in f.attrs
