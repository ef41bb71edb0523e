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
   `FOLD_AHEAD_BYTES`, and those kept from the last call while their weights hold the same
   bytes: `kerasette.models.fold_cache`; the layers keep their own weights, swapped in only
   around their call).
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

A step's own running (values by symbolic tensor and their layouts, masks, keyword arguments, the
residual sum) is `kerasette.models.plan_steps`.

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

from kerasette.backend import symbolic
from kerasette.backend.symbolic import KerasTensor
from kerasette.backend.tensor import Tensor
from kerasette.models.fold_cache import FoldsAhead, make_fold
from kerasette.models.plan_steps import (  # noqa: F401 - TO_CHANNELS_*, Step: importable from here too
    TO_CHANNELS_FIRST,
    TO_CHANNELS_LAST,
    Step,
    Values,
    given_mask,
    run_layer,
    substitute,
)


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
        self.inference_steps = self._variant(frozenset(self._fold_from)).steps
        self._training = _Program(self.steps, self.outputs, ahead=False)
        self._by_batch: dict[int, _Program] = {}  # the inference program of each batch size met

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

    def _variant(self, folds: frozenset) -> _Program:
        """The inference program folding into the layers ``folds`` names (and with the residual
        sums)."""
        variant = self._variants.get(folds)
        if variant is None:
            variant = self._variants[folds] = _Program(self._plan(folds, residuals=True), self.outputs)
        return variant

    def _inference(self, batch: int) -> _Program:
        """The inference program for batches of ``batch`` samples: the folds that pay from that size."""
        program = self._by_batch.get(batch)
        if program is None:
            folds = frozenset(k for k, n in self._fold_from.items() if batch >= n)
            program = self._by_batch[batch] = self._variant(folds)
        return program

    def run(self, values: list[Tensor], training: bool, masks: list | None = None) -> list[Tensor]:
        """Computes the outputs for the input ``values`` (one Tensor per input); ``masks``, one
        per input (None for none), are the inputs' masks (what a model called with ``mask=``
        passes on to its layers, as Keras 3's functional models do)."""
        store = Values()
        for tensor, value in zip(self.inputs, values):
            store.put(tensor, value, False)
        for tensor, mask in zip(self.inputs, masks or ()):
            if mask is not None:
                store.masks[id(tensor)] = given_mask(mask)
        if training:
            program = self._training
        else:
            program = self._inference(values[0].shape[0] if values and values[0].ndim else 0)
        # folded weights made one after the other while Python's own data is still in cache (each
        # made just before its layer, after a pass over the activations, took twice as long);
        # each from the weights as they are now (or kept from the last call: the same bytes), the
        # layer's own weights staying in place
        folded = program.ahead.contexts()
        for step, done in program.entries:
            if step.layer is None:
                args, kwargs = step.call
                value = step.output.node.fn(*substitute(args, store.channels_first),
                                            **{k: substitute(v, store.channels_first) for k, v in kwargs.items()})
                store.put(step.output, value if isinstance(value, Tensor) else Tensor(value), False)
            elif step.fold is not None:
                context = folded.pop(id(step), None)
                if context is None:
                    context = make_fold(step)
                with context:
                    run_layer(step, store, training)
            else:
                run_layer(step, store, training)
            if done:
                store.drop(done)  # values no later step reads (inference keeps no more than it needs)
        outputs = [store.channels_first(t) for t in program.outputs]
        for tensor, value in zip(program.outputs, outputs):  # an output's mask, for the losses and metrics
            mask = store.masks.get(id(tensor))
            if mask is not None:
                value._keras_mask = mask
        return outputs


class _Program:
    """A plan's steps as `Plan.run` runs them: the steps that compute (an alias step computes
    nothing: a fused activation's or a folded normalization's output is its layer's), each
    reading every tensor under the tensor it stands for, with the values it is the last to
    read; and the fold steps whose folded weights are made before the first step.

    Attributes:
        steps: the plan's steps, as planned (with their aliases).
        entries: ``(step, ids of the values no later step reads)`` for each step that computes;
            a step's ``call`` holds, for a backend op, its ``(args, kwargs)`` read so.
        outputs: the symbolic tensors holding the outputs' values (an aliased output's source).
        ahead: the fold steps whose folded weights are made ahead (`FOLD_AHEAD_BYTES`), and
            kept from call to call while their weights do not change (`FoldsAhead`).
    """

    __slots__ = ("steps", "entries", "outputs", "ahead")

    def __init__(self, steps: list[Step], outputs: list[KerasTensor], ahead: bool = True):
        self.steps = steps
        stands_for: dict[int, KerasTensor] = {}
        for step in steps:
            if step.alias_of is not None:
                stands_for[id(step.output)] = stands_for.get(id(step.alias_of), step.alias_of)

        def source(item):
            return substitute(item, lambda t: stands_for.get(id(t), t))

        running = [_resolved_step(step, source) for step in steps if step.alias_of is None]
        self.outputs = [source(t) for t in outputs]
        self.entries = list(zip(running, _last_reads(running, self.outputs)))
        self.ahead = FoldsAhead(_folds_ahead(running) if ahead else [])


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


def _resolved_step(step: Step, source) -> Step:
    """A copy of ``step`` reading each tensor as ``source`` gives it (its residual sum's Add too)."""
    resolved = dataclasses.replace(step, inputs=[source(t) for t in step.inputs],
                                   keywords={key: source(value) for key, value in step.keywords.items()})
    if step.residual is not None:
        resolved.residual = source(step.residual)
        resolved.sum_step = dataclasses.replace(step.sum_step, inputs=[source(t) for t in step.sum_step.inputs])
    if step.layer is None:
        node = step.output.node
        resolved.call = (source(node.args), {key: source(value) for key, value in node.kwargs.items()})
    return resolved


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
