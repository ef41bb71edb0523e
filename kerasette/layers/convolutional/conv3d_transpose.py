"""Conv3DTranspose (Keras 2: also Deconvolution3D): the transposed 3-D convolution, in either data
format, strided or dilated, with ``output_padding``.

Each input cell, times the kernel, is scattered into the output; Keras 3 keeps a window of that
full result (`kerasette.utils.conv_transpose`, the same rule as Conv2DTranspose). The op
(`kerasette.backend.ops.conv3d_transpose`) is the input gradient of a 3-D convolution, on the
same packed-patch kernels. The kernel is stored as Keras stores it, (depth, rows, cols, filters,
in_channels), whatever the data format.
"""

from __future__ import annotations

from kerasette import activations, initializers
from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.core import WeightPenalties
from kerasette.layers.legacy import keras_layer
from kerasette.layers.volume_input import (
    channels_last_call,
    data_format_of,
    volume_dims,
    volume_input_spec,
    volume_shape,
)
from kerasette.utils import conv_utils
from kerasette.utils.conv_transpose import deconv_output_length
from kerasette.utils.validation import check_positive_int, shape_str


@keras_layer(aliases=("Convolution3DTranspose", "Deconvolution3D"))
class Conv3DTranspose(WeightPenalties, Layer):
    """Transposed 3-D convolution layer (sometimes called deconvolution).

    Args:
        filters: number of output channels.
        kernel_size: int or (depth, rows, cols).
        strides: int or three ints: output cells per input cell along each axis.
        padding: ``'valid'`` or ``'same'``.
        output_padding: None (the size 'valid' or 'same' gives) or an int or three ints, each
            smaller than its stride: extra cells at the end of each axis of the output.
        data_format: ``'channels_last'`` or ``'channels_first'``; the backend default when None.
        dilation_rate: int or three ints; above 1 only with strides 1 (Keras's rule).
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as in
            `Conv3D`.

    Input shape: (batch, depth, rows, cols, channels), or channels-first (batch, channels, depth,
    rows, cols). Output shape: likewise, with ``filters`` channels.

    Example:
        >>> Conv3DTranspose(8, 3, strides=2, padding="same").compute_output_shape((None, 4, 8, 8, 2))
        (None, 8, 16, 16, 8)
        >>> Conv3DTranspose(8, 3, strides=2, output_padding=1).compute_output_shape((None, 4, 8, 8, 2))
        (None, 10, 18, 18, 8)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        owner = f"Conv3DTranspose '{self.name}'"
        self.filters = check_positive_int(filters, "filters", owner)
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, 3, "kernel_size", owner)
        self.strides = conv_utils.normalize_tuple(strides, 3, "strides", owner)
        self.padding = conv_utils.normalize_padding(padding, owner)
        self.data_format = data_format_of(data_format, owner)
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, 3, "dilation_rate", owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: strides above 1 and dilation_rate above 1 cannot be used together "
                             f"(Keras's rule); received strides={strides!r}, dilation_rate={dilation_rate!r}")
        self.output_padding = self._check_output_padding(output_padding, owner)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._init_penalties(kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                             bias_constraint)
        self.input_spec = volume_input_spec(self.data_format)

    def _check_output_padding(self, value, owner):
        if value is None:
            return None
        pads = (value,) * 3 if isinstance(value, int) and not isinstance(value, bool) else value
        try:
            pads = tuple(pads)
        except TypeError:
            pads = ()
        if len(pads) != 3 or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in pads):
            raise ValueError(f"{owner}: argument `output_padding` must be None, an int or three ints >= 0; "
                             f"received output_padding={value!r}")
        for axis, (pad, stride) in enumerate(zip(pads, self.strides)):
            if pad >= stride:
                raise ValueError(f"{owner}: each value of `output_padding` must be smaller than its stride; "
                                 f"received output_padding={value!r} with strides={self.strides} "
                                 f"(axis {axis}: {pad} >= {stride})")
        return pads

    def build(self, input_shape):
        Layer.check_input(self, input_shape)
        channels = volume_dims(input_shape, self.data_format)[3]
        if channels is None:
            raise ValueError(f"Conv3DTranspose '{self.name}': the channel axis must be known; "
                             f"received input shape {shape_str(input_shape)}")
        shape = self.kernel_size + (self.filters, channels)
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.input_spec = volume_input_spec(self.data_format, channels)
        self.built = True

    def call(self, inputs):
        return channels_last_call(self, inputs, self._channels_last)

    def _channels_last(self, x):
        y = ops.conv3d_transpose(x, self.kernel, self.bias, self.strides, self.padding, self.output_padding,
                                 self.dilation_rate)
        return self._penalized_output(self.activation(y))

    def compute_output_shape(self, input_shape):
        Layer.check_input(self, input_shape)
        *sizes, _ = volume_dims(input_shape, self.data_format)
        pads = self.output_padding or (None, None, None)
        out = tuple(deconv_output_length(n, self.kernel_size[a], self.padding, pads[a], self.strides[a],
                                         self.dilation_rate[a]) for a, n in enumerate(sizes))
        return volume_shape(input_shape[0], out, self.filters, self.data_format)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), **self.penalty_config()}


Deconvolution3D = Conv3DTranspose
