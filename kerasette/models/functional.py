"""The graph of a functional model: its layer calls, checked, listed and described.

``Model(inputs, outputs)`` keeps one `LayerGraph`; a Sequential model keeps one over its chain.
"""

from __future__ import annotations

import copy

import numpy as np

from kerasette.backend import symbolic
from kerasette.backend.symbolic import KerasTensor
from kerasette.layers.node import keyword_tensors
from kerasette.models.data import as_list


def _history(t) -> list:
    return [t._keras_history[0].name, t._keras_history[1], t._keras_history[2]]


def _node_key(t):
    """What identifies a layer call: its node, or for a model input, its InputLayer."""
    return t.node if t.node is not None else ("input", id(t._keras_history[0]))


def _inbound(t) -> list:
    """Every tensor the call that made ``t`` reads (keyword tensors such as ``mask=`` too, as
    Keras counts them for the depth of a layer)."""
    return t.node.symbolic_inputs() if t.node is not None else []


def _call_inputs(node) -> list:
    """The tensors of a layer call's positional inputs."""
    return getattr(node, "call_inputs", node.symbolic_inputs)()


def _keras3_tensor(t) -> dict:
    """Keras 3's reference to a tensor of the graph in a node's ``args`` or ``kwargs``."""
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": t.dtype.name, "keras_history": _history(t)}}


def _plain(value):
    """A keyword's plain value as JSON holds it."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _keyword_config(value, tensor):
    """A keyword argument's value with each tensor written by ``tensor`` (nested lists kept)."""
    if isinstance(value, KerasTensor):
        return tensor(value)
    if isinstance(value, (list, tuple)):
        return [_keyword_config(v, tensor) for v in value]
    if isinstance(value, dict):
        return {k: _keyword_config(v, tensor) for k, v in value.items()}
    return _plain(value)


def node_config(node) -> list | dict:
    """One inbound node of a layer's config entry.

    Keras 2's form, ``[[layer, node, tensor, kwargs], ...]`` (one entry per input tensor, the
    call's keyword arguments in each), which Keras 2 and 3 both read, unless a keyword holds a
    tensor of the graph (``mask=m``): Keras 3 reads such a keyword only in its own form,
    ``{"args": [inputs], "kwargs": {...}}`` with each tensor as a ``__keras_tensor__``, so that
    node is written so (`keras2_node_config` gives Keras 2's form of it).
    """
    keywords = node.kwargs
    if not keyword_tensors(keywords):
        kwargs = _keyword_config(keywords, _history)
        return [[*_history(t), kwargs] for t in _call_inputs(node)]
    inputs = node.args[0]
    args = [_keras3_tensor(t) for t in inputs] if isinstance(inputs, (list, tuple)) else _keras3_tensor(inputs)
    return {"args": [args], "kwargs": _keyword_config(keywords, _keras3_tensor)}


def keras2_node_config(node) -> list:
    """A node in Keras 2's form whatever its keywords hold: a tensor keyword as Keras 2 (tf.keras)
    writes it, ``[layer, node, tensor]`` (which Keras 3 does not read back as a tensor)."""
    kwargs = _keyword_config(node.kwargs, _history)
    return [[*_history(t), kwargs] for t in _call_inputs(node)]


def keras_layer_order(outputs: list) -> list:
    """The layers between the inputs and ``outputs`` in the order Keras 2 and 3 list them: by
    depth, the layers farthest from the outputs first, and within one depth in the order a
    depth-first walk from the outputs first meets them. Keras's legacy files list layers, and
    match weights to layers, in this order, so kerasette must list them the same way.

    A layer call's depth is 0 for an output and one more than the deepest call that reads it;
    a layer called several times takes the deepest of its calls.
    """
    first_seen: dict[int, int] = {}
    layer_of: dict[int, object] = {}
    finished: set = set()
    postorder: list[tuple] = []  # (node key, layer, inbound tensors), each call after its inputs
    stack = [(t, False) for t in reversed(outputs)]
    while stack:  # iterative: deep graphs must not hit Python's recursion limit
        t, expanded = stack.pop()
        key, layer = _node_key(t), t._keras_history[0]
        if expanded:
            if key not in finished:
                finished.add(key)
                postorder.append((key, layer, _inbound(t)))
            continue
        if key in finished:
            continue
        first_seen.setdefault(id(layer), len(first_seen))
        layer_of[id(layer)] = layer
        stack.append((t, True))
        stack.extend((inbound, False) for inbound in reversed(_inbound(t)))
    node_depth: dict = {}
    layer_depth: dict[int, int] = {}
    for key, layer, inbound in reversed(postorder):
        depth = max(node_depth.setdefault(key, 0), layer_depth.get(id(layer), 0))
        layer_depth[id(layer)] = node_depth[key] = depth
        for tensor in inbound:
            inbound_key = _node_key(tensor)
            node_depth[inbound_key] = max(depth + 1, node_depth.get(inbound_key, 0))
    order = sorted(first_seen, key=lambda i: (-layer_depth[i], first_seen[i]))
    return [layer_of[i] for i in order]


class LayerGraph:
    """The layer calls between symbolic ``inputs`` and ``outputs``.

    Raises:
        TypeError / ValueError: inputs or outputs that are not symbolic tensors, an input that
            is not an ``Input``, an output that needs a tensor not among the inputs, an input
            the outputs do not use, two layers with one name.
    """

    def __init__(self, inputs, outputs, model_name: str):
        self.model_name = model_name
        self.multi_input = isinstance(inputs, (list, tuple))
        self.inputs, self.outputs = as_list(inputs), as_list(outputs)
        self._check()
        self.layers = self._collect_layers()

    def _check(self) -> None:
        where = f"Model '{self.model_name}'"
        if not self.inputs or not self.outputs:
            raise ValueError(f"{where}: give both `inputs` and `outputs`")
        for kind, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            for t in tensors:
                if not isinstance(t, KerasTensor):
                    raise TypeError(f"{where}: {kind} must be symbolic tensors (from Input and layer calls); "
                                    f"received {type(t).__name__}")
        for t in self.inputs:
            if t.node is not None:
                raise ValueError(f"{where}: input '{t.name}' is not an Input tensor; inputs must come from Input(...)")
        fed = {id(t) for t in self.inputs}
        reached = symbolic.topological_nodes(self.outputs)
        for t in reached:
            if t.node is None and id(t) not in fed:
                raise ValueError(
                    f"{where}: graph disconnected: output(s) need input '{t.name}' {t.shape}, which is not "
                    f"among the model's inputs {[i.name for i in self.inputs]}"
                )
        for t in reached:
            if t.node is not None and t.node.layer is None:
                raise ValueError(
                    f"{where}: tensor '{t.name}' {t.shape} is the result of a backend op, not of a layer; "
                    "a model's graph is made of layers: wrap the op in a Lambda layer, "
                    "e.g. Lambda(lambda t: K.square(t))(x)"
                )
        reached_ids = {id(t) for t in reached}
        for t in self.inputs:
            if id(t) not in reached_ids:
                raise ValueError(f"{where}: the outputs {[o.name for o in self.outputs]} do not depend on input "
                                 f"'{t.name}'; every input must be used")

    def _collect_layers(self) -> list:
        layers = keras_layer_order(self.outputs)
        names = [layer.name for layer in layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Model '{self.model_name}': layer names must be unique; repeated: {duplicates}")
        return layers

    def output_names(self) -> list[str]:
        return [t._keras_history[0].name if t._keras_history else t.name for t in self.outputs]

    def layer_calls(self) -> list[tuple]:
        """(layer, node index, node) for every layer call inside this graph."""
        calls, seen = [], set()
        for t in symbolic.topological_nodes(self.outputs):
            if t.node is not None and t.node.layer is not None and id(t.node) not in seen:
                seen.add(id(t.node))  # a call with several outputs is one node
                layer, index, _ = t._keras_history
                calls.append((layer, index, t.node))
        return calls

    def node_keys(self) -> list[tuple]:
        """(layer, node index, input tensors) for every layer call inside this graph (the
        positional inputs; keyword tensors such as ``mask=`` are in ``layer_calls``)."""
        return [(layer, index, _call_inputs(node)) for layer, index, node in self.layer_calls()]

    def summary_rows(self):
        inbound: dict[int, list[str]] = {}
        for layer, _, tensors in self.node_keys():
            inbound.setdefault(id(layer), []).extend(
                f"{t._keras_history[0].name}[{t._keras_history[1]}][{t._keras_history[2]}]" for t in tensors
            )
        return [(layer.name, type(layer).__name__, layer.output_shape, layer.count_params(),
                 inbound.get(id(layer), [])) for layer in self.layers]

    def get_config(self, name: str, keras2_nodes: bool = False) -> dict:
        """Keras 2's functional config: layers with ``inbound_nodes``, ``input_layers``,
        ``output_layers``; a call given a tensor as a keyword argument (``mask=m``) in Keras 3's
        node form (see `node_config`), or, with ``keras2_nodes``, in Keras 2's."""
        nodes: dict[int, list] = {}
        write = keras2_node_config if keras2_nodes else node_config
        for layer, index, node in self.layer_calls():
            nodes.setdefault(id(layer), []).append((index, write(node)))
        layers = []
        inputs = {id(t._keras_history[0]) for t in self.inputs}
        for layer in self.layers:
            config = copy.deepcopy(layer.get_config())
            if id(layer) not in inputs:
                config.pop("batch_input_shape", None)
            inbound = [entry for _, entry in sorted(nodes.get(id(layer), []), key=lambda x: x[0])]
            layers.append({"name": layer.name, "class_name": type(layer).__name__, "config": config,
                           "inbound_nodes": inbound})
        return {"name": name, "layers": layers,
                "input_layers": [_history(t) for t in self.inputs],
                "output_layers": [_history(t) for t in self.outputs]}
