"""CIFAR-10 small images: 50,000 training and 10,000 test colour images of 32x32 pixels in 10
classes (Alex Krizhevsky, Vinod Nair and Geoffrey Hinton, 2009).

Labels: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship, 9 truck.
The batches are Python pickles, read with a restricted unpickler that admits only numpy arrays
(see `kerasette.datasets.safe_pickle`).
"""

from __future__ import annotations

import os

import numpy as np

from kerasette.datasets._cifar import batches_folder, load_batch, to_image_format

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


def load_data():
    """Returns ``(x_train, y_train), (x_test, y_test)``.

    ``x``: uint8 images, (50000, 32, 32, 3) and (10000, 32, 32, 3) with channels last, or
    (n, 3, 32, 32) when the backend's image data format is ``channels_first``; ``y``: uint8
    labels 0..9 of shape (50000, 1) and (10000, 1).
    """
    folder = batches_folder("cifar-10-batches-py", ORIGIN, FILE_HASH, BATCHES)
    parts = [load_batch(os.path.join(folder, name)) for name in BATCHES[:-1]]
    x_train = np.concatenate([x for x, _ in parts]).astype("uint8", copy=False)
    y_train = np.concatenate([np.asarray(y, dtype="uint8") for _, y in parts]).reshape(-1, 1)
    x_test, y_test = load_batch(os.path.join(folder, "test_batch"))
    x_test = x_test.astype("uint8", copy=False)
    y_test = np.asarray(y_test, dtype="uint8").reshape(-1, 1)
    return (to_image_format(x_train), y_train), (to_image_format(x_test), y_test)
