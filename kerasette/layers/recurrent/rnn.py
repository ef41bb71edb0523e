"""`RNN`: a cell run through time, with every option Keras's recurrent layers take.

Keras's semantics, in short:

- Input (batch, steps, features) (or ``[inputs, *initial_states]``); output the last step's
  output (batch, units), or every step's (batch, steps, units) with ``return_sequences``; with
  ``return_state`` also the final states (a list: ``[output, *states]``).
- ``go_backwards``: the steps are read last to first; the output sequence is in that (reversed)
  order.
- A mask (batch, steps) (from ``Embedding(mask_zero=True)``, ``Masking`` or the ``mask``
  argument) skips steps: the states are carried over unchanged and the output of a skipped step
  repeats the previous one (zeros with ``zero_output_for_mask``, which `Bidirectional` sets for
  sequences).
- ``stateful``: the final states of a batch are the initial states of the next (sample i to
  sample i); the batch size must be fixed (``batch_input_shape`` / ``batch_size``);
  ``reset_states()`` sets them to zeros (or to given values).
- ``initial_state``: tensors for the states (a keyword of the call, or extra inputs).
- ``unroll`` is accepted and changes nothing (the kernels run the loop).
- Keras 1 arguments ``input_dim`` and ``input_length`` give the input shape.
- ``constants`` (a keyword of the call, Keras 2's): tensors (batch, ...) given to the cell at
  every step, ``cell.call(inputs, states, constants=[...])`` (an attention context, a
  conditioning vector); the cell is built with ``[step_input_shape, *constant_shapes]``. They
  follow the inputs and initial states in the layer's list of inputs, and ``num_constants`` in
  the config says how many there are.
- ``time_major`` (Keras 2's): the inputs and the output sequence are (steps, batch, ...), the
  mask (steps, batch); the states stay (batch, units).

The built-in cells run a whole sequence in the fused kernels (`cells._GatedCell.sequence`);
other cells run step by step in Python, through ordinary ops (both in
`kerasette.layers.recurrent.runs`); the states are `kerasette.layers.recurrent.states`'.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops, symbolic
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import keras_layer
from kerasette.layers.recurrent.nesting import (
    cell_output_size,
    cell_state_sizes,
    deserialize_nested,
    serialize_nested,
    takes_constants,
)
from kerasette.layers.recurrent.runs import fused_run, runs_fused, step_run
from kerasette.layers.recurrent.stacked import StackedRNNCells
from kerasette.layers.recurrent.states import RecurrentStates
from kerasette.utils.validation import shape_str


@keras_layer()
class RNN(RecurrentStates, Layer):
    """Runs a recurrent cell over the steps of a sequence (see the module docstring).

    Args:
        cell: a cell (``call(inputs, states)`` and ``state_size``) or a list of cells (stacked).
        return_sequences: return every step's output, not only the last.
        return_state: also return the final states.
        go_backwards: read the steps last to first.
        stateful: carry the final states of a batch into the next.
        unroll: accepted for Keras compatibility; no effect.
        zero_output_for_mask: outputs of masked steps are zeros (not the previous output).
        time_major: the inputs and output sequence are (steps, batch, ...).
        num_constants: how many of the inputs after the first are constants (set by calling the
            layer with ``constants=``; read from configs).

    Example:
        >>> from kerasette.layers.recurrent import LSTMCell
        >>> RNN(LSTMCell(4), return_sequences=True).compute_output_shape((None, 7, 3))
        (None, 7, 4)
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, input_length=None, time_major=False, num_constants=None,
                 **kwargs):
        input_dim = kwargs.pop("input_dim", None)
        if (input_dim is not None or input_length is not None) and kwargs.get("input_shape") is None \
                and kwargs.get("batch_input_shape") is None:
            kwargs["input_shape"] = (input_length, input_dim)
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
            raise ValueError(f"{type(self).__name__} '{self.name}': `cell` needs a `call(inputs, states)` method "
                             f"and a `state_size` attribute; received {cell!r}")
        self.cell = cell
        self.time_major = bool(time_major)
        self._num_constants = int(num_constants or 0)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None
        self.input_spec = InputSpec(min_ndim=3)

    # -- shapes and building -----------------------------------------------------------------
    @property
    def state_sizes(self) -> list[int]:
        return cell_state_sizes(self.cell)

    def _batch_major(self, shape) -> tuple:
        """An input shape as (batch, steps, ...) whatever ``time_major`` says."""
        shape = tuple(shape)
        return (shape[1], shape[0]) + shape[2:] if self.time_major and len(shape) >= 2 else shape

    def build(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        shape = self._batch_major(shapes[0])
        if len(shape) < 3:
            layout = "(steps, batch, features)" if self.time_major else "(batch, steps, features)"
            raise ValueError(f"{type(self).__name__} '{self.name}': the input must be {layout}; "
                             f"received input shape {shape_str(tuple(shapes[0]))}")
        if isinstance(self.cell, Layer) and not self.cell.built:
            step = (shape[0],) + shape[2:]
            constants = [tuple(s) for s in shapes[len(shapes) - self._num_constants:]] if self._num_constants else []
            self.cell.build([step, *constants] if constants else step)
            self.cell.built = True
        for var in self.cell.weights if isinstance(self.cell, Layer) else ():
            if not var.name.startswith(self.name + "/"):
                var.name = f"{self.name}/{var.name}"
        if self.stateful:
            batch = self._batch_major(self.batch_input_shape or (None, None))[0] if shape[0] is None else shape[0]
            if batch is None:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': a stateful RNN needs a fixed batch size; give the first "
                    "layer `batch_input_shape=(batch, steps, features)` (or Input(batch_shape=...)), received "
                    f"input shape {shape_str(shape)}")
            self._stateful_batch = batch
            self.reset_states()
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = self._batch_major(input_shape[0] if isinstance(input_shape, list) else input_shape)
        size = cell_output_size(self.cell)
        out = (shape[0], size)
        if self.return_sequences:
            out = (shape[1], shape[0], size) if self.time_major else (shape[0], shape[1], size)
        if self.return_state:
            return [out] + [(shape[0], s) for s in self.state_sizes]
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_sizes)
        return output_mask

    # -- calling -----------------------------------------------------------------------------
    def __call__(self, inputs, *args, initial_state=None, constants=None, **kwargs):
        if (initial_state is not None and constants is None and not self._num_constants
                and symbolic.is_symbolic(inputs) and not isinstance(inputs, (list, tuple))):
            # recorded as the call's keyword, as Keras 3 records it (its RNN refuses states
            # folded into a list input: "expects 1 input(s), but it received 3")
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            return super().__call__(inputs, *args, initial_state=states, **kwargs)
        if initial_state is not None or constants is not None:
            given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            states = [] if initial_state is None else (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state])
            if initial_state is None:  # states given in the list keep their place before the constants
                states = given[1:len(given) - self._num_constants if constants is None else len(given)]
            if constants is not None:
                constants = list(constants) if isinstance(constants, (list, tuple)) else [constants]
                self._check_takes_constants()
                self._num_constants = len(constants)
            else:
                constants = given[len(given) - self._num_constants:] if self._num_constants else []
            inputs = [given[0], *states, *constants]
        return super().__call__(inputs, *args, **kwargs)

    def _check_takes_constants(self) -> None:
        if not takes_constants(self.cell):
            raise ValueError(f"{type(self).__name__} '{self.name}': the cell {type(self.cell).__name__} does not take "
                             "`constants`: its call must accept them, call(inputs, states, constants=None)")

    def call(self, inputs, mask=None, training=False, initial_state=None, constants=None):
        if isinstance(inputs, (list, tuple)):
            inputs, extra = inputs[0], list(inputs[1:])
            if self._num_constants and constants is None:
                extra, constants = extra[:len(extra) - self._num_constants], extra[len(extra) - self._num_constants:]
            if extra and initial_state is None:
                initial_state = extra
        if constants is not None:
            constants = list(constants) if isinstance(constants, (list, tuple)) else [constants]
            if not self._num_constants:
                self._check_takes_constants()
            constants = [c if isinstance(c, Tensor) else Tensor(np.asarray(c)) for c in constants]
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        if self.time_major:  # the kernels and the loop read (batch, steps, ...)
            x = ops.transpose(x, (1, 0) + tuple(range(2, x.ndim)))
        batch, steps = x.shape[0], x.shape[1]
        states = self._initial_states(x, initial_state)
        mask_tm = None
        if mask is not None:
            mask_bt = np.asarray(getattr(mask, "data", mask)).astype(bool)
            if self.time_major:
                mask_bt = mask_bt.T
            if mask_bt.shape != (batch, steps):
                expected = (steps, batch) if self.time_major else (batch, steps)
                layout = "(steps, batch)" if self.time_major else "(batch, steps)"
                raise ValueError(f"{type(self).__name__} '{self.name}': the mask must have shape {layout} "
                                 f"= {expected}; received {np.shape(getattr(mask, 'data', mask))}")
            mask_tm = mask_bt.T[::-1] if self.go_backwards else mask_bt.T
            if mask_tm.all():
                mask_tm = None
        want_states = self.return_state or self.stateful
        if not constants and runs_fused(self.cell):
            out, final = fused_run(self.cell, x, states, mask_tm, training, self.return_sequences, self.go_backwards,
                                   want_states)
        else:
            out, final = step_run(self.cell, x, states, mask_tm, training, self.return_sequences, self.go_backwards,
                                  constants or None)
        if self.stateful:
            self.states = [np.array(s.data, copy=True) for s in final]
        if self.return_sequences and self.zero_output_for_mask and mask_tm is not None:
            keep = mask_tm.T  # the outputs are in the order the steps were read, as the mask
            out = ops.multiply(out, keep[:, :, None].astype(out.dtype))
        if self.return_sequences and self.time_major:
            out = ops.transpose(out, (1, 0) + tuple(range(2, out.ndim)))
        return [out, *final] if self.return_state else out

    def native_children(self) -> list:
        """Where Keras 3's native weights file keeps the weights of the layers inside this one
        (``layers/lstm/cell/vars/0``): (path under this layer, layer) pairs."""
        return [("cell", self.cell)] if isinstance(self.cell, Layer) else []

    # -- config ------------------------------------------------------------------------------
    def _rnn_config(self) -> dict:
        """The RNN's options; ``time_major`` and ``num_constants`` (Keras 2's, unknown to Keras 3)
        only when they are used."""
        config = {"return_sequences": self.return_sequences, "return_state": self.return_state,
                  "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                  "zero_output_for_mask": self.zero_output_for_mask}
        if self.time_major:
            config["time_major"] = True
        if self._num_constants:
            config["num_constants"] = self._num_constants
        return config

    def get_config(self) -> dict:
        return {**super().get_config(), **self._rnn_config(), "cell": serialize_nested(self.cell)}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if isinstance(config.get("cell"), dict):
            config["cell"] = deserialize_nested(config["cell"])
        return cls(**config)
