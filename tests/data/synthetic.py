"""Small data files in the exact formats of the files Keras downloads, for the data set tests.

Imports numpy and the standard library only: both kerasette's tests and
``make_keras3_datasets_golden.py`` (run with real Keras 3) write the same files with it.

The CIFAR batches are written as Python 2's cPickle wrote the real ones (protocol 2, byte
strings as ``BINSTRING``, numpy's reconstruct function under its old name
``numpy.core.multiarray``), so the restricted unpickler is tested on what the real files hold.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import tarfile

import numpy as np

SEED = 20240601
# (n_train, n_test) of the small copies
SIZES = {"mnist": (12, 5), "fashion": (9, 4), "cifar10_batch": 4, "cifar10_test": 3, "cifar100": (7, 3),
         "imdb": (40, 30), "reuters": 50, "boston": 30, "california": 700}


class Python2Pickler(pickle._Pickler):
    """Protocol 2 with ``bytes`` and ``str`` saved as Python 2 ``str`` (``SHORT_BINSTRING``/
    ``BINSTRING``) and numpy's ``_reconstruct`` named as numpy 1 named it."""

    def __init__(self, file):
        super().__init__(file, protocol=2)

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    def save_str(self, obj):  # Python 2's str was bytes
        self.save_bytes(obj.encode("latin1"))

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes
    dispatch[str] = save_str

    def save_global(self, obj, name=None):
        if getattr(obj, "__name__", None) == "_reconstruct":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)

    dispatch[type(len)] = save_global  # builtin functions such as _reconstruct


def python2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    Python2Pickler(buffer).dump(obj)
    return buffer.getvalue()


def _rng(name: str) -> np.random.RandomState:
    return np.random.RandomState(SEED + sum(map(ord, name)))


def write_mnist(folder: str) -> str:
    rng = _rng("mnist")
    n_train, n_test = SIZES["mnist"]
    path = os.path.join(folder, "mnist.npz")
    np.savez(path, x_train=rng.randint(0, 256, (n_train, 28, 28)).astype("uint8"),
             y_train=rng.randint(0, 10, n_train).astype("uint8"),
             x_test=rng.randint(0, 256, (n_test, 28, 28)).astype("uint8"),
             y_test=rng.randint(0, 10, n_test).astype("uint8"))
    return path


def write_fashion_mnist(folder: str) -> str:
    """The four IDX files in ``folder/fashion-mnist``."""
    rng = _rng("fashion")
    out = os.path.join(folder, "fashion-mnist")
    os.makedirs(out, exist_ok=True)
    for prefix, n in zip(("train", "t10k"), SIZES["fashion"]):
        labels = rng.randint(0, 10, n).astype("uint8")
        images = rng.randint(0, 256, (n, 28, 28)).astype("uint8")
        with gzip.open(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">ii", 2049, n) + labels.tobytes())
        with gzip.open(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">iiii", 2051, n, 28, 28) + images.tobytes())
    return out


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _folder(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    tar.addfile(info)


def cifar10_tar() -> bytes:
    """``cifar-10-python.tar.gz``'s layout: ``cifar-10-batches-py/`` with five training batches,
    a test batch, ``batches.meta`` and ``readme.html``."""
    rng = _rng("cifar10")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        _folder(tar, "cifar-10-batches-py")
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for name in names:
            n = SIZES["cifar10_test"] if name == "test_batch" else SIZES["cifar10_batch"]
            batch = {b"batch_label": f"{name} of 5".encode(), b"labels": [int(v) for v in rng.randint(0, 10, n)],
                     b"data": rng.randint(0, 256, (n, 3072)).astype("uint8"),
                     b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
            _add(tar, f"cifar-10-batches-py/{name}", python2_pickle(batch))
        _add(tar, "cifar-10-batches-py/batches.meta",
             python2_pickle({b"label_names": [b"airplane", b"automobile"], b"num_vis": 3072}))
        _add(tar, "cifar-10-batches-py/readme.html", b"<html></html>")
    return buffer.getvalue()


def cifar100_tar() -> bytes:
    """``cifar-100-python.tar.gz``'s layout: ``cifar-100-python/`` with ``train``, ``test`` and
    ``meta``."""
    rng = _rng("cifar100")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        _folder(tar, "cifar-100-python")
        for name, n in zip(("train", "test"), SIZES["cifar100"]):
            batch = {b"filenames": [f"f{i}.png".encode() for i in range(n)], b"batch_label": name.encode(),
                     b"fine_labels": [int(v) for v in rng.randint(0, 100, n)],
                     b"coarse_labels": [int(v) for v in rng.randint(0, 20, n)],
                     b"data": rng.randint(0, 256, (n, 3072)).astype("uint8")}
            _add(tar, f"cifar-100-python/{name}", python2_pickle(batch))
        _add(tar, "cifar-100-python/meta", python2_pickle({b"fine_label_names": [b"apple"]}))
    return buffer.getvalue()


def _ragged(rng, n: int, vocabulary: int, longest: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = [int(w) for w in rng.randint(1, vocabulary, rng.randint(1, longest))]
    return out


def write_imdb(folder: str) -> tuple[str, str]:
    rng = _rng("imdb")
    n_train, n_test = SIZES["imdb"]
    path = os.path.join(folder, "imdb.npz")
    np.savez(path, x_train=_ragged(rng, n_train, 60, 25), y_train=rng.randint(0, 2, n_train).astype("int64"),
             x_test=_ragged(rng, n_test, 60, 25), y_test=rng.randint(0, 2, n_test).astype("int64"))
    index_path = os.path.join(folder, "imdb_word_index.json")
    with open(index_path, "w") as f:
        json.dump({"the": 1, "and": 2, "a": 3, "movie": 17}, f)
    return path, index_path


def write_reuters(folder: str) -> tuple[str, str]:
    rng = _rng("reuters")
    n = SIZES["reuters"]
    path = os.path.join(folder, "reuters.npz")
    np.savez(path, x=_ragged(rng, n, 80, 30), y=rng.randint(0, 46, n).astype("int64"))
    index_path = os.path.join(folder, "reuters_word_index.json")
    with open(index_path, "w") as f:
        json.dump({"the": 1, "of": 2, "said": 5}, f)
    return path, index_path


def write_boston(folder: str) -> str:
    rng = _rng("boston")
    path = os.path.join(folder, "boston_housing.npz")
    n = SIZES["boston"]
    np.savez(path, x=rng.rand(n, 13) * 100, y=rng.rand(n) * 50)
    return path


def write_california(folder: str) -> str:
    rng = _rng("california")
    path = os.path.join(folder, "california_housing.npz")
    n = SIZES["california"]
    np.savez(path, x=(rng.rand(n, 8) * 10).astype("float32"), y=(rng.rand(n) * 5e5).astype("float32"))
    return path


IMDB_OPTIONS = [
    {}, {"num_words": 30}, {"num_words": 30, "skip_top": 8}, {"maxlen": 15}, {"seed": 7, "start_char": None},
    {"oov_char": None, "num_words": 25, "skip_top": 5}, {"index_from": 0, "start_char": None, "oov_char": 9},
    {"start_char": 5, "index_from": 10, "num_words": 40},
]
REUTERS_OPTIONS = IMDB_OPTIONS + [{"test_split": 0.5}, {"test_split": 0.0}]
HOUSING_OPTIONS = [{}, {"test_split": 0.3, "seed": 1}, {"test_split": 0.0}]
