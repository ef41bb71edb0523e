"""Keras 3's native weights layout: ``model.weights.h5`` inside a ``.keras`` archive, and the
``.weights.h5`` files of ``save_weights``.

Keras 3 stores each object's variables at the path it reaches the object by, walking the model:

    vars                               (attribute name = the model's name; no datasets)
    layers/<snake>/vars/0, 1, ...      one group per entry of ``model.layers``
    layers/<snake>/layers/...          a nested model, walked the same way
    optimizer/vars/0, 1, ...           iterations, learning rate, then the slots

``<snake>`` is the layer's class name in snake case (``Conv2D`` -> ``conv2d``, ``PReLU`` ->
``p_re_lu``), with ``_1``, ``_2``, ... for repeats within one ``layers`` list; a Sequential
model's list leaves out its InputLayer, a functional model's includes them. A layer's variables
are numbered trainable ones first, then the others, each in creation order. Each ``vars``
group carries the object's own name as the attribute ``name``. Loading walks the model the same
way, so it needs no names from the file and checks every count and shape before changing a
weight.
"""

from __future__ import annotations

import re

import h5py
import numpy as np

from kerasette.layers.base import Layer
from kerasette.saving.errors import CheckpointError
from kerasette.saving.hdf5_io import H5Reader, h5_errors


def snake_case(class_name: str) -> str:
    """Keras's path name for a class: ``MaxPooling2D`` -> ``max_pooling2d``, ``PReLU`` -> ``p_re_lu``."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _listed_layers(model) -> list:
    """The layers Keras 3 lists for ``model``: a Sequential's leave out its InputLayer."""
    layers = list(model.layers)
    if type(model).__name__ == "Sequential" or getattr(model, "_is_sequential", False):
        layers = [layer for layer in layers if type(layer).__name__ != "InputLayer"]
    return layers


def _is_container(layer) -> bool:
    """A nested model: Keras walks its own ``layers`` list."""
    return hasattr(layer, "layers") and hasattr(layer, "get_build_config")


def _children(layer) -> list[tuple[str, object]]:
    """The layers held inside ``layer`` as Keras 3 walks them: (attribute name, a layer or a list
    of layers), attributes in name order, as Keras's ``dir()`` walk meets them (an RNN's ``cell``,
    a wrapper's ``layer``, Bidirectional's ``backward_layer`` and ``forward_layer``,
    StackedRNNCells' ``cells``). A layer may name its children itself (``native_children``)."""
    if hasattr(layer, "native_children"):
        return list(layer.native_children())
    found = []
    for name, value in sorted(vars(layer).items()):
        if name.startswith("_"):
            continue
        if isinstance(value, Layer):
            found.append((name, value))
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value):
            found.append((name, list(value)))
    return found


def _walk_list(items, prefix: str, visited: set):
    """A list of layers, each at ``prefix`` + its snake-case class name (``_1``, ``_2`` for repeats)."""
    counts: dict[str, int] = {}
    for layer in items:
        # a graph model is Keras 3's ``Functional`` (see `keras3_files._class_name`)
        graph_model = getattr(layer, "_graph", None) is not None and type(layer).__name__ == "Model"
        base = snake_case("Functional" if graph_model else type(layer).__name__)
        n = counts.get(base, 0)
        counts[base] = n + 1
        yield from _walk(layer, f"{prefix}{base}" + (f"_{n}" if n else "") + "/", visited)


def _walk(obj, prefix: str, visited: set):
    if id(obj) in visited:  # an object reached twice is stored once, where Keras first meets it
        return
    visited.add(id(obj))
    yield prefix, obj
    if _is_container(obj):
        yield from _walk_list(_listed_layers(obj), prefix + "layers/", visited)
        return
    for attr, child in _children(obj):
        if isinstance(child, list):
            yield from _walk_list(child, f"{prefix}{attr}/", visited)
        else:
            yield from _walk(child, f"{prefix}{attr}/", visited)


def walk(model, prefix: str = ""):
    """(path, object) for ``model`` (path ``prefix``) and each layer inside it, nested models and
    the layers held by layers included, in Keras 3's order."""
    yield from _walk(model, prefix, set())


def own_variables(layer) -> list:
    """The variables a layer holds itself (not those of the layers inside it), in Keras's order:
    trainable ones first, then the others."""
    if _is_container(layer):
        return []
    weights = list(layer.__dict__.get("_weights", ()))
    return [w for w in weights if getattr(w, "trainable", True)] + \
        [w for w in weights if not getattr(w, "trainable", True)]


def write_weights(h5file: h5py.File, model, optimizer_arrays=None, optimizer_name: str = "optimizer") -> None:
    """Writes ``model``'s variables (and, given, the optimizer's arrays in Keras 3's order) into an
    open HDF5 file in Keras 3's native layout."""
    for path, layer in walk(model):
        group = h5file.require_group(path + "vars") if path else h5file.require_group("vars")
        group.attrs["name"] = str(layer.name)  # a variable-length UTF-8 string, as Keras 3 writes it
        for i, var in enumerate(own_variables(layer)):
            group.create_dataset(str(i), data=np.asarray(var.data, order="C"))  # 0-d stays 0-d
    if optimizer_arrays is not None:
        group = h5file.create_group("optimizer").create_group("vars")
        group.attrs["name"] = str(optimizer_name)
        for i, array in enumerate(optimizer_arrays):
            group.create_dataset(str(i), data=np.asarray(array))


def _numbered(reader: H5Reader, group, where: str) -> list[np.ndarray]:
    """The datasets ``0``, ``1``, ... of a ``vars`` group, checked to be exactly those."""
    with h5_errors(reader.path, where):
        keys = list(group.keys())
    if sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [str(i) for i in range(len(keys))]:
        raise reader.error(f"{where}: expected datasets named 0..{len(keys) - 1}; found {sorted(keys)[:12]}")
    return [reader.dataset(group, str(i), f"{where}/{i}") for i in range(len(keys))]


def read_model_weights(reader: H5Reader, model) -> list[tuple]:
    """(variable, array) for every variable of ``model``, read by walking it as Keras does.

    Raises:
        CheckpointError: a layer's group is missing, or holds another count or shape of
            variables than the layer has (nothing is changed: the caller assigns afterwards).
    """
    pairs = []
    for path, layer in walk(model):
        variables = own_variables(layer)
        if not variables:
            continue
        where = f"{path}vars"
        group = reader.group(reader.file, where, where, required=False)
        if group is None:
            raise reader.error(
                f"no weights for layer '{layer.name}' ({type(layer).__name__}) at '{where}': the file was saved "
                "from another model (Keras 3 finds each layer's weights by its class and position)")
        arrays = _numbered(reader, group, where)
        if len(arrays) != len(variables):
            raise reader.error(f"{where}: layer '{layer.name}' has {len(variables)} weights; the file holds "
                               f"{len(arrays)}")
        for i, (var, array) in enumerate(zip(variables, arrays, strict=True)):
            if tuple(array.shape) != tuple(var.shape):
                raise reader.error(f"{where}/{i}: weight '{var.name}' of layer '{layer.name}' has shape "
                                   f"{tuple(var.shape)}; the file holds {tuple(array.shape)}")
            if array.dtype.kind not in "fiu":
                raise reader.error(f"{where}/{i}: weight '{var.name}' holds {array.dtype} values; expected numbers")
            pairs.append((var, array))
    return pairs


def read_optimizer_arrays(reader: H5Reader) -> list[tuple[str, np.ndarray]] | None:
    """``optimizer/vars`` as (name, array) pairs (``iteration`` first, as Keras 3 writes it), or
    None when the file holds no optimizer."""
    group = reader.group(reader.file, "optimizer", "/", required=False)
    if group is None:
        return None
    vars_group = reader.group(group, "vars", "optimizer", required=False)
    if vars_group is None:
        return None
    arrays = _numbered(reader, vars_group, "optimizer/vars")
    names = [f"optimizer/vars/{i}" for i in range(len(arrays))]
    if arrays and arrays[0].ndim == 0:
        names[0] = "iteration"
    return list(zip(names, arrays, strict=True))


def assign(pairs) -> None:
    for var, array in pairs:
        var.assign(np.asarray(array, dtype=var.dtype))


def is_native_layout(h5file: h5py.File) -> bool:
    """Whether an open HDF5 file is in Keras 3's native layout (not the legacy one)."""
    return ("layers" in h5file and isinstance(h5file["layers"], h5py.Group) and "model_weights" not in h5file
            and "layer_names" not in h5file.attrs and "layer_names0" not in h5file.attrs)


def check_no_extra_layers(reader: H5Reader, model) -> None:
    """Raises when the file has weights for layers the model does not have (Keras refuses such a
    file too: it was saved from a larger model)."""
    expected = {path.rstrip("/") for path, layer in walk(model) if own_variables(layer)}
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and name.endswith("/vars") and name.startswith("layers/") and len(obj):
            found.append(name[: -len("/vars")])

    with h5_errors(reader.path, "layers"):
        reader.file.visititems(visit)
    extra = sorted(set(found) - expected)
    if extra:
        raise CheckpointError(f"the file holds weights for {', '.join(extra[:8])}, which model "
                              f"'{getattr(model, 'name', '?')}' does not have: it was saved from another model",
                              reader.path)
