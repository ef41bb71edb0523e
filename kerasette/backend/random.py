"""The one random-number generator behind weight initialisation, dropout and shuffling.

Keeping a single generator makes a run reproducible from one seed and lets a checkpoint store
and restore the exact random state (see ``get_state``/``set_state``).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import state as _state  # `set_state` has an argument named state


def generator() -> np.random.Generator:
    """The shared generator."""
    return _state.random.generator()


def set_seed(seed: int | None) -> None:
    """Re-seeds the shared generator (and numpy's legacy global one, as Keras users expect)."""
    _state.random.set_generator(np.random.default_rng(seed))
    if seed is not None:
        np.random.seed(seed % 2**32)


def get_state() -> dict:
    """The generator's state as a JSON-serialisable dict."""
    return _state.random.generator().bit_generator.state


def set_state(state: dict) -> None:
    """Restores a state returned by `get_state`."""
    bit_generator = getattr(np.random, state["bit_generator"], None)
    if bit_generator is None:
        raise ValueError(f"unknown bit generator in random state: {state['bit_generator']!r}")
    bg = bit_generator()
    bg.state = state
    _state.random.set_generator(np.random.Generator(bg))
