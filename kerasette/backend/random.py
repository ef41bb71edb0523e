"""The one random-number generator behind weight initialisation, dropout and shuffling.

Keeping a single generator makes a run reproducible from one seed and lets a checkpoint store
and restore the exact random state (see ``get_state``/``set_state``).

How it is seeded, first rule that applies:

- `set_random_seed(n)` (``kerasette.utils.set_random_seed``, Keras 3's name) or `set_seed(n)`
  (``K.set_seed``): from ``n``, whatever numpy's global generator does afterwards;
- otherwise, on first use, from one draw of numpy's global generator, so that
  ``np.random.seed(n)`` at the top of a Keras 1/2 script makes the run reproducible.
"""

from __future__ import annotations

import random as _python_random

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


def set_random_seed(seed: int) -> None:
    """Seeds every generator a training run draws from, as ``keras.utils.set_random_seed`` does:
    Python's ``random``, numpy's global generator (``np.random.seed``) and kerasette's own (as
    `set_seed`), so that two fresh processes that call it with the same seed and then build and
    train the same model get the same weights.

    Args:
        seed: an integer in [0, 2**32) (the range numpy's global generator accepts).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"set_random_seed: argument `seed` must be an integer; received seed={seed!r} "
                         f"(of type {type(seed).__name__})")
    if not 0 <= seed < 2**32:
        raise ValueError(f"set_random_seed: argument `seed` must be in [0, 2**32) (numpy's global generator "
                         f"takes no other); received seed={seed!r}")
    seed = int(seed)
    _python_random.seed(seed)
    set_seed(seed)


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
