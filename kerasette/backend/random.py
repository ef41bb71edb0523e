"""The one random-number generator behind weight initialisation, dropout and shuffling.

Keeping a single generator makes a run reproducible from one seed and lets a checkpoint store
and restore the exact random state (see ``get_state``/``set_state``).
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def generator() -> np.random.Generator:
    """The shared generator."""
    return _generator


def set_seed(seed: int | None) -> None:
    """Re-seeds the shared generator (and numpy's legacy global one, as Keras users expect)."""
    global _generator
    _generator = np.random.default_rng(seed)
    if seed is not None:
        np.random.seed(seed % 2**32)


def get_state() -> dict:
    """The generator's state as a JSON-serialisable dict."""
    return _generator.bit_generator.state


def set_state(state: dict) -> None:
    """Restores a state returned by `get_state`."""
    bit_generator = getattr(np.random, state["bit_generator"], None)
    if bit_generator is None:
        raise ValueError(f"unknown bit generator in random state: {state['bit_generator']!r}")
    bg = bit_generator()
    bg.state = state
    global _generator
    _generator = np.random.Generator(bg)
