"""Rebuilding a functional graph from its config (Keras 2's and Keras 3's node formats)."""

from __future__ import annotations

from kerasette.layers import deserialize
from kerasette.layers.core import Input


def _keras3_history(arg) -> list:
    """[layer name, node index, tensor index] of every ``__keras_tensor__`` inside ``arg``."""
    found = []
    if isinstance(arg, dict):
        if arg.get("class_name") == "__keras_tensor__":
            found.append(list(arg["config"]["keras_history"]))
        else:
            for value in arg.values():
                found.extend(_keras3_history(value))
    elif isinstance(arg, (list, tuple)):
        for value in arg:
            found.extend(_keras3_history(value))
    return found


def _inbound_entries(node) -> tuple[list, bool]:
    """The [name, node, tensor] triples a node consumes, and whether they form a list input."""
    if isinstance(node, dict):  # Keras 3: {'args': [...], 'kwargs': {...}}
        args = node.get("args", [])
        entries = _keras3_history(args)
        is_list = bool(args) and isinstance(args[0], (list, tuple))
        return entries, is_list
    entries = [list(e[:3]) for e in node]  # Keras 2: [[name, node, tensor, kwargs], ...]
    return entries, len(entries) > 1


def _check(config: dict) -> None:
    for key in ("layers", "input_layers", "output_layers"):
        if key not in config:
            raise ValueError(f"functional model config is missing '{key}'")


def rebuild(config: dict, custom_objects=None):
    """Creates the layers and replays their calls; returns (inputs, outputs) symbolic tensors."""
    _check(config)
    created: dict[tuple[str, int], list] = {}
    pending = []
    for spec in config["layers"]:
        name = spec.get("name") or spec.get("config", {}).get("name")
        if spec.get("class_name") == "InputLayer":
            cfg = dict(spec.get("config") or {})
            shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
            tensor = Input(batch_shape=tuple(shape), name=name, dtype=cfg.get("dtype"))
            created[(name, 0)] = [tensor]
            continue
        layer = deserialize(spec, custom_objects)
        pending.extend((layer, i, node) for i, node in enumerate(spec.get("inbound_nodes") or []))
    _replay(pending, created)
    inputs = [_lookup(created, entry) for entry in _triples(config["input_layers"])]
    outputs = [_lookup(created, entry) for entry in _triples(config["output_layers"])]
    return inputs, outputs


def _replay(pending: list, created: dict) -> None:
    while pending:
        remaining = []
        for layer, index, node in pending:
            entries, is_list = _inbound_entries(node)
            if not all((e[0], e[1]) in created for e in entries):
                remaining.append((layer, index, node))
                continue
            tensors = [_lookup(created, e) for e in entries]
            out = layer(tensors if is_list else tensors[0])
            created[(layer.name, index)] = out if isinstance(out, list) else [out]
        if len(remaining) == len(pending):
            names = sorted({layer.name for layer, _, _ in remaining})
            raise ValueError(f"functional model config: cannot connect layer(s) {names}: their inputs "
                             "never appear in the config")
        pending = remaining


def _triples(value) -> list:
    if value and isinstance(value[0], str):  # a single [name, node, tensor]
        return [value]
    return list(value)


def _lookup(created: dict, entry):
    name, node, tensor = entry[0], entry[1], entry[2]
    try:
        return created[(name, node)][tensor]
    except (KeyError, IndexError):
        raise ValueError(f"functional model config refers to unknown tensor {name}[{node}][{tensor}]") from None
