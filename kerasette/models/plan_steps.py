"""One step of a model plan (`kerasette.models.planner`) and how it runs: the values computed so
far by symbolic tensor, in the layout each was made in (`Values`), and running a layer step with
its fused activation, masks, keyword arguments, layouts and residual sum (`run_layer`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kerasette.backend import ops
from kerasette.backend.symbolic import KerasTensor
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer, output_mask
from kerasette.layers.node import keyword_tensors

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
        alias_of: for an activation fused (or a normalization folded) into the layer before it:
            that layer's output.
        fold: ``(normalization layer, folder)`` of a normalization folded into this layer.
        index: for one output of a layer call with several outputs (``return_state``), which.
        keywords: the call's keyword arguments as recorded (``mask=`` another tensor of the
            graph, ``initial_state=``..., plain values), without ``training`` (the phase is the
            plan's); their tensors are computed before this step.
        residual: a tensor this layer adds to its output (before ``fused``), for the Add that
            became an alias of its output (rewrite 3); ``sum_step``: that Add's step.
        call: for a backend op's step as `kerasette.models.planner.Plan.run` runs it, the op's
            ``(args, kwargs)`` with each aliased tensor replaced by its source (None otherwise).
    """

    output: KerasTensor
    layer: object = None
    inputs: list = dataclasses.field(default_factory=list)
    as_list: bool = False
    fused: object = None
    alias_of: KerasTensor | None = None
    fold: tuple | None = None
    index: int | None = None
    keywords: dict = dataclasses.field(default_factory=dict)
    residual: KerasTensor | None = None
    sum_step: Step | None = None
    call: tuple | None = None

    @property
    def reads(self) -> list:
        """Every tensor this step reads: its inputs, then the tensors among its keywords, then
        its residual."""
        reads = self.inputs + keyword_tensors(self.keywords) if self.keywords else self.inputs
        return reads + [self.residual] if self.residual is not None else reads


def substitute(item, value_of):
    """``item`` (nested lists and tuples) with each symbolic tensor replaced by its value."""
    if isinstance(item, KerasTensor):
        return value_of(item)
    if isinstance(item, (list, tuple)):
        return type(item)(substitute(x, value_of) for x in item)
    return item


class Values:
    """Computed tensors by symbolic tensor, in the layout they were made in, converted lazily."""

    def __init__(self):
        self._made: dict[int, tuple[Tensor, bool]] = {}  # id -> (tensor, channels-last form?)
        self._converted: dict[int, Tensor] = {}
        self.masks: dict[int, object] = {}  # id -> the tensor's mask (Keras's masking), when it has one
        self.calls: dict[int, tuple] = {}  # id(node) -> (outputs, masks) of a call with several outputs

    def put(self, key: KerasTensor, value: Tensor, channels_last: bool) -> None:
        self._made[id(key)] = (value, channels_last)

    def drop(self, keys: list[int]) -> None:
        for key in keys:
            self._made.pop(key, None)
            self._converted.pop(key, None)
            self.masks.pop(key, None)

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


def input_mask(step: Step, store: Values):
    """The mask of the step's input (a list for a list of inputs, when any has one), or None."""
    if not store.masks:
        return None
    masks = [store.masks.get(id(t)) for t in step.inputs]
    if step.as_list:
        return masks if any(m is not None for m in masks) else None
    return masks[0]


def given_mask(value):
    """A mask passed as ``mask=`` (a computed tensor, or a list of them and None) as the
    booleans that masks are everywhere else."""
    if isinstance(value, (list, tuple)):
        return [given_mask(m) for m in value]
    if value is None:
        return None
    return np.asarray(getattr(value, "data", value)).astype(bool, copy=False)


def _run_with_keywords(step: Step, store: Values, training: bool) -> None:
    """Runs a layer call that was given keyword arguments: their tensors' values passed, and a
    ``mask=`` in place of the mask its inputs carry (Keras: a mask given is the mask used, and
    the one the layer's `compute_mask` sees)."""
    keywords = {key: substitute(value, store.channels_first) for key, value in step.keywords.items()}
    mask = given_mask(keywords.pop("mask")) if "mask" in keywords else input_mask(step, store)
    inputs = [store.channels_first(t) for t in step.inputs] if step.as_list else store.channels_first(step.inputs[0])
    _run_masked(step, store, inputs, training, mask, keywords)


def _run_masked(step: Step, store: Values, inputs, training: bool, mask, keywords=None) -> None:
    """Runs the layer with its input mask (and the call's other keyword arguments), records its
    output mask; a call with several outputs runs once and each of its outputs' steps takes its
    own."""
    node = step.output.node
    if step.index is not None and id(node) in store.calls:
        values, masks = store.calls[id(node)]
    else:
        layer = step.layer
        if step.fused is not None:
            layer.check_input_once([x.shape for x in inputs] if isinstance(inputs, list) else inputs.shape)
            values = layer.call_with_activation(inputs, step.fused, training=training, mask=mask)
        else:
            values = layer.run(inputs, training, mask=mask, **(keywords or {}))
        masks = output_mask(layer, inputs, mask)
        if step.index is not None:
            store.calls[id(node)] = (values, masks)
    if step.index is not None:
        values = values[step.index]
        masks = masks[step.index] if isinstance(masks, (list, tuple)) else None
    store.put(step.output, values, False)
    if masks is not None:
        store.masks[id(step.output)] = masks


def run_layer(step: Step, store: Values, training: bool) -> None:
    if step.residual is not None:
        _run_residual(step, store, training)
        return
    if step.keywords:
        _run_with_keywords(step, store, training)
        return
    mask = input_mask(step, store) if store.masks else None
    if step.as_list:
        _run_masked(step, store, [store.channels_first(t) for t in step.inputs], training, mask)
        return
    layer = step.layer
    if mask is not None or step.index is not None or type(layer).compute_mask is not Layer.compute_mask:
        _run_masked(step, store, store.channels_first(step.inputs[0]), training, mask)
        return
    # (the values read and stored in place: this runs between two layers' passes, on cold caches)
    source, made = step.inputs[0], store._made
    x, channels_last = made[id(source)]
    if x.ndim == 4 and layer.runs_channels_last():
        y = layer.call_channels_last(store.channels_last(source, layer), training, step.fused)
        made[id(step.output)] = (y, y.ndim == 4)
        return
    if channels_last:
        if layer.layout_free():
            made[id(step.output)] = (layer.run(x, training), True)
            return
        x = store.channels_first(source)
    if step.fused is not None:
        layer.check_input_once(x.shape)
        made[id(step.output)] = (layer.call_with_activation(x, step.fused, training=training), False)
    else:
        made[id(step.output)] = (layer.run(x, training), False)


def _run_residual(step: Step, store: Values, training: bool) -> None:
    """Runs a layer with the residual sum of rewrite 3: on the channels-last forms of its input
    and of the residual when it `runs_channels_last` (a 4-D input), else on them as they are;
    as the layer and then the Add when masks reach the sum or the residual's dtype is not the
    input's (the symbolic dtypes may not say)."""
    layer, source = step.layer, step.inputs[0]
    x, _ = store.raw(source)
    if (store.masks and (id(source) in store.masks or id(step.residual) in store.masks)) \
            or store.raw(step.residual)[0].dtype != x.dtype:
        _run_unsummed(step, store, training)
        return
    if x.ndim == 4 and layer.runs_channels_last():
        residual, residual_last = store.raw(step.residual)
        if not residual_last:
            residual = ops.transpose(residual, TO_CHANNELS_LAST)
        y = layer.call_with_residual(store.channels_last(source, layer), residual, step.fused, training)
        store.put(step.output, y, y.ndim == 4)
    else:
        x = store.channels_first(source)
        layer.check_input_once(x.shape)
        store.put(step.output, layer.call_with_residual(x, store.channels_first(step.residual), step.fused, training),
                  False)


def _run_unsummed(step: Step, store: Values, training: bool) -> None:
    """A residual step run as planned without the rewrite: the layer as it is, then its Add on
    its output (with the masks, for the Add's own), the sum put in the layer's output's place
    (which the Add's output and the steps between alias)."""
    run_layer(dataclasses.replace(step, residual=None, fused=None, sum_step=None), store, training)
    add = step.sum_step
    inputs = [store.channels_first(t if t is step.residual else step.output) for t in add.inputs]
    masks = [store.masks.get(id(t if t is step.residual else step.output)) for t in add.inputs]
    mask = masks if any(m is not None for m in masks) else None
    if add.fused is not None:
        value = add.layer.call_with_activation(inputs, add.fused, training=training, mask=mask)
    else:
        value = add.layer.run(inputs, training, mask=mask)
    store.drop([id(step.output)])  # the layer's output, its mask and any layout converted from it
    store.put(step.output, value, False)
    out_mask = output_mask(add.layer, inputs, mask)
    if out_mask is not None:
        store.masks[id(step.output)] = out_mask
