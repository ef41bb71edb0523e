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

How it runs: channels-last inside. The input transform of every step is one convolution over
the (batch * time) images (the engine's 2-D convolution; 1-D runs as images of one row, 3-D as a
sum of 2-D convolutions over the depth taps). With dropout, the four masked copies of the input
are stacked along the channels and convolved with the kernel as four groups, which is the
per-gate computation in one pass. The steps then run as one op
(`kerasette.backend.ops.conv_recurrent`: per step the recurrent convolution and one kernel pass
for the gates, back-propagated through time in the same op) with the activations its kernels
know (tanh, sigmoid, hard_sigmoid, relu, linear); with other activations, step by step through
ordinary ops. Both are `conv_lstm_sequence`.
"""

from __future__ import annotations

import numpy as np

from kerasette import activations, constraints, initializers, regularizers
from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.backend.ops import conv_recurrent as crops
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer, snake_case, unique_name
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import CONV_KERAS1, conv_kernel_size, keras_layer
from kerasette.layers.recurrent.cells import DropoutRNNCell, _ForgetBiasInit, fusable_name
from kerasette.layers.recurrent.rnn import RNN
from kerasette.utils import conv_utils
from kerasette.utils.validation import check_positive_int, shape_str

GATES = 4

#: Keras 1's ConvLSTM2D argument names (its per-gate weights: `ConvLSTM2D.regroup_stored_weights`)
CONV_LSTM_KERAS1 = {**CONV_KERAS1, "nb_filter": "filters", "inner_init": "recurrent_initializer",
                    "inner_activation": "recurrent_activation", "U_regularizer": "recurrent_regularizer",
                    "U_constraint": "recurrent_constraint", "dropout_W": "dropout", "dropout_U": "recurrent_dropout",
                    "forget_bias_init": "unit_forget_bias"}

_SPATIAL_WORDS = {1: "steps", 2: "rows, cols", 3: "depth, rows, cols"}


def _ndim_text(rank: int) -> str:
    spatial = _SPATIAL_WORDS[rank]
    return (f"a {rank + 3}-D input (batch, time, {spatial}, channels) or (batch, time, channels, {spatial})")


def conv_nd(x, kernel, bias, strides, padding, dilation, groups=1):
    """Keras's N-D convolution (N = 1, 2, 3) of channels-last ``x`` (batch, *spatial, C) with a
    (*kernel_size, C // groups, F) kernel, through the engine's 2-D op: 1-D as images of one row,
    3-D as the sum over the kernel's depth taps of 2-D convolutions of the matching depth
    slices (the depth padded first for 'same')."""
    rank = x.ndim - 2
    if rank == 2:
        return ops.conv2d(x, kernel, bias, tuple(strides), padding, dilation_rate=tuple(dilation), groups=groups)
    if rank == 1:
        n, length, c = x.shape
        y = ops.conv2d(ops.reshape(x, (n, 1, length, c)), ops.reshape(kernel, (1, *kernel.shape)), bias,
                       (1, strides[0]), padding, dilation_rate=(1, dilation[0]), groups=groups)
        return ops.reshape(y, (n, y.shape[2], y.shape[3]))
    n, depth, rows, cols, c = x.shape
    taps, stride, rate = kernel.shape[0], strides[0], dilation[0]
    extent = (taps - 1) * rate + 1
    if padding == "same":
        before, after = conv_utils.same_padding(depth, extent, stride)
        if before or after:
            x = ops.pad(x, ((0, 0), (before, after), (0, 0), (0, 0), (0, 0)))
            depth += before + after
    out_depth = (depth - extent) // stride + 1
    total = None
    for a in range(taps):
        start = a * rate
        slab = ops.getitem(x, (slice(None), slice(start, start + (out_depth - 1) * stride + 1, stride)))
        y = ops.conv2d(ops.reshape(slab, (n * out_depth, rows, cols, c)), ops.getitem(kernel, a),
                       bias if a == 0 else None, tuple(strides[1:]), padding, dilation_rate=tuple(dilation[1:]),
                       groups=groups)
        total = y if total is None else ops.add(total, y)
    return ops.reshape(total, (n, out_depth, *total.shape[1:]))


def _to_channels_last(rank: int, leading: int) -> tuple:
    """The permutation taking (leading axes, channels, *spatial) to (leading, *spatial, channels)."""
    return (*range(leading), *range(leading + 1, leading + 1 + rank), leading)


def _to_channels_first(rank: int, leading: int) -> tuple:
    return (*range(leading), leading + rank, *range(leading, leading + rank))


def lstm_gates(z, c, activation, recurrent_activation):
    """(h, c) of Keras's LSTM from the pre-activations ``z`` (..., 4 * filters: gates i, f, c, o)
    and the previous carry ``c``."""
    f = z.shape[-1] // GATES
    part = [ops.getitem(z, (Ellipsis, slice(k * f, (k + 1) * f))) for k in range(GATES)]
    i, forget, o = (recurrent_activation(part[k]) for k in (0, 1, 3))
    c = ops.add(ops.multiply(forget, c), ops.multiply(i, activation(part[2])))
    return ops.multiply(o, activation(c)), c


def recurrent_conv(h, recurrent_kernel, masks=None):
    """``conv_same(h, recurrent_kernel)`` of channels-last ``h`` (stride 1, no dilation); with
    recurrent dropout ``masks`` (4, *h.shape), each gate's quarter of the kernel sees its own
    masked ``h`` (the four copies stacked along the channels, convolved as four groups)."""
    ones = (1,) * (h.ndim - 2)
    if masks is None:
        return conv_nd(h, recurrent_kernel, None, ones, "same", ones)
    stacked = ops.concatenate([ops.multiply(h, masks[k]) for k in range(GATES)], axis=-1)
    return conv_nd(stacked, recurrent_kernel, None, ones, "same", ones, groups=GATES)


def conv_lstm_sequence(x, h, c, kernel, recurrent_kernel, bias=None, strides=None, padding="valid", dilation=None,
                       activation=activations.tanh, recurrent_activation=activations.sigmoid, go_backwards=False,
                       mask=None, sequences=True, zero_output_for_mask=False, input_masks=None, recurrent_masks=None,
                       states=True, fused=None):
    """The convolutional LSTM over channels-last ``x`` (batch, time, *spatial, channels) from
    the states ``h``, ``c`` (batch, *out_spatial, filters), as tensors: ``(output, h, c)``, the
    output every step's ``h`` (batch, time, ...) when ``sequences``, else the last.

    ``mask`` (batch, time) booleans: a masked step keeps the states and repeats the previous
    output (zeros before the first; zeros everywhere masked with ``zero_output_for_mask``).
    ``go_backwards`` reads the steps last to first (the output sequence in that order).
    ``input_masks`` (4, batch, *spatial, channels) and ``recurrent_masks`` (4, *h.shape):
    per-gate dropout masks (scaled), the same at every step. Without ``states`` the final
    states may be returned as None (the fused recurrence then skips the carry).

    ``fused``: run the steps as one op (`kerasette.backend.ops.conv_recurrent`), possible with
    the activations its kernels know; False runs them through ordinary ops step by step (any
    activation); None (the default) chooses the op when it can.
    """
    rank = x.ndim - 3
    strides = tuple(strides or (1,) * rank)
    dilation = tuple(dilation or (1,) * rank)
    batch, steps = x.shape[0], x.shape[1]
    x_tm = ops.transpose(x, (1, 0, *range(2, x.ndim)))
    mask_tm = None
    if mask is not None:
        mask_tm = np.asarray(mask, bool).T
        mask_tm = mask_tm[::-1] if go_backwards else mask_tm
        if mask_tm.all():
            mask_tm = None
    if go_backwards:
        x_tm = ops.getitem(x_tm, slice(None, None, -1))
    groups = 1
    if input_masks is not None:  # the four masked copies as four channel groups
        x_tm = ops.concatenate([ops.multiply(x_tm, input_masks[k]) for k in range(GATES)], axis=-1)
        groups = GATES
    flat = ops.reshape(x_tm, (steps * batch, *x_tm.shape[2:]))
    projected = conv_nd(flat, kernel, bias, strides, padding, dilation, groups)
    projected = ops.reshape(projected, (steps, batch, *projected.shape[1:]))
    names = (fusable_name(activation), fusable_name(recurrent_activation))
    if fused is None:
        fused = None not in names
    if fused:
        return _fused_steps(projected, h, c, recurrent_kernel, names, mask_tm, recurrent_masks, sequences,
                            zero_output_for_mask, states)
    keep_shape = (batch,) + (1,) * (h.ndim - 1)
    outputs, previous = [], None
    for t in range(steps):
        z = ops.add(ops.getitem(projected, t), recurrent_conv(h, recurrent_kernel, recurrent_masks))
        h_new, c_new = lstm_gates(z, c, activation, recurrent_activation)
        out = h_new
        if mask_tm is not None:
            keep = mask_tm[t].reshape(keep_shape)
            h_new, c_new = ops.where(keep, h_new, h), ops.where(keep, c_new, c)
            previous = previous if previous is not None else Tensor(np.zeros(h.shape, h.dtype))
            out = ops.where(keep, out, previous)
        h, c, previous = h_new, c_new, out
        if sequences:
            outputs.append(ops.expand_dims(out, 1))
    if not sequences:
        return previous, h, c
    result = ops.concatenate(outputs, axis=1)
    if zero_output_for_mask and mask_tm is not None:
        keep = mask_tm.T.reshape((batch, steps) + (1,) * (h.ndim - 1))
        result = ops.multiply(result, keep.astype(result.dtype))
    return result, h, c


def _fused_steps(projected, h, c, recurrent_kernel, names, mask_tm, recurrent_masks, sequences, zero_output_for_mask,
                 states):
    """`conv_lstm_sequence`'s steps as one op (a 1-D state as an image of one row)."""
    steps, batch = projected.shape[0], projected.shape[1]
    state_shape = h.shape
    if h.ndim == 3:  # rank 1: (batch, length, filters) as (batch, 1, length, filters)
        projected = ops.reshape(projected, (steps, batch, 1, *projected.shape[2:]))
        h, c = ops.reshape(h, (batch, 1, *h.shape[1:])), ops.reshape(c, (batch, 1, *c.shape[1:]))
        recurrent_kernel = ops.reshape(recurrent_kernel, (1, *recurrent_kernel.shape))
        if recurrent_masks is not None:
            recurrent_masks = recurrent_masks.reshape((GATES, batch, 1, *recurrent_masks.shape[2:]))
    y = crops.conv_lstm_recurrence(projected, h, c, recurrent_kernel, names[0], names[1], mask_tm, recurrent_masks,
                                   with_carry=states)
    h_last = c_last = None
    if states or not sequences:
        h_last = ops.reshape(crops.steps(y, steps - 1, steps), state_shape)
    if states:
        c_last = ops.reshape(crops.steps(y, steps, steps + 1), state_shape)
    started = None if mask_tm is None else np.logical_or.accumulate(mask_tm, axis=0)  # (steps, batch)
    if not sequences:
        out = h_last
        if started is not None and not started[-1].all():  # never read a step: zeros, as the loop's output
            out = ops.multiply(out, started[-1].reshape((batch,) + (1,) * (len(state_shape) - 1)).astype(out.dtype))
        return out, h_last, c_last
    seq = crops.steps(y, 0, steps) if states else y
    seq = ops.transpose(ops.reshape(seq, (steps, *state_shape)), (1, 0, *range(2, len(state_shape) + 1)))
    if started is not None:
        # the output repeats the previous output on masked steps: zeros before the first step read
        factor = started & mask_tm if zero_output_for_mask else started
        if not factor.all():
            seq = ops.multiply(seq, factor.T.reshape((batch, steps) + (1,) * (len(state_shape) - 1)).astype(seq.dtype))
    return seq, h_last, c_last


class ConvLSTMCell(DropoutRNNCell, Layer):
    """One step of the convolutional LSTM (see the module docstring) and its weights.

    Args:
        rank: the number of spatial axes (1, 2 or 3).
        filters: the channels of the output and states.
        kernel_size, strides, padding, data_format, dilation_rate: of the input convolution,
            as in `Conv2D` (an int or ``rank`` ints); the recurrent convolution has the same
            kernel size, stride 1, 'same' padding and no dilation.
        activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
            bias_initializer, unit_forget_bias, the regularizers and constraints of the three
            weights, dropout, recurrent_dropout, seed: as in `LSTMCell`.
    """

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        if rank not in (1, 2, 3):
            raise ValueError(f"{owner}: argument `rank` must be 1, 2 or 3; received rank={rank!r}")
        self.rank = rank
        self.filters = check_positive_int(filters, "filters", owner)
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, rank, "kernel_size", owner)
        self.strides = conv_utils.normalize_tuple(strides, rank, "strides", owner)
        self.padding = conv_utils.normalize_padding(padding, owner)
        self.data_format = normalize_data_format(data_format)
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, rank, "dilation_rate", owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: strides greater than 1 cannot be combined with a dilation_rate greater than "
                             f"1; received strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        if isinstance(unit_forget_bias, str):  # Keras 1's forget_bias_init: 'one' means ones
            unit_forget_bias = unit_forget_bias == "one"
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._init_dropout(dropout, recurrent_dropout, seed)

    # -- shapes ----------------------------------------------------------------------------------
    @property
    def state_size(self):
        return [self.filters, self.filters]

    @property
    def output_size(self) -> int:
        return self.filters

    @property
    def extent(self) -> tuple:
        """The input convolution's kernel span along each spatial axis."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))

    def split_step_shape(self, step_shape) -> tuple:
        """(spatial sizes, channels) of one step's shape (batch, ...) in the data format."""
        step_shape = tuple(step_shape)
        if self.data_format == "channels_first":
            return step_shape[2:], step_shape[1]
        return step_shape[1:-1], step_shape[-1]

    def state_spatial(self, spatial) -> tuple:
        """The spatial sizes of the states (and output) for inputs of ``spatial`` sizes."""
        return tuple(conv_utils.conv_output_length(n, k, self.padding, s)
                     for n, k, s in zip(spatial, self.extent, self.strides))

    def state_shape(self, batch, spatial) -> tuple:
        """One state's shape, in the data format."""
        out = self.state_spatial(spatial)
        return (batch, self.filters, *out) if self.data_format == "channels_first" else (batch, *out, self.filters)

    # -- weights ---------------------------------------------------------------------------------
    def build(self, input_shape):
        """Makes the weights for one step's input shape (batch, *spatial, channels) in the data format."""
        spatial, channels = self.split_step_shape(input_shape)
        if None in spatial:
            raise ValueError(f"{type(self).__name__} '{self.name}': the spatial axes of the input must be known "
                             f"(ConvLSTM layers need static spatial sizes); received step shape "
                             f"{shape_str(input_shape)}")
        if channels is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the channel axis of the input must be known; "
                             f"received step shape {shape_str(input_shape)}")
        g = GATES * self.filters
        self.kernel = self.add_weight(shape=self.kernel_size + (channels, g), name="kernel",
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            shape=self.kernel_size + (self.filters, g), name="recurrent_kernel",
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint)
        bias_init = _ForgetBiasInit(self.bias_initializer, self.filters) if self.unit_forget_bias \
            else self.bias_initializer
        self.bias = (self.add_weight(shape=(g,), name="bias", initializer=bias_init,
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.built = True

    # -- dropout ---------------------------------------------------------------------------------
    def conv_dropout_masks(self, input_shape, state_shape, dtype, training) -> tuple:
        """(input masks (4, *input_shape) or None, recurrent masks (4, *state_shape) or None):
        one mask per gate, drawn for a sequence in ``training`` (shapes channels-last)."""
        if not training:
            return None, None
        dp = self._draw(self.dropout, (GATES, *input_shape), dtype) if 0 < self.dropout < 1 else None
        rdp = (self._draw(self.recurrent_dropout, (GATES, *state_shape), dtype)
               if 0 < self.recurrent_dropout < 1 else None)
        self._masks = {"input": dp, "recurrent": rdp}
        return dp, rdp

    # -- one step --------------------------------------------------------------------------------
    def call(self, inputs, states, training=False):
        """One step in the data format: ``(h, [h, c])`` from the step's inputs and ``[h, c]``.
        Each gate's input and recurrent convolutions are computed separately, as Keras writes
        them (the layer runs the sequence in fewer, larger convolutions)."""
        h, c = states[0], states[1]
        if self.data_format == "channels_first":
            to_last = _to_channels_last(self.rank, 1)
            inputs, h, c = (ops.transpose(t, to_last) for t in (inputs, h, c))
        if training and not self._masks:
            self.conv_dropout_masks(inputs.shape, h.shape, inputs.dtype, training)
        masks = self._masks if training else {}
        dp, rdp = masks.get("input"), masks.get("recurrent")
        f, ones = self.filters, (1,) * self.rank
        parts = []
        for k in range(GATES):
            quarter = (Ellipsis, slice(k * f, (k + 1) * f))
            x_k = inputs if dp is None else ops.multiply(inputs, dp[k])
            h_k = h if rdp is None else ops.multiply(h, rdp[k])
            bias = None if self.bias is None else ops.getitem(self.bias, slice(k * f, (k + 1) * f))
            parts.append(ops.add(
                conv_nd(x_k, ops.getitem(self.kernel, quarter), bias, self.strides, self.padding, self.dilation_rate),
                conv_nd(h_k, ops.getitem(self.recurrent_kernel, quarter), None, ones, "same", ones)))
        h, c = lstm_gates(ops.concatenate(parts, axis=-1), c, self.activation, self.recurrent_activation)
        if self.data_format == "channels_first":
            to_first = _to_channels_first(self.rank, 1)
            h, c = ops.transpose(h, to_first), ops.transpose(c, to_first)
        return h, [h, c]

    def get_config(self) -> dict:
        return {**Layer.get_config(self), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate),
                "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "unit_forget_bias": self.unit_forget_bias,
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}


#: what the layers read through to their cell (Keras 3's properties)
_CELL_ATTRIBUTES = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
                    "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
                    "bias_initializer", "unit_forget_bias", "kernel_regularizer", "recurrent_regularizer",
                    "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
                    "recurrent_dropout", "seed", "kernel", "recurrent_kernel", "bias")
_RNN_ARGUMENTS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")
_CELL_LABEL = "ConvLSTMCell 'conv_lstm_cell'"
_LAYER_ARGUMENTS = ("name", "trainable", "input_shape", "batch_input_shape", "batch_size", "dtype", "weights")


class ConvLSTM(RNN):
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

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        rnn_kwargs = {k: kwargs.pop(k) for k in _RNN_ARGUMENTS if k in kwargs}
        layer_kwargs = {k: kwargs.pop(k) for k in _LAYER_ARGUMENTS if k in kwargs}
        name = layer_kwargs["name"] = layer_kwargs.get("name") or unique_name(snake_case(type(self).__name__))
        if kwargs.pop("time_major", False):
            raise ValueError(f"{type(self).__name__} '{name}': time_major=True is not supported; give inputs as "
                             "(batch, time, ...)")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        try:
            cell = ConvLSTMCell(self.rank, filters, kernel_size, strides, padding, data_format, dilation_rate,
                                activation, recurrent_activation, use_bias, kernel_initializer,
                                recurrent_initializer, bias_initializer, unit_forget_bias, kernel_regularizer,
                                recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
                                bias_constraint, dropout, recurrent_dropout, seed, name="conv_lstm_cell",
                                dtype=layer_kwargs.get("dtype"))
        except ValueError as exc:  # the cell checked the arguments: name the layer the user made
            raise ValueError(str(exc).replace(_CELL_LABEL, f"{type(self).__name__} '{name}'")) from None
        super().__init__(cell, **rnn_kwargs, **layer_kwargs)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.input_spec = InputSpec(ndim=self.rank + 3, ndim_text=_ndim_text(self.rank))

    def __getattr__(self, name):
        if name in _CELL_ATTRIBUTES and "cell" in self.__dict__:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"{type(self).__name__!s} object has no attribute {name!r}")

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
                raise ValueError(str(exc).replace(_CELL_LABEL, f"{type(self).__name__} '{self.name}'")) from None
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

    # -- states ----------------------------------------------------------------------------------
    def _state_shape(self, batch) -> tuple:
        return self.cell.state_shape(batch, self._step_spatial)

    def get_initial_state(self, batch_size: int, dtype=None) -> list[Tensor]:
        shape = self._state_shape(batch_size)
        return [Tensor(np.zeros(shape, dtype or self.dtype)) for _ in range(2)]

    def reset_states(self, states=None) -> None:
        """Sets a stateful layer's states to zeros, or to ``states`` (two arrays, ``h`` and ``c``,
        each (batch, *state_spatial, filters) in the data format)."""
        if not self.stateful:
            raise AttributeError(f"{type(self).__name__} '{self.name}': reset_states() applies to stateful "
                                 "layers only (stateful=True)")
        batch = getattr(self, "_stateful_batch", None)
        if batch is None:
            return  # not built yet: build() will start from zeros
        shape = self._state_shape(batch)
        if states is None:
            self.states = [np.zeros(shape, self.dtype) for _ in range(2)]
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(states) != 2:
            raise ValueError(f"{type(self).__name__} '{self.name}': reset_states expected 2 state arrays (h, c); "
                             f"received {len(states)}")
        values = [np.asarray(getattr(s, "data", s), self.dtype) for s in states]
        for value in values:
            if value.shape != shape:
                raise ValueError(f"{type(self).__name__} '{self.name}': a state must have shape {shape}; received "
                                 f"{value.shape}")
        self.states = [v.copy() for v in values]

    reset_state = reset_states

    def _initial_states(self, x, initial_state) -> list:
        shape = self._state_shape(x.shape[0])
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != 2:
                raise ValueError(f"{type(self).__name__} '{self.name}': the layer has 2 states (h, c); received "
                                 f"{len(states)} initial states")
            states = [s if isinstance(s, Tensor) else Tensor(np.asarray(s, x.dtype)) for s in states]
            for s in states:
                if s.shape != shape:
                    raise ValueError(f"{type(self).__name__} '{self.name}': an initial state must have shape "
                                     f"{shape}; received {s.shape}")
            return states
        if self.stateful:
            if self.states is None:
                self._stateful_batch = x.shape[0]
                self.reset_states()
            if self.states[0].shape[0] != x.shape[0]:
                raise ValueError(f"{type(self).__name__} '{self.name}': a stateful layer takes batches of "
                                 f"{self.states[0].shape[0]} samples (its batch_input_shape); received {x.shape[0]}")
            return [Tensor(s.astype(x.dtype, copy=False)) for s in self.states]
        return self.get_initial_state(x.shape[0], x.dtype)

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
        if self.activity_regularizer is not None:
            self._activity_losses = [ops.divide(self.activity_regularizer(out), float(out.shape[0]))]
        return [out, h, c] if self.return_state else out

    def _run(self, x, h, c, mask, training):
        """The recurrence on channels-last ``x`` from channels-last states: (output, h, c)."""
        cell = self.cell
        dp, rdp = cell.conv_dropout_masks((x.shape[0], *x.shape[2:]), h.shape, x.dtype, training)
        return conv_lstm_sequence(x, h, c, cell.kernel, cell.recurrent_kernel, cell.bias, cell.strides, cell.padding,
                                  cell.dilation_rate, cell.activation, cell.recurrent_activation, self.go_backwards,
                                  mask, self.return_sequences, self.zero_output_for_mask, dp, rdp,
                                  states=self.return_state or self.stateful)

    @property
    def losses(self) -> list:
        return [*RNN.losses.fget(self), *self.__dict__.get("_activity_losses", [])]

    # -- config ----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        cell = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell.pop(key, None)
        return {**Layer.get_config(self), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask, **cell,
                "activity_regularizer": regularizers.serialize(self.activity_regularizer)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


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
        triples = [arrays[3 * g:3 * g + 3] for g in (0, 2, 1, 3)]  # stored i, c, f, o
        theano_order = self.data_format == "channels_first"
        return [np.concatenate([t[0] for t in triples], axis=0 if theano_order else -1),
                np.concatenate([t[1] for t in triples], axis=0 if theano_order else -1),
                np.concatenate([t[2] for t in triples])]

    def stored_weight_converter(self, var, stored_shape, origin):
        """Kernels stored in Theano's order (4 * filters, in, rows, cols) are transposed to
        (rows, cols, in, 4 * filters), and flipped in both spatial axes when they were trained
        with Theano's true convolution (see ``origin.flip_for``), as for `Conv2D`."""
        cell = self.cell
        if var is not cell.kernel and var is not cell.recurrent_kernel:
            return None
        rows, cols, cin, cout = var.shape
        tf_order = tuple(stored_shape) == (rows, cols, cin, cout)
        th_order = tuple(stored_shape) == (cout, cin, rows, cols)
        if not (tf_order or th_order):
            return None
        if tf_order and th_order:  # square everything: Keras 1 kernels follow the layer's dim_ordering
            th_order = origin.is_keras1 and self.data_format == "channels_first"
        # the two kernels share one decision (asked once, so the load's warning names the layer once)
        if var is cell.kernel or "_stored_flip" not in self.__dict__:
            self._stored_flip = origin.flip_for(self, th_order)
        flip = self.__dict__.pop("_stored_flip") if var is cell.recurrent_kernel else self._stored_flip

        def convert(value):
            if th_order and value.ndim == 4:
                value = value.transpose(2, 3, 1, 0)
            if flip and value.ndim == 4:
                value = value[::-1, ::-1, :, :]
            return value.copy(order="C")

        return convert


@keras_layer()
class ConvLSTM3D(ConvLSTM):
    """The convolutional LSTM over sequences of volumes: input (batch, time, depth, rows, cols,
    channels) or (batch, time, channels, depth, rows, cols).

    Example:
        >>> ConvLSTM3D(2, 3, padding="same").compute_output_shape((None, 4, 5, 6, 7, 1))
        (None, 5, 6, 7, 2)
    """

    rank = 3
