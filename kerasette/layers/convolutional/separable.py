"""SeparableConv2D (Keras 1: SeparableConvolution2D): a depthwise convolution, then a 1x1 one.

The depthwise step convolves each input channel with its own ``depth_multiplier`` filters (as
`DepthwiseConv2D` does, no bias), the pointwise step mixes the resulting ``in * depth_multiplier``
channels into ``filters`` with a 1x1 convolution, adds the bias and applies the activation: far
fewer weights and multiply-adds than a full convolution of the same window. Weights as Keras
stores them, in its order: ``depthwise_kernel`` (rows, cols, in, depth_multiplier),
``pointwise_kernel`` (1, 1, in * depth_multiplier, filters), ``bias`` (filters,).

Keras 1's ``SeparableConvolution2D(nb_filter, nb_row, nb_col, init=..., border_mode=...,
subsample=..., depth_multiplier=..., dim_ordering=..., depthwise_regularizer=...,
pointwise_regularizer=..., b_regularizer=..., depthwise_constraint=..., pointwise_constraint=...,
b_constraint=..., bias=...)`` is this layer with its Keras 1 names; its one ``init`` initializes
both kernels.
"""

from __future__ import annotations

from kerasette import constraints, initializers, regularizers
from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.convolutional.depthwise import SpatialDepthwise
from kerasette.layers.image_input import image_input_spec
from kerasette.layers.legacy import IMAGE_KERAS1, conv_kernel_size, keras_layer
from kerasette.utils.validation import check_positive_int

SEPARABLE_KERAS1 = {**IMAGE_KERAS1, "nb_filter": "filters", "b_regularizer": "bias_regularizer",
                    "b_constraint": "bias_constraint", "bias": "use_bias"}


def separable_positional(args: tuple, kwargs: dict, translated: list[str]) -> tuple:
    """Keras 1's ``SeparableConvolution2D(nb_filter, nb_row, nb_col)`` (as Conv2D's), and its
    ``init``, which initialized both kernels."""
    args = conv_kernel_size(args, kwargs, translated)
    if "init" in kwargs:
        init = kwargs.pop("init")
        for name in ("depthwise_initializer", "pointwise_initializer"):
            if name in kwargs:
                raise TypeError(f"SeparableConv2D: got both the Keras 1 argument `init` and `{name}`")
            kwargs[name] = init
        translated.append("init -> depthwise_initializer, pointwise_initializer")
    return args


@keras_layer(aliases=("SeparableConvolution2D",), keras1=SEPARABLE_KERAS1, keras1_positional=separable_positional)
class SeparableConv2D(SpatialDepthwise, Layer):
    """Depthwise separable 2-D convolution layer.

    Args:
        filters: number of output channels (Keras 1: ``nb_filter``).
        kernel_size: int or (rows, cols) of the depthwise step (Keras 1: ``nb_row, nb_col``).
        strides: int or (rows, cols) (Keras 1: ``subsample``).
        padding: ``'valid'`` or ``'same'`` (Keras 1: ``border_mode``).
        data_format: ``'channels_last'`` or ``'channels_first'`` (Keras 1: ``dim_ordering``).
        dilation_rate: int or (rows, cols) of the depthwise step.
        depth_multiplier: depthwise filters per input channel.
        activation: name or callable, applied after the bias; None is linear.
        use_bias: whether to add a bias (Keras 1: ``bias``).
        depthwise_initializer, pointwise_initializer, bias_initializer: initializers of the two
            kernels and the bias (Keras 1: ``init``, for both kernels).
        depthwise_regularizer, pointwise_regularizer, bias_regularizer: penalties on them
            (Keras 1: ``b_regularizer`` for the bias).
        activity_regularizer: penalty on the output, divided by the batch size (Keras 3).
        depthwise_constraint, pointwise_constraint, bias_constraint: projections applied after
            each update (Keras 1: ``b_constraint``).

    Input shape: (batch, rows, cols, channels), or (batch, channels, rows, cols) channels-first.
    Output shape: (batch, new_rows, new_cols, filters), or channels-first likewise.

    Example:
        >>> SeparableConv2D(16, 3, padding="same").compute_output_shape((None, 8, 8, 4))
        (None, 8, 8, 16)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = self._init_window(kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
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
            name="pointwise_kernel", shape=(1, 1, channels * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self.bias = self._add_bias(self.filters)
        self.input_spec = image_input_spec(self.data_format, channels)
        self.built = True

    def _compute(self, x, relu):
        z = self._depthwise(x, self.depthwise_kernel, None, False)
        return ops.conv2d(z, self.pointwise_kernel, self.bias, relu=relu)

    def _output_channels(self, channels):
        return self.filters

    def get_config(self):
        window = self._window_config()
        return {**super().get_config(), "depth_multiplier": window.pop("depth_multiplier"), "filters": self.filters,
                **window,
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
