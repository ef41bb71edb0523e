"""Fashion-MNIST: 60,000 training and 10,000 test images of 28x28 grey pixels of clothes, in 10
classes (Zalando Research, licence MIT).

The four gzipped IDX files Keras downloads into ``$KERAS_HOME/datasets/fashion-mnist/``.
Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker,
8 Bag, 9 Ankle boot.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from kerasette.datasets._common import ORIGIN_FOLDER
from kerasette.utils.data_utils import DownloadError, get_file, keras_home

FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
LABEL_HEADER, IMAGE_HEADER = 8, 16  # bytes before the data in IDX label and image files


def _read(path: str, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_data():
    """Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape (60000, 28, 28)
    and (10000, 28, 28), pixels 0..255, and uint8 labels 0..9 of shape (60000,) and (10000,)."""
    subdir = os.path.join("datasets", "fashion-mnist")
    try:
        paths = [get_file(name, origin=ORIGIN_FOLDER + name, cache_subdir=subdir) for name in FILES]
    except DownloadError as exc:
        raise DownloadError(f"{exc} Fashion-MNIST needs all four files {', '.join(FILES)} (from {ORIGIN_FOLDER}) in "
                            f"{os.path.join(keras_home(), subdir)}.") from exc
    y_train = _read(paths[0], LABEL_HEADER)
    x_train = _read(paths[1], IMAGE_HEADER).reshape(len(y_train), 28, 28)
    y_test = _read(paths[2], LABEL_HEADER)
    x_test = _read(paths[3], IMAGE_HEADER).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
