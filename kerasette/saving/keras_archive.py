"""Keras 3's ``.keras`` format: a zip archive of ``config.json``, ``metadata.json`` and
``model.weights.h5``, read and written both ways between kerasette and Keras 3.

``config.json`` is the model serialized as Keras 3 does at the top (``module``, ``class_name``,
``config``, ``registered_name``, ``build_config``, ``compile_config``); the layers inside keep the
config form kerasette writes in HDF5 files, which Keras 3 reads through its legacy path (a layer
config without ``module``). ``model.weights.h5`` is Keras 3's native weights layout (written and
read by `kerasette.saving.native_weights`). ``metadata.json`` holds the Keras version and date,
and, from kerasette, the random state that makes ``fit`` continue exactly.

An archive is a file from anywhere, so reading trusts nothing: the members must be exactly the
three above, with plain names (no folders, ``..``, absolute paths, links or duplicates), not
encrypted, with declared sizes inside fixed limits and actual sizes equal to the declared ones
(checked while decompressing, so a decompression bomb stops at the limit). Nothing is extracted
to disk, and no code stored in the archive is ever run.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import stat
import zipfile
import zlib

import h5py

from kerasette.saving.errors import CheckpointError
from kerasette.saving.hdf5_io import H5Reader, h5_errors
from kerasette.version import __version__

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
MEMBERS = (METADATA, CONFIG, WEIGHTS)  # the order Keras 3 writes them in
MAX_JSON_BYTES = 64 * 2**20
MAX_WEIGHTS_BYTES = 64 * 2**30
#: a deflated member may claim at most this many times its compressed size
MAX_COMPRESSION_RATIO = 1000
_CHUNK = 2**20
ZIP_MAGIC = b"PK\x03\x04"

#: Keras 3's module for the model classes it can rebuild from a config
_MODEL_MODULES = {"Sequential": "keras", "Functional": "keras.src.models.functional"}


def is_archive(path) -> bool:
    """Whether ``path`` starts like a zip archive (what ``.keras`` files are)."""
    try:
        with open(path, "rb") as raw:
            return raw.read(4) == ZIP_MAGIC
    except OSError:
        return False


# -- writing -----------------------------------------------------------------------------------
def model_spec(class_name: str, model_config: dict, build_config, compile_config) -> dict:
    """The top of ``config.json``: what Keras 3's ``deserialize_keras_object`` needs to find the
    model class (``module``), and its build and compile configs."""
    return {"module": _MODEL_MODULES.get(class_name, "keras"), "class_name": class_name,
            "config": model_config, "registered_name": "Functional" if class_name == "Functional" else None,
            "build_config": build_config, "compile_config": compile_config}


def metadata_json(extra: dict) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return json.dumps({"keras_version": __version__, "date_saved": now.strftime("%Y-%m-%d@%H:%M:%S"),
                       "kerasette": extra})


def write_archive(tmp: str, config_json: str, metadata: str, weights: bytes) -> None:
    """Writes the archive to ``tmp`` with its members stored (uncompressed), as Keras 3 does."""
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(METADATA, metadata)
        zf.writestr(CONFIG, config_json)
        zf.writestr(WEIGHTS, weights)


# -- reading -----------------------------------------------------------------------------------
class Archive:
    """The three members of a checked ``.keras`` archive, in memory.

    Attributes:
        path: the file's path (named in every error).
        config, metadata: the parsed JSON members.
        weights: the bytes of ``model.weights.h5``.
    """

    def __init__(self, path: str, config: dict, metadata: dict, weights: bytes):
        self.path, self.config, self.metadata, self.weights = path, config, metadata, weights

    def open_weights(self) -> tuple[h5py.File, H5Reader]:
        """``model.weights.h5`` opened from memory, with a reader that checks it against its size."""
        with h5_errors(self.path, WEIGHTS):
            try:
                h5file = h5py.File(io.BytesIO(self.weights), "r")
            except OSError as exc:
                raise CheckpointError(f"{WEIGHTS} in the archive is not an HDF5 file, or it is damaged "
                                      f"(h5py: {exc})", self.path) from None
        return h5file, H5Reader(h5file, self.path, file_size=len(self.weights))


def _member_error(path: str, name: str, rule: str) -> CheckpointError:
    return CheckpointError(f"the .keras archive member {name!r} {rule}", path)


def _check_member(path: str, info: zipfile.ZipInfo, archive_size: int) -> None:
    name = info.filename
    mode = (info.external_attr >> 16) & 0o170000
    if mode and not stat.S_ISREG(mode):
        raise _member_error(path, name, "is not a regular file (a link or a device); refused")
    if name not in MEMBERS:
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise _member_error(path, name, "has a path that leads outside the archive (absolute, a drive "
                                "or '..'); refused")
        if name.rstrip("/") == "assets" or name.startswith("assets/"):
            raise _member_error(path, name, "holds layer assets (lookup tables, vocabularies); kerasette's "
                                "layers have none, so this model cannot be loaded")
        raise _member_error(path, name, f"is not one of the members of a .keras file ({', '.join(MEMBERS)})")
    if info.flag_bits & 0x1:
        raise _member_error(path, name, "is encrypted; refused")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _member_error(path, name, f"uses compression method {info.compress_type}; expected stored or "
                            "deflated, as Keras writes")
    limit = MAX_WEIGHTS_BYTES if name == WEIGHTS else MAX_JSON_BYTES
    if info.file_size > limit:
        raise _member_error(path, name, f"declares {info.file_size} bytes, more than the limit of {limit}")
    if info.compress_size > archive_size:
        raise _member_error(path, name, f"declares {info.compress_size} compressed bytes, more than the whole "
                            f"archive ({archive_size} bytes)")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise _member_error(path, name, f"is stored uncompressed but declares {info.file_size} bytes in "
                            f"{info.compress_size}")
    if info.file_size > max(info.compress_size * MAX_COMPRESSION_RATIO, _CHUNK):
        raise _member_error(path, name, f"declares {info.file_size} bytes from {info.compress_size} compressed "
                            f"(more than {MAX_COMPRESSION_RATIO} times): a decompression bomb?")


def _read_member(path: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, stopping as soon as it yields more than it declared."""
    out = bytearray()
    with zf.open(info) as stream:
        while True:
            chunk = stream.read(min(_CHUNK, info.file_size + 1 - len(out)) or 1)
            if not chunk:
                break
            out += chunk
            if len(out) > info.file_size:
                raise _member_error(path, info.filename, f"holds more data than the {info.file_size} bytes "
                                    "it declares")
    if len(out) != info.file_size:
        raise _member_error(path, info.filename, f"holds {len(out)} bytes; it declares {info.file_size}")
    return bytes(out)


def _parse(path: str, name: str, data: bytes) -> dict:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _member_error(path, name, f"is not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(value, dict):
        raise _member_error(path, name, f"should hold a JSON object; found {type(value).__name__}")
    return value


def read_archive(filepath) -> Archive:
    """Opens and checks a ``.keras`` archive; the error names the file and what is wrong."""
    path = os.fspath(filepath)
    size = os.path.getsize(path)
    try:
        with zipfile.ZipFile(path, "r") as zf:
            infos = zf.infolist()
            names = [info.filename for info in infos]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise _member_error(path, duplicates[0], "appears more than once")
            for info in infos:
                _check_member(path, info, size)
            missing = [m for m in MEMBERS if m not in names]
            if missing:
                raise CheckpointError(f"the .keras archive lacks {', '.join(missing)} (a .keras file holds "
                                      f"{', '.join(MEMBERS)})", path)
            data = {info.filename: _read_member(path, zf, info) for info in infos}
    except CheckpointError:
        raise
    except zipfile.BadZipFile as exc:
        raise CheckpointError(f"not a valid zip archive, or it is truncated or damaged ({exc})", path) from None
    except zlib.error as exc:
        raise CheckpointError(f"a member of the archive is damaged ({exc})", path) from None
    except (EOFError, NotImplementedError, RuntimeError, ValueError, OSError, OverflowError) as exc:
        raise CheckpointError(f"the zip archive cannot be read ({type(exc).__name__}: {str(exc)[:200]})",
                              path) from None
    return Archive(path, _parse(path, CONFIG, data[CONFIG]), _parse(path, METADATA, data[METADATA]),
                   data[WEIGHTS])
