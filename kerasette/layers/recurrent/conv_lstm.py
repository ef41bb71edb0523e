"""ConvLSTM1D, ConvLSTM2D, ConvLSTM3D: an LSTM whose input and recurrent transforms are
convolutions, run over a sequence of images (Keras 3's ``keras.layers.ConvLSTM2D`` and its 1-D
and 3-D forms; tf.keras 2's ``ConvLSTM2D`` configs read too).

Keras's semantics, in our words:

- The input is (batch, time, *spatial, channels) (``channels_last``) or (batch, time, channels,
  *spatial) (``channels_first``), with ``rank`` spatial axes (1, 2 or 3); every axis but batch
  and time must be known when the layer is built.
- Each step computes four gates (i, f, c, o, in that order along the last axis of the weights)::

      z = conv(x_t, kernel) + bias + conv_same(h, recurrent_kernel)
      c = ra(f) * c + ra(i) * a(c~);  h = ra(o) * a(c)          (a: activation, ra: recurrent)

  where ``conv`` uses the layer's strides, padding and dilation and ``conv_same`` is a stride-1
  'same' convolution (so the state keeps the input convolution's output size). The output is
  ``h``: (batch, *out_spatial, filters) channels-last (or (batch, filters, *out_spatial)); every
  step's with ``return_sequences``; ``return_state`` adds the final ``h`` and ``c``.
- ``dropout`` / ``recurrent_dropout``: in training, four masks (one per gate) of the step input's
  (the state's) full shape, drawn once per sequence and used at every step.
- Masks, ``go_backwards``, ``stateful``, ``initial_state``, ``zero_output_for_mask``: as for the
  other recurrent layers (see `kerasette.layers.recurrent.rnn`): a masked step keeps the states
  and repeats the previous output (zeros at first).

Weights (Keras's names, shapes and order): ``kernel`` (*kernel_size, channels, 4 * filters),
``recurrent_kernel`` (*kernel_size, filters, 4 * filters), ``bias`` (4 * filters,), under
``<layer>/conv_lstm_cell/``.

How it runs: channels-last inside, the input transform of every step as one convolution and the
steps as one op when the activations allow (`kerasette.layers.recurrent.conv_lstm_steps`,
`conv_lstm_sequence`); the cell (one step, the weights) is `ConvLSTMCell`
(`kerasette.layers.recurrent.conv_lstm_cell`). Every name of those modules used before they were
split out is importable from here too.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import CONV_KERAS1, conv_kernel_size, keras_layer
from kerasette.layers.recurrent.cell_layer import CellLayer
from kerasette.layers.recurrent.conv_lstm_cell import ConvLSTMCell
from kerasette.layers.recurrent.conv_lstm_steps import (
    GATES,
    _to_channels_first,
    _to_channels_last,
    conv_lstm_sequence,
    conv_nd,
    lstm_gates,
    recurrent_conv,
)
from kerasette.layers.recurrent.stored_weights import regroup_per_gate, theano_kernel_converter
from kerasette.utils.validation import shape_str

__all__ = ["CONV_LSTM_KERAS1", "GATES", "ConvLSTM", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "ConvLSTMCell",
           "conv_lstm_sequence", "conv_nd", "lstm_gates", "recurrent_conv"]

#: Keras 1's ConvLSTM2D argument names (its per-gate weights: `ConvLSTM2D.regroup_stored_weights`)
CONV_LSTM_KERAS1 = {**CONV_KERAS1, "nb_filter": "filters", "inner_init": "recurrent_initializer",
                    "inner_activation": "recurrent_activation", "U_regularizer": "recurrent_regularizer",
                    "U_constraint": "recurrent_constraint", "dropout_W": "dropout", "dropout_U": "recurrent_dropout",
                    "forget_bias_init": "unit_forget_bias"}

_SPATIAL_WORDS = {1: "steps", 2: "rows, cols", 3: "depth, rows, cols"}


def _ndim_text(rank: int) -> str:
    spatial = _SPATIAL_WORDS[rank]
    return (f"a {rank + 3}-D input (batch, time, {spatial}, channels) or (batch, time, channels, {spatial})")


_RNN_ARGUMENTS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")
_CELL_LABEL = "ConvLSTMCell 'conv_lstm_cell'"


class ConvLSTM(CellLayer):
    """The convolutional LSTM over a sequence (see the module docstring); `ConvLSTM1D`,
    `ConvLSTM2D` and `ConvLSTM3D` fix ``rank``.

    Args:
        filters ... seed: the cell's (`ConvLSTMCell`).
        activity_regularizer: a penalty on the output (divided by the batch size).
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask:
            as in `RNN`.
        time_major: tf.keras 2 configs carry ``time_major=False``; True is refused.
    """

    rank = 2
    cell_attributes = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
                       "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
                       "bias_initializer", "unit_forget_bias", "kernel_regularizer", "recurrent_regularizer",
                       "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
                       "recurrent_dropout", "seed", "kernel", "recurrent_kernel", "bias")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        rnn_kwargs, layer_kwargs = self._split_arguments(kwargs, _RNN_ARGUMENTS)
        name = layer_kwargs["name"]
        if kwargs.pop("time_major", False):
            raise ValueError(f"{type(self).__name__} '{name}': time_major=True is not supported; give inputs as "
                             "(batch, time, ...)")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self._start(lambda: ConvLSTMCell(
            self.rank, filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
            recurrent_activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
            unit_forget_bias, kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
            recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, name="conv_lstm_cell",
            dtype=layer_kwargs.get("dtype")), _CELL_LABEL, rnn_kwargs, layer_kwargs, activity_regularizer)
        self.input_spec = InputSpec(ndim=self.rank + 3, ndim_text=_ndim_text(self.rank))

    # -- shapes and building ---------------------------------------------------------------------
    def _sequence_shape(self, input_shape) -> tuple:
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        return tuple(shape)

    def _check_shape(self, shape) -> None:
        Layer.check_input(self, shape)
        cell = self.cell
        spatial, _ = cell.split_step_shape((shape[0],) + shape[2:])
        if cell.padding != "valid":
            return
        for axis, (size, k) in enumerate(zip(spatial, cell.extent)):
            if size is not None and size < k:
                raise ValueError(f"{type(self).__name__} '{self.name}': spatial axis {axis} of the input ({size}) is "
                                 f"smaller than the kernel ({k}) with padding='valid' (input shape "
                                 f"{shape_str(shape)})")

    def build(self, input_shape):
        shape = self._sequence_shape(input_shape)
        self._check_shape(shape)
        cell = self.cell
        if not cell.built:
            try:
                cell.build((shape[0],) + shape[2:])
            except ValueError as exc:  # name the layer the user made, not its cell
                raise self._as_layer_error(exc, _CELL_LABEL, self.name) from None
            cell.built = True
        for var in cell.weights:
            if not var.name.startswith(self.name + "/"):
                var.name = f"{self.name}/{var.name}"
        axis = 2 if cell.data_format == "channels_first" else -1
        self.input_spec = InputSpec(ndim=self.rank + 3, ndim_text=_ndim_text(self.rank),
                                    axes={axis: shape[axis]},
                                    axis_names={axis: f"input channels ({cell.data_format})"})
        self._step_spatial = cell.split_step_shape((shape[0],) + shape[2:])[0]
        if self.stateful:
            batch = (self.batch_input_shape or (None,))[0] if shape[0] is None else shape[0]
            if batch is None:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': a stateful layer needs a fixed batch size; give the first "
                    "layer `batch_input_shape=(batch, time, ...)` (or Input(batch_shape=...)), received input "
                    f"shape {shape_str(shape)}")
            self._stateful_batch = batch
            self.reset_states()
        self.built = True

    def check_input(self, shape) -> None:
        if isinstance(shape, list) and shape and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        self._check_shape(tuple(shape))

    def compute_output_shape(self, input_shape):
        shape = self._sequence_shape(input_shape)
        self._check_shape(shape)
        cell = self.cell
        spatial, _ = cell.split_step_shape((shape[0],) + shape[2:])
        state = cell.state_shape(shape[0], spatial)
        out = (state[0], shape[1], *state[1:]) if self.return_sequences else state
        return [out, state, state] if self.return_state else out

    # -- states (`RNN`'s handling, with these shapes and words) ----------------------------------
    _states_words = {"count": "the layer has {n} states (h, c)", "arrays": "{n} state arrays (h, c)",
                     "stateful": "a stateful layer"}

    def _state_shapes(self, batch) -> list[tuple]:
        """``h`` and ``c``: (batch, *state_spatial, filters) in the data format."""
        shape = self.cell.state_shape(batch, self._step_spatial)
        return [shape, shape]

    def _state_shape_text(self, shape: tuple) -> str:
        return f"{shape}"

    # -- calling ---------------------------------------------------------------------------------
    def call(self, inputs, mask=None, training=False, initial_state=None):
        if isinstance(inputs, (list, tuple)):
            inputs, extra = inputs[0], list(inputs[1:])
            if extra and initial_state is None:
                initial_state = extra
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        batch, steps = x.shape[0], x.shape[1]
        h, c = self._initial_states(x, initial_state)
        if mask is not None:
            mask = np.asarray(getattr(mask, "data", mask)).astype(bool)
            if mask.shape != (batch, steps):
                raise ValueError(f"{type(self).__name__} '{self.name}': the mask must have shape (batch, time) = "
                                 f"{(batch, steps)}; received {mask.shape}")
        first = self.cell.data_format == "channels_first"
        if first:
            x = ops.transpose(x, _to_channels_last(self.rank, 2))
            to_last = _to_channels_last(self.rank, 1)
            h, c = ops.transpose(h, to_last), ops.transpose(c, to_last)
        out, h, c = self._run(x, h, c, mask, training)
        if first:
            out = ops.transpose(out, _to_channels_first(self.rank, 2 if self.return_sequences else 1))
            to_first = _to_channels_first(self.rank, 1)
            if c is not None:  # the final states: returned or kept
                h, c = ops.transpose(h, to_first), ops.transpose(c, to_first)
        if self.stateful:
            self.states = [np.array(s.data, copy=True) for s in (h, c)]
        self._penalize_activity(out)
        return [out, h, c] if self.return_state else out

    def _run(self, x, h, c, mask, training):
        """The recurrence on channels-last ``x`` from channels-last states: (output, h, c)."""
        cell = self.cell
        dp, rdp = cell.conv_dropout_masks((x.shape[0], *x.shape[2:]), h.shape, x.dtype, training)
        return conv_lstm_sequence(x, h, c, cell.kernel, cell.recurrent_kernel, cell.bias, cell.strides, cell.padding,
                                  cell.dilation_rate, cell.activation, cell.recurrent_activation, self.go_backwards,
                                  mask, self.return_sequences, self.zero_output_for_mask, dp, rdp,
                                  states=self.return_state or self.stateful)

    # -- config ----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return self._with_cell_config({**Layer.get_config(self), **self._rnn_config()})


@keras_layer(keras1={**CONV_LSTM_KERAS1, "nb_filter": "filters", "filter_length": "kernel_size",
                     "subsample_length": "strides"})
class ConvLSTM1D(ConvLSTM):
    """The convolutional LSTM over sequences of 1-D signals: input (batch, time, steps,
    channels) or (batch, time, channels, steps); kernel (k, channels, 4 * filters).

    Example:
        >>> ConvLSTM1D(4, 3, return_sequences=True).compute_output_shape((None, 5, 10, 2))
        (None, 5, 8, 4)
    """

    rank = 1


@keras_layer(keras1=CONV_LSTM_KERAS1, keras1_positional=conv_kernel_size)
class ConvLSTM2D(ConvLSTM):
    """The convolutional LSTM over sequences of images (see the module docstring): input
    (batch, time, rows, cols, channels) or (batch, time, channels, rows, cols).

    Keras 1 files store 12 arrays, ``W``, ``U``, ``b`` per gate in the order i, c, f, o, the
    kernels in the layer's ``dim_ordering``: (rows, cols, in, filters) for 'tf', (filters, in,
    rows, cols) for 'th' (Theano's order, whose true convolution flips the kernels: see
    `stored_weight_converter`). They are regrouped into Keras 2's three weights.

    Example:
        >>> ConvLSTM2D(8, (3, 3), padding="same").compute_output_shape((None, 10, 16, 16, 3))
        (None, 16, 16, 8)
    """

    rank = 2

    def regroup_stored_weights(self, arrays: list) -> list:
        """Keras 1's per-gate arrays as ``[kernel, recurrent_kernel, bias]`` (the kernels still in
        the file's order, gates i, f, c, o joined along the filters axis); other lists as they are."""
        arrays = list(arrays)
        if len(arrays) != 3 * GATES:
            return arrays
        return regroup_per_gate(arrays, GATES, kernel_axis=0 if self.data_format == "channels_first" else -1)

    def stored_weight_converter(self, var, stored_shape, origin):
        """Kernels stored in Theano's order (4 * filters, in, rows, cols) are transposed to
        (rows, cols, in, 4 * filters), and flipped in both spatial axes when they were trained
        with Theano's true convolution (see ``origin.flip_for``), as for `Conv2D`."""
        return theano_kernel_converter(self, var, stored_shape, origin)


@keras_layer()
class ConvLSTM3D(ConvLSTM):
    """The convolutional LSTM over sequences of volumes: input (batch, time, depth, rows, cols,
    channels) or (batch, time, channels, depth, rows, cols).

    Example:
        >>> ConvLSTM3D(2, 3, padding="same").compute_output_shape((None, 4, 5, 6, 7, 1))
        (None, 5, 6, 7, 2)
    """

    rank = 3
