"""fit / evaluate / predict on generators, iterables and Sequences (worker threads and
processes), Keras 1/2's *_generator methods, worker errors and clean shutdown."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kerasette.backend import random as krandom
from kerasette.callbacks import Callback
from kerasette.datasets import digits
from kerasette.layers import Dense
from kerasette.models import Sequential
from kerasette.optimizers import SGD
from kerasette.utils import PyDataset, Sequence, to_categorical


@pytest.fixture(scope="module")
def data():
    (x, y), (xt, yt) = digits.load_data()
    return (x.reshape(len(x), 64).astype("float32") / 16, to_categorical(y, 10),
            xt.reshape(len(xt), 64).astype("float32") / 16, to_categorical(yt, 10))


def _mlp(seed=0):
    krandom.set_seed(seed)
    model = Sequential([Dense(32, activation="relu", input_dim=64), Dense(10, activation="softmax")])
    model.compile(SGD(learning_rate=0.1, momentum=0.9), "categorical_crossentropy", ["accuracy"])
    return model


def _looping(x, y, batch_size=32, seed=0):
    """An endless generator of shuffled batches, as Keras users write them."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(x))
        for i in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            yield x[idx], y[idx]


class Digits(Sequence):
    """Batches of arrays; ``fail_at`` makes one batch raise, ``epochs_ended`` counts on_epoch_end."""

    def __init__(self, x, y, batch_size=32, fail_at=None):
        self.x, self.y, self.batch_size, self.fail_at = x, y, batch_size, fail_at
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        if i == self.fail_at:
            raise RuntimeError(f"cannot read batch {i}")
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


def _threads():
    return {t for t in threading.enumerate() if t is not threading.main_thread()}


def test_fit_on_a_generator_learns_the_digits(data):
    x, y, xt, yt = data
    model = _mlp()
    history = model.fit(_looping(x, y), steps_per_epoch=40, epochs=6, verbose=0,
                        validation_data=_looping(xt, yt, seed=1), validation_steps=5)
    assert len(history.history["val_loss"]) == 6
    assert model.evaluate(_looping(xt, yt), steps=10, verbose=0)[1] > 0.85
    predicted = model.predict((xt[i:i + 50],) for i in range(0, 300, 50))
    np.testing.assert_allclose(predicted, model.predict(xt[:300]), rtol=1e-5)


def test_sequence_with_worker_threads_trains_exactly_like_one_worker(data):
    x, y, xt, yt = data
    before = threading.active_count()
    weights = []
    for workers in (1, 3):
        model = _mlp(seed=5)
        sequence = Digits(x, y)
        model.fit(sequence, epochs=2, shuffle=False, workers=workers, max_queue_size=4, verbose=0)
        assert sequence.epochs_ended == 2
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    assert threading.active_count() == before  # no worker outlives fit
    assert model.evaluate(Digits(xt, yt), verbose=0, workers=2)[1] > 0.8


def test_py_dataset_carries_its_worker_settings(data):
    x, y, _, _ = data

    class Keras3Digits(PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Digits(x, y)

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            return self.inner[i]

    dataset = Keras3Digits(workers=2, max_queue_size=3)
    history = _mlp().fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_sequence_in_worker_processes(data):
    x, y, _, _ = data
    one = _mlp(seed=2)
    one.fit(Digits(x[:256], y[:256]), epochs=1, shuffle=False, verbose=0)
    two = _mlp(seed=2)
    two.fit(Digits(x[:256], y[:256]), epochs=1, shuffle=False, workers=2, use_multiprocessing=True, verbose=0)
    for a, b in zip(one.get_weights(), two.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_error_reaches_the_caller_and_stops_the_workers(data, workers):
    x, y, _, _ = data
    before = _threads()
    with pytest.raises(RuntimeError, match="cannot read batch 3") as caught:
        _mlp().fit(Digits(x, y, fail_at=3), epochs=1, shuffle=False, workers=workers, verbose=0)
    if workers > 1:
        assert caught.value.__notes__ == ["(raised by a data worker making batch 3 of Digits)"]
    assert _threads() == before


class _Interrupt(Callback):
    def on_batch_end(self, batch, logs=None):
        if batch == 2:
            raise KeyboardInterrupt


def test_ctrl_c_and_early_stop_leave_no_worker_behind(data):
    x, y, _, _ = data
    before = _threads()
    with pytest.raises(KeyboardInterrupt):
        _mlp().fit(Digits(x, y), epochs=3, workers=3, callbacks=[_Interrupt()], verbose=0)
    assert _threads() == before

    class Stop(Callback):
        def on_batch_end(self, batch, logs=None):
            self.model.stop_training = batch == 1

    history = _mlp().fit(Digits(x, y), epochs=3, workers=3, callbacks=[Stop()], verbose=0)
    assert history.epoch == [0] and _threads() == before


def test_a_used_up_generator_says_what_to_do(data):
    x, y, _, _ = data
    finite = ((x[i:i + 32], y[i:i + 32]) for i in range(0, 128, 32))
    with pytest.raises(ValueError, match=r"fit: the data ran out before the epoch's first batch; a generator is used "
                                         r"up after one pass: make it loop forever and give steps_per_epoch"):
        _mlp().fit(finite, epochs=2, verbose=0)
    class Batches:  # an iterable (not an iterator) is read again every epoch
        def __iter__(self):
            return ((x[i:i + 32], y[i:i + 32]) for i in range(0, 128, 32))

    history = _mlp().fit(Batches(), epochs=2, verbose=0)
    assert len(history.epoch) == 2


def test_bad_batches_are_named(data):
    x, y, _, _ = data
    with pytest.raises(ValueError, match=r"fit: each batch must be a tuple \(x, y\) or \(x, y, sample_weight\); "
                                         r"received ndarray"):
        _mlp().fit(iter([x[:8]]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"fit: steps must be a positive integer; received 0"):
        _mlp().fit(_looping(x, y), steps_per_epoch=0, verbose=0)


def test_keras1_and_keras2_generator_methods(data):
    x, y, xt, yt = data
    model = _mlp()
    with pytest.warns(DeprecationWarning, match="samples_per_epoch and nb_val_samples are Keras 1 names"):
        history = model.fit_generator(_looping(x, y), samples_per_epoch=640, nb_epoch=3, verbose=0,
                                      validation_data=_looping(xt, yt), nb_val_samples=96)
    assert len(history.epoch) == 3 and "val_loss" in history.history
    history = model.fit_generator(Digits(x, y), steps_per_epoch=10, epochs=2, workers=2, verbose=0)
    assert len(history.epoch) == 2
    loss, accuracy = model.evaluate_generator(_looping(xt, yt), steps=5)
    assert accuracy > 0.8
    assert model.predict_generator(Digits(xt, yt), steps=2).shape == (64, 10)
    assert model.evaluate_generator(_looping(xt, yt), val_samples=64)[1] > 0.8


def test_generator_sample_weights_and_evaluate_return_dict(data):
    x, y, _, _ = data
    weighted = ((x[i:i + 32], y[i:i + 32], np.zeros(32, "float32")) for i in range(0, 320, 32))
    model = _mlp()
    before = model.get_weights()
    model.fit(weighted, epochs=1, verbose=0)  # every sample weighs 0: nothing is learnt
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_allclose(a, b, atol=0)
    scores = model.evaluate(x[:64], y[:64], verbose=0, return_dict=True)
    assert list(scores) == ["loss", "accuracy"]
