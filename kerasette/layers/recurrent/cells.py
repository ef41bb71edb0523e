"""The dense recurrent cells: SimpleRNNCell, LSTMCell and GRUCell (and, importable from here,
StackedRNNCells and the pieces the cells share).

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

Where the rest lives: `kerasette.layers.recurrent.cell_base` (Keras 1 names, dropout masks, the
three weights' arguments and config), `kerasette.layers.recurrent.stacked` (`StackedRNNCells`),
`kerasette.layers.recurrent.nesting` (nested configs, calling a cell).
"""

from __future__ import annotations

from kerasette import activations
from kerasette.backend import ops
from kerasette.backend.ops import recurrent as rops
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.layers.recurrent.cell_base import (
    RECURRENT_KERAS1,
    CellWeights,
    DropoutRNNCell,
    _implementation,
    forget_bias_flag,
    fusable_name,
    lstm_bias_initializer,
)
from kerasette.layers.recurrent.nesting import (
    call_cell,
    deserialize_nested,
    serialize_nested,
    takes_constants,
)
from kerasette.layers.recurrent.stacked import StackedRNNCells
from kerasette.utils.validation import check_positive_int

__all__ = ["RECURRENT_KERAS1", "DropoutRNNCell", "GRUCell", "LSTMCell", "SimpleRNNCell", "StackedRNNCells",
           "call_cell", "deserialize_nested", "fusable_name", "serialize_nested", "takes_constants"]


class _GatedCell(DropoutRNNCell, CellWeights, Layer):
    """What the three built-in cells share: arguments, weights, config."""

    gates = 1
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
        self._init_weight_arguments(use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                                    kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                                    recurrent_constraint, bias_constraint)
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
        self._add_cell_weights((features, g), (self.units, g), self._bias_shape(), self._bias_init())
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
        return {**config, "use_bias": self.use_bias, **self._initializers_config(), **self._penalties_config(),
                **self._dropout_config()}

    def _dropped(self, inputs, h, training):
        """One step's inputs and previous output ``h`` times this sequence's dropout masks (in
        ``training``; `DropoutRNNCell`)."""
        dp, rdp = self._step_masks(inputs, training)
        if dp is not None:
            inputs = ops.multiply(inputs, dp)
        if rdp is not None:
            h = ops.multiply(h, rdp)
        return inputs, h

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
        inputs, h = self._dropped(inputs, h, training)
        out = self.activation(ops.add(ops.dense(inputs, self.kernel, self.bias), ops.matmul(h, self.recurrent_kernel)))
        return out, [out]

    def fusable(self) -> bool:
        return fusable_name(self.activation) is not None

    def _sequence(self, x_tm, states, mask_tm, dp, rdp, sequences, with_states):
        return self._single_state(x_tm, states, mask_tm, dp, rdp, sequences, with_states, "simple",
                                  [self.recurrent_kernel], activation=fusable_name(self.activation))


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
        self.unit_forget_bias = forget_bias_flag(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_init(self):
        return lstm_bias_initializer(self.bias_initializer, self.units, self.unit_forget_bias)

    def get_config(self) -> dict:
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config

    def call(self, inputs, states, training=False):
        h, c = states[0], states[1]
        inputs, h = self._dropped(inputs, h, training)
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
        inputs, h_in = self._dropped(inputs, h, training)
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
