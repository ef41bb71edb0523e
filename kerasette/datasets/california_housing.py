"""California housing prices (the 1990 US census; Pace and Barry, 1997): 20,640 districts of 8
features, the target the median house value in dollars.

Keras's file ``california_housing.npz`` in ``$KERAS_HOME/datasets/`` (a Keras 3 data set).
"""

from __future__ import annotations

from kerasette.datasets._common import ORIGIN_FOLDER, check_test_split, shuffled_split
from kerasette.datasets.safe_pickle import load_npz
from kerasette.utils.data_utils import get_file

FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"
SMALL = 600


def load_data(version: str = "large", path: str = "california_housing.npz", test_split: float = 0.2,
              seed: int = 113):
    """Returns ``(x_train, y_train), (x_test, y_test)``: ``x`` of shape (n, 8) and ``y`` of shape
    (n,), float arrays of the dtype stored in the file (Keras does not convert them).

    Args:
        version: ``"large"`` (all 20,640 districts) or ``"small"`` (the first 600).
        path: the file's name in the cache folder.
        test_split: the fraction kept for testing, in [0, 1).
        seed: the seed of the shuffle (``np.random.RandomState``) before the split.
    """
    check_test_split("california_housing.load_data", test_split)
    if version not in ("large", "small"):
        raise ValueError(f"california_housing.load_data: version must be 'small' or 'large'; received {version!r}")
    path = get_file(path, origin=f"{ORIGIN_FOLDER}california_housing.npz", file_hash=FILE_HASH)
    data = load_npz(path)
    x, y = data["x"], data["y"]
    if version == "small":
        x, y = x[:SMALL], y[:SMALL]
    return shuffled_split(x, y, test_split, seed)
