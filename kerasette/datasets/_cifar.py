"""The CIFAR files, read as Keras does but with a restricted unpickler, from Keras 3's or Keras 2's
cache layout.

Keras 3 downloads ``cifar-10-python.tar.gz`` as ``datasets/cifar-10-batches-py-target_archive``
and unpacks it into ``datasets/cifar-10-batches-py-target/cifar-10-batches-py/``; Keras 2 kept
``datasets/cifar-10-batches-py.tar.gz`` and unpacked it into ``datasets/cifar-10-batches-py/``.
Either folder, when it holds every batch, is read without a download; a Keras 2 archive without
its folder is unpacked into the Keras 3 layout. (CIFAR-100 likewise, with ``cifar-100-python``.)
"""

from __future__ import annotations

import os

import numpy as np

from kerasette.backend import config
from kerasette.datasets.safe_pickle import load_pickle
from kerasette.utils.data_utils import DownloadError, extract_archive, get_file, keras_home, validate_file


def batches_folder(inner: str, origin: str, file_hash: str, needed: tuple[str, ...]) -> str:
    """The folder holding the batch files ``needed`` (downloading and unpacking when missing)."""
    datadir = os.path.join(keras_home(), "datasets")
    keras3 = os.path.join(datadir, f"{inner}-target", inner)
    keras2 = os.path.join(datadir, inner)
    for folder in (keras3, keras2):
        if all(os.path.isfile(os.path.join(folder, name)) for name in needed):
            return folder
    keras2_archive = os.path.join(datadir, f"{inner}.tar.gz")
    if os.path.isfile(keras2_archive) and validate_file(keras2_archive, file_hash):
        extract_archive(keras2_archive, os.path.dirname(keras3), "tar")
    else:
        try:
            get_file(fname=f"{inner}-target", origin=origin, extract=True, file_hash=file_hash)
        except DownloadError as exc:
            raise DownloadError(f"{exc} Keras 2's places work too: the archive as {keras2_archive}, or its contents "
                                f"unpacked into {datadir} (giving {keras2}{os.sep}).") from exc
    missing = [name for name in needed if not os.path.isfile(os.path.join(keras3, name))]
    if missing:
        raise FileNotFoundError(f"{keras3} lacks the CIFAR files {missing}; delete the folder {os.path.dirname(keras3)} "
                                f"to unpack or download {origin} again")
    return keras3


def load_batch(path: str, label_key: str = "labels") -> tuple[np.ndarray, list]:
    """``(data, labels)`` of one CIFAR batch file: uint8 images of shape (n, 3, 32, 32) and the
    labels under ``label_key`` (a list of ints)."""
    batch = load_pickle(path, encoding="bytes")
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: a CIFAR batch is a dict; found a {type(batch).__name__}")
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data = np.asarray(batch["data"])
    return data.reshape(data.shape[0], 3, 32, 32), batch[label_key]


def to_image_format(x: np.ndarray) -> np.ndarray:
    """(n, 3, 32, 32) images in the backend's image data format (channels last by default)."""
    return x.transpose(0, 2, 3, 1) if config.image_data_format() == "channels_last" else x
