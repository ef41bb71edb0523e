"""Careful HDF5 access: every read is checked before it allocates, every failure names the file.

`H5Reader` wraps an open `h5py.File` for reading: string attributes in any of the encodings
Keras versions wrote (fixed-length bytes, variable-length ``str``, split into ``name0``,
``name1``, ... when over 64 KB), groups that must exist, and numeric datasets whose declared
size is checked against the file before a byte is read. The ``write_*`` helpers write string
attributes the way every Keras and h5py version reads them.
"""

from __future__ import annotations

import contextlib
import os

import h5py
import numpy as np

from kerasette.saving.errors import CheckpointError

# Keras's limit on one attribute (an HDF5 object header message holds at most 64 KB).
HDF5_OBJECT_HEADER_LIMIT = 64512
# Compressed datasets may legitimately hold more than the file's size; not this much more.
MAX_COMPRESSION_RATIO = 100
MAX_ATTRIBUTE_CHUNKS = 100_000
_H5_FAILURES = (OSError, KeyError, RuntimeError, TypeError, ValueError, UnicodeError,
                OverflowError, AttributeError, IndexError, SystemError)


@contextlib.contextmanager
def h5_errors(filepath, where: str):
    """Turns h5py's and numpy's exceptions inside the block into a `CheckpointError`."""
    try:
        yield
    except CheckpointError:
        raise
    except _H5_FAILURES as exc:
        raise CheckpointError(f"{where}: the file is damaged or not in the expected layout "
                              f"({type(exc).__name__}: {exc})", filepath) from exc


def _decode(value, filepath, where: str) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError(f"{where} is not valid UTF-8 text", filepath) from None
    if isinstance(value, str):
        return value
    raise CheckpointError(f"{where} should be text; found a value of type {type(value).__name__}", filepath)


class H5Reader:
    """Checked reads from one open HDF5 file.

    Args:
        h5file: an open, readable `h5py.File`.
        filepath: its path, named in every error message.
        file_size: its size in bytes (default: the size of ``filepath``; given for a file read
            from memory, such as the weights inside a ``.keras`` archive).
    """

    def __init__(self, h5file: h5py.File, filepath, file_size: int | None = None):
        self.file = h5file
        self.path = os.fspath(filepath)
        self.file_size = os.path.getsize(self.path) if file_size is None else int(file_size)

    def error(self, message: str) -> CheckpointError:
        return CheckpointError(message, self.path)

    def group(self, parent, name: str, where: str, required: bool = True):
        """The subgroup ``name`` of ``parent`` (None when absent and not required)."""
        with h5_errors(self.path, where):
            if name not in parent:
                if required:
                    raise self.error(f"{where}: the group '{name}' is missing")
                return None
            obj = parent[name]
        if not isinstance(obj, h5py.Group):
            raise self.error(f"{where}: '{name}' should be a group, found a {type(obj).__name__}")
        return obj

    def _attr_value(self, obj, name: str, where: str):
        with h5_errors(self.path, where):
            attr_id = obj.attrs.get_id(name)
            shape, dtype = attr_id.shape, attr_id.dtype
            count = int(np.prod(shape, dtype=np.float64)) if shape else 1
            if count * max(dtype.itemsize, 1) > max(self.file_size, HDF5_OBJECT_HEADER_LIMIT):
                raise self.error(f"{where}: the attribute '{name}' declares {count} values of "
                                 f"{dtype.itemsize} bytes, more than the whole file holds")
            return obj.attrs[name]

    def has_attr(self, obj, name: str, where: str) -> bool:
        with h5_errors(self.path, where):
            return name in obj.attrs

    def str_attr(self, obj, name: str, where: str, required: bool = False) -> str | None:
        """A scalar text attribute (bytes or str in the file), or None when absent."""
        if not self.has_attr(obj, name, where):
            if required:
                raise self.error(f"{where}: the attribute '{name}' is missing")
            return None
        value = self._attr_value(obj, name, where)
        if isinstance(value, np.ndarray):
            if value.size != 1:
                raise self.error(f"{where}: the attribute '{name}' should be one string; found an "
                                 f"array of shape {value.shape}")
            value = value.reshape(()).item() if value.dtype.kind != "O" else value.reshape(-1)[0]
        return _decode(value, self.path, f"{where}: attribute '{name}'")

    def str_list_attr(self, obj, name: str, where: str) -> list[str] | None:
        """A list-of-text attribute, also when Keras split it into ``name0``, ``name1``, ...

        Returns None when neither ``name`` nor ``name0`` exists.
        """
        if self.has_attr(obj, name, where):
            return self._str_list(self._attr_value(obj, name, where), f"{where}: attribute '{name}'")
        values: list[str] = []
        chunk = 0
        while self.has_attr(obj, f"{name}{chunk}", where):
            if chunk >= MAX_ATTRIBUTE_CHUNKS:
                raise self.error(f"{where}: the attribute '{name}' is split into more than "
                                 f"{MAX_ATTRIBUTE_CHUNKS} parts")
            part = self._attr_value(obj, f"{name}{chunk}", where)
            values.extend(self._str_list(part, f"{where}: attribute '{name}{chunk}'"))
            chunk += 1
        return values if chunk else None

    def _str_list(self, value, where: str) -> list[str]:
        array = np.asarray(value)
        if array.ndim != 1:
            raise self.error(f"{where} should be a 1-D list of names; found shape {array.shape}")
        if array.size == 0:
            return []  # Keras writes an empty float64 array for "no names"
        if array.dtype.kind not in "SUO":
            raise self.error(f"{where} should hold names; found values of dtype {array.dtype}")
        return [_decode(item, self.path, where) for item in array.tolist()]

    def dataset(self, parent, name: str, where: str) -> np.ndarray:
        """A numeric dataset's values, after checking its declared size against the file."""
        with h5_errors(self.path, where):
            if name not in parent:
                raise self.error(f"{where}: the dataset '{name}' is missing")
            ds = parent[name]
            if not isinstance(ds, h5py.Dataset):
                raise self.error(f"{where}: '{name}' should be a dataset, found a {type(ds).__name__}")
            self._check_declared_size(ds, where)
            out = np.empty(ds.shape, dtype=ds.dtype)
            if out.size:
                ds.read_direct(out)
            return out

    def _check_declared_size(self, ds: h5py.Dataset, where: str) -> None:
        dtype = ds.dtype
        if dtype.kind not in "fiub" or dtype.itemsize > 8 or dtype.names is not None:
            raise self.error(f"{where}: the dataset '{ds.name}' has dtype {dtype}; expected numbers")
        if ds.shape is None:
            raise self.error(f"{where}: the dataset '{ds.name}' has no shape")
        nbytes = float(np.prod(ds.shape, dtype=np.float64)) * dtype.itemsize
        filtered = bool(ds.compression or ds.shuffle or ds.scaleoffset)
        limit = self.file_size * (MAX_COMPRESSION_RATIO if filtered else 1)
        if nbytes > max(limit, 64):
            raise self.error(f"{where}: the dataset '{ds.name}' declares shape {ds.shape} "
                             f"({nbytes:.0f} bytes), more than the file ({self.file_size} bytes) can hold")


# -- writing -----------------------------------------------------------------------------------
def write_str_attr(obj, name: str, text: str) -> None:
    """Writes text as a fixed-length byte string (variable-length only beyond 64 KB)."""
    data = text.encode("utf-8")
    if len(data) <= HDF5_OBJECT_HEADER_LIMIT:
        obj.attrs.create(name, np.array(data, dtype=f"S{max(len(data), 1)}"))
    else:  # a fixed-length attribute this large does not fit in an object header
        obj.attrs.create(name, text, dtype=h5py.string_dtype("utf-8"))


def write_str_list_attr(obj, name: str, values: list[str]) -> None:
    """Writes names as a fixed-length byte-string array, split as Keras does past 64 KB.

    An empty list is written as an empty float64 array, as Keras writes it.
    """
    if not values:
        obj.attrs.create(name, np.zeros((0,), dtype=np.float64))
        return
    encoded = [v.encode("utf-8") for v in values]
    too_long = [v for v in values if len(v.encode("utf-8")) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise CheckpointError(f"cannot save the name {too_long[0][:80]!r}...: names must be shorter "
                              f"than {HDF5_OBJECT_HEADER_LIMIT} bytes")
    array = np.array(encoded, dtype=f"S{max(len(e) for e in encoded)}")
    chunks = 1
    while array.nbytes / chunks > HDF5_OBJECT_HEADER_LIMIT:
        chunks += 1
    parts = np.array_split(array, chunks)
    while any(p.nbytes > HDF5_OBJECT_HEADER_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(array, chunks)
    if chunks == 1:
        obj.attrs.create(name, array)
        return
    for i, part in enumerate(parts):
        obj.attrs.create(f"{name}{i}", part)
