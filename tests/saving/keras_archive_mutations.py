"""Hostile and damaged copies of a ``.keras`` archive for the tests: each is a file a user might be
sent, built by hand with ``zipfile`` and raw byte edits.

`hostile_archives` returns (id, path) pairs, every one of which kerasette must refuse with a
`CheckpointError` naming the file; `byte_mutations` in ``fuzz_mutations`` supplies the flips and
truncations.
"""

from __future__ import annotations

import io
import json
import pathlib
import stat
import struct
import warnings
import zipfile

import h5py
import numpy as np

MEMBERS = ("metadata.json", "config.json", "model.weights.h5")


def read_members(base: pathlib.Path) -> dict[str, bytes]:
    with zipfile.ZipFile(base) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(path: pathlib.Path, entries, compression=zipfile.ZIP_STORED) -> pathlib.Path:
    """``entries``: (name or ZipInfo, bytes) pairs, written in order (duplicates allowed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names: that is the point
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def _link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _patch_sizes(path: pathlib.Path, member: str, file_size: int) -> pathlib.Path:
    """Rewrites the declared uncompressed size of ``member`` in its local header and the central
    directory (the data stays as it is)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    pos = 0
    while (pos := data.find(b"PK\x03\x04", pos)) != -1:  # local headers: size at +22
        n = struct.unpack_from("<H", data, pos + 26)[0]
        if data[pos + 30: pos + 30 + n] == name:
            struct.pack_into("<I", data, pos + 22, file_size)
        pos += 4
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) != -1:  # central directory: size at +24
        n = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46: pos + 46 + n] == name:
            struct.pack_into("<I", data, pos + 24, file_size)
        pos += 4
    path.write_bytes(bytes(data))
    return path


def _weights_with(fn) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        fn(f)
    return buffer.getvalue()


def hostile_archives(base: pathlib.Path, folder: pathlib.Path) -> list[tuple[str, pathlib.Path]]:
    """Archives that must be refused, built from the members of ``base``."""
    folder.mkdir(parents=True, exist_ok=True)
    m = read_members(base)
    good = [(name, m[name]) for name in MEMBERS]
    config = json.loads(m["config.json"])
    cases: dict[str, list] = {
        "traversal-dotdot": good + [("../evil.txt", b"x")],
        "traversal-deep": good + [("a/../../evil.txt", b"x")],
        "absolute-path": good + [("/tmp/evil.txt", b"x")],
        "windows-drive": good + [("C:\\evil.txt", b"x")],
        "backslash-dotdot": good + [("..\\evil.txt", b"x")],
        "symlink-member": [(_link("model.weights.h5"), b"/etc/passwd"), good[0], good[1]],
        "symlink-extra": good + [(_link("link"), b"/etc/passwd")],
        "duplicate-config": good + [("config.json", b"{}")],
        "duplicate-weights": good + [("model.weights.h5", m["model.weights.h5"])],
        "missing-config": [good[0], good[2]],
        "missing-metadata": [good[1], good[2]],
        "missing-weights": [good[0], good[1]],
        "empty-archive": [],
        "extra-member": good + [("notes.txt", b"hello")],
        "assets-folder": good + [("assets/vocab.txt", b"a\nb")],
        "folder-entry": good + [("sub/", b"")],
        "npz-weights": [good[0], good[1], ("model.weights.npz", b"PK")],
        "config-not-json": [good[0], ("config.json", b"{not json"), good[2]],
        "config-not-utf8": [good[0], ("config.json", b"\xff\xfe{}"), good[2]],
        "config-a-list": [good[0], ("config.json", b"[1, 2]"), good[2]],
        "config-empty": [good[0], ("config.json", b""), good[2]],
        "config-deep-nesting": [good[0], ("config.json", b"[" * 100000 + b"]" * 100000), good[2]],
        "config-no-class": [good[0], ("config.json", json.dumps({"config": config["config"]}).encode()), good[2]],
        "config-unknown-class": [good[0], ("config.json", json.dumps({**config, "class_name": "os.system"}).encode()),
                                 good[2]],
        "config-lambda-bytecode": [good[0], ("config.json", json.dumps({**config, "config": {
            **config["config"], "layers": [{"class_name": "Lambda", "config": {
                "name": "l", "function": {"class_name": "__lambda__", "config": {
                    "code": "4wEAAAAAAAAAAAAAAAEAAAADAAAA8wQAAACXAFkBqQFOqQCpAdoBeHMBAAAAIPoIPHN0ZGluPvoIPGxhbWJkYT5yBQAAAAEAAAB",
                    "defaults": None, "closure": None}}, "output_shape": None}}]}}).encode()), good[2]],
        "config-huge-units": [good[0], ("config.json", json.dumps(_huge_dense(config)).encode()), good[2]],
        "metadata-not-json": [("metadata.json", b"\x00\x01"), good[1], good[2]],
        "weights-not-hdf5": good[:2] + [("model.weights.h5", b"not an hdf5 file at all")],
        "weights-empty": good[:2] + [("model.weights.h5", b"")],
        "weights-truncated": good[:2] + [("model.weights.h5", m["model.weights.h5"][:2000])],
        "weights-missing-layer": good[:2] + [("model.weights.h5", _weights_with(lambda f: f.create_group("layers")))],
        "weights-huge-dataset": good[:2] + [("model.weights.h5", _edited(m["model.weights.h5"], _huge_dataset))],
        "weights-wrong-shape": good[:2] + [("model.weights.h5", _reshaped_weights(m["model.weights.h5"]))],
        "weights-strings": good[:2] + [("model.weights.h5", _string_weights(m["model.weights.h5"]))],
        "weights-extra-layer": good[:2] + [("model.weights.h5", _extra_layer(m["model.weights.h5"]))],
    }
    out = [(cid, _write(folder / f"{cid}.keras", entries)) for cid, entries in cases.items()]
    # sizes the headers lie about, and compressed members
    out.append(("bomb-declared-ratio", _bomb(folder / "bomb-declared-ratio.keras", good, 200 * 2**20)))
    lying = _write(folder / "size-larger-than-declared.keras", good)
    out.append(("size-larger-than-declared", _patch_sizes(lying, "config.json", 10)))
    smaller = _write(folder / "size-smaller-than-declared.keras", good)
    out.append(("size-smaller-than-declared", _patch_sizes(smaller, "config.json", len(m["config.json"]) + 500)))
    huge = _write(folder / "size-declared-huge.keras", good)
    out.append(("size-declared-huge", _patch_sizes(huge, "model.weights.h5", 2**32 - 1)))
    out.append(("not-a-zip", _raw(folder / "not-a-zip.keras", b"PK\x03\x04" + b"\x00" * 100)))
    out.append(("zip-no-directory", _raw(folder / "zip-no-directory.keras", base.read_bytes()[:-22])))
    return out


def _raw(path: pathlib.Path, data: bytes) -> pathlib.Path:
    path.write_bytes(data)
    return path


def _bomb(path: pathlib.Path, good, size: int) -> pathlib.Path:
    """A deflated ``model.weights.h5`` of ``size`` zero bytes (about 1000 times smaller)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(good[0][0], good[0][1])
        zf.writestr(good[1][0], good[1][1])
        with zf.open("model.weights.h5", "w", force_zip64=False) as member:
            chunk = b"\0" * 2**20
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return path


def _huge_dense(config: dict) -> dict:
    """The config with its last Dense layer asking for 2**31 units."""
    text = json.dumps(config)
    edited = json.loads(text)
    for layer in reversed(edited["config"]["layers"]):
        if layer.get("class_name") == "Dense":
            layer["config"]["units"] = 2**31
            break
    return edited


def _huge_dataset(f) -> None:
    """The first weight replaced by a compressed dataset declaring 2**40 values."""
    name = _first_dataset(f)
    del f[name]
    f.create_dataset(name, shape=(2**20, 2**20), dtype="float32", compression="gzip", chunks=(1, 1024))


def _edited(data: bytes, fn) -> bytes:
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as f:
        fn(f)
    return buffer.getvalue()


def _first_dataset(f) -> str:
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and n.startswith("layers/") else None)
    return sorted(names)[0]


def _reshaped_weights(data: bytes) -> bytes:
    def fn(f):
        name = _first_dataset(f)
        del f[name]
        f.create_dataset(name, data=np.zeros((3, 3, 3, 99), "float32"))
    return _edited(data, fn)


def _string_weights(data: bytes) -> bytes:
    def fn(f):
        name = _first_dataset(f)
        shape = f[name].shape
        del f[name]
        f.create_dataset(name, data=np.full(shape, b"ab", dtype="S2"))
    return _edited(data, fn)


def _extra_layer(data: bytes) -> bytes:
    return _edited(data, lambda f: f.create_group("layers/dense_99/vars").create_dataset("0", data=np.zeros(3)))
