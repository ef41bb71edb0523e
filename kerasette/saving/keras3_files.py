"""Saving and loading Keras 3's own files: ``.keras`` archives and ``.weights.h5`` weights.

``model.save('m.keras')`` writes the archive `kerasette.saving.keras_archive` describes, which
Keras 3's ``keras.models.load_model`` opens (same predictions, optimizer state restored);
``load_model`` reads archives written by Keras 3 or kerasette. ``save_weights('w.weights.h5')``
writes Keras 3's native weights layout (`kerasette.saving.native_weights`), optimizer included
when the model is compiled, as Keras 3 does.
"""

from __future__ import annotations

import io

import h5py

from kerasette import registry
from kerasette.saving.atomic import atomic_write
from kerasette.saving.errors import CheckpointError
from kerasette.saving.hdf5_io import H5Reader, h5_errors
from kerasette.saving.keras_archive import (
    CONFIG,
    metadata_json,
    model_spec,
    read_archive,
    write_archive,
)
from kerasette.saving.model_config import keras_file_config, model_from_config, to_json
from kerasette.saving.native_weights import (
    assign,
    check_no_extra_layers,
    read_model_weights,
    read_optimizer_arrays,
    write_weights,
)
from kerasette.saving.optimizer_state import optimizer_arrays, restore_optimizer_state
from kerasette.saving.training_config import compile_from_training_config, training_config
from kerasette.saving.training_state import restore_training_state, training_state_json

#: where Keras 3 finds the objects of each kind a compile config names
_MODULES = {"loss": "keras.losses", "metric": "keras.metrics", "optimizer": "keras.optimizers",
            "schedule": "keras.optimizers.schedules"}


def _with_module(spec, kind: str):
    """A ``{'class_name', 'config'}`` dict as Keras 3 serializes it (with ``module``), so that its
    ``deserialize_keras_object`` finds the class; names and other values pass through."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        return spec
    out = {"module": _MODULES[kind], "class_name": spec["class_name"], "config": spec.get("config"),
           "registered_name": None}
    if kind == "optimizer" and isinstance(out["config"], dict):
        rate = out["config"].get("learning_rate")
        out["config"] = {**out["config"], "learning_rate": _with_module(rate, "schedule")}
    return out


def _each(value, kind: str):
    if isinstance(value, list):
        return [_each(v, kind) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _each(v, kind) for k, v in value.items()}
    return _with_module(value, kind)


def compile_config(model) -> dict:
    """Keras 3's ``compile_config`` of a compiled model ({} when it is not compiled)."""
    train = training_config(model)
    if train is None:
        return {}
    return {"optimizer": _with_module(train["optimizer_config"], "optimizer"), "loss": _each(train["loss"], "loss"),
            "loss_weights": train["loss_weights"], "metrics": _each(train["metrics"], "metric"),
            "weighted_metrics": _each(train["weighted_metrics"], "metric"), "run_eagerly": False,
            "steps_per_execution": 1, "jit_compile": False}


def _training_config(compile_cfg: dict, path) -> dict:
    """A Keras 3 ``compile_config`` in the form kerasette's HDF5 loader reads (``optimizer_config``)."""
    optimizer = compile_cfg.get("optimizer")
    if isinstance(optimizer, str):
        optimizer = {"class_name": optimizer, "config": {}}
    if not isinstance(optimizer, dict) or "class_name" not in optimizer:
        raise CheckpointError(f"{CONFIG}: compile_config's optimizer should be a name or a serialized optimizer; "
                              f"found {optimizer!r:.200}", path)
    return {"loss": compile_cfg.get("loss"), "metrics": compile_cfg.get("metrics"),
            "weighted_metrics": compile_cfg.get("weighted_metrics"), "loss_weights": compile_cfg.get("loss_weights"),
            "optimizer_config": {"class_name": optimizer["class_name"], "config": optimizer.get("config") or {}}}


def _class_name(model) -> str:
    """The class name Keras 3 rebuilds ``model`` as: a graph model is a ``Functional``."""
    if getattr(model, "_graph", None) is not None and type(model).__name__ == "Model":
        return "Functional"
    return registry.serialize("model", model)["class_name"] if registry.lookup("model", type(model).__name__) \
        else type(model).__name__


def _weights_bytes(model, include_optimizer: bool) -> bytes:
    arrays = optimizer_arrays(model) if include_optimizer and getattr(model, "compiled", False) else None
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write_weights(f, model, arrays[1] if arrays else None,
                      getattr(getattr(model, "optimizer", None), "name", "optimizer"))
    return buffer.getvalue()


def save_keras(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Writes ``model`` as a Keras 3 ``.keras`` archive (atomically, checked by reading it back)."""
    class_name = _class_name(model)
    build = model.get_build_config() if hasattr(model, "get_build_config") else None
    spec = model_spec(class_name, keras_file_config(model.get_config()), build, compile_config(model))
    config_json = to_json(spec, "model config")
    metadata = metadata_json({"training_state": training_state_json(model)})
    weights = _weights_bytes(model, include_optimizer)
    with atomic_write(filepath, overwrite) as tmp:
        write_archive(tmp, config_json, metadata, weights)
        read_archive(tmp)  # what was written reads back


def save_native_weights(model, filepath, overwrite: bool = True) -> None:
    """Writes ``model``'s weights (and, compiled, its optimizer state) in Keras 3's ``.weights.h5``
    layout."""
    with atomic_write(filepath, overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(_weights_bytes(model, include_optimizer=True))


def _max_elements(reader: H5Reader) -> int:
    """The largest dataset in the weights file (a config may not build a larger weight)."""
    sizes = [0]

    def visit(_, obj):
        if isinstance(obj, h5py.Dataset) and obj.shape is not None:
            count = 1
            for n in obj.shape:
                count *= int(n)
            sizes.append(count)

    with h5_errors(reader.path, "/"):
        reader.file.visititems(visit)
    return max(sizes)


def load_keras(filepath, custom_objects=None, compile: bool = True):  # noqa: A002
    """A model from a ``.keras`` archive written by Keras 3 or kerasette."""
    archive = read_archive(filepath)
    path = archive.path
    config = archive.config
    h5file, reader = archive.open_weights()
    with h5file:
        model = model_from_config(config, custom_objects, filepath=path, where=CONFIG,
                                  max_weight_elements=_max_elements(reader))
        if getattr(model, "built", True) is False:
            raise CheckpointError(f"{CONFIG}: the model has no input shape (no build_config), so its weights "
                                  "cannot be placed", path)
        check_no_extra_layers(reader, model)
        pairs = read_model_weights(reader, model)
        optimizer = read_optimizer_arrays(reader)
    assign(pairs)
    compile_cfg = config.get("compile_config")
    if not compile:
        return model
    if not compile_cfg:
        return model
    if not isinstance(compile_cfg, dict):
        raise CheckpointError(f"{CONFIG}: compile_config should be an object; found {type(compile_cfg).__name__}",
                              path)
    compile_from_training_config(model, _training_config(compile_cfg, path), custom_objects, path)
    if optimizer is not None:
        restore_optimizer_state(model, optimizer, {}, path)
    extra = archive.metadata.get("kerasette")
    if isinstance(extra, dict) and isinstance(extra.get("training_state"), str):
        restore_training_state(model, extra["training_state"], path)
    return model


def load_native_weights(model, reader: H5Reader, restore_optimizer: bool = False) -> None:
    """Loads Keras 3's native layout into ``model`` by walking it (all checked before any change)."""
    check_no_extra_layers(reader, model)
    pairs = read_model_weights(reader, model)
    optimizer = read_optimizer_arrays(reader) if restore_optimizer else None
    assign(pairs)
    if optimizer is not None and getattr(model, "compiled", False):
        restore_optimizer_state(model, optimizer, {}, reader.path)


def load_keras_weights(model, filepath) -> None:
    """``model.load_weights('m.keras')``: the weights of a ``.keras`` archive."""
    archive = read_archive(filepath)
    h5file, reader = archive.open_weights()
    with h5file:
        load_native_weights(model, reader)
