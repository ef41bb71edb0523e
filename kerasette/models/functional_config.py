"""Rebuilding a functional graph from its config (Keras 2's and Keras 3's node formats).

Each layer's ``inbound_nodes`` lists its calls; a call is replayed, with its keyword arguments
(``mask=`` another tensor of the graph, ``initial_state=``, plain values such as
``training``), once every tensor it reads, keywords included, exists.
"""

from __future__ import annotations

import warnings

from kerasette.layers import deserialize
from kerasette.layers.core import Input
from kerasette.layers.node import takes_keyword


def _is_keras3_tensor(value) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _is_keras2_tensor(value) -> bool:
    """A tensor reference in a Keras 2 node's kwargs: ``[layer name, node index, tensor index]``
    (how tf.keras writes a tensor keyword, and how it recognizes one when it reads)."""
    return (isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(i, int) and not isinstance(i, bool) for i in value[1:]))


def _references(value, is_tensor, history) -> list:
    """[layer name, node index, tensor index] of every tensor reference inside ``value``."""
    if is_tensor(value):
        return [list(history(value))]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _references(item, is_tensor, history)]
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in _references(item, is_tensor, history)]
    return []


def _revive(value, is_tensor, history, tensor_of):
    """``value`` with each tensor reference replaced by its tensor (``tensor_of(triple)``);
    Keras 3's ``__tuple__`` objects as tuples."""
    if is_tensor(value):
        return tensor_of(list(history(value)))
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and isinstance(value.get("config"), dict):
            return tuple(_revive(v, is_tensor, history, tensor_of) for v in value["config"].get("value", []))
        return {k: _revive(v, is_tensor, history, tensor_of) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_revive(v, is_tensor, history, tensor_of) for v in value]
    return value


class _NodeCall:
    """One inbound node of a config: the layer call to replay, in either form.

    Keras 3: ``{"args": [inputs, ...], "kwargs": {...}}``, tensors as ``__keras_tensor__``
    dicts anywhere in both. Keras 2: ``[[layer, node, tensor, kwargs], ...]``, one entry per
    input tensor (several: a list input), the call's keyword arguments in each entry (tensors
    there as ``[layer, node, tensor]``).
    """

    def __init__(self, node, layer_name: str):
        if isinstance(node, dict):
            args = node.get("args") or []
            if len(args) != 1:
                raise ValueError(f"functional model config: layer '{layer_name}' is called with {len(args)} "
                                 "positional arguments; kerasette's layers take their inputs as one (a "
                                 "tensor or a list of tensors), the rest as keywords")
            self.inputs, self.kwargs = args[0], dict(node.get("kwargs") or {})
            self._is_tensor = _is_keras3_tensor
            self._history = lambda t: t["config"]["keras_history"]
        else:
            entries = [list(e) for e in node]
            refs = [_Ref(e[:3]) for e in entries]
            self.inputs = refs if len(refs) != 1 else refs[0]  # several entries: a list input
            last = entries[-1] if entries else []
            self.kwargs = dict(last[3]) if len(last) > 3 and isinstance(last[3], dict) else {}
            self._is_tensor = _is_keras2_tensor
            self._history = lambda t: t

    def references(self) -> list:
        """Every tensor the call reads, as [layer name, node index, tensor index]."""
        return (_references(self.inputs, self._is_tensor_or_ref, self._history_of)
                + _references(self.kwargs, self._is_tensor, self._history))

    def _is_tensor_or_ref(self, value) -> bool:
        return isinstance(value, _Ref) or self._is_tensor(value)

    def _history_of(self, value):
        return value.triple if isinstance(value, _Ref) else self._history(value)

    def replay(self, layer, tensor_of):
        """Calls ``layer`` on the created tensors (``tensor_of(triple)``) with the keywords.

        Keras 3 writes the mask a layer's input carries into the call as ``mask=`` when the
        layer's ``call`` takes one (a nested model: functional and Sequential models take it,
        and compute with it inside). A ``mask`` for a layer whose ``call`` takes none here (a
        user's subclassed model whose ``call`` has no ``mask``) is left out with a warning, so
        that the file still loads; any other keyword the layer does not take is an error
        (`kerasette.layers.node.call_keywords`).
        """
        inputs = _revive(self.inputs, self._is_tensor_or_ref, self._history_of, tensor_of)
        kwargs = _revive(self.kwargs, self._is_tensor, self._history, tensor_of)
        takes_mask = getattr(layer, "call_takes_mask", None)  # a model: whether its call uses a mask
        if kwargs.get("mask") is not None and not (takes_mask() if takes_mask else takes_keyword(layer, "mask")):
            del kwargs["mask"]
            warnings.warn(f"{type(layer).__name__} '{layer.name}': the file passes it a mask, which it cannot "
                          f"take ({type(layer).__name__}.call takes no mask); it runs without it, so its "
                          "results differ from Keras's where the masked steps matter", stacklevel=2)
        return layer(inputs, **kwargs)


class _Ref:
    """A Keras 2 entry's tensor among a node's positional inputs."""

    def __init__(self, triple):
        self.triple = list(triple)


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
        pending.extend((layer, i, _NodeCall(node, layer.name))
                       for i, node in enumerate(spec.get("inbound_nodes") or []))
    _replay(pending, created)
    inputs = [_lookup(created, entry) for entry in _triples(config["input_layers"])]
    outputs = [_lookup(created, entry) for entry in _triples(config["output_layers"])]
    return inputs, outputs


def _replay(pending: list, created: dict) -> None:
    while pending:
        remaining = []
        for layer, index, call in pending:
            if not all((ref[0], ref[1]) in created for ref in call.references()):
                remaining.append((layer, index, call))
                continue
            out = call.replay(layer, lambda ref: _lookup(created, ref))
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
