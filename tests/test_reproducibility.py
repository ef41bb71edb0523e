"""``np.random.seed(n)`` at the top of a script makes training reproducible (Keras 1/2 scripts do it)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import numpy as np
np.random.seed({seed})
from kerasette.layers import Dense, Dropout
from kerasette.models import Sequential
x = np.random.rand(64, 5).astype("float32")
y = np.eye(2, dtype="float32")[(x.sum(axis=1) > 2.5).astype(int)]
model = Sequential([Dense(8, activation="relu", input_dim=5), Dropout(0.5), Dense(2, activation="softmax")])
model.compile(optimizer="sgd", loss="categorical_crossentropy")
model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # shuffles and drops out
print(repr(float(sum(np.abs(w).sum() for w in model.get_weights()))))
"""


def _run(seed: int) -> str:
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(seed=seed)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_numpy_seed_makes_two_fresh_processes_train_alike():
    first, second, other = _run(1337), _run(1337), _run(7)
    assert first == second
    assert first != other
