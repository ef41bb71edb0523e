"""The functional API: ``Model(inputs, outputs)`` over a graph of layer calls.

Example:
    >>> from kerasette.layers import Input, Dense
    >>> inp = Input(shape=(4,))
    >>> model = Model(inp, Dense(2)(Dense(3, activation='relu')(inp)))
    >>> model.output_shape
    (None, 2)
"""

from __future__ import annotations

import copy

from kerasette.backend import symbolic
from kerasette.backend.symbolic import KerasTensor
from kerasette.layers.core import InputLayer
from kerasette.models.data import as_list
from kerasette.models.network import BaseModel


class Model(BaseModel):
    """A model defined by its symbolic inputs and outputs.

    Args:
        inputs: an `Input` tensor or a list of them.
        outputs: a symbolic tensor computed from the inputs, or a list of them.
        name: the model's name (``model_1`` etc. when omitted).
    """

    _name_prefix = "model"
    _summary_connections = True

    def __init__(self, inputs=None, outputs=None, name: str | None = None, **kwargs):
        if "input" in kwargs or "output" in kwargs:  # Keras 1 spelling
            inputs = kwargs.pop("input", inputs)
            outputs = kwargs.pop("output", outputs)
        if kwargs:
            raise TypeError(f"Model: unexpected keyword argument(s) {sorted(kwargs)}")
        super().__init__(name)
        self._multi_input = isinstance(inputs, (list, tuple))
        self.inputs, self.outputs = as_list(inputs), as_list(outputs)
        self._check_graph()
        self._layers = self._collect_layers()
        self.built = True

    # -- graph -------------------------------------------------------------------------------
    def _check_graph(self) -> None:
        if not self.inputs or not self.outputs:
            raise ValueError(f"Model '{self.name}': give both `inputs` and `outputs`")
        for kind, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            for t in tensors:
                if not isinstance(t, KerasTensor):
                    raise TypeError(f"Model '{self.name}': {kind} must be symbolic tensors (from Input and "
                                    f"layer calls); received {type(t).__name__}")
        for t in self.inputs:
            if t.node is not None:
                raise ValueError(f"Model '{self.name}': input '{t.name}' is not an Input tensor; "
                                 "inputs must come from Input(...)")
        fed = {id(t) for t in self.inputs}
        reached = symbolic.topological_nodes(self.outputs)
        for t in reached:
            if t.node is None and id(t) not in fed:
                raise ValueError(
                    f"Model '{self.name}': graph disconnected: output(s) need input '{t.name}' "
                    f"{t.shape}, which is not among the model's inputs {[i.name for i in self.inputs]}"
                )
        reached_ids = {id(t) for t in reached}
        for t in self.inputs:
            if id(t) not in reached_ids:
                raise ValueError(
                    f"Model '{self.name}': the outputs {[o.name for o in self.outputs]} do not depend "
                    f"on input '{t.name}'; every input must be used"
                )

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
            raise ValueError(f"Model '{self.name}': layer names must be unique; repeated: {duplicates}")
        return layers

    @property
    def layers(self) -> list:
        return list(self._layers)

    @property
    def input_shapes(self) -> list:
        return [t.shape for t in self.inputs]

    @property
    def output_shapes(self) -> list:
        return [t.shape for t in self.outputs]

    @property
    def input_shape(self):
        shapes = self.input_shapes
        return shapes if self._multi_input else shapes[0]

    @property
    def output_shape(self):
        shapes = self.output_shapes
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_names(self) -> list[str]:
        return [t._keras_history[0].name if t._keras_history else t.name for t in self.outputs]

    @property
    def input_names(self) -> list[str]:
        return [t._keras_history[0].name for t in self.inputs]

    def call_graph(self, inputs, training: bool = False):
        feed = {id(kt): value for kt, value in zip(self.inputs, inputs)}
        return symbolic.execute(self.outputs, feed, training=training)

    def __call__(self, inputs, training: bool = False):
        """Applies the model to tensors or arrays, or (as a layer of another model) to symbolic
        tensors."""
        if symbolic.is_symbolic(inputs):
            if len(self.outputs) > 1:
                raise ValueError(f"Model '{self.name}': a model with several outputs cannot be used as a "
                                 "layer of another model")
            return symbolic.call_layer(self, inputs)
        return self.call(inputs, training=training)

    @property
    def input(self):
        return self.inputs if self._multi_input else self.inputs[0]

    @property
    def output(self):
        return self.outputs if len(self.outputs) > 1 else self.outputs[0]

    # -- as a layer inside another model ------------------------------------------------------
    def build_for(self, input_shape) -> None:
        shapes = input_shape if self._multi_input else [input_shape]
        for given, own in zip(shapes, self.input_shapes):
            if len(given) != len(own) or any(a is not None and b is not None and a != b
                                              for a, b in zip(given[1:], own[1:])):
                raise ValueError(f"Model '{self.name}': expected input shape {own}, received {tuple(given)}")

    def compute_output_shape(self, input_shape):
        return self.output_shape

    def call(self, inputs, training: bool = False):
        from kerasette.backend.tensor import Tensor

        values = [x if isinstance(x, Tensor) else Tensor(x) for x in as_list(inputs)]
        outputs = self.call_graph(values, training=training)
        return outputs if len(outputs) > 1 else outputs[0]

    # -- description -------------------------------------------------------------------------
    def _node_keys(self) -> list[tuple]:
        """(layer, node index, input tensors) for every layer call inside this model."""
        keys = []
        for t in symbolic.topological_nodes(self.outputs):
            if t.node is not None and t.node.layer is not None:
                layer, index, _ = t._keras_history
                keys.append((layer, index, t.node.symbolic_inputs()))
        return keys

    def summary_rows(self):
        rows = []
        inbound: dict[int, list[str]] = {}
        for layer, _, tensors in self._node_keys():
            inbound.setdefault(id(layer), []).extend(
                f"{t._keras_history[0].name}[{t._keras_history[1]}][{t._keras_history[2]}]" for t in tensors
            )
        for layer in self._layers:
            rows.append((layer.name, type(layer).__name__, layer.output_shape, layer.count_params(),
                         inbound.get(id(layer), [])))
        return rows

    def get_config(self) -> dict:
        """Keras 2's functional config: layers with ``inbound_nodes``, ``input_layers``,
        ``output_layers``."""
        nodes: dict[int, list] = {}
        for layer, index, tensors in self._node_keys():
            entry = [[t._keras_history[0].name, t._keras_history[1], t._keras_history[2], {}] for t in tensors]
            nodes.setdefault(id(layer), []).append((index, entry))
        layers = []
        for layer in self._layers:
            config = copy.deepcopy(layer.get_config())
            config.pop("batch_input_shape", None) if not isinstance(layer, InputLayer) else None
            inbound = [entry for _, entry in sorted(nodes.get(id(layer), []), key=lambda x: x[0])]
            layers.append({"name": layer.name, "class_name": type(layer).__name__, "config": config,
                           "inbound_nodes": inbound})
        history = lambda t: [t._keras_history[0].name, t._keras_history[1], t._keras_history[2]]  # noqa: E731
        return {"name": self.name, "layers": layers,
                "input_layers": [history(t) for t in self.inputs],
                "output_layers": [history(t) for t in self.outputs]}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """Rebuilds the graph from Keras 2 or Keras 3 functional configs."""
        from kerasette.models.functional_config import rebuild

        inputs, outputs = rebuild(config, custom_objects)
        return cls(inputs=inputs, outputs=outputs, name=config.get("name"))
