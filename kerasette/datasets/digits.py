"""Handwritten digits, shipped with kerasette.

The "Optical Recognition of Handwritten Digits" data set (E. Alpaydin, C. Kaynak, 1998; UCI
Machine Learning Repository, licence CC BY 4.0), in the 1,797-image copy bundled by
scikit-learn: 8x8 images whose pixels (0..16) count the "on" bits of 4x4 blocks of a 32x32
bitmap, labels 0..9.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

TEST_FRACTION = 0.2
SPLIT_SEED = 1234


def load_data():
    """Returns ``(x_train, y_train), (x_test, y_test)``.

    The split is fixed: a permutation drawn with ``numpy.random.default_rng(1234)``, its first
    1,438 indices for training and the last 359 (20%) for testing. ``x`` is uint8 of shape
    (n, 8, 8) with values 0..16; ``y`` is uint8 of shape (n,).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()
        >>> x_train.shape, x_test.shape
        ((1438, 8, 8), (359, 8, 8))
    """
    with resources.files("kerasette.datasets").joinpath("data/digits.npz").open("rb") as f:
        with np.load(f) as data:
            x, y = data["x"], data["y"]
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    n_test = int(round(len(x) * TEST_FRACTION))
    train, test = order[:-n_test], order[-n_test:]
    return (x[train], y[train]), (x[test], y[test])
