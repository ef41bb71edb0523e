"""Callbacks beyond the progress bar: EarlyStopping's Keras 3 options, ReduceLROnPlateau,
LearningRateScheduler, CSVLogger, LambdaCallback, TerminateOnNaN, and monitoring 'val_acc' when
the logs say 'val_accuracy' (and the reverse)."""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

from kerasette.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from kerasette.layers import Dense
from kerasette.models import Sequential
from kerasette.optimizers import SGD


def _model(lr=0.05):
    model = Sequential([Dense(8, activation="relu", input_dim=4), Dense(3, activation="softmax")])
    model.compile(optimizer=SGD(learning_rate=lr), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, np.eye(3, dtype="float32")[rng.integers(0, 3, n)]


class _FakeModel:
    """Just what the learning-rate callbacks touch."""

    def __init__(self, lr):
        self.optimizer = types.SimpleNamespace(learning_rate=lr)
        self.stop_training = False


def _drive(callback, values, monitor="val_loss", model=None):
    """Feeds one epoch log per value; returns the learning rate after each epoch."""
    model = model or _FakeModel(1.0)
    callback.set_model(model)
    callback.on_train_begin({})
    rates = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, {monitor: value})
        rates.append(model.optimizer.learning_rate)
    return rates


def test_reduce_lr_on_plateau_patience_cooldown_and_min_lr():
    cb = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    rates = _drive(cb, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # Keras 3's rule: two epochs without improvement halve the rate; the cooldown epoch resets the
    # count but is itself counted once it ends; the rate stops at min_lr
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2]


def test_reduce_lr_on_plateau_min_delta_and_max_mode():
    cb = ReduceLROnPlateau(monitor="val_acc", factor=0.1, patience=1, min_delta=0.05)
    rates = _drive(cb, [0.5, 0.52, 0.6, 0.61], monitor="val_acc")  # +0.02 is not an improvement
    assert rates == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_reduce_lr_on_plateau_rejects_a_factor_of_one_or_more():
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: argument `factor` must be in \(0, 1\); received "
                                         r"factor=1\.0"):
        ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_on_plateau_in_fit_logs_the_rate():
    model = _model(lr=0.0)  # nothing improves
    history = model.fit(*_data(), epochs=4, verbose=0,
                        callbacks=[ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=0.0)])
    assert history.history["learning_rate"] == [0.0, 0.0, 0.0, 0.0]
    model = _model(lr=0.1)
    model.compile(optimizer=SGD(learning_rate=0.1), loss="categorical_crossentropy")
    cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)  # never "improves" enough
    history = model.fit(*_data(), epochs=3, verbose=0, callbacks=[cb])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05])  # the rate each epoch ran at
    assert model.optimizer.learning_rate == pytest.approx(0.025)


def test_learning_rate_scheduler_one_and_two_arguments():
    model = _model()
    history = model.fit(*_data(), epochs=3, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    history = model.fit(*_data(), epochs=3, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert history.history["learning_rate"] == pytest.approx([0.1 / 6, 0.1 / 12, 0.1 / 24])


def test_learning_rate_scheduler_errors():
    with pytest.raises(TypeError, match=r"LearningRateScheduler: `schedule` must be a callable; received 0\.1"):
        LearningRateScheduler(0.1)
    cb = LearningRateScheduler(lambda epoch: "fast")
    cb.set_model(_FakeModel(0.1))
    with pytest.raises(ValueError, match=r"the schedule must return a number; for epoch 0 it returned 'fast'"):
        cb.on_epoch_begin(0, {})


def _stopped_epoch(stopper, values):
    model = _FakeModel(0.1)
    model.get_weights = lambda: []
    stopper.set_model(model)
    stopper.on_train_begin({})
    for epoch, value in enumerate(values):
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            return epoch
    return None


def test_early_stopping_baseline_and_start_from_epoch():
    flat = [0.9, 0.9, 0.9, 0.9]
    assert _stopped_epoch(EarlyStopping(patience=2), flat) == 2
    # a first value that misses the baseline does not reset the count (Keras 3's rule)
    assert _stopped_epoch(EarlyStopping(patience=2, baseline=0.5), flat) == 1
    assert _stopped_epoch(EarlyStopping(patience=2, baseline=0.95), flat) == 2
    assert _stopped_epoch(EarlyStopping(patience=0, start_from_epoch=3), [1.0, 2.0, 3.0, 4.0, 5.0]) == 4


def test_early_stopping_restores_the_best_weights_at_the_end(capsys):
    model = _model(lr=0.5)
    x, y = _data()
    seen = []
    recorder = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((logs["loss"], model.get_weights())))
    stopper = EarlyStopping(monitor="loss", patience=50, restore_best_weights=True, verbose=1)
    model.fit(x, y, epochs=6, verbose=0, callbacks=[recorder, stopper])
    best_loss, best_weights = min(seen, key=lambda item: item[0])
    for a, b in zip(model.get_weights(), best_weights):
        np.testing.assert_array_equal(a, b)
    assert f"best epoch: {[s[0] for s in seen].index(best_loss) + 1}" in capsys.readouterr().out


def test_monitoring_val_acc_when_the_logs_say_val_accuracy_warns_once_and_works(tmp_path):
    model = _model(lr=0.0)
    x, y = _data()
    stopper = EarlyStopping(monitor="val_acc", patience=1)
    with pytest.warns(UserWarning, match=r"EarlyStopping: monitoring 'val_acc', which the logs call "
                                         r"'val_accuracy'") as caught:
        history = model.fit(x, y, validation_split=0.25, epochs=6, verbose=0, callbacks=[stopper])
    assert len([w for w in caught if "EarlyStopping" in str(w.message)]) == 1
    assert history.epoch == [0, 1]  # lr 0: no improvement after the first epoch, so it stops
    checkpoint = ModelCheckpoint(str(tmp_path / "best.h5"), monitor="val_accuracy", save_best_only=True)
    model2 = Sequential([Dense(3, activation="softmax", input_dim=4)])
    model2.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["acc"])  # logs val_acc
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        model2.fit(x, y, validation_split=0.25, epochs=1, verbose=0, callbacks=[checkpoint])
    assert (tmp_path / "best.h5").exists()


def test_a_missing_monitor_warns_once():
    stopper = EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match=r"EarlyStopping: the monitored quantity 'val_loss' is not in the logs; "
                                         r"available: \['accuracy', 'loss'\]") as caught:
        _model().fit(*_data(), epochs=3, verbose=0, callbacks=[stopper])
    assert len([w for w in caught if "EarlyStopping" in str(w.message)]) == 1


def test_csv_logger_writes_rows_and_appends_on_resume(tmp_path):
    path = tmp_path / "log.csv"
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch;accuracy;loss" and [line.split(";")[0] for line in lines[1:]] == ["0", "1"]
    model.fit(x, y, epochs=4, initial_epoch=2, verbose=0, callbacks=[CSVLogger(path, separator=";", append=True)])
    lines = path.read_text().splitlines()
    assert lines.count("epoch;accuracy;loss") == 1
    assert [line.split(";")[0] for line in lines[1:]] == ["0", "1", "2", "3"]
    with pytest.raises(ValueError, match=r"CSVLogger: argument `separator` must be one character; received "
                                         r"separator='::'"):
        CSVLogger(path, separator="::")


def test_lambda_callback_hooks_and_errors():
    calls = []
    cb = LambdaCallback(on_train_begin=lambda logs: calls.append("begin"),
                        on_batch_end=lambda batch, logs: calls.append(("batch", batch)),
                        on_epoch_end=lambda epoch, logs: calls.append(("epoch", epoch)),
                        on_train_end=lambda logs: calls.append("end"))
    _model().fit(*_data(n=8), batch_size=4, epochs=1, verbose=0, callbacks=[cb])
    assert calls == ["begin", ("batch", 0), ("batch", 1), ("epoch", 0), "end"]
    with pytest.raises(TypeError, match=r"LambdaCallback: unknown hook\(s\) \['on_epoch_ends'\]"):
        LambdaCallback(on_epoch_ends=print)


def test_terminate_on_nan_stops_at_the_first_bad_batch(capsys):
    model = Sequential([Dense(1, input_dim=4)])
    model.compile(optimizer=SGD(learning_rate=0.01), loss="mse")
    x = np.ones((64, 4), "float32")
    x[20] = np.nan  # the third batch of 8
    seen = []
    history = model.fit(x, np.zeros((64, 1), "float32"), batch_size=8, epochs=5, shuffle=False, verbose=0,
                        callbacks=[TerminateOnNaN(), LambdaCallback(on_batch_end=lambda b, logs: seen.append(b))])
    assert len(history.epoch) == 1 and seen == [0, 1, 2]
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out


class _Recorder(Callback):
    """Records every hook Keras calls, in order."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        if name.startswith("on_") and name not in ("on_batch_begin", "on_batch_end"):
            calls = object.__getattribute__(self, "calls")
            return lambda *args: calls.append(name if len(args) < 2 else (name, args[0]))
        return object.__getattribute__(self, name)


def test_every_hook_in_keras_order():
    model = _model()
    x, y = _data(n=8)
    recorder = _Recorder()
    model.fit(x, y, batch_size=4, epochs=1, validation_data=(x[:4], y[:4]), verbose=0, callbacks=[recorder])
    assert recorder.calls == [
        "on_train_begin", ("on_epoch_begin", 0),
        ("on_train_batch_begin", 0), ("on_train_batch_end", 0), ("on_train_batch_begin", 1), ("on_train_batch_end", 1),
        "on_test_begin", ("on_test_batch_begin", 0), ("on_test_batch_end", 0), "on_test_end",
        ("on_epoch_end", 0), "on_train_end"]
    recorder.calls.clear()
    model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[recorder])
    assert recorder.calls == ["on_test_begin", ("on_test_batch_begin", 0), ("on_test_batch_end", 0), "on_test_end"]
    outputs = []
    model.predict(x, batch_size=4, callbacks=[LambdaCallback(on_predict_batch_end=lambda b, logs: outputs.append(
        logs["outputs"].shape))])
    assert outputs == [(4, 3), (4, 3)]
