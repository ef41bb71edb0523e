"""MNIST handwritten digits: 60,000 training and 10,000 test images of 28x28 grey pixels.

Keras's file ``mnist.npz`` (Yann LeCun and Corinna Cortes; licence CC BY-SA 3.0), downloaded once
into ``$KERAS_HOME/datasets/`` (``~/.keras/datasets/``) and read from there, as Keras does.
"""

from __future__ import annotations

from kerasette.datasets._common import ORIGIN_FOLDER
from kerasette.datasets.safe_pickle import load_npz
from kerasette.utils.data_utils import get_file

FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path: str = "mnist.npz"):
    """Returns ``(x_train, y_train), (x_test, y_test)``.

    ``x``: uint8 arrays of shape (60000, 28, 28) and (10000, 28, 28), pixels 0..255; ``y``: uint8
    digit labels 0..9 of shape (60000,) and (10000,).

    Args:
        path: the file's name in the cache folder ``$KERAS_HOME/datasets`` (an absolute path:
            the file there).
    """
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}mnist.npz", file_hash=FILE_HASH)
    data = load_npz(path)
    return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
