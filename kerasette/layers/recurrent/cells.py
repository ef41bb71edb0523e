"""The recurrent cells: SimpleRNNCell, LSTMCell, GRUCell and StackedRNNCells.

A cell is one step of a recurrence, as Keras defines it: ``call(inputs, states)`` maps the
inputs of one step (batch, features) and the previous states (a list) to ``(output,
new_states)``; ``state_size`` says how many states and of which sizes. `RNN` runs any such cell
through time, step by step. The three built-in cells also run a whole sequence at once
(`sequence`): the input projections of every step in one matrix product, the recurrence in the
numba kernels of `kerasette.backend.ops.recurrent`. The per-step ``call`` of the built-in cells
(used by `StackedRNNCells` with user cells and by ``K.rnn`` code) computes the same thing with
ordinary ops.

Weights are Keras's: ``kernel`` (features, gates * units), ``recurrent_kernel`` (units, gates *
units), ``bias`` (gates * units,), gates in Keras's order (LSTM i, f, c, o; GRU z, r, h); a GRU
with ``reset_after`` has a bias of shape (2, 3 * units): input bias, then recurrent bias.
"""

from __future__ import annotations

import numpy as np

from kerasette import activations, constraints, initializers, registry, regularizers
from kerasette.backend import ops
from kerasette.backend import random as krandom
from kerasette.backend.ops import recurrent as rops
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.utils.validation import check_positive_int, check_rate

#: Keras 1 argument names shared by the recurrent cells and layers
RECURRENT_KERAS1 = {
    "output_dim": "units",
    "init": "kernel_initializer",
    "inner_init": "recurrent_initializer",
    "inner_activation": "recurrent_activation",
    "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "U_constraint": "recurrent_constraint",
    "b_constraint": "bias_constraint",
    "dropout_W": "dropout",
    "dropout_U": "recurrent_dropout",
    "consume_less": "implementation",
}

#: activations the fused kernels compute, by function
_FUSABLE = {activations.linear: "linear", activations.tanh: "tanh", activations.sigmoid: "sigmoid",
            activations.hard_sigmoid: "hard_sigmoid", activations.relu: "relu"}


def fusable_name(activation) -> str | None:
    """The kernels' name of ``activation``, or None when they cannot compute it."""
    try:
        return _FUSABLE.get(activation)
    except TypeError:  # unhashable callable
        return None


def _implementation(value) -> int:
    """Keras 1's ``consume_less`` ('cpu', 'mem', 'gpu') or Keras 2's ``implementation`` (0, 1, 2)."""
    if isinstance(value, str):
        return {"cpu": 0, "mem": 1, "gpu": 2}.get(value, 2)
    return int(value)


class DropoutRNNCell:
    """Input and recurrent dropout masks drawn once per sequence (the same on every step)."""

    def _init_dropout(self, dropout, recurrent_dropout, seed) -> None:
        owner = f"{type(self).__name__} '{self.name}'"
        self.dropout = min(1.0, max(0.0, check_rate(dropout, "dropout", owner)))
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout", owner)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self._masks: dict = {}

    def _generator(self):
        return self._rng or krandom.generator()

    def _draw(self, rate: float, shape, dtype) -> np.ndarray:
        keep = self._generator().random(shape) >= rate
        return (keep / (1.0 - rate)).astype(dtype)

    def dropout_masks(self, batch: int, features: int, dtype, training) -> tuple:
        """(input mask (batch, features) or None, recurrent mask (batch, units) or None) for one
        sequence in ``training``; the per-step ``call`` reuses them until `reset_dropout_masks`."""
        if not training:
            return None, None
        dp = self._draw(self.dropout, (batch, features), dtype) if 0 < self.dropout < 1 else None
        rdp = self._draw(self.recurrent_dropout, (batch, self.units), dtype) if 0 < self.recurrent_dropout < 1 \
            else None
        self._masks = {"input": dp, "recurrent": rdp}
        return dp, rdp

    def reset_dropout_masks(self) -> None:
        self._masks = {}

    def _step_masks(self, inputs, training):
        if not training:
            return None, None
        if not self._masks:
            self.dropout_masks(inputs.shape[0], inputs.shape[-1], inputs.dtype, training)
        return self._masks.get("input"), self._masks.get("recurrent")


class _GatedCell(DropoutRNNCell, Layer):
    """What the three built-in cells share: arguments, weights, config."""

    gates = 1
    recurrent_default = None
    #: whether `_sequence` takes ``gathered`` (reads its projections from a folded table)
    folds_embeddings = False

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, implementation=2, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        self.units = check_positive_int(units, "units", owner)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.implementation = _implementation(implementation)
        self._init_dropout(dropout, recurrent_dropout, seed)

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the last axis of the input must be known; "
                             f"received input shape {tuple(input_shape)}")
        g = self.gates * self.units
        self.kernel = self.add_weight(shape=(features, g), name="kernel", initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, g), name="recurrent_kernel", initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = (self.add_weight(shape=self._bias_shape(), name="bias", initializer=self._bias_init(),
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.built = True

    def _bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def get_config(self) -> dict:
        config = {**Layer.get_config(self), "units": self.units,
                  "activation": activations.serialize(self.activation)}
        if self.gates > 1:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        config.update({
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
        })
        return config

    # -- running a whole sequence with the kernels ---------------------------------------------
    def fusable(self) -> bool:
        """Whether `sequence` can run this cell (its activations are the kernels' own)."""
        return fusable_name(self.activation) is not None and (
            self.gates == 1 or fusable_name(self.recurrent_activation) is not None)

    def _projections(self, x_tm, input_mask, bias):
        """``x @ kernel + bias`` for every step, time-major (steps, batch, gates * units)."""
        if input_mask is not None:
            x_tm = ops.multiply(x_tm, input_mask)
        return ops.dense(x_tm, self.kernel, bias)

    def _kernel_args(self) -> dict:
        return {"activation": fusable_name(self.activation)}

    def sequence(self, x_tm, states, mask_tm=None, training=False, sequences=True, with_states=False,
                 gathered=None):
        """Runs the cell over time-major inputs ``x_tm`` (steps, batch, features).

        ``gathered``: ``(table, tokens, tokens_tm)`` when ``x_tm`` holds the rows of the
        embedding ``table`` at ``tokens`` (batch, steps; ``tokens_tm``: in the order of the
        steps, (steps, batch)), gathered for inference: the LSTM may then read its input
        projections from a table folded across calls (`rops.FoldedProjections`) and never read
        ``x_tm``.

        Returns ``(outputs, final_states, op)``: every step's output time-major (or the last
        output when not ``sequences``), the final states as tensors (when ``with_states``, else
        None), and the op (whose ``final_states()`` gives them as arrays).
        """
        dp, rdp = self.dropout_masks(x_tm.shape[1], x_tm.shape[2], x_tm.dtype, training)
        if gathered is not None and dp is None and self.folds_embeddings:
            return self._sequence(x_tm, states, mask_tm, dp, rdp, sequences, with_states, gathered=gathered)
        return self._sequence(x_tm, states, mask_tm, dp, rdp, sequences, with_states)

    def _single_state(self, x_tm, states, mask_tm, dp, rdp, sequences, with_states, kind, weights, **kw):
        xp = self._projections(x_tm, dp, kw.pop("input_bias", self.bias))
        out, op = rops.recurrence(kind, xp, states[0], *weights, mask=mask_tm, recurrent_mask=rdp,
                                  sequences=sequences, **kw)
        final = None
        if with_states:
            final = [ops.getitem(out, -1) if sequences else out]
        return out, final, op


@keras_layer(keras1=RECURRENT_KERAS1)
class SimpleRNNCell(_GatedCell):
    """One step of a fully connected recurrence: ``h = activation(x @ kernel + h @
    recurrent_kernel + bias)``.

    Args:
        units: the size of the state and output (Keras 1: ``output_dim``).
        activation: default tanh.
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer, the regularizers
            and constraints of the three weights: as in Keras (Keras 1: ``init``,
            ``inner_init``, ``W_regularizer``, ``U_regularizer``, ...).
        dropout, recurrent_dropout: fractions of the inputs and of the previous output dropped
            in training, with masks drawn once per sequence (Keras 1: ``dropout_W``,
            ``dropout_U``).
        seed: seed of the dropout masks.
    """

    gates = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        kwargs.pop("recurrent_activation", None)  # Keras 1 configs of SimpleRNN carry none; ignore
        super().__init__(units, activation, "sigmoid", use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                         kernel_constraint, recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed,
                         **kwargs)

    def call(self, inputs, states, training=False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        dp, rdp = self._step_masks(inputs, training)
        if dp is not None:
            inputs = ops.multiply(inputs, dp)
        if rdp is not None:
            h = ops.multiply(h, rdp)
        out = self.activation(ops.add(ops.dense(inputs, self.kernel, self.bias), ops.matmul(h, self.recurrent_kernel)))
        return out, [out]

    def fusable(self) -> bool:
        return fusable_name(self.activation) is not None

    def _sequence(self, x_tm, states, mask_tm, dp, rdp, sequences, with_states):
        return self._single_state(x_tm, states, mask_tm, dp, rdp, sequences, with_states, "simple",
                                  [self.recurrent_kernel], activation=fusable_name(self.activation))


class _ForgetBiasInit(initializers.Initializer):
    """The LSTM bias with ``unit_forget_bias``: the bias initializer's values, the forget gate's
    quarter set to ones."""

    def __init__(self, base, units):
        self.base, self.units = base, units

    def __call__(self, shape, dtype="float32"):
        u = self.units
        return np.concatenate([self.base((u,), dtype), np.ones((u,), dtype), self.base((2 * u,), dtype)])


@keras_layer(keras1={**RECURRENT_KERAS1, "forget_bias_init": "unit_forget_bias"})
class LSTMCell(_GatedCell):
    """One step of Keras's long short-term memory (gates i, f, c, o)::

        i, f, c~, o = x @ kernel + h @ recurrent_kernel + bias   (split in four)
        c = ra(f) * c + ra(i) * a(c~);  h = ra(o) * a(c)           (a: activation, ra: recurrent)

    States ``[h, c]``. Args as `SimpleRNNCell`, plus ``recurrent_activation`` (default sigmoid;
    Keras 1: ``inner_activation``) and ``unit_forget_bias`` (the forget gate's bias starts at 1;
    Keras 1: ``forget_bias_init='one'``).
    """

    gates = 4
    folds_embeddings = True

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, seed, **kwargs)
        if isinstance(unit_forget_bias, str):  # Keras 1's forget_bias_init: 'one' means ones
            unit_forget_bias = unit_forget_bias == "one"
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_init(self):
        return _ForgetBiasInit(self.bias_initializer, self.units) if self.unit_forget_bias else self.bias_initializer

    def get_config(self) -> dict:
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config

    def call(self, inputs, states, training=False):
        h, c = states[0], states[1]
        dp, rdp = self._step_masks(inputs, training)
        if dp is not None:
            inputs = ops.multiply(inputs, dp)
        if rdp is not None:
            h = ops.multiply(h, rdp)
        z = ops.add(ops.dense(inputs, self.kernel, self.bias), ops.matmul(h, self.recurrent_kernel))
        u = self.units
        i = self.recurrent_activation(z[:, :u])
        f = self.recurrent_activation(z[:, u:2 * u])
        g = self.activation(z[:, 2 * u:3 * u])
        o = self.recurrent_activation(z[:, 3 * u:])
        c = ops.add(ops.multiply(f, c), ops.multiply(i, g))
        h = ops.multiply(o, self.activation(c))
        return h, [h, c]

    def _folded(self, gathered, x_tm, states):
        """The table of input projections of every embedding row (`rops.FoldedProjections`,
        kept on the cell across calls) when ``x_tm`` is ``table[tokens]`` for inference, nothing
        records a gradient and folding pays; else None (and a table kept for inference is
        dropped once the cell trains)."""
        weights = (self.kernel, self.recurrent_kernel) + ((self.bias,) if self.bias is not None else ())
        if rops.records_gradient(x_tm, *states, *weights):
            if self.__dict__.get("_folded_projections") is not None:
                self._folded_projections = None
            return None
        if gathered is None:
            return None
        folded = self.__dict__.get("_folded_projections")
        if folded is None:
            folded = self._folded_projections = rops.FoldedProjections()
        table, tokens, _ = gathered
        return folded.rows_for(tokens, table, self.kernel.data, None if self.bias is None else self.bias.data)

    def _sequence(self, x_tm, states, mask_tm, dp, rdp, sequences, with_states, gathered=None):
        table = self._folded(gathered, x_tm, states)
        if table is not None:  # each step reads its projections as rows of the folded table
            xp, rows = table, gathered[2]
        else:
            xp, rows = self._projections(x_tm, dp, self.bias), None
        out, op = rops.recurrence("lstm", xp, states[0], states[1], self.recurrent_kernel, mask=mask_tm,
                                  recurrent_mask=rdp, activation=fusable_name(self.activation),
                                  recurrent_activation=fusable_name(self.recurrent_activation),
                                  sequences=sequences, with_cell=with_states, rows=rows)
        if not with_states:
            return out, None, op
        u = self.units
        last = ops.getitem(out, -1) if sequences else out
        final = [ops.getitem(last, (slice(None), slice(None, u))), ops.getitem(last, (slice(None), slice(u, None)))]
        if sequences:
            out = ops.getitem(out, (slice(None), slice(None), slice(None, u)))
        else:
            out = final[0]
        return out, final, op


@keras_layer(keras1=RECURRENT_KERAS1)
class GRUCell(_GatedCell):
    """One step of Keras's gated recurrent unit (gates z, r, h)::

        z = ra(x_z + h @ U_z),  r = ra(x_r + h @ U_r)
        h~ = a(x_h + r * (h @ U_h + b_rh))      (reset_after, the default; bias (2, 3 * units))
        h~ = a(x_h + (r * h) @ U_h)             (reset_after=False, Keras 1/2's; bias (3 * units,))
        h = z * h + (1 - z) * h~

    Args as `LSTMCell` (no ``unit_forget_bias``), plus ``reset_after``.
    """

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 reset_after=True, seed=None, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, seed, **kwargs)
        self.reset_after = bool(reset_after)

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        """Configs written before ``reset_after`` existed (Keras 1, early Keras 2) meant False."""
        config = super().translate_config(config)
        config.setdefault("reset_after", False)
        return config

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def get_config(self) -> dict:
        return {**super().get_config(), "reset_after": self.reset_after}

    def _biases(self):
        """(input bias, recurrent bias) as tensors or None."""
        if self.bias is None:
            return None, None
        if not self.reset_after:
            return self.bias, None
        return ops.getitem(self.bias, 0), ops.getitem(self.bias, 1)

    def call(self, inputs, states, training=False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        dp, rdp = self._step_masks(inputs, training)
        if dp is not None:
            inputs = ops.multiply(inputs, dp)
        h_in = ops.multiply(h, rdp) if rdp is not None else h
        u = self.units
        input_bias, recurrent_bias = self._biases()
        x = ops.dense(inputs, self.kernel, input_bias)
        if self.reset_after:
            rec = ops.dense(h_in, self.recurrent_kernel, recurrent_bias)
            z = self.recurrent_activation(ops.add(x[:, :u], rec[:, :u]))
            r = self.recurrent_activation(ops.add(x[:, u:2 * u], rec[:, u:2 * u]))
            hh = self.activation(ops.add(x[:, 2 * u:], ops.multiply(r, rec[:, 2 * u:])))
        else:
            rec = ops.matmul(h_in, self.recurrent_kernel[:, :2 * u])
            z = self.recurrent_activation(ops.add(x[:, :u], rec[:, :u]))
            r = self.recurrent_activation(ops.add(x[:, u:2 * u], rec[:, u:]))
            hh = self.activation(ops.add(x[:, 2 * u:], ops.matmul(ops.multiply(r, h_in),
                                                                  self.recurrent_kernel[:, 2 * u:])))
        out = ops.add(ops.multiply(z, h), ops.multiply(ops.subtract(1.0, z), hh))
        return out, [out]

    def _sequence(self, x_tm, states, mask_tm, dp, rdp, sequences, with_states):
        input_bias, recurrent_bias = self._biases()
        weights = [self.recurrent_kernel] + ([recurrent_bias] if recurrent_bias is not None else [])
        return self._single_state(x_tm, states, mask_tm, dp, rdp, sequences, with_states, "gru", weights,
                                  input_bias=input_bias, activation=fusable_name(self.activation),
                                  recurrent_activation=fusable_name(self.recurrent_activation),
                                  reset_after=self.reset_after)


@keras_layer()
class StackedRNNCells(Layer):
    """Cells applied one after the other at each step, as one cell: the output of each is the
    input of the next; the states are every cell's states in order. An `RNN`'s ``constants``
    reach every cell whose ``call`` takes them (as in Keras 2), and those cells are built with
    ``[step_shape, *constant_shapes]``.

    Args:
        cells: a list of cells (objects with ``call(inputs, states)`` and ``state_size``).
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        for cell in cells:
            if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
                raise ValueError(f"StackedRNNCells '{self.name}': every cell needs `call` and `state_size`; "
                                 f"received {cell!r}")
        self.cells = list(cells)

    @property
    def state_size(self):
        sizes = []
        for cell in self.cells:
            size = cell.state_size
            sizes.extend(size if isinstance(size, (list, tuple)) else [size])
        return sizes

    @property
    def output_size(self):
        last = self.cells[-1]
        size = getattr(last, "output_size", None)
        if size is None:
            size = last.state_size
            size = size[0] if isinstance(size, (list, tuple)) else size
        return size

    def build(self, input_shape):
        constants = []
        if isinstance(input_shape, list):  # [step shape, *constant shapes] (an RNN given constants)
            input_shape, constants = input_shape[0], [tuple(c) for c in input_shape[1:]]
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build([shape, *constants] if constants and takes_constants(cell) else shape)
                cell.built = True
            size = getattr(cell, "output_size", None)
            if size is None:
                size = cell.state_size
                size = size[0] if isinstance(size, (list, tuple)) else size
            shape = shape[:-1] + (size,)
        self.built = True

    def _counts(self) -> list[int]:
        return [len(c.state_size) if isinstance(c.state_size, (list, tuple)) else 1 for c in self.cells]

    def call(self, inputs, states, training=False, constants=None):
        new_states, at = [], 0
        for cell, n in zip(self.cells, self._counts()):
            own = list(states[at:at + n])
            at += n
            given = constants if constants is not None and takes_constants(cell) else None
            inputs, own = call_cell(cell, inputs, own, training, given)
            new_states.extend(own if isinstance(own, (list, tuple)) else [own])
        return inputs, new_states

    def native_children(self) -> list:
        """(path, cell) of each cell in Keras 3's native weights file: ``cells/<class in snake
        case>``, repeats numbered ``_1``, ``_2``, ..."""
        from kerasette.layers.base import snake_case  # deferred: only files need it

        counts: dict[str, int] = {}
        out = []
        for cell in self.cells:
            base = snake_case(type(cell).__name__)
            n = counts.get(base, 0)
            counts[base] = n + 1
            out.append((f"cells/{base}" + (f"_{n}" if n else ""), cell))
        return out

    def reset_dropout_masks(self) -> None:
        for cell in self.cells:
            if hasattr(cell, "reset_dropout_masks"):
                cell.reset_dropout_masks()

    def get_config(self) -> dict:
        return {**super().get_config(), "cells": [serialize_nested(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["cells"] = [deserialize_nested(c) if isinstance(c, dict) else c for c in config.get("cells", [])]
        return cls(**config)


def serialize_nested(layer) -> dict:
    """A layer inside another (a wrapper's layer, an RNN's cell) as Keras 3 writes it: with
    ``module`` and ``registered_name``, which Keras 3's ``from_config`` of the outer layer needs
    to find the class (the outer file format only describes the top-level layers)."""
    spec = registry.serialize("layer", layer)
    name = spec["class_name"]
    if registry.is_custom(name):
        return {"module": None, **spec, "registered_name": name}
    return {"module": "keras.layers", **spec, "registered_name": None}


#: keys Keras 3 writes into nested layer configs that carry nothing when they hold these values
_INERT = {"quantization_config": (None,), "lora_rank": (None, 0), "lora_alpha": (None,), "build_config": None,
          "optional": (False, None), "ragged": (False, None), "sparse": (False, None)}


def deserialize_nested(spec: dict):
    """A layer inside another (a wrapper's ``layer``, an RNN's ``cell``) from ``{'class_name',
    'config'}`` as any Keras version writes it: the class found through the registry (the user's
    registered classes included), Keras 1 names translated by the class, keys that carry nothing
    dropped (a file's top-level layers get the same from `kerasette.saving`)."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"a nested layer config must be a dict with 'class_name' and 'config'; received "
                         f"{spec!r:.200}")
    name = spec.get("registered_name") or spec["class_name"]
    cls = registry.lookup("layer", name) or registry.lookup("layer", spec["class_name"])
    if cls is None:
        raise ValueError(f"Unknown layer class {spec['class_name']!r} in a nested layer config; register "
                         "custom layers (kerasette.utils.register_keras_serializable) to load them")
    config = {k: v for k, v in (spec.get("config") or {}).items()
              if k not in _INERT or (_INERT[k] is not None and v not in _INERT[k])}
    if hasattr(cls, "translate_config"):
        config = cls.translate_config(config)
    return cls.from_config(config)


def takes_constants(cell) -> bool:
    """Whether ``cell.call`` accepts ``constants=`` (by name or through ``**kwargs``)."""
    import inspect  # deferred: only cells given constants need the signature

    params = inspect.signature(cell.call).parameters
    return "constants" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def call_cell(cell, inputs, states, training, constants=None):
    """``cell.call(inputs, states)`` (states as a list, as Keras passes them), with ``training``
    when the cell's ``call`` takes it and ``constants=`` when given (Keras 2's constants of an
    `RNN` call); a cell with one state may return it bare."""
    import inspect  # deferred: only user cells need the signature

    takes = getattr(type(cell), "_takes_training", None)
    if takes is None:
        params = inspect.signature(cell.call).parameters
        takes = "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        try:
            type(cell)._takes_training = takes
        except TypeError:
            pass
    extra = {} if constants is None else {"constants": constants}
    if takes:
        extra["training"] = training
    out, new = cell.call(inputs, states, **extra)
    if isinstance(new, Tensor) or not isinstance(new, (list, tuple)):
        new = [new]
    return out, list(new)
