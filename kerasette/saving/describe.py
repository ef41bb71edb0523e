"""What a model file holds, read without building the model: the data behind ``kerasette inspect``.

Works on each kind of file kerasette loads: Keras 3's ``.keras`` archive, Keras's legacy HDF5
file (full model or weights only, Keras 1 to 3 and kerasette) and Keras 3's ``.weights.h5``.
Weights are described by name, shape and dtype from the file's metadata (their values are not
read); output shapes come from the layers' own shape rules, without creating any weight.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from kerasette.saving.errors import CheckpointError
from kerasette.saving.hdf5_io import H5Reader, h5_errors
from kerasette.saving.keras_archive import is_archive, read_archive
from kerasette.saving.layer_config import layer_from_spec
from kerasette.saving.native_weights import is_native_layout

FORMATS = {"keras": "Keras 3 .keras archive", "legacy": "legacy HDF5 (Keras 1/2/3 model.save)",
           "legacy-weights": "legacy HDF5 weights (save_weights)", "keras3-weights": "Keras 3 .weights.h5"}


def _weights_of_group(reader: H5Reader, group, where: str) -> list[dict]:
    out = []
    for name in reader.str_list_attr(group, "weight_names", where) or []:
        with h5_errors(reader.path, f"{where}/{name}"):
            ds = group[name] if name in group else None
            if not isinstance(ds, h5py.Dataset):
                raise reader.error(f"{where}: the weight '{name}' is missing")
            out.append({"name": name, "shape": list(ds.shape or ()), "dtype": str(ds.dtype)})
    return out


def _legacy_weights(reader: H5Reader) -> dict[str, list[dict]]:
    root = reader.file
    group = reader.group(root, "model_weights", "/", required=False)
    where = "model_weights"
    if group is None:
        group, where = root, "/"
    names = reader.str_list_attr(group, "layer_names", where)
    if names is None:
        raise reader.error(f"{where}: no 'layer_names' attribute: not a Keras weights file")
    return {name: _weights_of_group(reader, reader.group(group, name, f"{where}/{name}"), f"{where}/{name}")
            for name in names}


def _native_weights(reader: H5Reader) -> dict[str, list[dict]]:
    """Layer name (the ``name`` attribute of its ``vars`` group) -> its variables."""
    out: dict[str, list[dict]] = {}

    def visit(path, obj):
        if isinstance(obj, h5py.Group) and path.endswith("vars") and path.startswith("layers/") and len(obj):
            label = obj.attrs.get("name", path[: -len("/vars")])
            label = label.decode() if isinstance(label, bytes) else str(label)
            out[label] = [{"name": f"{path}/{k}", "shape": list(obj[k].shape or ()), "dtype": str(obj[k].dtype)}
                          for k in sorted(obj, key=lambda k: int(k) if k.isdigit() else -1)]

    with h5_errors(reader.path, "layers"):
        reader.file.visititems(visit)
    return out


def _native_optimizer(reader: H5Reader) -> dict | None:
    with h5_errors(reader.path, "optimizer"):
        if "optimizer/vars" not in reader.file:
            return None
        group = reader.file["optimizer/vars"]
        name = group.attrs.get("name", "optimizer")
        keys = list(group)
        iterations = group["0"][()] if "0" in group and group["0"].shape == () else None
    return {"name": name.decode() if isinstance(name, bytes) else str(name), "state_arrays": len(keys),
            "iterations": int(iterations) if iterations is not None else None}


def _layer_specs(config) -> tuple[str | None, str | None, list[dict]]:
    """(model class, model name, layer entries) of a model config in any Keras form."""
    if not isinstance(config, dict):
        return None, None, []
    class_name, inner = config.get("class_name"), config.get("config")
    if isinstance(inner, list):  # Keras 1 Sequential
        return class_name, None, [e for e in inner if isinstance(e, dict)]
    if not isinstance(inner, dict):
        return class_name, None, []
    layers = inner.get("layers") if isinstance(inner.get("layers"), list) else []
    return class_name, inner.get("name"), [e for e in layers if isinstance(e, dict)]


def _data_formats(specs) -> list[str]:
    found = set()

    def visit(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "data_format" and item in ("channels_first", "channels_last"):
                    found.add(item)
                elif key == "dim_ordering" and item in ("th", "tf"):
                    found.add("channels_first" if item == "th" else "channels_last")
                else:
                    visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(specs)
    return sorted(found)


def _output_shapes(class_name, specs) -> list:
    """A Sequential's output shapes, from the layers' shape rules (no weights are created)."""
    shapes: list = [None] * len(specs)
    if class_name != "Sequential":
        return shapes
    shape = None
    for i, spec in enumerate(specs):
        config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
        declared = config.get("batch_input_shape") or config.get("batch_shape")
        if shape is None and isinstance(declared, list):
            shape = tuple(declared)
        try:
            layer = layer_from_spec(spec)
            if type(layer).__name__ == "InputLayer":
                shape = tuple(layer.batch_input_shape)
            elif shape is not None:
                shape = tuple(layer.compute_output_shape(shape))
        except Exception:  # noqa: BLE001 - a shape we cannot tell is shown as unknown
            shape = None
        shapes[i] = list(shape) if shape is not None else None
        if shape is None:
            break
    return shapes


def _layers(config, weights: dict[str, list[dict]]) -> list[dict]:
    class_name, _, specs = _layer_specs(config)
    shapes = _output_shapes(class_name, specs)
    out = []
    for spec, shape in zip(specs, shapes, strict=True):
        inner = spec.get("config") if isinstance(spec.get("config"), dict) else {}
        name = inner.get("name") or spec.get("name") or "?"
        own = weights.get(name, [])
        params = int(sum(int(np.prod(w["shape"], dtype=np.int64)) for w in own))
        out.append({"name": name, "class_name": spec.get("class_name"), "output_shape": shape, "params": params})
    return out


def _training(config: dict | None) -> dict | None:
    if not isinstance(config, dict):
        return None
    optimizer = config.get("optimizer_config") or config.get("optimizer")
    if isinstance(optimizer, dict):
        optimizer = {"class_name": optimizer.get("class_name"), "config": optimizer.get("config")}
    return {"loss": config.get("loss"), "metrics": config.get("metrics"),
            "weighted_metrics": config.get("weighted_metrics"), "loss_weights": config.get("loss_weights"),
            "optimizer": optimizer}


def _parse(text: str | None, what: str, path: str):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CheckpointError(f"{what} is not valid JSON ({exc})", path) from None


def describe(filepath) -> dict:
    """A JSON-serialisable description of a model file (see the module docstring).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is not one kerasette can read (the message says why).
    """
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    info: dict = {"file": path, "size_bytes": os.path.getsize(path)}
    if is_archive(path):
        archive = read_archive(path)
        h5file, reader = archive.open_weights()
        with h5file:
            weights = _native_weights(reader)
            optimizer_state = _native_optimizer(reader)
        meta = archive.metadata
        config = archive.config
        info.update(format="keras", keras_version=meta.get("keras_version"), date_saved=meta.get("date_saved"),
                    written_by="kerasette" if "kerasette" in meta else "keras",
                    backend=None, training_config=_training(config.get("compile_config") or None))
    else:
        with h5_errors(path, "opening the file"):
            try:
                h5file = h5py.File(path, "r")
            except OSError as exc:
                raise CheckpointError(f"not an HDF5 file or a .keras archive, or it is damaged (h5py: {exc})",
                                      path) from None
        with h5file:
            reader = H5Reader(h5file, path)
            if is_native_layout(h5file):
                weights, config = _native_weights(reader), None
                optimizer_state = _native_optimizer(reader)
                info.update(format="keras3-weights", keras_version=None, backend=None, training_config=None,
                            written_by=None)
            else:
                weights = _legacy_weights(reader)
                config = _parse(reader.str_attr(h5file, "model_config", "/"), "model_config", path)
                training = _parse(reader.str_attr(h5file, "training_config", "/"), "training_config", path)
                group = h5file["model_weights"] if "model_weights" in h5file else h5file
                where = "model_weights" if "model_weights" in h5file else "/"
                backend = reader.str_attr(group, "backend", where) or reader.str_attr(h5file, "backend", "/")
                version = reader.str_attr(group, "keras_version", where) or reader.str_attr(h5file, "keras_version", "/")
                optimizer_state = None
                if "optimizer_weights" in h5file:
                    names = reader.str_list_attr(h5file["optimizer_weights"], "weight_names", "optimizer_weights")
                    optimizer_state = {"state_arrays": len(names or [])}
                info.update(format="legacy" if config is not None else "legacy-weights", keras_version=version,
                            backend=backend, written_by="kerasette" if backend == "kerasette" else "keras",
                            training_config=_training(training))
    info["format_name"] = FORMATS[info["format"]]
    class_name, name, specs = _layer_specs(config)
    info["model"] = None if config is None else {"class_name": class_name, "name": name,
                                                "layers": _layers(config, weights)}
    info["image_data_format"] = _data_formats(specs) or None
    info["weights"] = [{"layer": layer, **w} for layer, ws in weights.items() for w in ws]
    info["total_params"] = int(sum(int(np.prod(w["shape"], dtype=np.int64)) for w in info["weights"]))
    info["optimizer_state"] = optimizer_state
    return info


def format_text(info: dict) -> str:
    """``describe``'s result as the text ``kerasette inspect`` prints."""
    lines = [f"file:          {info['file']} ({info['size_bytes']:,} bytes)",
             f"format:        {info['format_name']}"]
    writer = info.get("written_by") or "not recorded (a .weights.h5 file does not say)"
    version = info.get("keras_version")
    if writer == "keras" and version is None and info["format"].startswith("legacy"):
        writer = "keras 1.0 or 1.1 (the file has no keras_version)"
    backend = info.get("backend")
    lines.append(f"written by:    {writer}" + (f" {version}" if version else "")
                 + (f" (backend {backend})" if backend else ""))
    if info.get("date_saved"):
        lines.append(f"saved:         {info['date_saved']}")
    formats = info.get("image_data_format")
    lines.append(f"image format:  {', '.join(formats) if formats else 'not stated (no image layers, or the default)'}")
    model = info.get("model")
    if model is not None:
        lines.append(f"model:         {model['class_name']}" + (f" '{model['name']}'" if model.get("name") else ""))
        lines.append("")
        lines.append(f"  {'Layer (type)':<44}{'Output shape':<26}{'Param #':>10}")
        for layer in model["layers"]:
            shape = tuple(layer["output_shape"]) if layer["output_shape"] is not None else "?"
            label = f"{layer['name']} ({layer['class_name']})"
            lines.append(f"  {label:<44}{str(shape):<26}{layer['params']:>10,}")
        lines.append("")
    lines.append(f"total params:  {info['total_params']:,}")
    lines.append("weights:")
    for w in info["weights"]:
        lines.append(f"  {w['name']:<50} {str(tuple(w['shape'])):<22} {w['dtype']}")
    training = info.get("training_config")
    state = info.get("optimizer_state")
    if training is not None:
        optimizer = training.get("optimizer") or {}
        lines.append(f"optimizer:     {optimizer.get('class_name')} {json.dumps(optimizer.get('config'))[:300]}")
        lines.append(f"loss:          {json.dumps(training.get('loss'))[:200]}")
        lines.append(f"metrics:       {json.dumps(training.get('metrics'))[:200]}")
    if state is not None:
        iterations = state.get("iterations")
        lines.append(f"optimizer state: {state['state_arrays']} arrays"
                     + (f", {iterations} iterations" if iterations is not None else ""))
    elif training is not None:
        lines.append("optimizer state: none saved")
    return "\n".join(lines)
