"""``kerasette.utils.set_random_seed``: Keras 3's name for seeding every generator at once.

The generators live in the backend (``kerasette.backend.random``), a floor above ``utils``; the
call reaches them through a deferred import, so ``utils`` keeps importing nothing of kerasette at
import time.
"""

from __future__ import annotations


def set_random_seed(seed: int) -> None:
    """Seeds Python's ``random``, numpy's global generator and kerasette's own generator (behind
    weight initialisation, dropout and shuffling) from ``seed``, as ``keras.utils.set_random_seed``
    does: two fresh processes that call it with the same seed, then build and train the same
    model, get the same weights. Without it, kerasette seeds itself from numpy's global
    generator on first use (so ``np.random.seed(n)`` alone also works, as in Keras 1/2).

    Args:
        seed: an integer in [0, 2**32).

    Example:
        >>> from kerasette.utils import set_random_seed
        >>> set_random_seed(1337)
    """
    from kerasette.backend import random  # deferred: utils sits below the backend, which imports utils

    random.set_random_seed(seed)
