"""The graph of a functional model: its layer calls, checked, listed and described.

``Model(inputs, outputs)`` keeps one `LayerGraph`; a Sequential model keeps one over its chain.
"""

from __future__ import annotations

import copy

from kerasette.backend import symbolic
from kerasette.backend.symbolic import KerasTensor
from kerasette.models.data import as_list


def _history(t) -> list:
    return [t._keras_history[0].name, t._keras_history[1], t._keras_history[2]]


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
        reached_ids = {id(t) for t in reached}
        for t in self.inputs:
            if id(t) not in reached_ids:
                raise ValueError(f"{where}: the outputs {[o.name for o in self.outputs]} do not depend on input "
                                 f"'{t.name}'; every input must be used")

    def _collect_layers(self) -> list:
        layers, seen = [], set()
        for t in self.inputs:
            layer = t._keras_history[0]
            seen.add(id(layer))
            layers.append(layer)
        for t in symbolic.topological_nodes(self.outputs):
            layer = t.node.layer if t.node is not None else None
            if layer is not None and id(layer) not in seen:
                seen.add(id(layer))
                layers.append(layer)
        names = [layer.name for layer in layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Model '{self.model_name}': layer names must be unique; repeated: {duplicates}")
        return layers

    def output_names(self) -> list[str]:
        return [t._keras_history[0].name if t._keras_history else t.name for t in self.outputs]

    def node_keys(self) -> list[tuple]:
        """(layer, node index, input tensors) for every layer call inside this graph."""
        keys = []
        for t in symbolic.topological_nodes(self.outputs):
            if t.node is not None and t.node.layer is not None:
                layer, index, _ = t._keras_history
                keys.append((layer, index, t.node.symbolic_inputs()))
        return keys

    def summary_rows(self):
        inbound: dict[int, list[str]] = {}
        for layer, _, tensors in self.node_keys():
            inbound.setdefault(id(layer), []).extend(
                f"{t._keras_history[0].name}[{t._keras_history[1]}][{t._keras_history[2]}]" for t in tensors
            )
        return [(layer.name, type(layer).__name__, layer.output_shape, layer.count_params(),
                 inbound.get(id(layer), [])) for layer in self.layers]

    def get_config(self, name: str) -> dict:
        """Keras 2's functional config: layers with ``inbound_nodes``, ``input_layers``,
        ``output_layers``."""
        nodes: dict[int, list] = {}
        for layer, index, tensors in self.node_keys():
            entry = [[*_history(t), {}] for t in tensors]
            nodes.setdefault(id(layer), []).append((index, entry))
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
