"""Running a model's layer graph, with two rewrites that change no result, only the work done.

One planner serves every model (Sequential, functional, models nested in models): it reads the
graph of layer calls that the symbolic inputs and outputs describe, and asks each layer for its
own facts (see `kerasette.layers.base`), never for its type.

1. **Fusion.** A layer whose output goes only to a layer that applies just an activation
   (``Activation('relu')``), and that `fuses` that activation, computes both in one pass.
2. **Layouts.** The engine computes images channels-last, so a channels-first image layer
   transposes its input in and its output back. Consecutive layers that `runs_channels_last`
   keep the tensor channels-last between them; layers that are `layout_free` (Dropout,
   elementwise activations) pass it through as it is; anything else gets the channels-first
   tensor back (converted once, however many layers read it).

Example:
    >>> from kerasette.layers import Input, Dense, Activation
    >>> inp = Input(shape=(3,))
    >>> out = Activation('relu')(Dense(2)(inp))
    >>> [step.fused is not None for step in Plan([inp], [out]).steps]
    [True, False]
"""

from __future__ import annotations

import dataclasses

from kerasette.backend import ops, symbolic
from kerasette.backend.symbolic import KerasTensor
from kerasette.backend.tensor import Tensor

TO_CHANNELS_LAST = (0, 2, 3, 1)
TO_CHANNELS_FIRST = (0, 3, 1, 2)


@dataclasses.dataclass
class Step:
    """One symbolic tensor to compute.

    Attributes:
        output: the symbolic tensor this step computes.
        layer: the layer called (None for a backend op recorded on symbolic tensors).
        inputs: the symbolic tensors it reads.
        as_list: whether the layer takes its inputs as a list.
        fused: an activation to run inside this layer's output pass.
        alias_of: for an activation fused into the layer before it: that layer's output.
    """

    output: KerasTensor
    layer: object = None
    inputs: list = dataclasses.field(default_factory=list)
    as_list: bool = False
    fused: object = None
    alias_of: KerasTensor | None = None


class Plan:
    """The steps that compute ``outputs`` from ``inputs``, fusions decided once."""

    def __init__(self, inputs: list[KerasTensor], outputs: list[KerasTensor]):
        self.inputs, self.outputs = list(inputs), list(outputs)
        fed = {id(t) for t in self.inputs}
        order = [t for t in symbolic.topological_nodes(self.outputs) if id(t) not in fed]
        self.steps = [_step(t) for t in order]
        _plan_fusions(self.steps, self.outputs)
        self._release = _last_reads(self.steps, self.outputs)

    def run(self, values: list[Tensor], training: bool) -> list[Tensor]:
        """Computes the outputs for the input ``values`` (one Tensor per input)."""
        store = _Values()
        for tensor, value in zip(self.inputs, values):
            store.put(tensor, value, False)
        for step, done in zip(self.steps, self._release):
            if step.alias_of is not None:
                store.alias(step.output, step.alias_of)
            elif step.layer is None:
                node = step.output.node
                args = _substitute(node.args, store.channels_first)
                kwargs = {k: _substitute(v, store.channels_first) for k, v in node.kwargs.items()}
                value = node.fn(*args, **kwargs)
                store.put(step.output, value if isinstance(value, Tensor) else Tensor(value), False)
            else:
                _run_layer(step, store, training)
            store.drop(done)  # values no later step reads (inference keeps no more than it needs)
        return [store.channels_first(t) for t in self.outputs]


def _substitute(item, value_of):
    """``item`` (nested lists and tuples) with each symbolic tensor replaced by its value."""
    if isinstance(item, KerasTensor):
        return value_of(item)
    if isinstance(item, (list, tuple)):
        return type(item)(_substitute(x, value_of) for x in item)
    return item


def _step(tensor: KerasTensor) -> Step:
    node = tensor.node
    if node is None:
        raise ValueError(f"input '{tensor.name}' {tensor.shape} is needed to compute the outputs but is "
                         "not among the model's inputs")
    if node.layer is None:
        return Step(tensor, inputs=node.symbolic_inputs())
    arg = node.args[0]
    return Step(tensor, node.layer, node.symbolic_inputs(), isinstance(arg, (list, tuple)))


def _last_reads(steps: list[Step], outputs: list[KerasTensor]) -> list[list[int]]:
    """For each step, the ids of the tensors that no later step reads (nor the outputs)."""
    last: dict[int, int] = {}
    for i, step in enumerate(steps):
        for t in step.inputs + ([step.alias_of] if step.alias_of is not None else []):
            last[id(t)] = i
    kept = {id(t) for t in outputs}
    release: list[list[int]] = [[] for _ in steps]
    for key, i in last.items():
        if key not in kept:
            release[i].append(key)
    return release


def _plan_fusions(steps: list[Step], outputs: list[KerasTensor]) -> None:
    readers: dict[int, list[Step]] = {}
    for step in steps:
        for t in step.inputs:
            readers.setdefault(id(t), []).append(step)
    exported = {id(t) for t in outputs}
    by_output = {id(s.output): s for s in steps}
    for step in steps:
        activation = getattr(step.layer, "standalone_activation", None) if step.layer is not None else None
        if activation is None or len(step.inputs) != 1 or step.as_list:
            continue
        source = by_output.get(id(step.inputs[0]))
        if (source is None or source.layer is None or source.fused is not None or source.as_list
                or id(source.output) in exported or len(readers.get(id(source.output), ())) != 1
                or not source.layer.fuses(activation)):
            continue
        source.fused = activation
        step.alias_of = source.output


class _Values:
    """Computed tensors by symbolic tensor, in the layout they were made in, converted lazily."""

    def __init__(self):
        self._made: dict[int, tuple[Tensor, bool]] = {}  # id -> (tensor, channels-last form?)
        self._converted: dict[int, Tensor] = {}

    def put(self, key: KerasTensor, value: Tensor, channels_last: bool) -> None:
        self._made[id(key)] = (value, channels_last)

    def alias(self, key: KerasTensor, source: KerasTensor) -> None:
        self._made[id(key)] = self._made[id(source)]

    def drop(self, keys: list[int]) -> None:
        for key in keys:
            self._made.pop(key, None)
            self._converted.pop(key, None)

    def raw(self, key: KerasTensor) -> tuple[Tensor, bool]:
        return self._made[id(key)]

    def channels_first(self, key: KerasTensor) -> Tensor:
        value, channels_last = self._made[id(key)]
        if not channels_last:
            return value
        if id(key) not in self._converted:
            self._converted[id(key)] = ops.transpose(value, TO_CHANNELS_FIRST)
        return self._converted[id(key)]

    def channels_last(self, key: KerasTensor, layer) -> Tensor:
        value, channels_last = self._made[id(key)]
        if channels_last:
            layer.check_input_once((value.shape[0], value.shape[3], value.shape[1], value.shape[2]))
            return value
        layer.check_input_once(value.shape)
        if id(key) not in self._converted:
            self._converted[id(key)] = ops.transpose(value, TO_CHANNELS_LAST)
        return self._converted[id(key)]


def _run_layer(step: Step, store: _Values, training: bool) -> None:
    layer = step.layer
    if step.as_list:
        value = layer.run([store.channels_first(t) for t in step.inputs], training)
        store.put(step.output, value, False)
        return
    source = step.inputs[0]
    x, channels_last = store.raw(source)
    if x.ndim == 4 and layer.runs_channels_last():
        y = layer.call_channels_last(store.channels_last(source, layer), training, step.fused)
        store.put(step.output, y, y.ndim == 4)
    elif channels_last and layer.layout_free():
        store.put(step.output, layer.run(x, training), True)
    elif step.fused is not None:
        x = store.channels_first(source)
        layer.check_input_once(x.shape)
        store.put(step.output, layer.call_with_activation(x, step.fused), False)
    else:
        store.put(step.output, layer.run(store.channels_first(source), training), False)
