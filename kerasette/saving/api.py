"""save_model / load_model / save_weights / load_weights: the checkpoint API.

Every save writes a temporary file beside the target, reads it back, stores a checksum of what it
means, flushes it to disk and renames it into place. Every load reads and checks the whole file
before a model is built or a weight is changed.
"""

from __future__ import annotations

import os
import warnings

import h5py
import numpy as np

from kerasette.saving import keras3_files
from kerasette.saving.atomic import atomic_write
from kerasette.saving.errors import CheckpointError
from kerasette.saving.file_content import (
    DIGEST_ATTR,
    STATE_ATTR,
    CheckpointContent,
    compute_digest,
    read_content,
    verify_digest,
)
from kerasette.saving.hdf5_io import H5Reader, h5_errors, write_str_attr, write_str_list_attr
from kerasette.saving.keras_archive import ZIP_MAGIC, is_archive
from kerasette.saving.model_config import keras_file_config, model_from_config, parse_json, to_json
from kerasette.saving.native_weights import is_native_layout
from kerasette.saving.optimizer_state import restore_optimizer_state, write_optimizer_weights
from kerasette.saving.training_config import compile_from_training_config, training_config
from kerasette.saving.training_state import restore_training_state, training_state_json
from kerasette.saving.weights_apply import LoadOptions, assign_weights
from kerasette.version import __version__

BACKEND_NAME = "kerasette"


# -- writing -----------------------------------------------------------------------------------
def _weight_names(layer) -> list[str]:
    names = []
    for i, var in enumerate(layer.weights):
        name = getattr(var, "name", None) or f"{layer.name}/param_{i}"
        name = name if name.endswith(":0") else f"{name}:0"
        while name in names:
            name = name[:-2] + "_:0"
        names.append(name)
    return names


def _write_model_weights(group, model) -> None:
    """Keras's legacy layout: ``layer_names``, one group per layer with ``weight_names``."""
    layers = list(model.layers)
    write_str_list_attr(group, "layer_names", [layer.name for layer in layers])
    write_str_attr(group, "backend", BACKEND_NAME)
    write_str_attr(group, "keras_version", __version__)
    for layer in layers:
        layer_group = group.create_group(layer.name)
        names = _weight_names(layer)
        write_str_list_attr(layer_group, "weight_names", names)
        for name, var in zip(names, layer.weights, strict=True):
            layer_group.create_dataset(name, data=np.asarray(var.data, order="C"))  # 0-d stays 0-d


def _seal(h5file: h5py.File, tmp: str) -> None:
    """Reads the new file back and stores the checksum of its content."""
    h5file.flush()
    content = read_content(H5Reader(h5file, tmp))
    write_str_attr(h5file, DIGEST_ATTR, compute_digest(content))


def _check_saveable(model, filepath) -> None:
    if getattr(model, "built", True) is False:
        raise CheckpointError(f"model '{getattr(model, 'name', '?')}' is not built yet, so it has no "
                              "weights to save; fit, call or build it first", filepath)


def _suffix(filepath) -> str:
    name = os.fspath(filepath).lower()
    return ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Saves architecture, weights, training config, optimizer state and random state.

    The format follows the file name: ``.keras`` writes Keras 3's zip archive, any other name
    Keras's legacy HDF5 file (``.h5``, ``.hdf5``). A ``.weights.h5`` name is refused: that is what
    ``save_weights`` writes.

    Args:
        model: a kerasette model.
        filepath: where to write (folders are created; the file is replaced atomically).
        overwrite: when False, an existing file is an error.
        include_optimizer: whether to store the optimizer's state.

    Example:
        >>> # model.save('vgg.keras'); model = kerasette.models.load_model('vgg.keras')
    """
    _check_saveable(model, filepath)
    suffix = _suffix(filepath)
    if suffix == ".weights.h5":
        raise CheckpointError("a '.weights.h5' file holds weights only: call model.save_weights(path) for it, "
                              "or save the whole model as '.keras' or '.h5'", filepath)
    if suffix == ".keras":
        keras3_files.save_keras(model, filepath, overwrite, include_optimizer)
        return
    spec = {"class_name": type(model).__name__, "config": keras_file_config(model.get_config())}
    build = model.get_build_config() if hasattr(model, "get_build_config") else None
    if build is not None:
        spec["build_config"] = build
    model_json = to_json(spec, "model config")
    train = training_config(model)
    train_json = to_json(train, "training config") if train is not None else None
    state_json = training_state_json(model)
    with atomic_write(filepath, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            write_str_attr(f, "keras_version", __version__)
            write_str_attr(f, "backend", BACKEND_NAME)
            write_str_attr(f, "model_config", model_json)
            if train_json is not None:
                write_str_attr(f, "training_config", train_json)
            write_str_attr(f, STATE_ATTR, state_json)
            _write_model_weights(f.create_group("model_weights"), model)
            if include_optimizer and train is not None:
                write_optimizer_weights(f, model)
            _seal(f, tmp)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Saves the weights only: in Keras 3's native layout for a ``.weights.h5`` name (with the
    optimizer state when the model is compiled, as Keras 3 does), in Keras's legacy HDF5 layout
    otherwise. A ``.keras`` name is refused (``model.save`` writes those)."""
    _check_saveable(model, filepath)
    suffix = _suffix(filepath)
    if suffix == ".keras":
        raise CheckpointError("a '.keras' file holds a whole model: call model.save(path) for it, or save the "
                              "weights as '.weights.h5'", filepath)
    if suffix == ".weights.h5":
        keras3_files.save_native_weights(model, filepath, overwrite)
        return
    with atomic_write(filepath, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            _write_model_weights(f, model)
            _seal(f, tmp)


# -- reading -----------------------------------------------------------------------------------
def read_checkpoint(filepath) -> CheckpointContent:
    """Opens, reads and checks a whole checkpoint file.

    Raises:
        FileNotFoundError: there is no such file.
        CheckpointError: the file is not HDF5, is damaged, or is not a Keras checkpoint.
    """
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a folder, not a checkpoint file")
    with open(path, "rb") as raw:
        head = raw.read(8)
    if head.startswith(ZIP_MAGIC):
        raise CheckpointError("this is a .keras archive, which holds a model, not an HDF5 checkpoint: open it "
                              "with load_model or load_weights", path)
    with h5_errors(path, "opening the file"):
        try:
            h5file = h5py.File(path, "r")
        except OSError as exc:
            raise CheckpointError(f"not an HDF5 file, or it is truncated or damaged (h5py: {exc})", path) from None
    with h5file:
        content = read_content(H5Reader(h5file, path))
    verify_digest(content)
    return content


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True,  # noqa: A002
               flip_kernels: bool | None = None):
    """Loads a model saved by ``model.save`` in kerasette or Keras 1, 2 or 3: Keras 3's ``.keras``
    archive or Keras's legacy HDF5 file (told apart by their content, not their name).

    Args:
        filepath: the ``.keras`` or ``.h5`` file.
        custom_objects: ``{name: class or function}`` for your own layers, losses, activations, ...
        compile: whether to compile the model from the saved training config and restore the
            optimizer state and the random state (so that ``fit`` continues exactly).
        flip_kernels: see `LoadOptions` (None decides from the file, with a warning when it flips).

    Returns:
        The model, with its weights, ready to predict (and, compiled, to continue training).
    """
    if is_archive(filepath):
        return keras3_files.load_keras(filepath, custom_objects, compile)
    content = read_checkpoint(filepath)
    path = content.path
    if content.model_config is None:
        raise CheckpointError("the file holds weights only (no 'model_config' attribute); build the model "
                              "and call model.load_weights(path)", path)
    config = parse_json(content.model_config, "model_config", path)
    model = model_from_config(config, custom_objects, filepath=path,
                              max_weight_elements=content.max_weight_elements)
    converters = assign_weights(model, content, LoadOptions(flip_kernels=flip_kernels, same_model=True))
    if not compile:
        return model
    if content.training_config is None:
        warnings.warn(f"{path}: the file has no training config, so the model is not compiled; call "
                      "model.compile(...) before training it", stacklevel=2)
        return model
    compile_from_training_config(model, parse_json(content.training_config, "training_config", path),
                                 custom_objects, path)
    if content.optimizer is not None:
        restore_optimizer_state(model, content.optimizer, converters, path)
    if content.training_state is not None:
        restore_training_state(model, content.training_state, path)
    return model


def load_training_state(model, filepath) -> None:
    """Restores into a compiled ``model`` what ``model.save`` wrote for training: the weights,
    the optimizer's iterations and slots, and the random state, so that ``fit`` continues
    exactly (what `kerasette.callbacks.BackupAndRestore` resumes from).

    Raises:
        CheckpointError: the file does not fit the model (nothing is changed then).
    """
    content = read_checkpoint(filepath)
    if not getattr(model, "compiled", False):
        raise CheckpointError(f"model '{getattr(model, 'name', '?')}' is not compiled: compile it before "
                              "restoring its training state", content.path)
    converters = assign_weights(model, content, LoadOptions())
    if content.optimizer is not None:
        restore_optimizer_state(model, content.optimizer, converters, content.path)
    if content.training_state is not None:
        restore_training_state(model, content.training_state, content.path)


def load_weights(model, filepath, by_name: bool = False, skip_mismatch: bool = False,
                 flip_kernels: bool | None = None) -> None:
    """Loads weights into ``model`` from any Keras weights or full-model file.

    Reads Keras's legacy HDF5 layout (``save_weights``/``save`` of kerasette and Keras 1 to 3),
    Keras 3's ``.weights.h5`` layout and ``.keras`` archives. Keras 3's layout is read as Keras 3
    reads it, walking the model (a file whose paths do not fit falls back to layer order). Legacy
    layers are matched by order (counting only layers with weights) or, with ``by_name=True``, by
    name; ``skip_mismatch=True`` skips, with a warning, weights whose count or shape does not match.
    """
    if is_archive(filepath):
        if by_name or skip_mismatch:
            raise CheckpointError("by_name and skip_mismatch apply to HDF5 weights files; a .keras archive "
                                  "loads into the model it was saved from", filepath)
        keras3_files.load_keras_weights(model, filepath)
        return
    if not by_name and not skip_mismatch and _load_native_by_walking(model, filepath):
        return
    content = read_checkpoint(filepath)
    assign_weights(model, content, LoadOptions(by_name, skip_mismatch, flip_kernels))


def _load_native_by_walking(model, filepath) -> bool:
    """Loads a Keras 3 ``.weights.h5`` file into ``model`` by walking it as Keras 3 does; False
    when the file is not in that layout, or its paths do not fit the model (the caller then reads
    it by layer order)."""
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        return False
    with h5_errors(path, "opening the file"):
        try:
            h5file = h5py.File(path, "r")
        except OSError:
            return False
    with h5file:
        if not is_native_layout(h5file):
            return False
        try:
            keras3_files.load_native_weights(model, H5Reader(h5file, path))
        except CheckpointError:
            return False
    return True
