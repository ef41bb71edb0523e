"""Boston housing prices: 506 samples of 13 features (the 1970s Boston suburbs of Harrison and
Rubinfeld, from Carnegie Mellon's StatLib), the target the median home value in k$.

Keras's file ``boston_housing.npz`` in ``$KERAS_HOME/datasets/``.
"""

from __future__ import annotations

from kerasette.datasets._common import ORIGIN_FOLDER, check_test_split, shuffled_split
from kerasette.datasets.safe_pickle import load_npz
from kerasette.utils.data_utils import get_file

FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113):
    """Returns ``(x_train, y_train), (x_test, y_test)``, float64, ``x`` of shape (n, 13), ``y`` (n,).

    The samples are permuted by ``np.random.RandomState(seed)``; the first
    ``int(506 * (1 - test_split))`` (404 by default) are for training.

    Args:
        path: the file's name in the cache folder.
        test_split: the fraction kept for testing, in [0, 1).
        seed: the shuffle's seed.
    """
    check_test_split("boston_housing.load_data", test_split)
    path = get_file(path, origin=f"{ORIGIN_FOLDER}boston_housing.npz", file_hash=FILE_HASH)
    data = load_npz(path)
    return shuffled_split(data["x"], data["y"], test_split, seed)
