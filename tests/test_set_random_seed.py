"""``kerasette.utils.set_random_seed`` (Keras 3's name): seeds Python's ``random``, numpy's global
generator and kerasette's own, so that two fresh processes train alike; and how it goes with the
rule that kerasette otherwise seeds itself from numpy's global generator."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

from kerasette import backend as K
from kerasette.backend import random as krandom
from kerasette.utils import set_random_seed

# Draws from every generator a script may use, and trains with initialisation, dropout and
# shuffling (kerasette's generator); numpy's global generator is used *before* the seed is set
# and after it, and kerasette's generator was already made (by building a model) before the seed.
SCRIPT = """
import random, sys
import numpy as np
from kerasette.layers import Dense, Dropout
from kerasette.models import Sequential
from kerasette.utils import set_random_seed

np.random.rand(3)  # whatever the script did before
Sequential([Dense(2, input_dim=2)])  # kerasette's generator exists before the seed is set
set_random_seed(int(sys.argv[1]))
x = np.random.rand(64, 5).astype("float32")
y = np.eye(2, dtype="float32")[(x.sum(axis=1) > 2.5).astype(int)]
model = Sequential([Dense(8, activation="relu", input_dim=5), Dropout(0.5), Dense(2, activation="softmax")])
model.compile(optimizer="sgd", loss="categorical_crossentropy")
model.fit(x, y, batch_size=16, epochs=2, verbose=0)
print(random.random())
print(";".join(w.tobytes().hex() for w in model.get_weights()))
"""


def _train(seed: int) -> list[str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(seed)], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_two_fresh_processes_with_the_same_seed_train_alike_and_other_seeds_differ():
    first, second, other = _train(42), _train(42), _train(43)
    assert first == second
    assert first[0] != other[0] and first[1] != other[1]


@pytest.fixture
def restore_generators():
    python_state, numpy_state, ours = random.getstate(), np.random.get_state(), krandom.get_state()
    yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    krandom.set_state(ours)


def test_it_seeds_python_numpy_and_kerasette_as_their_own_seed_functions_do(restore_generators):
    set_random_seed(7)
    drawn = (random.random(), np.random.rand(), krandom.generator().random())
    random.seed(7)
    np.random.seed(7)
    K.set_seed(7)
    assert drawn == (random.random(), np.random.rand(), krandom.generator().random())


def test_kerasette_follows_the_seed_not_later_numpy_draws(restore_generators):
    """Once seeded, kerasette's generator no longer depends on numpy's global one."""
    set_random_seed(3)
    np.random.rand(10)
    first = krandom.generator().random()
    set_random_seed(3)
    assert krandom.generator().random() == first


@pytest.mark.parametrize(("seed", "message"), [
    (1.5, r"set_random_seed: argument `seed` must be an integer; received seed=1.5 \(of type float\)"),
    ("1", r"set_random_seed: argument `seed` must be an integer; received seed='1' \(of type str\)"),
    (True, r"set_random_seed: argument `seed` must be an integer; received seed=True \(of type bool\)"),
    (-1, r"set_random_seed: argument `seed` must be in \[0, 2\*\*32\) \(numpy's global generator takes no "
         r"other\); received seed=-1"),
    (2**32, r"set_random_seed: argument `seed` must be in \[0, 2\*\*32\)"),
])
def test_bad_seeds_are_refused(seed, message, restore_generators):
    with pytest.raises(ValueError, match=message):
        set_random_seed(seed)
