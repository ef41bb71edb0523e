"""DepthwiseConv2D: each input channel convolved with its own filters, in either data format.

With ``depth_multiplier`` m, input channel ``c`` is correlated with m filters of its own, giving
output channels ``c * m`` to ``c * m + m - 1``: C input channels give C * m outputs, and no output
mixes channels. The kernel is stored as Keras 3 stores it, (rows, cols, in_channels, m) under the
name ``kernel`` (Keras 2 called it ``depthwise_kernel``; files are read by position, so both
load), whatever the data format. The engine computes channels-last
(`kerasette.backend.ops.depthwise_conv2d`, numba kernels split over the batch); a channels-first
layer transposes at its boundary.

`SpatialDepthwise` holds what DepthwiseConv2D and SeparableConv2D share: the window arguments,
the depthwise kernel's initializer, regularizer and constraint, shapes and layouts.
"""

from __future__ import annotations

from kerasette import activations, constraints, initializers, regularizers
from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.convolutional.conv2d import kernel_extent
from kerasette.layers.core import WeightPenalties
from kerasette.layers.image_input import (
    TO_CHANNELS_FIRST,
    TO_CHANNELS_LAST,
    check_window_fits,
    image_input_spec,
    spatial_dims,
)
from kerasette.layers.legacy import keras_layer
from kerasette.utils import conv_utils
from kerasette.utils.validation import check_positive_int, shape_str


class SpatialDepthwise(WeightPenalties):
    """The depthwise half of DepthwiseConv2D and SeparableConv2D: arguments, the depthwise kernel,
    shapes, the channels-first boundary and the ReLU fused into the last op."""

    def _init_window(self, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                     activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                     bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint) -> str:
        owner = f"{type(self).__name__} '{self.name}'"
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, 2, "kernel_size", owner)
        self.strides = conv_utils.normalize_tuple(strides, 2, "strides", owner)
        self.padding = conv_utils.normalize_padding(padding, owner)
        self.data_format = normalize_data_format(data_format)
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, 2, "dilation_rate", owner)
        self.depth_multiplier = check_positive_int(depth_multiplier, "depth_multiplier", owner)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self._init_penalties(None, bias_regularizer, activity_regularizer, None, bias_constraint)
        self.input_spec = image_input_spec(self.data_format)
        return owner

    @property
    def _extent(self) -> tuple[int, int]:
        return kernel_extent(self.kernel_size, self.dilation_rate)

    def _input_channels(self, input_shape) -> int:
        check_window_fits(self, input_shape, self._extent, self.padding, "kernel")
        channels = spatial_dims(input_shape, self.data_format)[2]
        if channels is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the channel axis must be known; "
                             f"received input shape {shape_str(input_shape)}")
        return channels

    def _add_depthwise_kernel(self, name: str, channels: int):
        return self.add_weight(name=name, shape=self.kernel_size + (channels, self.depth_multiplier),
                               initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                               constraint=self.depthwise_constraint)

    def _add_bias(self, size: int):
        if not self.use_bias:
            return None
        return self.add_weight(name="bias", shape=(size,), initializer=self.bias_initializer,
                               regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def check_input(self, shape) -> None:
        check_window_fits(self, (None,) + tuple(shape[1:]), self._extent, self.padding, "kernel")

    def _depthwise(self, x, kernel, bias, relu):
        return ops.depthwise_conv2d(x, kernel, bias, self.strides, self.padding, self.dilation_rate, relu=relu)

    # -- layouts and fusion ---------------------------------------------------------------------
    def call(self, inputs):
        if self.data_format == "channels_first":
            y = self.call_channels_last(ops.transpose(inputs, TO_CHANNELS_LAST))
            return ops.transpose(y, TO_CHANNELS_FIRST)
        return self.call_channels_last(inputs)

    def call_with_activation(self, inputs, activation, training=False, mask=None):
        if self.data_format == "channels_first":
            y = self.call_channels_last(ops.transpose(inputs, TO_CHANNELS_LAST), activation=activation)
            return ops.transpose(y, TO_CHANNELS_FIRST)
        return self.call_channels_last(inputs, activation=activation)

    def call_channels_last(self, x, training=False, activation=None):
        """The computation on a channels-last tensor, whatever ``data_format`` says."""
        fuse = self.activation is activations.relu or (activation is activations.relu and self.fuses(activation))
        y = self._compute(x, fuse)
        return self._penalized_output(y if fuse else self.activation(y))

    def fuses(self, activation) -> bool:
        return (activation is activations.relu and self.activation is activations.linear
                and self.activity_regularizer is None)

    def runs_channels_last(self) -> bool:
        return self.data_format == "channels_first"

    # -- shapes and config ------------------------------------------------------------------------
    def _output_channels(self, channels):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        check_window_fits(self, input_shape, self._extent, self.padding, "kernel")
        rows, cols, channels = spatial_dims(input_shape, self.data_format)
        out_rows = conv_utils.conv_output_length(rows, self._extent[0], self.padding, self.strides[0])
        out_cols = conv_utils.conv_output_length(cols, self._extent[1], self.padding, self.strides[1])
        out_channels = self._output_channels(channels)
        if self.data_format == "channels_first":
            return (input_shape[0], out_channels, out_rows, out_cols)
        return (input_shape[0], out_rows, out_cols, out_channels)

    def _window_config(self) -> dict:
        return {"depth_multiplier": self.depth_multiplier, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias}

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        """Keras 2 configs, which may carry the convolution's ``groups`` (always 1) too."""
        config = super().translate_config(config)
        if config.get("groups", 1) == 1:
            config.pop("groups", None)
        return config


@keras_layer()
class DepthwiseConv2D(SpatialDepthwise, Layer):
    """Depthwise 2-D convolution layer: each input channel convolved with its own filters.

    Args:
        kernel_size: int or (rows, cols).
        strides: int or (rows, cols).
        padding: ``'valid'`` or ``'same'``.
        depth_multiplier: filters per input channel (output channels: ``in * depth_multiplier``).
        data_format: ``'channels_last'`` or ``'channels_first'``; the backend default when None.
        dilation_rate: int or (rows, cols): the kernel's taps are this far apart.
        activation: name or callable; None is linear.
        use_bias: whether to add a bias (one per output channel).
        depthwise_initializer, bias_initializer: initializers of the kernel and the bias.
        depthwise_regularizer, bias_regularizer: penalties on them, added to the training loss.
        activity_regularizer: penalty on the output, divided by the batch size (Keras 3).
        depthwise_constraint, bias_constraint: projections applied after each update.

    Input shape: (batch, rows, cols, channels), or (batch, channels, rows, cols) channels-first.
    Output shape: (batch, new_rows, new_cols, channels * depth_multiplier), or channels-first.

    Example:
        >>> DepthwiseConv2D(3, depth_multiplier=2, padding="same").compute_output_shape((None, 8, 8, 4))
        (None, 8, 8, 8)
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self._init_window(kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation,
                          use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                          bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.kernel = self._add_depthwise_kernel("kernel", channels)
        self.bias = self._add_bias(channels * self.depth_multiplier)
        self.input_spec = image_input_spec(self.data_format, channels)
        self.built = True

    @property
    def depthwise_kernel(self):
        """The kernel under Keras 2's attribute name."""
        return self.kernel

    def _compute(self, x, relu):
        return self._depthwise(x, self.kernel, self.bias, relu)

    def _output_channels(self, channels):
        return None if channels is None else channels * self.depth_multiplier

    def get_config(self):
        return {**super().get_config(), **self._window_config(),
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}
