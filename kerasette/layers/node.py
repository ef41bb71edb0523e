"""Recording a layer's call on symbolic tensors: the nodes of the functional API's graph.

A call ``layer(x)`` on a `KerasTensor` builds the layer for ``x``'s shape, appends a node (the
layer and its input tensors) and returns a new symbolic tensor of the layer's output shape. The
node runs the layer with `Layer.run` in the training phase of whoever executes the graph.
"""

from __future__ import annotations

from kerasette.backend import state
from kerasette.backend.symbolic import KerasTensor, Node


def call_layer_symbolic(layer, inputs, **kwargs):
    """Records ``layer(inputs)`` on symbolic ``inputs`` (a tensor or a list of tensors)."""
    multiple = isinstance(inputs, (list, tuple))
    tensors = list(inputs) if multiple else [inputs]
    for t in tensors:
        if not isinstance(t, KerasTensor):
            raise TypeError(
                f"{type(layer).__name__} '{layer.name}': in the functional API every input must be "
                f"a symbolic tensor (from Input or another layer); received {type(t).__name__}"
            )
    kwargs.pop("training", None)  # the phase is the executor's
    if kwargs:
        raise TypeError(f"{type(layer).__name__} '{layer.name}': unexpected call argument(s) {sorted(kwargs)} "
                        "on symbolic tensors")
    shapes = [t.shape for t in tensors]
    layer.build_for(shapes if multiple else shapes[0])
    out_shape = layer.output_shape
    node_index = len(layer._inbound_nodes)
    node = Node(LayerCall(layer), [tensors if multiple else tensors[0]], layer=layer)
    layer._inbound_nodes.append(tensors)
    # a layer with several outputs (a recurrent layer's return_state) gives a list of shapes:
    # one symbolic tensor each, all made by this one node (``node.outputs``)
    many = isinstance(out_shape, list) and bool(out_shape) and isinstance(out_shape[0], (tuple, list))
    outs = []
    for i, shape in enumerate(out_shape if many else [out_shape]):
        suffix = f"output_{node_index}" + (f"_{i}" if many else "")
        out = KerasTensor(shape, tensors[0].dtype, name=f"{layer.name}/{suffix}", node=node, probes=())
        out._keras_history = (layer, node_index, i)
        outs.append(out)
    node.outputs = outs
    layer._node_outputs.append(outs if many else outs[0])
    return outs if many else outs[0]


class LayerCall:
    """The function a layer node runs: the layer in the current training phase."""

    def __init__(self, layer):
        self.layer = layer
        self.__name__ = layer.name

    def __call__(self, inputs):
        return self.layer.run(inputs, training=state.learning_phase.running())
