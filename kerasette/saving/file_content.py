"""Reading a whole checkpoint into memory, checked, before anything touches a model.

Two layouts are read: Keras's legacy HDF5 layout (full model or weights only, Keras 1 to 3) and
Keras 3's ``.weights.h5`` (``layers/<name>/vars/<i>``). Either way the result is a
`CheckpointContent`: the text attributes and, for each layer in the file's order, its weights
in the order of ``weight_names``. Loading by the order of ``layer_names``/``weight_names`` (never
by dataset names or group iteration order) is what every Keras version does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

import h5py
import numpy as np

from kerasette.saving.errors import CheckpointError
from kerasette.saving.hdf5_io import H5Reader, h5_errors

DIGEST_ATTR = "kerasette_digest"
STATE_ATTR = "kerasette_training_state"
_DIGEST_PREFIX = "sha256:"


@dataclasses.dataclass
class LayerWeights:
    """One layer's group: its name in the file and its (weight name, array) pairs in order."""

    name: str
    weights: list[tuple[str, np.ndarray]]


@dataclasses.dataclass
class CheckpointContent:
    """Everything a checkpoint holds, as read from the file."""

    path: str
    layout: str  # "legacy" or "keras3"
    keras_version: str | None = None
    backend: str | None = None
    model_config: str | None = None
    training_config: str | None = None
    training_state: str | None = None
    layers: list[LayerWeights] = dataclasses.field(default_factory=list)
    optimizer: list[tuple[str, np.ndarray]] | None = None
    stored_digest: str | None = None

    @property
    def is_keras1(self) -> bool:
        """Written by Keras 1: no ``keras_version`` (Keras 1.0/1.1) or a 1.x version."""
        if self.backend == "kerasette" or self.layout != "legacy":
            return False
        version = self.keras_version
        return version is None or version == "1" or version.startswith("1.")

    @property
    def max_weight_elements(self) -> int:
        sizes = [int(a.size) for layer in self.layers for _, a in layer.weights]
        return max(sizes, default=0)


def _read_layers(reader: H5Reader, group, where: str) -> list[LayerWeights]:
    names = reader.str_list_attr(group, "layer_names", where)
    if names is None:
        raise reader.error(f"{where}: the attribute 'layer_names' is missing, so this is not a Keras "
                           "weights group")
    if len(set(names)) != len(names):
        raise reader.error(f"{where}: 'layer_names' lists the same layer twice")
    layers = []
    for name in names:
        layer_where = f"{where}/{name}" if where != "/" else f"/{name}"
        g = reader.group(group, name, layer_where)
        weight_names = reader.str_list_attr(g, "weight_names", layer_where) or []
        if len(set(weight_names)) != len(weight_names):
            raise reader.error(f"{layer_where}: 'weight_names' lists the same weight twice")
        arrays = [(wn, reader.dataset(g, wn, f"{layer_where}: weight '{wn}'")) for wn in weight_names]
        layers.append(LayerWeights(name, arrays))
    return layers


def _read_optimizer(reader: H5Reader) -> list[tuple[str, np.ndarray]] | None:
    group = reader.group(reader.file, "optimizer_weights", "/", required=False)
    if group is None:
        return None
    where = "optimizer_weights"
    names = reader.str_list_attr(group, "weight_names", where) or []
    return [(n, reader.dataset(group, n, f"{where}: weight '{n}'")) for n in names]


def _read_legacy(reader: H5Reader) -> CheckpointContent:
    root = reader.file
    content = CheckpointContent(reader.path, "legacy")
    content.model_config = reader.str_attr(root, "model_config", "/")
    content.training_config = reader.str_attr(root, "training_config", "/")
    content.training_state = reader.str_attr(root, STATE_ATTR, "/")
    content.stored_digest = reader.str_attr(root, DIGEST_ATTR, "/")
    group = reader.group(root, "model_weights", "/", required=False)
    where = "model_weights"
    if group is None:
        if content.model_config is not None:
            raise reader.error("the file has a model_config but no 'model_weights' group")
        group, where = root, "/"
    content.keras_version = (reader.str_attr(group, "keras_version", where)
                             or reader.str_attr(root, "keras_version", "/"))
    content.backend = reader.str_attr(group, "backend", where) or reader.str_attr(root, "backend", "/")
    content.layers = _read_layers(reader, group, where)
    content.optimizer = _read_optimizer(reader)
    return content


def _natural_key(name: str) -> tuple:
    match = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return (match.group(1), int(match.group(2) or 0)) if match else (name, 0)


def _read_keras3(reader: H5Reader) -> CheckpointContent:
    """Keras 3's ``.weights.h5``: layers ordered by where their data sits in the file (the order
    Keras wrote them), since neither names nor group iteration tell the model's order."""
    content = CheckpointContent(reader.path, "keras3")
    layers_group = reader.group(reader.file, "layers", "/")
    entries = []
    with h5_errors(reader.path, "layers"):
        names = list(layers_group.keys())
    for name in names:
        where = f"layers/{name}"
        vars_group = reader.group(reader.group(layers_group, name, where), "vars", where, required=False)
        if vars_group is None:
            continue
        with h5_errors(reader.path, where):
            keys = list(vars_group.keys())
        if sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [str(i) for i in range(len(keys))]:
            raise reader.error(f"{where}/vars: expected datasets named 0..{len(keys) - 1}; found {sorted(keys)}")
        if not keys:
            continue
        arrays = [(f"{name}/vars/{i}", reader.dataset(vars_group, str(i), f"{where}/vars/{i}"))
                  for i in range(len(keys))]
        with h5_errors(reader.path, where):
            offset = vars_group["0"].id.get_offset()
        entries.append((offset if offset is not None else float("inf"), _natural_key(name), name, arrays))
    entries.sort(key=lambda e: (e[0], e[1]))
    content.layers = [LayerWeights(name, arrays) for _, _, name, arrays in entries]
    return content


def read_content(reader: H5Reader) -> CheckpointContent:
    """The checkpoint's content, in whichever layout the file uses."""
    root = reader.file
    with h5_errors(reader.path, "/"):
        keras3 = ("layers" in root and isinstance(root["layers"], h5py.Group) and "model_weights" not in root
                  and "layer_names" not in root.attrs and "layer_names0" not in root.attrs)
    return _read_keras3(reader) if keras3 else _read_legacy(reader)


# -- integrity ---------------------------------------------------------------------------------
def compute_digest(content: CheckpointContent) -> str:
    """A SHA-256 over everything the file means: attributes, names, dtypes, shapes and values."""
    h = hashlib.sha256(b"kerasette-checkpoint-v1\0")

    def text(label: str, value) -> None:
        data = b"\1" + value.encode("utf-8") if value is not None else b"\0"
        h.update(label.encode() + len(data).to_bytes(8, "little") + data)

    def arrays(label: str, items) -> None:
        text(label, str(len(items)))
        for name, array in items:
            text("weight", name)
            text("array", f"{array.dtype.str}{array.shape}")
            h.update(np.ascontiguousarray(array).tobytes())

    for label in ("keras_version", "backend", "model_config", "training_config", "training_state"):
        text(label, getattr(content, label))
    text("layers", str(len(content.layers)))
    for layer in content.layers:
        text("layer", layer.name)
        arrays("weights", layer.weights)
    text("optimizer", "none" if content.optimizer is None else "present")
    arrays("optimizer_weights", content.optimizer or [])
    return _DIGEST_PREFIX + h.hexdigest()


def verify_digest(content: CheckpointContent) -> None:
    """Raises when a kerasette-written file no longer matches the digest stored at save time."""
    if content.stored_digest is None:
        return
    if content.stored_digest != compute_digest(content):
        raise CheckpointError(
            "the file is damaged: its content no longer matches the checksum kerasette stored when it "
            f"wrote it (root attribute '{DIGEST_ATTR}'). If you edited the file on purpose, delete that "
            "attribute to load it anyway.", content.path)
