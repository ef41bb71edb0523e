"""Conv1DTranspose (Keras 2: Convolution1DTranspose): the transposed 1-D convolution, in either
data format.

Each input step is spread over a window of the output, weighted by the kernel, ``strides`` output
steps per input step: the gradient of a 1-D convolution with respect to its input, used to
upsample sequences with learned weights. The kernel is stored as Keras stores it, (k, filters,
in_channels), whatever the data format. Output lengths follow Keras 3's rule
(`kerasette.utils.conv_transpose`): 'same' gives ``steps * strides``, 'valid'
``(steps - 1) * strides + max(k, strides)``; ``output_padding`` chooses another length,
``(steps - 1) * strides + k % 2 + output_padding`` ('same') or ``(steps - 1) * strides + k +
output_padding`` ('valid'), with ``k`` the dilated kernel's extent.

The layer runs the engine's transposed 2-D convolution on the sequence seen as an image of one
row (`kerasette.layers.sequence_input`).
"""

from __future__ import annotations

from kerasette import activations, initializers
from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.convolutional.conv1d import Window1D, sequence_input_shape
from kerasette.layers.core import WeightPenalties
from kerasette.layers.legacy import keras_layer
from kerasette.layers.sequence_input import sequence_input_spec, sequence_shape, steps_and_channels
from kerasette.utils.conv_transpose import deconv_output_length
from kerasette.utils.validation import check_positive_int, shape_str


def _input_dims(args: tuple, kwargs: dict, translated: list[str]) -> tuple:
    sequence_input_shape(kwargs, translated)
    return args


@keras_layer(aliases=("Convolution1DTranspose",), keras1_positional=_input_dims)
class Conv1DTranspose(Window1D, WeightPenalties, Layer):
    """Transposed 1-D convolution layer (sometimes called deconvolution).

    Args:
        filters: number of output channels.
        kernel_size: int or (k,).
        strides: int or (s,): output steps per input step.
        padding: ``'valid'`` or ``'same'``.
        output_padding: None (the length 'valid' or 'same' gives) or an int (or (p,)) smaller
            than the stride: extra steps at the end of the output.
        data_format: ``'channels_last'`` or ``'channels_first'``; the backend default when None.
        dilation_rate: int or (d,); above 1 only with strides 1 (Keras's rule).
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as in
            `Conv1D`.

    Input shape: (batch, steps, channels), or (batch, channels, steps) channels-first.
    Output shape: (batch, new_steps, filters), or channels-first likewise.

    Example:
        >>> Conv1DTranspose(8, 3, strides=2, padding="same").compute_output_shape((None, 16, 4))
        (None, 32, 8)
        >>> Conv1DTranspose(8, 3, strides=2, output_padding=1).compute_output_shape((None, 16, 4))
        (None, 34, 8)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = self._init_window(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias)
        self.filters = check_positive_int(filters, "filters", owner)
        self.output_padding = self._check_output_padding(output_padding, owner)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._init_penalties(kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                             bias_constraint)

    def _check_output_padding(self, value, owner):
        if value is None:
            return None
        pad = value
        if isinstance(value, (list, tuple)) and len(value) == 1:
            pad = value[0]
        if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
            raise ValueError(f"{owner}: argument `output_padding` must be None, an int >= 0 or a tuple of one; "
                             f"received output_padding={value!r}")
        if pad >= self.strides[0]:
            raise ValueError(f"{owner}: `output_padding` must be smaller than the stride; received "
                             f"output_padding={value!r} with strides={self.strides}")
        return (pad,)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.compute_output_shape(input_shape)  # the errors of impossible lengths, before any weight
        shape = self.kernel_size + (self.filters, channels)
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.input_spec = sequence_input_spec(self.data_format, channels)
        self.built = True

    def check_input(self, shape) -> None:
        Layer.check_input(self, shape)  # a transposed convolution takes inputs of any length

    def _input_channels(self, input_shape) -> int:
        Layer.check_input(self, input_shape)
        channels = steps_and_channels(input_shape, self.data_format)[1]
        if channels is None:
            raise ValueError(f"Conv1DTranspose '{self.name}': the channel axis must be known; "
                             f"received input shape {shape_str(input_shape)}")
        return channels

    def _compute(self, image, relu):
        strides, padding, dilation = self._image_arguments()
        kernel = ops.reshape(self.kernel, (1,) + tuple(self.kernel.shape))
        output_padding = None if self.output_padding is None else (0, self.output_padding[0])
        return ops.conv2d_transpose(image, kernel, self.bias, strides, padding, output_padding, dilation, relu=relu)

    def _output_channels(self, channels):
        return self.filters

    def compute_output_shape(self, input_shape):
        Layer.check_input(self, input_shape)
        steps, _ = steps_and_channels(input_shape, self.data_format)
        pad = None if self.output_padding is None else self.output_padding[0]
        out = deconv_output_length(steps, self.kernel_size[0], self.padding, pad, self.strides[0],
                                   self.dilation_rate[0])
        if out is not None and out < 1:
            raise ValueError(f"Conv1DTranspose '{self.name}': an input of shape {shape_str(input_shape)} gives an "
                             f"empty output ({out} steps) with kernel {self.kernel_size}, strides {self.strides}, "
                             f"padding '{self.padding}' and output_padding {self.output_padding}")
        return sequence_shape(input_shape[0], out, self.filters, self.data_format)

    def get_config(self):
        window = self._window_config()
        return {**super().get_config(), "filters": self.filters, "kernel_size": window["kernel_size"],
                "strides": window["strides"], "padding": self.padding,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "data_format": self.data_format, "dilation_rate": window["dilation_rate"],
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), **self.penalty_config()}
