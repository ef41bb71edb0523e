"""compile / fit / evaluate / predict, the *_on_batch methods, History, callbacks, verbosity."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from kerasette import metrics
from kerasette.backend import random as krandom
from kerasette.callbacks import Callback, EarlyStopping
from kerasette.layers import Dense
from kerasette.models import Sequential
from kerasette.optimizers import SGD


def _data(n=10, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype("float32")
    y = np.eye(classes, dtype="float32")[rng.integers(0, classes, n)]
    return x, y


def _classifier(metrics=("accuracy",), lr=0.1):
    model = Sequential([Dense(8, activation="relu", input_dim=4), Dense(3, activation="softmax")])
    model.compile(optimizer=SGD(learning_rate=lr), loss="categorical_crossentropy", metrics=list(metrics))
    return model


def _linear(lr=0.1):
    model = Sequential([Dense(1, input_dim=3)])
    model.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    return model


def test_train_on_batch_is_one_sgd_step_on_the_mse():
    model = _linear(lr=0.1)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, 3)).astype("float32"), rng.standard_normal((6, 1)).astype("float32")
    w, b = (a.astype(np.float64) for a in model.get_weights())
    err = x @ w + b - y
    loss = model.train_on_batch(x, y)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, np.mean(err**2), rtol=1e-5)
    w_new, b_new = model.get_weights()
    np.testing.assert_allclose(w_new, w - 0.1 * 2 * x.T @ err / 6, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b_new, b - 0.1 * 2 * err.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_evaluate_predict_and_the_on_batch_methods_agree():
    model = _classifier()
    x, y = _data(10)
    w1, b1, w2, b2 = model.get_weights()
    logits = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, batch_size=3), probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), probs, rtol=1e-5, atol=1e-6)
    loss = -np.mean(np.sum(y * np.log(probs), axis=1))
    acc = np.mean(probs.argmax(1) == y.argmax(1))
    result = model.evaluate(x, y, batch_size=4, verbose=0)
    assert model.metrics_names == ["loss", "accuracy"]
    np.testing.assert_allclose(result, [loss, acc], rtol=1e-5)
    np.testing.assert_allclose(model.test_on_batch(x, y), [loss, acc], rtol=1e-5)
    before = model.get_weights()
    np.testing.assert_allclose(model.predict(x), probs, rtol=1e-5, atol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))  # no training there


@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy"])
def test_one_dimensional_targets_are_made_two_dimensional(loss):
    # as Keras does; otherwise y (n,) against outputs (n, 1) broadcasts to (n, n) in the loss
    model = Sequential([Dense(1, activation="sigmoid", input_dim=2)])
    model.compile(optimizer="sgd", loss=loss)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 2)).astype("float32"), np.array([0, 1, 1, 0, 1, 0], "float32")
    p = model.predict(x)[:, 0].astype(np.float64)
    expected = np.mean((p - y) ** 2) if loss == "mse" else -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)
    np.testing.assert_allclose(model.train_on_batch(x, y), expected, rtol=1e-5)


def test_evaluate_without_metrics_returns_a_float():
    model = _linear()
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_fit_returns_the_history():
    model = _classifier(metrics=["acc"])
    x, y = _data(20)
    history = model.fit(x, y, batch_size=5, epochs=3, verbose=0)
    assert history is model.history
    assert history.epoch == [0, 1, 2]
    assert sorted(history.history) == ["acc", "loss"]
    assert len(history.history["loss"]) == 3
    assert all(0.0 <= a <= 1.0 for a in history.history["acc"])


def test_fit_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)]
    model = _classifier(lr=0.3)
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.85


def test_validation_split_holds_out_the_last_samples():
    model = _classifier()
    x, y = _data(20)
    history = model.fit(x, y, batch_size=4, epochs=2, validation_split=0.25, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    # validation runs after each epoch's training, on x[15:], which training never saw
    np.testing.assert_allclose([history.history["val_loss"][-1], history.history["val_accuracy"][-1]],
                               model.evaluate(x[15:], y[15:], verbose=0), rtol=1e-5)


def test_validation_data():
    model = _classifier()
    x, y = _data(12)
    vx, vy = _data(6, seed=5)
    history = model.fit(x, y, epochs=2, validation_data=(vx, vy), verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][-1], model.evaluate(vx, vy, verbose=0)[0], rtol=1e-5)


def test_shuffle_false_and_seeded_shuffle_are_reproducible():
    x, y = _data(16)
    results = []
    for shuffle, seed in ((False, 1), (False, 2), (True, 3), (True, 3), (True, 4)):
        model = _classifier()
        model.set_weights([np.full(w.shape, 0.1, "float32") for w in model.get_weights()])
        krandom.set_seed(seed)
        model.fit(x, y, batch_size=4, epochs=2, shuffle=shuffle, verbose=0)
        results.append(model.get_weights()[0])
    np.testing.assert_array_equal(results[0], results[1])  # no shuffling: the seed does not matter
    np.testing.assert_array_equal(results[2], results[3])  # same seed, same order
    assert not np.array_equal(results[3], results[4])
    assert not np.array_equal(results[0], results[3])


def test_initial_epoch_and_nb_epoch():
    model = _classifier()
    x, y = _data(8)
    assert model.fit(x, y, epochs=3, initial_epoch=1, verbose=0).epoch == [1, 2]
    assert model.fit(x, y, nb_epoch=2, verbose=0).epoch == [0, 1]


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, tuple(sorted(logs))))

    def on_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, tuple(sorted(logs))))


def test_callback_hooks_in_order():
    model = _classifier()
    x, y = _data(10)
    recorder = Recorder()
    model.fit(x, y, batch_size=4, epochs=2, validation_split=0.2, callbacks=[recorder], verbose=0)
    keys = ("accuracy", "batch", "loss", "size")  # Keras 2's batch logs carry 'batch' and 'size'
    epoch_keys = ("accuracy", "loss", "val_accuracy", "val_loss")
    expected = [("train_begin",)]
    for epoch in range(2):
        expected.append(("epoch_begin", epoch))
        for batch in range(2):  # 8 training samples in batches of 4
            expected += [("batch_begin", batch), ("batch_end", batch, keys)]
        expected.append(("epoch_end", epoch, epoch_keys))
    expected.append(("train_end",))
    assert recorder.calls == expected
    assert recorder.model is model
    assert recorder.params["epochs"] == 2 and recorder.params["samples"] == 8 and recorder.params["steps"] == 2


def test_keras2_batch_hook_names_are_called():
    seen = []

    class Keras2Style(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((batch, sorted(logs)))

    model = _classifier()
    model.fit(*_data(6), batch_size=2, epochs=1, callbacks=[Keras2Style()], verbose=0)
    assert seen == [(b, ["accuracy", "batch", "loss", "size"]) for b in range(3)]


def test_a_callback_can_stop_training():
    class StopAfterFirstBatch(Callback):
        def on_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    model = _classifier()
    history = model.fit(*_data(12), batch_size=2, epochs=5, callbacks=[StopAfterFirstBatch()], verbose=0)
    assert history.epoch == [0]


def test_early_stopping():
    model = _classifier(lr=0.0)  # nothing improves
    stopper = EarlyStopping(monitor="loss", patience=2)
    history = model.fit(*_data(8), epochs=10, callbacks=[stopper], verbose=0)
    assert history.epoch == [0, 1, 2]


def test_verbose_0_prints_nothing(capsys):
    model = _classifier()
    x, y = _data(8)
    model.fit(x, y, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("verbose", [1, 2])
def test_one_line_per_epoch_without_a_terminal(capsys, verbose):
    model = _classifier()
    x, y = _data(8)
    model.fit(x, y, batch_size=2, epochs=3, verbose=verbose, validation_split=0.25)
    captured = capsys.readouterr()
    assert "\r" not in captured.out and "\r" not in captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert line.startswith(f"Epoch {i + 1}/3")
        assert "loss: " in line and "accuracy: " in line and "val_loss: " in line


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_in_a_terminal(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    model = _classifier()
    model.fit(*_data(8), batch_size=2, epochs=2, verbose=1)
    out = terminal.getvalue()
    assert "\r" in out  # a live bar redraws itself
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss=" in out


def test_evaluate_verbose_prints_the_scores(capsys):
    model = _classifier()
    model.evaluate(*_data(8), verbose=1)
    out = capsys.readouterr().out
    assert "loss: " in out and "accuracy: " in out


@pytest.mark.parametrize("loss,y_kind,metric_fn", [
    ("sparse_categorical_crossentropy", "labels", "sparse_categorical_accuracy"),
    ("categorical_crossentropy", "one_hot", "categorical_accuracy"),
    ("binary_crossentropy", "binary", "categorical_accuracy"),  # Keras 3: the shapes decide, not the loss
])
def test_accuracy_matches_the_loss(loss, y_kind, metric_fn):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 4)).astype("float32")
    labels = rng.integers(0, 3, 12)
    y = {"labels": labels, "one_hot": np.eye(3)[labels], "binary": np.eye(3)[labels]}[y_kind]
    activation = "sigmoid" if loss == "binary_crossentropy" else "softmax"
    model = Sequential([Dense(3, activation=activation, input_dim=4)])
    model.compile(optimizer="sgd", loss=loss, metrics=["acc"])
    model.fit(x, y, epochs=1, verbose=0)
    loss_value, acc = model.evaluate(x, y, batch_size=12, verbose=0)
    targets = y[:, None] if y.ndim == 1 else y
    assert np.isfinite(loss_value) and acc == pytest.approx(float(np.mean(getattr(metrics, metric_fn)(
        targets, model.predict(x)))))


def test_compile_with_objects_and_names():
    model = Sequential([Dense(2, input_dim=2)])
    for optimizer in ("sgd", "adam", "rmsprop", SGD(0.01)):
        model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
        model.train_on_batch(np.ones((2, 2)), np.zeros((2, 2)))
    model.compile(optimizer="sgd", loss=lambda t, p: (p - t) ** 2.0)
    assert np.isfinite(model.train_on_batch(np.ones((2, 2)), np.zeros((2, 2))))


def test_batch_logs_hold_the_batch_index_and_size():
    seen = []

    class Sizes(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, logs["batch"], logs["size"]))

    model = _classifier()
    model.fit(*_data(10), batch_size=4, epochs=1, callbacks=[Sizes()], verbose=0)
    assert seen == [(0, 0, 4), (1, 1, 4), (2, 2, 2)]


@pytest.mark.parametrize("validate", [False, True])
def test_params_list_the_validation_metrics_when_validating(validate):
    recorder = Recorder()
    model = _classifier()
    model.fit(*_data(10), epochs=1, validation_split=0.2 if validate else 0.0, callbacks=[recorder], verbose=0)
    expected = ["loss", "accuracy"] + (["val_loss", "val_accuracy"] if validate else [])
    assert recorder.params["metrics"] == expected
    assert recorder.params["do_validation"] is validate
    assert sorted(model.history.history) == sorted(expected)


def test_evaluation_loss_equals_the_training_loss_for_confident_wrong_predictions():
    # training and evaluation compute the loss alike, as Keras 3 does: the ~1e-12 probability of
    # the true class is clipped at epsilon (1e-7), capping the loss at -log(1e-7)
    model = Sequential([Dense(3, activation="softmax", input_dim=2)])
    model.compile(optimizer=SGD(learning_rate=0.0), loss="categorical_crossentropy")
    model.set_weights([np.array([[0.0, -27.6, 0.0], [0.0, 0.0, 0.0]], "float32"), np.zeros(3, "float32")])
    x = np.array([[1.0, 0.0], [1.0, 1.0]], "float32")
    y = np.eye(3, dtype="float32")[[1, 1]]
    trained = model.train_on_batch(x, y)  # recorded, with a learning rate of 0 nothing changes
    evaluated = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(evaluated, trained, rtol=1e-5)
    np.testing.assert_allclose(evaluated, -np.log(1e-7), rtol=1e-5)  # the same for both rows
    history = model.fit(x, y, epochs=1, batch_size=2, validation_data=(x, y), verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][0], history.history["loss"][0], rtol=1e-5)


def test_predict_classes_and_predict_proba():
    model = _classifier()
    x, _ = _data(7)
    probs = model.predict(x)
    np.testing.assert_allclose(model.predict_proba(x, batch_size=3), probs, rtol=1e-6)
    np.testing.assert_array_equal(model.predict_classes(x, batch_size=3, verbose=0), probs.argmax(axis=-1))


def test_predict_classes_of_a_single_column_thresholds_at_one_half():
    model = Sequential([Dense(1, activation="sigmoid", input_dim=4)])
    x, _ = _data(8)
    classes = model.predict_classes(x)
    assert classes.shape == (8, 1) and classes.dtype == np.int32  # as Keras 1/2: the column is kept
    np.testing.assert_array_equal(classes, (model.predict(x) > 0.5).astype("int32"))


def test_predict_proba_warns_when_the_outputs_are_not_probabilities():
    model = Sequential([Dense(2, input_dim=4, kernel_initializer="ones", bias_initializer="ones")])
    with pytest.warns(UserWarning, match="predict_proba: the network returns values outside"):
        model.predict_proba(np.ones((2, 4), "float32"))


def test_predict_classes_needs_one_output():
    from kerasette.layers import Input
    from kerasette.models import Model

    inp = Input(shape=(2,))
    model = Model(inp, [Dense(2, name="a")(inp), Dense(3, name="b")(inp)])
    with pytest.raises(ValueError, match=r"predict_classes\(\) needs a model with one output; this one has 2 "
                                         r"outputs \['a', 'b'\]"):
        model.predict_classes(np.ones((1, 2)))


def test_validation_freq():
    x, y = _data(16)
    history = _classifier().fit(x, y, epochs=4, validation_split=0.25, validation_freq=2, verbose=0)
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    history = _classifier().fit(x, y, epochs=4, validation_data=(x, y), validation_freq=[1, 4], verbose=0)
    assert len(history.history["val_loss"]) == 2
    with pytest.raises(ValueError, match=r"fit: validation_freq must be a positive int or a collection of epochs "
                                         r"\(from 1\); received validation_freq=0"):
        _classifier().fit(x, y, validation_freq=0, verbose=0)
