"""Running a model's layer graph, with two rewrites that change no result, only the work done.

One planner serves every model (Sequential, functional, models nested in models): it reads the
graph of layer calls that the symbolic inputs and outputs describe, and asks each layer for its
own facts (see `kerasette.layers.base`), never for its type.

1. **Fusion.** A layer whose output goes only to a layer that applies just an activation
   (``Activation('relu')``), and that `fuses` that activation, computes both in one pass
   (``call_with_activation``, with the learning phase): Conv2D and Dense, BatchNormalization, and
   the Add of a residual block.
2. **Folding** (inference only). A layer that is, in inference, a per-channel affine map
   (BatchNormalization: ``inference_affine_axis``/``inference_affine``) and reads the output of a
   layer that nothing else reads and that can take the map into its weights
   (``output_affine_folder``: Conv2D, Dense without an activation of their own) is folded into
   it: one convolution with ``kernel * scale`` and ``bias * scale + shift``, the folded weights
   computed from the current ones on each call (all of them before the first step, up to
   `FOLD_AHEAD_BYTES`; the layers keep their own weights, swapped in only around their call).
   An activation after the folded normalization is then fused into the convolution as in 1.
   Training runs the layers as they are.
3. **Residual sums** (inference only). An Add of two tensors of its output's shape (``adds_inputs``),
   one of which a layer that `takes_residual` computes for the Add alone (through a folded
   normalization), becomes that layer's epilogue: the layer adds the other tensor (computed
   before it) to its output and applies the Add's fused activation in the same pass
   (``call_with_residual``): a residual block's ``relu(conv(x) + b + shortcut)`` is one pass
   over the output instead of two. Where masks reach the sum (or dtypes differ), the layer and
   the Add run as they are.
4. **Layouts.** The engine computes images channels-last, so a channels-first image layer
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
import math

import numpy as np

from kerasette.backend import ops, symbolic
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

    @property
    def reads(self) -> list:
        """Every tensor this step reads: its inputs, then the tensors among its keywords, then
        its residual."""
        reads = self.inputs + keyword_tensors(self.keywords) if self.keywords else self.inputs
        return reads + [self.residual] if self.residual is not None else reads


class Plan:
    """The steps that compute ``outputs`` from ``inputs``, fusions and foldings decided once.

    Folding a normalization costs a pass over the weights of the layer before it; running it costs
    a pass over that layer's output. So a fold is made only for batches of at least
    ``weights / output values per sample`` (every batch, for a convolution; a Dense layer of many
    inputs only for large batches): one set of inference steps per set of folds, made when a
    batch size first needs it.

    Attributes:
        steps: the training steps (fusions only).
        inference_steps: the inference steps with every possible fold (then fusions).
    """

    def __init__(self, inputs: list[KerasTensor], outputs: list[KerasTensor], fold: bool = True):
        self.inputs, self.outputs = list(inputs), list(outputs)
        fed = {id(t) for t in self.inputs}
        self._order = [t for t in symbolic.topological_nodes(self.outputs) if id(t) not in fed]
        self.steps = self._plan(frozenset())
        self._variants = {}
        #: the batch size from which each possible fold pays (by the output of the layer folded into)
        self._fold_from = {id(step.output): _fold_batch(step) for step in self._plan(None) if step.fold}
        if not fold:
            self._fold_from = {}
        self.inference_steps = self._variant(frozenset(self._fold_from))[0]
        self._release = _last_reads(self.steps, self.outputs)

    def _plan(self, folds: frozenset | None, residuals: bool = False) -> list[Step]:
        """Steps folding normalizations into the layers whose outputs ``folds`` names (None: every
        fold that can be made), then fusing activations, then (``residuals``) residual sums."""
        steps = [_step(t) for t in self._order]
        if folds is None or folds:
            _plan_foldings(steps, self.outputs, folds)
        _plan_fusions(steps, self.outputs)
        if residuals:
            _plan_residuals(steps, self.outputs)
        return steps

    def _variant(self, folds: frozenset) -> tuple[list[Step], list[list[int]], list[Step]]:
        """The inference steps folding into the layers ``folds`` names (and with the residual
        sums), the tensors each step releases, and the fold steps whose folded weights `run`
        computes before the first step."""
        variant = self._variants.get(folds)
        if variant is None:
            steps = self._plan(folds, residuals=True)
            variant = self._variants[folds] = (steps, _last_reads(steps, self.outputs), _folds_ahead(steps))
        return variant

    def run(self, values: list[Tensor], training: bool, masks: list | None = None) -> list[Tensor]:
        """Computes the outputs for the input ``values`` (one Tensor per input); ``masks``, one
        per input (None for none), are the inputs' masks (what a model called with ``mask=``
        passes on to its layers, as Keras 3's functional models do)."""
        store = _Values()
        for tensor, value in zip(self.inputs, values):
            store.put(tensor, value, False)
        for tensor, mask in zip(self.inputs, masks or ()):
            if mask is not None:
                store.masks[id(tensor)] = _given_mask(mask)
        if training:
            steps, release, ahead = self.steps, self._release, ()
        else:
            batch = values[0].shape[0] if values and values[0].ndim else 0
            steps, release, ahead = self._variant(frozenset(k for k, n in self._fold_from.items() if batch >= n))
        # folded weights made one after the other while Python's own data is still in cache (each
        # made just before its layer, after a pass over the activations, took twice as long);
        # each from the weights as they are now, the layer's own weights staying in place
        folded = {id(step): step.fold[1](*step.fold[0].inference_affine()) for step in ahead}
        for step, done in zip(steps, release):
            if step.alias_of is not None:
                store.alias(step.output, step.alias_of)
            elif step.layer is None:
                node = step.output.node
                args = _substitute(node.args, store.channels_first)
                kwargs = {k: _substitute(v, store.channels_first) for k, v in node.kwargs.items()}
                value = node.fn(*args, **kwargs)
                store.put(step.output, value if isinstance(value, Tensor) else Tensor(value), False)
            elif step.fold is not None:
                context = folded.pop(id(step), None)  # (released once used)
                if context is None:
                    normalization, folder = step.fold
                    context = folder(*normalization.inference_affine())
                with context:
                    _run_layer(step, store, training)
            else:
                _run_layer(step, store, training)
            store.drop(done)  # values no later step reads (inference keeps no more than it needs)
        outputs = [store.channels_first(t) for t in self.outputs]
        for tensor, value in zip(self.outputs, outputs):  # an output's mask, for the losses and metrics
            mask = store.masks.get(id(tensor))
            if mask is not None:
                value._keras_mask = mask
        return outputs


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
    index = tensor._keras_history[2] if len(getattr(node, "outputs", ())) > 1 else None
    call_inputs = getattr(node, "call_inputs", node.symbolic_inputs)
    keywords = {key: value for key, value in node.kwargs.items() if key != "training"}
    return Step(tensor, node.layer, call_inputs(), isinstance(arg, (list, tuple)), index=index, keywords=keywords)


#: `Plan.run` makes the folded weights of a plan's first folds before its first step, up to this
#: many bytes of folded weights alive at once (the others just before their layers): ResNet-20's
#: 19 folds (1 MB) took 0.67 ms a prediction made one by one between its layers, 0.33 ms ahead.
FOLD_AHEAD_BYTES = 16 << 20


def _folds_ahead(steps: list[Step]) -> list[Step]:
    """The first fold steps whose layers' weights add up to at most `FOLD_AHEAD_BYTES`."""
    ahead, total = [], 0
    for step in steps:
        if step.fold is None:
            continue
        total += sum(w.size * w.dtype.itemsize for w in step.layer.weights)
        if total > FOLD_AHEAD_BYTES:
            break
        ahead.append(step)
    return ahead


def _last_reads(steps: list[Step], outputs: list[KerasTensor]) -> list[list[int]]:
    """For each step, the ids of the tensors that no later step reads (nor the outputs)."""
    last: dict[int, int] = {}
    for i, step in enumerate(steps):
        for t in step.reads + ([step.alias_of] if step.alias_of is not None else []):
            last[id(t)] = i
    kept = {id(t) for t in outputs}
    release: list[list[int]] = [[] for _ in steps]
    for key, i in last.items():
        if key not in kept:
            release[i].append(key)
    return release


class _Readers:
    """Who reads what among a plan's steps, to find a step's sole source."""

    def __init__(self, steps: list[Step], outputs: list[KerasTensor]):
        self.count: dict[int, int] = {}
        for step in steps:
            for t in step.reads:
                self.count[id(t)] = self.count.get(id(t), 0) + 1
        self.exported = {id(t) for t in outputs}
        self.by_output = {id(s.output): s for s in steps}

    def private(self, step: Step) -> bool:
        """Whether exactly one step reads ``step``'s output and it is not a model output."""
        return id(step.output) not in self.exported and self.count.get(id(step.output), 0) == 1

    def sole_source(self, step: Step) -> Step | None:
        """The layer step that computes the value ``step`` reads (through steps already fused or
        folded into it), when ``step`` has one input and is the only reader of every tensor on
        the way; else None. A layer call with keyword arguments neither fuses nor folds."""
        if step.layer is None or len(step.inputs) != 1 or step.as_list or step.keywords:
            return None
        return self.private_source(step.inputs[0])

    def private_source(self, tensor: KerasTensor) -> Step | None:
        """The layer step that computes ``tensor`` (through steps already fused or folded into
        it) when one step alone reads each tensor on the way, none an output; else None."""
        source = self.by_output.get(id(tensor))
        while source is not None and source.alias_of is not None:
            if not self.private(source):
                return None
            source = self.by_output.get(id(source.alias_of))
        if (source is None or source.layer is None or source.index is not None or source.keywords
                or not self.private(source)):
            return None
        return source


def _fold_batch(step: Step) -> int:
    """The smallest batch for which folding into ``step``'s layer costs less than running the
    normalization: weights / output values per sample (1 when the output size is unknown)."""
    per_sample = math.prod(d or 0 for d in step.output.shape[1:])
    if per_sample <= 0:
        return 1
    return max(1, -(-sum(w.size for w in step.layer.weights) // per_sample))


def _plan_foldings(steps: list[Step], outputs: list[KerasTensor], only: frozenset | None) -> None:
    """Folds normalizations into the layers before them (only into the layers whose outputs
    ``only`` names, when given): that layer's step gets ``fold``, the normalization's becomes an
    alias of its output."""
    readers = _Readers(steps, outputs)
    for step in steps:
        affine_axis = getattr(step.layer, "inference_affine_axis", None)
        located = affine_axis() if affine_axis is not None else None
        source = readers.sole_source(step) if located is not None else None
        if source is None or source.fold is not None or (only is not None and id(source.output) not in only):
            continue
        folder = getattr(source.layer, "output_affine_folder", None)
        folder = folder(*located) if folder is not None else None
        if folder is None:
            continue
        source.fold = (step.layer, folder)
        step.alias_of = source.output


def _plan_fusions(steps: list[Step], outputs: list[KerasTensor]) -> None:
    readers = _Readers(steps, outputs)
    for step in steps:
        activation = getattr(step.layer, "standalone_activation", None) if step.layer is not None else None
        if activation is None:
            continue
        source = readers.sole_source(step)
        if source is None or source.fused is not None or not source.layer.fuses(activation):
            continue
        source.fused = activation
        step.alias_of = source.output


def _plan_residuals(steps: list[Step], outputs: list[KerasTensor]) -> None:
    """Makes each Add of two tensors of its output's shape and dtype (``adds_inputs``) the
    epilogue of the one-input layer computing one of them for it alone (``takes_residual`` of the
    Add's fused activation): that layer's step gets the other tensor as ``residual`` and the
    activation as ``fused``, and the Add's becomes an alias of its output. Of the two inputs, the
    one computed later is taken (the other is then ready when the layer runs)."""
    readers = _Readers(steps, outputs)
    position = {id(step.output): i for i, step in enumerate(steps)}
    for step in steps:
        adds = getattr(step.layer, "adds_inputs", None)
        if (adds is None or len(step.inputs) != 2 or not step.as_list or step.keywords or step.index is not None
                or not adds() or any(tuple(t.shape) != tuple(step.output.shape) or t.dtype != step.output.dtype
                                     for t in step.inputs)):
            continue
        later = sorted(step.inputs, key=lambda t: position.get(id(t), -1), reverse=True)
        for taken, other in (later, later[::-1]):
            source = readers.private_source(taken)
            if (source is None or source.fused is not None or source.residual is not None or source.as_list
                    or len(source.inputs) != 1 or position.get(id(other), -1) >= position[id(source.output)]
                    or tuple(source.output.shape) != tuple(step.output.shape)
                    or not source.layer.takes_residual(step.fused)):
                continue
            source.residual, source.fused, source.sum_step = other, step.fused, step
            step.alias_of = source.output
            break


class _Values:
    """Computed tensors by symbolic tensor, in the layout they were made in, converted lazily."""

    def __init__(self):
        self._made: dict[int, tuple[Tensor, bool]] = {}  # id -> (tensor, channels-last form?)
        self._converted: dict[int, Tensor] = {}
        self.masks: dict[int, object] = {}  # id -> the tensor's mask (Keras's masking), when it has one
        self.calls: dict[int, tuple] = {}  # id(node) -> (outputs, masks) of a call with several outputs

    def put(self, key: KerasTensor, value: Tensor, channels_last: bool) -> None:
        self._made[id(key)] = (value, channels_last)

    def alias(self, key: KerasTensor, source: KerasTensor) -> None:
        self._made[id(key)] = self._made[id(source)]
        if id(source) in self.masks:
            self.masks[id(key)] = self.masks[id(source)]

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


def _input_mask(step: Step, store: _Values):
    """The mask of the step's input (a list for a list of inputs, when any has one), or None."""
    if not store.masks:
        return None
    masks = [store.masks.get(id(t)) for t in step.inputs]
    if step.as_list:
        return masks if any(m is not None for m in masks) else None
    return masks[0]


def _given_mask(value):
    """A mask passed as ``mask=`` (a computed tensor, or a list of them and None) as the
    booleans that masks are everywhere else."""
    if isinstance(value, (list, tuple)):
        return [_given_mask(m) for m in value]
    if value is None:
        return None
    return np.asarray(getattr(value, "data", value)).astype(bool, copy=False)


def _run_with_keywords(step: Step, store: _Values, training: bool) -> None:
    """Runs a layer call that was given keyword arguments: their tensors' values passed, and a
    ``mask=`` in place of the mask its inputs carry (Keras: a mask given is the mask used, and
    the one the layer's `compute_mask` sees)."""
    keywords = {key: _substitute(value, store.channels_first) for key, value in step.keywords.items()}
    mask = _given_mask(keywords.pop("mask")) if "mask" in keywords else _input_mask(step, store)
    inputs = [store.channels_first(t) for t in step.inputs] if step.as_list else store.channels_first(step.inputs[0])
    _run_masked(step, store, inputs, training, mask, keywords)


def _run_masked(step: Step, store: _Values, inputs, training: bool, mask, keywords=None) -> None:
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


def _run_layer(step: Step, store: _Values, training: bool) -> None:
    layer = step.layer
    if step.residual is not None:
        _run_residual(step, store, training)
        return
    if step.keywords:
        _run_with_keywords(step, store, training)
        return
    mask = _input_mask(step, store)
    if step.as_list:
        _run_masked(step, store, [store.channels_first(t) for t in step.inputs], training, mask)
        return
    if mask is not None or step.index is not None or type(layer).compute_mask is not Layer.compute_mask:
        _run_masked(step, store, store.channels_first(step.inputs[0]), training, mask)
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
        store.put(step.output, layer.call_with_activation(x, step.fused, training=training), False)
    else:
        store.put(step.output, layer.run(store.channels_first(source), training), False)


def _run_residual(step: Step, store: _Values, training: bool) -> None:
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


def _run_unsummed(step: Step, store: _Values, training: bool) -> None:
    """A residual step run as planned without the rewrite: the layer as it is, then its Add on
    its output (with the masks, for the Add's own), the sum put in the layer's output's place
    (which the Add's output and the steps between alias)."""
    _run_layer(dataclasses.replace(step, residual=None, fused=None, sum_step=None), store, training)
    add = step.sum_step
    inputs = [store.channels_first(t if t is step.residual else step.output) for t in add.inputs]
    masks = [store.masks.get(id(t if t is step.residual else step.output)) for t in add.inputs]
    mask = masks if any(m is not None for m in masks) else None
    if add.fused is not None:
        value = add.layer.call_with_activation(inputs, add.fused, training=training, mask=mask)
    else:
        value = add.layer.run(inputs, training, mask=mask)
    store.put(step.output, value, False)
    store.masks.pop(id(step.output), None)
    out_mask = output_mask(add.layer, inputs, mask)
    if out_mask is not None:
        store.masks[id(step.output)] = out_mask
