"""`ConvLSTMCell`: one step of the convolutional LSTM and its weights (the cell inside
`ConvLSTM1D`, `ConvLSTM2D` and `ConvLSTM3D`; see `kerasette.layers.recurrent.conv_lstm` for
Keras's semantics)."""

from __future__ import annotations

from kerasette import activations
from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.recurrent.cell_base import (
    CellWeights,
    DropoutRNNCell,
    forget_bias_flag,
    lstm_bias_initializer,
)
from kerasette.layers.recurrent.conv_lstm_steps import (
    GATES,
    _to_channels_first,
    _to_channels_last,
    conv_nd,
    lstm_gates,
)
from kerasette.utils import conv_utils
from kerasette.utils.validation import check_positive_int, shape_str


class ConvLSTMCell(DropoutRNNCell, CellWeights, Layer):
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
        self._init_weight_arguments(use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                                    kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                                    recurrent_constraint, bias_constraint)
        self.unit_forget_bias = forget_bias_flag(unit_forget_bias)
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
        self._add_cell_weights(self.kernel_size + (channels, g), self.kernel_size + (self.filters, g), (g,),
                               lstm_bias_initializer(self.bias_initializer, self.filters, self.unit_forget_bias))
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
                "use_bias": self.use_bias, **self._initializers_config(), "unit_forget_bias": self.unit_forget_bias,
                **self._penalties_config(), **self._dropout_config()}
