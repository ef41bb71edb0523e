"""Exact resume: fit(epochs=2) == fit(epochs=1), save, load_model, fit(initial_epoch=1, epochs=2),
for every optimizer (its slots, iteration count and learning-rate schedule travel in the file).

The checkpoint carries the optimizer's iterations (so the decayed learning rate continues), its
momentum slots, and the random state behind shuffling and dropout (the shared generator and a
seeded Dropout's own one). Each test also shows that without what is saved the runs differ.
"""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import optimizers
from kerasette.backend import random as krandom
from kerasette.models import load_model
from kerasette.optimizers import schedules
from tests.saving.conftest import compiled, small_convnet, toy_data

SEED = 1234


def _fresh(dropout_seed):
    krandom.set_seed(SEED)
    return compiled(small_convnet(dropout_seed=dropout_seed), decay=0.05)


def _fit(model, **kwargs):
    x, y = toy_data(n=40)
    model.fit(x, y, batch_size=8, shuffle=True, verbose=0, validation_data=(x[:8], y[:8]), **kwargs)
    return model


@pytest.mark.parametrize("dropout_seed", [None, 99])
def test_resume_gives_the_same_weights(tmp_path, dropout_seed):
    straight = _fit(_fresh(dropout_seed), epochs=2).get_weights()
    first = _fit(_fresh(dropout_seed), epochs=1)
    first.save(tmp_path / "epoch1.h5")
    krandom.set_seed(0)  # whatever happens in between, the checkpoint restores the random state
    _ = np.random.default_rng(5).random(100), krandom.generator().random(77)
    resumed = _fit(load_model(tmp_path / "epoch1.h5"), initial_epoch=1, epochs=2).get_weights()
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)


def test_without_the_saved_state_the_runs_differ(tmp_path):
    """The check above has teeth: a fresh optimizer or another random state changes the result."""
    straight = _fit(_fresh(None), epochs=2).get_weights()
    first = _fit(_fresh(None), epochs=1)
    first.save(tmp_path / "epoch1.h5")
    fresh_optimizer = compiled(load_model(tmp_path / "epoch1.h5", compile=False), decay=0.05)
    load_model(tmp_path / "epoch1.h5")  # only to restore the saved random state
    other = _fit(fresh_optimizer, initial_epoch=1, epochs=2).get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(straight, other, strict=True)) > 1e-4
    resumed = load_model(tmp_path / "epoch1.h5")
    krandom.set_seed(42)  # another random state: other shuffles and dropout masks
    other = _fit(resumed, initial_epoch=1, epochs=2).get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(straight, other, strict=True)) > 1e-4


def test_seeded_dropout_generator_is_restored(tmp_path):
    model = _fit(_fresh(7), epochs=1)
    model.save(tmp_path / "m.h5")
    expected = model.layers[2]._rng.random(5)
    again = load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(again.layers[2]._rng.random(5), expected)


OPTIMIZERS = {  # every optimizer, with the options that add state or change the step switched on
    "sgd": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, decay=0.05),
    "rmsprop": lambda: optimizers.RMSprop(learning_rate=0.005, momentum=0.5, centered=True, decay=0.05),
    "adagrad": lambda: optimizers.Adagrad(learning_rate=0.05, weight_decay=0.01),
    "adadelta": lambda: optimizers.Adadelta(learning_rate=1.0, clipnorm=1.0),
    "adam": lambda: optimizers.Adam(learning_rate=schedules.ExponentialDecay(0.01, 3, 0.8), amsgrad=True),
    "adamw": lambda: optimizers.AdamW(learning_rate=schedules.CosineDecay(0.0, 10, warmup_target=0.01,
                                                                          warmup_steps=4), weight_decay=0.1),
    "adamax": lambda: optimizers.Adamax(learning_rate=0.01, global_clipnorm=1.0),
    "nadam": lambda: optimizers.Nadam(learning_rate=0.01),
    "ftrl": lambda: optimizers.Ftrl(learning_rate=0.1, l1_regularization_strength=0.001,
                                    l2_shrinkage_regularization_strength=0.01),
    "lion": lambda: optimizers.Lion(learning_rate=0.001, clipvalue=0.5),
}


def _fresh_with(make_optimizer):
    krandom.set_seed(SEED)
    model = small_convnet()
    model.compile(make_optimizer(), "categorical_crossentropy", ["accuracy"])
    return model


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_resumes_exactly(tmp_path, name):
    straight = _fit(_fresh_with(OPTIMIZERS[name]), epochs=2)
    first = _fit(_fresh_with(OPTIMIZERS[name]), epochs=1)
    first.save(tmp_path / "epoch1.h5")
    loaded = load_model(tmp_path / "epoch1.h5")
    assert type(loaded.optimizer) is type(first.optimizer) and loaded.optimizer.iterations == 5
    assert loaded.optimizer.get_config() == first.optimizer.get_config()
    resumed = _fit(loaded, initial_epoch=1, epochs=2)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(b, a)
    _, want = straight.optimizer.get_state(straight.trainable_weights)
    _, got = resumed.optimizer.get_state(resumed.trainable_weights)
    assert [k.rsplit("/", 1)[1] for k, _ in got] == [k.rsplit("/", 1)[1] for k, _ in want]
    for (_, a), (_, b) in zip(want, got, strict=True):
        np.testing.assert_array_equal(b, a)
    # teeth: a fresh optimizer of the same settings (state and count lost) ends elsewhere
    fresh = load_model(tmp_path / "epoch1.h5", compile=False)
    fresh.compile(OPTIMIZERS[name](), "categorical_crossentropy", ["accuracy"])
    load_model(tmp_path / "epoch1.h5")  # only to restore the saved random state
    other = _fit(fresh, initial_epoch=1, epochs=2).get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(straight.get_weights(), other, strict=True)) > 1e-6
