"""CIFAR-100 small images: 50,000 training and 10,000 test colour images of 32x32 pixels in 100
fine classes grouped into 20 coarse ones (Alex Krizhevsky, 2009).

The files are Python pickles, read with a restricted unpickler that admits only numpy arrays
(see `kerasette.datasets.safe_pickle`).
"""

from __future__ import annotations

import os

import numpy as np

from kerasette.datasets._cifar import batches_folder, load_batch, to_image_format

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def load_data(label_mode: str = "fine"):
    """Returns ``(x_train, y_train), (x_test, y_test)``.

    ``x``: uint8 images, (50000, 32, 32, 3) and (10000, 32, 32, 3) with channels last (or
    channels first, following the backend's image data format); ``y``: int64 labels of shape
    (50000, 1) and (10000, 1), 0..99 (``"fine"``) or 0..19 (``"coarse"``) (Keras returns the
    labels as numpy makes them from the file's lists, int64).

    Args:
        label_mode: ``"fine"`` or ``"coarse"``.
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"cifar100.load_data: label_mode must be 'fine' or 'coarse'; received {label_mode!r}")
    folder = batches_folder("cifar-100-python", ORIGIN, FILE_HASH, ("train", "test"))
    key = f"{label_mode}_labels"
    x_train, y_train = load_batch(os.path.join(folder, "train"), label_key=key)
    x_test, y_test = load_batch(os.path.join(folder, "test"), label_key=key)
    y_train = np.reshape(np.asarray(y_train, dtype="int64"), (len(y_train), 1))
    y_test = np.reshape(np.asarray(y_test, dtype="int64"), (len(y_test), 1))
    return (to_image_format(x_train), y_train), (to_image_format(x_test), y_test)
