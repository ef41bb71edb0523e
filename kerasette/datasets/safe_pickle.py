"""Reading the pickles inside Keras's data files without letting a file run code.

A pickle names the functions that rebuild its objects, and ``pickle.load`` calls whatever it
names (``os.system`` included), so a tampered download could run anything. The CIFAR batches
(Python pickles) and the IMDB/Reuters ``.npz`` files (ragged sequences stored as numpy object
arrays, which numpy can only save as a pickle) need only numpy's array reconstruction:
``numpy.ndarray``, ``numpy.dtype`` and ``numpy.core.multiarray._reconstruct`` (numpy 2 spells the
last ``numpy._core.multiarray._reconstruct``). `RestrictedUnpickler` admits exactly those and
refuses every other global with an `UnsafePickleError` naming the file and the refused global,
before anything is called.

`load_npz` replaces ``np.load(path, allow_pickle=True)`` (which runs any pickle): it opens the
``.npz`` (a zip of ``.npy`` members) itself, reads numeric members with pickles disabled, and
reads object members with `RestrictedUnpickler`.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np


def _reconstruct():
    """numpy's array rebuilding function, wherever this numpy keeps it."""
    try:
        from numpy._core import multiarray  # deferred: numpy >= 2 location
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # deferred: numpy < 2 location
    return multiarray._reconstruct


# (module, name) -> the object it resolves to; resolved here, never imported by name from the file
_ALLOWED = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A data file's pickle names a global that data files never need."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays, lists, dicts, strings and numbers, and nothing else.

    Args:
        file: a binary file object positioned at the pickle.
        source: the file's name, for error messages.
        **kwargs: passed to ``pickle.Unpickler`` (``encoding="bytes"`` for Python 2 pickles).
    """

    def __init__(self, file, source: str = "<data file>", **kwargs):
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module: str, name: str):
        resolve = _ALLOWED.get((module, name))
        if resolve is None:
            raise UnsafePickleError(
                f"Refusing to load {self.source}: its pickle asks for the global {module}.{name}, which a data file "
                "never needs (only numpy arrays are admitted). The file may be corrupted or tampered with; delete it "
                "and download it again.")
        return resolve()


def load_pickle(path: str, encoding: str = "bytes"):
    """Unpickles the file at ``path`` with `RestrictedUnpickler` (``encoding="bytes"`` reads
    Python 2 pickles such as the CIFAR batches, whose keys come back as bytes)."""
    with open(path, "rb") as f:
        return RestrictedUnpickler(f, source=os.fspath(path), encoding=encoding).load()


def _read_npy(stream, source: str) -> np.ndarray:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):  # 3.0 differs from 2.0 only in the header's text encoding
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"{source}: unsupported .npy format version {version}")
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    array = RestrictedUnpickler(stream, source=source, encoding="latin1").load()
    if not isinstance(array, np.ndarray):
        raise UnsafePickleError(f"Refusing to load {source}: its object array member holds a "
                                f"{type(array).__name__}, not a numpy array")
    return array


def load_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file as a dict, object arrays read with `RestrictedUnpickler`
    (a safe replacement for ``np.load(path, allow_pickle=True)``)."""
    path = os.fspath(path)
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            with archive.open(member) as raw:
                stream = io.BytesIO(raw.read())
            arrays[member[: -len(".npy")]] = _read_npy(stream, f"{path} (member {member})")
    return arrays


__all__ = ["RestrictedUnpickler", "UnsafePickleError", "load_npz", "load_pickle"]
