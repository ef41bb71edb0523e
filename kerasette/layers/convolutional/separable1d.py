"""DepthwiseConv1D and SeparableConv1D (Keras 2: SeparableConvolution1D): depthwise and depthwise
separable 1-D convolutions, in either data format.

DepthwiseConv1D correlates each input channel with ``depth_multiplier`` filters of its own:
output channel ``c * m + j`` is input channel ``c`` with filter ``j``, no channel mixing. Its
weights, as Keras 3 names and shapes them: ``kernel`` (k, in, m) and ``bias`` (in * m,).

SeparableConv1D runs that depthwise step (no bias), then mixes the ``in * m`` channels into
``filters`` with a pointwise (k = 1) convolution, adds the bias and applies the activation.
Weights, in Keras's order: ``depthwise_kernel`` (k, in, m), ``pointwise_kernel``
(1, in * m, filters), ``bias`` (filters,).

Both run the engine's depthwise 2-D convolution (and, for the pointwise step, its 2-D
convolution) on the sequence seen as an image of one row (`kerasette.layers.sequence_input`).
Neither takes ``'causal'`` padding (Keras does not either).
"""

from __future__ import annotations

from kerasette import activations, constraints, initializers, regularizers
from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.convolutional.conv1d import Window1D, sequence_input_shape
from kerasette.layers.core import WeightPenalties
from kerasette.layers.legacy import keras_layer
from kerasette.layers.sequence_input import sequence_input_spec
from kerasette.utils.validation import check_positive_int


def _input_dims(args: tuple, kwargs: dict, translated: list[str]) -> tuple:
    sequence_input_shape(kwargs, translated)
    return args


class Depthwise1D(Window1D, WeightPenalties):
    """What DepthwiseConv1D and SeparableConv1D share: the depthwise kernel's arguments and weight,
    the bias, and the Keras 2 config forms."""

    def _init_depthwise(self, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                        activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                        bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint) -> str:
        owner = self._init_window(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias)
        self.depth_multiplier = check_positive_int(depth_multiplier, "depth_multiplier", owner)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self._init_penalties(None, bias_regularizer, activity_regularizer, None, bias_constraint)
        return owner

    def _add_depthwise_kernel(self, name: str, channels: int):
        return self.add_weight(name=name, shape=self.kernel_size + (channels, self.depth_multiplier),
                               initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                               constraint=self.depthwise_constraint)

    def _add_bias(self, size: int):
        if not self.use_bias:
            return None
        return self.add_weight(name="bias", shape=(size,), initializer=self.bias_initializer,
                               regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _depthwise(self, image, kernel, bias, relu):
        strides, padding, dilation = self._image_arguments()
        kernel = ops.reshape(kernel, (1,) + tuple(kernel.shape))
        return ops.depthwise_conv2d(image, kernel, bias, strides, padding, dilation, relu=relu)

    def _depthwise_config(self) -> dict:
        return {"depth_multiplier": self.depth_multiplier, **self._window_config()}

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        """Keras 2 configs, which may carry the convolution's ``groups`` (always 1) too."""
        config = super().translate_config(config)
        if config.get("groups", 1) == 1:
            config.pop("groups", None)
        return config


@keras_layer(keras1_positional=_input_dims)
class DepthwiseConv1D(Depthwise1D, Layer):
    """Depthwise 1-D convolution layer: each input channel correlated with its own filters.

    Args:
        kernel_size: int or (k,).
        strides: int or (s,).
        padding: ``'valid'`` or ``'same'``.
        depth_multiplier: filters per input channel (output channels: ``in * depth_multiplier``).
        data_format: ``'channels_last'`` or ``'channels_first'``; the backend default when None.
        dilation_rate: int or (d,): the kernel's taps are d steps apart.
        activation: name or callable; None is linear.
        use_bias: whether to add a bias (one per output channel).
        depthwise_initializer, bias_initializer: initializers of the kernel and the bias.
        depthwise_regularizer, bias_regularizer: penalties on them, added to the training loss.
        activity_regularizer: penalty on the output, divided by the batch size (Keras 3).
        depthwise_constraint, bias_constraint: projections applied after each update.

    Input shape: (batch, steps, channels), or (batch, channels, steps) channels-first.
    Output shape: (batch, new_steps, channels * depth_multiplier), or channels-first.

    Example:
        >>> DepthwiseConv1D(3, depth_multiplier=2, padding="same").compute_output_shape((None, 10, 4))
        (None, 10, 8)
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self._init_depthwise(kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                             activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                             bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.kernel = self._add_depthwise_kernel("kernel", channels)
        self.bias = self._add_bias(channels * self.depth_multiplier)
        self.input_spec = sequence_input_spec(self.data_format, channels)
        self.built = True

    @property
    def depthwise_kernel(self):
        """The kernel under Keras 2's attribute name."""
        return self.kernel

    def _compute(self, image, relu):
        return self._depthwise(image, self.kernel, self.bias, relu)

    def _output_channels(self, channels):
        return None if channels is None else channels * self.depth_multiplier

    def get_config(self):
        return {**super().get_config(), **self._depthwise_config(),
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


@keras_layer(aliases=("SeparableConvolution1D",), keras1_positional=_input_dims)
class SeparableConv1D(Depthwise1D, Layer):
    """Depthwise separable 1-D convolution layer.

    Args:
        filters: number of output channels.
        kernel_size: int or (k,) of the depthwise step.
        strides: int or (s,).
        padding: ``'valid'`` or ``'same'``.
        data_format: ``'channels_last'`` or ``'channels_first'``; the backend default when None.
        dilation_rate: int or (d,) of the depthwise step.
        depth_multiplier: depthwise filters per input channel.
        activation: name or callable, applied after the bias; None is linear.
        use_bias: whether to add a bias.
        depthwise_initializer, pointwise_initializer, bias_initializer: initializers of the two
            kernels and the bias.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer: penalties on them.
        activity_regularizer: penalty on the output, divided by the batch size (Keras 3).
        depthwise_constraint, pointwise_constraint, bias_constraint: projections applied after
            each update.

    Input shape: (batch, steps, channels), or (batch, channels, steps) channels-first.
    Output shape: (batch, new_steps, filters), or channels-first likewise.

    Example:
        >>> SeparableConv1D(16, 3, padding="same").compute_output_shape((None, 10, 4))
        (None, 10, 16)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = self._init_depthwise(kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                                     activation, use_bias, depthwise_initializer, bias_initializer,
                                     depthwise_regularizer, bias_regularizer, activity_regularizer,
                                     depthwise_constraint, bias_constraint)
        self.filters = check_positive_int(filters, "filters", owner)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.depthwise_kernel = self._add_depthwise_kernel("depthwise_kernel", channels)
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel", shape=(1, channels * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self.bias = self._add_bias(self.filters)
        self.input_spec = sequence_input_spec(self.data_format, channels)
        self.built = True

    def _compute(self, image, relu):
        z = self._depthwise(image, self.depthwise_kernel, None, False)
        pointwise = ops.reshape(self.pointwise_kernel, (1,) + tuple(self.pointwise_kernel.shape))
        return ops.conv2d(z, pointwise, self.bias, relu=relu)

    def _output_channels(self, channels):
        return self.filters

    def get_config(self):
        window = self._depthwise_config()
        return {**super().get_config(), "depth_multiplier": window.pop("depth_multiplier"), "filters": self.filters,
                **window, "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
                "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}
