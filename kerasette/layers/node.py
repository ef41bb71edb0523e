"""Recording a layer's call on symbolic tensors: the nodes of the functional API's graph.

A call ``layer(x)`` on a `KerasTensor` builds the layer for ``x``'s shape, appends a node (the
layer, its input tensors and the keyword arguments of the call) and returns a new symbolic
tensor of the layer's output shape. The node runs the layer with `Layer.run` in the training
phase of whoever executes the graph.

Keyword arguments are part of the call, as in Keras: ``LSTM(4)(x, mask=m)`` with ``m`` another
tensor of the graph runs the LSTM with ``m``'s values as its mask (instead of the mask that
would come with ``x``), ``ConvLSTM2D(...)(x, initial_state=[h, c])`` with those states; a plain
value (``scale=2.0`` for a layer of your own) is passed as it is. Arguments given as None are
the defaults and are not recorded. ``training`` is recorded for the file (Keras 3 writes it)
but, as in Keras 3, the phase of the model that runs the graph (fit: training, predict and
evaluate: inference) decides how the layer runs. A keyword the layer's ``call`` does not take
is refused when the call is recorded.
"""

from __future__ import annotations

import inspect

from kerasette.backend import state
from kerasette.backend.symbolic import KerasTensor, Node


def keyword_tensors(kwargs: dict) -> list[KerasTensor]:
    """The symbolic tensors inside a call's keyword arguments (nested lists, tuples and dicts),
    dicts by sorted key as Keras 3 flattens a call's arguments (which decides ties in the order
    it lists layers)."""
    found = []
    stack = [kwargs]
    while stack:
        item = stack.pop()
        if isinstance(item, KerasTensor):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item[key] for key in sorted(item, reverse=True))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
    return found


class LayerNode(Node):
    """A layer call in the graph: ``args`` is ``[inputs]`` (a tensor or a list of tensors),
    ``kwargs`` the keyword arguments of the call (symbolic tensors among them)."""

    def call_inputs(self) -> list[KerasTensor]:
        """The tensors of the call's positional ``inputs`` (what Keras's config lists as the
        node's inputs)."""
        return super().symbolic_inputs()

    def keyword_inputs(self) -> list[KerasTensor]:
        """The tensors among the call's keyword arguments (``mask=``, ``initial_state=``...)."""
        return keyword_tensors(self.kwargs)

    def symbolic_inputs(self) -> list[KerasTensor]:
        """Every tensor the call reads: the positional inputs, then the keyword tensors (so a
        graph walk computes a mask passed as ``mask=`` before the layer that reads it)."""
        return self.call_inputs() + self.keyword_inputs()


_ACCEPTED: dict[type, tuple[frozenset, bool]] = {}


def accepted_keywords(layer) -> tuple[frozenset, bool]:
    """The keyword names ``layer``'s ``call`` takes besides its inputs, and whether it takes any
    (``**kwargs``); cached per class."""
    cls = type(layer)
    accepted = _ACCEPTED.get(cls)
    if accepted is None:
        params = list(inspect.signature(cls.call).parameters.values())[1:]  # without self
        named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        accepted = (frozenset(p.name for p in named[1:] if p.kind is p.POSITIONAL_OR_KEYWORD)
                    | frozenset(p.name for p in named if p.kind is p.KEYWORD_ONLY),
                    any(p.kind is p.VAR_KEYWORD for p in params))
        _ACCEPTED[cls] = accepted
    return accepted


def _computes_masks(layer) -> bool:
    """Whether ``layer`` has a `compute_mask` of its own: a ``mask=`` given to it is the mask it
    computes its output's from (TimeDistributed), even when its ``call`` takes none."""
    # the base Layer defines the default: a second class in the hierarchy with one overrides it
    return sum("compute_mask" in cls.__dict__ for cls in type(layer).__mro__) > 1


def _describe(value) -> str:
    if isinstance(value, KerasTensor):
        return f"tensor '{value.name}' {value.shape}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def takes_keyword(layer, key: str) -> bool:
    """Whether a symbolic call of ``layer`` may be given the keyword ``key`` (see `call_keywords`)."""
    names, any_keyword = accepted_keywords(layer)
    return key == "training" or key in names or any_keyword or (key == "mask" and _computes_masks(layer))


def call_keywords(layer, kwargs: dict) -> dict:
    """The keyword arguments a symbolic call records: None values dropped (the defaults),
    ``training`` only for a call that takes it; each other keyword checked against ``call``
    (``mask`` also goes to a layer with a `compute_mask` of its own, whose call takes none).

    Raises:
        TypeError: a keyword ``call`` does not take, naming the layer, the argument, the value
            received and the arguments ``call`` does take.
    """
    names, any_keyword = accepted_keywords(layer)
    recorded = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        if key == "training":
            if "training" in names or any_keyword:
                recorded[key] = value
            continue  # Keras 3 lets training through to a layer without it, unused
        if not takes_keyword(layer, key):
            takes = ", ".join(sorted(names)) or "no keyword arguments"
            raise TypeError(f"{type(layer).__name__} '{layer.name}': its call does not take the argument "
                            f"`{key}` (received {_describe(value)}); {type(layer).__name__}.call takes: {takes}")
        recorded[key] = value
    return recorded


def call_layer_symbolic(layer, inputs, **kwargs):
    """Records ``layer(inputs, **kwargs)`` on symbolic ``inputs`` (a tensor or a list of tensors)."""
    multiple = isinstance(inputs, (list, tuple))
    tensors = list(inputs) if multiple else [inputs]
    for t in tensors:
        if not isinstance(t, KerasTensor):
            raise TypeError(
                f"{type(layer).__name__} '{layer.name}': in the functional API every input must be "
                f"a symbolic tensor (from Input or another layer); received {type(t).__name__}"
            )
    keywords = call_keywords(layer, kwargs)
    shapes = [t.shape for t in tensors]
    layer.build_for(shapes if multiple else shapes[0])
    out_shape = layer.output_shape
    node_index = len(layer._inbound_nodes)
    node = LayerNode(LayerCall(layer), [tensors if multiple else tensors[0]], keywords, layer=layer)
    layer._inbound_nodes.append(tensors)
    # a layer with several outputs (a recurrent layer's return_state) gives a list of shapes:
    # one symbolic tensor each, all made by this one node (``node.outputs``)
    many = isinstance(out_shape, list) and bool(out_shape) and isinstance(out_shape[0], (tuple, list))
    outs = []
    for i, shape in enumerate(out_shape if many else [out_shape]):
        suffix = f"output_{node_index}" + (f"_{i}" if many else "")
        out = KerasTensor(shape, tensors[0].dtype, name=f"{layer.name}/{suffix}", node=node)
        out._keras_history = (layer, node_index, i)
        outs.append(out)
    node.outputs = outs
    layer._node_outputs.append(outs if many else outs[0])
    return outs if many else outs[0]


class LayerCall:
    """The function a layer node runs (`kerasette.backend.symbolic.execute`, ``K.function``):
    the layer in the current training phase, with the call's other keyword arguments."""

    def __init__(self, layer):
        self.layer = layer
        self.__name__ = layer.name

    def __call__(self, inputs, **kwargs):
        kwargs.pop("training", None)  # the phase is the executor's (Keras 3)
        return self.layer.run(inputs, training=state.learning_phase.running(), **kwargs)
