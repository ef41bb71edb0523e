"""Conv2D (Keras 1: Convolution2D, AtrousConvolution2D): 2-D convolution in either data format,
dilated and grouped.

The engine convolves channels-last; a channels-first layer transposes at its boundary. The
kernel is stored as (rows, cols, in_channels // groups, filters) whatever the data format.
"""

from __future__ import annotations

import functools

from kerasette import activations, initializers
from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.backend.ops.conv import conv2d_residual
from kerasette.backend.ops.recording import records_gradient
from kerasette.layers.base import Layer
from kerasette.layers.core import WeightPenalties
from kerasette.layers.folding import folded_kernel_and_bias
from kerasette.layers.image_input import (
    TO_CHANNELS_FIRST,
    TO_CHANNELS_LAST,
    check_window_fits,
    image_input_spec,
    spatial_dims,
)
from kerasette.layers.legacy import CONV_KERAS1, conv_kernel_size, keras_layer, kernel_reader, theano_order
from kerasette.utils import conv_utils
from kerasette.utils.validation import check_positive_int, shape_str


def dilation_and_strides(owner: str, strides, dilation_rate) -> None:
    """Keras's rule: a convolution is either strided or dilated, not both."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(f"{owner}: strides greater than 1 cannot be combined with a dilation_rate greater than 1; "
                         f"received strides={strides}, dilation_rate={dilation_rate}")


def add_kernel_and_bias(layer, channels: int, input_shape, kind: str) -> None:
    """Adds a convolution's ``kernel`` (``kernel_size + (channels // groups, filters)``) and, with
    ``use_bias``, its ``bias``, after checking that the groups divide the input channels (the build
    shared by Conv1D, Conv2D and Conv3D; ``kind`` names the layer in the error)."""
    if channels % layer.groups:
        raise ValueError(f"{kind} '{layer.name}': the number of input channels must be divisible by the number "
                         f"of groups; received groups={layer.groups} for an input of shape "
                         f"{shape_str(input_shape)} ({channels} channels)")
    shape = layer.kernel_size + (channels // layer.groups, layer.filters)
    layer.kernel = layer.add_weight(name="kernel", shape=shape, initializer=layer.kernel_initializer,
                                    regularizer=layer.kernel_regularizer, constraint=layer.kernel_constraint)
    layer.bias = (layer.add_weight(name="bias", shape=(layer.filters,), initializer=layer.bias_initializer,
                                   regularizer=layer.bias_regularizer, constraint=layer.bias_constraint)
                  if layer.use_bias else None)


def kernel_extent(kernel_size, dilation_rate) -> tuple[int, ...]:
    """The extent a kernel spans along each axis when its taps are ``dilation_rate`` apart."""
    return tuple((k - 1) * d + 1 for k, d in zip(kernel_size, dilation_rate, strict=True))


@keras_layer(aliases=("Convolution2D", "AtrousConvolution2D"),
             keras1={**CONV_KERAS1, "nb_filter": "filters", "atrous_rate": "dilation_rate"},
             keras1_positional=conv_kernel_size)
class Conv2D(WeightPenalties, Layer):
    """2-D convolution layer (spatial cross-correlation, as in Keras).

    Args:
        filters: number of output channels (Keras 1: ``nb_filter``).
        kernel_size: int or (rows, cols) (Keras 1: ``nb_row, nb_col``).
        strides: int or (rows, cols) (Keras 1: ``subsample``).
        padding: ``'valid'`` or ``'same'`` (Keras 1: ``border_mode``).
        data_format: ``'channels_last'`` or ``'channels_first'`` (Keras 1: ``dim_ordering``
            ``'tf'``/``'th'``); the backend default when None.
        dilation_rate: int or (rows, cols): the kernel's taps are this far apart, so a k x k
            kernel spans ``(k - 1) * d + 1`` rows and columns (Keras 1: ``atrous_rate`` of
            ``AtrousConvolution2D``). Not with strides greater than 1.
        groups: the input channels and the filters are split into this many groups; each
            group of filters sees only its group of input channels. Both counts must divide
            by it; the kernel has ``in_channels // groups`` input channels.
        activation, use_bias, kernel_initializer, bias_initializer: as in `Dense`.
        kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
            bias_constraint: as in `Dense` (Keras 1: ``W_regularizer``, ``b_regularizer``,
            ``W_constraint``, ``b_constraint``).

    Input shape: (batch, rows, cols, channels), or (batch, channels, rows, cols) channels-first.
    Output shape: (batch, new_rows, new_cols, filters), or channels-first likewise.

    Example:
        >>> Conv2D(32, (3, 3), input_shape=(100, 100, 3)).compute_output_shape((None, 100, 100, 3))
        (None, 98, 98, 32)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, groups=1, **kwargs):
        super().__init__(**kwargs)
        owner = f"Conv2D '{self.name}'"
        self.filters = check_positive_int(filters, "filters", owner)
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, 2, "kernel_size", owner)
        self.strides = conv_utils.normalize_tuple(strides, 2, "strides", owner)
        self.padding = conv_utils.normalize_padding(padding, owner)
        self.data_format = normalize_data_format(data_format)
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, 2, "dilation_rate", owner)
        dilation_and_strides(owner, self.strides, self.dilation_rate)
        self.groups = check_positive_int(groups, "groups", owner)
        if self.filters % self.groups:
            raise ValueError(f"{owner}: the number of filters must be divisible by the number of groups; "
                             f"received filters={self.filters}, groups={self.groups}")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._init_penalties(kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                             bias_constraint)
        self.input_spec = image_input_spec(self.data_format)

    @property
    def _extent(self) -> tuple[int, int]:
        return kernel_extent(self.kernel_size, self.dilation_rate)

    def build(self, input_shape):
        check_window_fits(self, input_shape, self._extent, self.padding, "kernel")
        channels = spatial_dims(input_shape, self.data_format)[2]
        if channels is None:
            raise ValueError(f"Conv2D '{self.name}': the channel axis must be known; "
                             f"received input shape {shape_str(input_shape)}")
        add_kernel_and_bias(self, channels, input_shape, "Conv2D")
        self.input_spec = image_input_spec(self.data_format, channels)
        self.built = True

    def check_input(self, shape) -> None:
        check_window_fits(self, (None,) + tuple(shape[1:]), self._extent, self.padding, "kernel")

    def call(self, inputs):
        if self.data_format == "channels_first":
            y = self.call_channels_last(ops.transpose(inputs, TO_CHANNELS_LAST))
            return ops.transpose(y, TO_CHANNELS_FIRST)
        return self.call_channels_last(inputs)

    def call_channels_last(self, x, training=False, activation=None):
        """The computation on a channels-last tensor, whatever ``data_format`` says (models use
        it to skip transposes between consecutive channels-first layers)."""
        fuse = self.activation is activations.relu or (activation is activations.relu and self.fuses(activation))
        y = ops.conv2d(x, self.kernel, self.bias, self.strides, self.padding, relu=fuse,
                       dilation_rate=self.dilation_rate, groups=self.groups)
        return self._penalized_output(y if fuse else self.activation(y))

    def fuses(self, activation) -> bool:
        return (activation is activations.relu and self.activation is activations.linear
                and self.activity_regularizer is None)

    def call_with_activation(self, inputs, activation, training=False, mask=None):
        if self.data_format == "channels_first":
            y = self.call_channels_last(ops.transpose(inputs, TO_CHANNELS_LAST), activation=activation)
            return ops.transpose(y, TO_CHANNELS_FIRST)
        return self.call_channels_last(inputs, activation=activation)

    def runs_channels_last(self) -> bool:
        return self.data_format == "channels_first"

    def takes_residual(self, activation) -> bool:
        return (activation in (None, activations.relu) and self.activation is activations.linear
                and self.activity_regularizer is None and self.groups == 1 and self.dilation_rate == (1, 1))

    def call_with_residual(self, inputs, residual, activation=None, training=False):
        """``activation(conv(inputs) + bias + residual)`` on channels-last images (the planner
        passes them so: `runs_channels_last`) or this layer's own channels-last ones: in the
        convolution's output pass when no gradient is recorded, else with ops."""
        relu = activation is activations.relu
        if records_gradient(inputs, residual, self.kernel, self.bias):
            y = ops.add(ops.conv2d(inputs, self.kernel, self.bias, self.strides, self.padding), residual)
            return ops.relu(y) if relu else y
        return conv2d_residual(inputs, self.kernel, self.bias, residual, self.strides, self.padding, relu)

    def output_affine_folder(self, axis: int, ndim: int):
        """How to fold a per-channel ``output * scale + shift`` along output ``axis`` (of ``ndim``)
        into the kernel and bias: a function of ``(scale, shift)`` giving a context in which
        this layer computes the folded result; None when it cannot (not the channel axis, or
        an activation or activity regularizer of its own). A fact for the model planner; a
        subclass whose kernel's last axis is not its output channels must return None."""
        channel = 1 if self.data_format == "channels_first" else 3
        if (ndim, axis) != (4, channel) or self.activation is not activations.linear \
                or self.activity_regularizer is not None:
            return None
        return functools.partial(folded_kernel_and_bias, self)

    def stored_weight_converter(self, var, stored_shape, origin):
        """Kernels stored in Theano's order ``(filters, in, rows, cols)`` are transposed; kernels
        trained with Theano's true convolution are flipped in both spatial axes (see
        ``origin.flip_for``)."""
        if var is not self.kernel:
            return None
        th_order = theano_order(var.shape, stored_shape, self.data_format, origin)
        if th_order is None:
            return None
        return kernel_reader(th_order, origin.flip_for(self, th_order))

    def compute_output_shape(self, input_shape):
        check_window_fits(self, input_shape, self._extent, self.padding, "kernel")
        rows, cols, _ = spatial_dims(input_shape, self.data_format)
        out_rows = conv_utils.conv_output_length(rows, self._extent[0], self.padding, self.strides[0])
        out_cols = conv_utils.conv_output_length(cols, self._extent[1], self.padding, self.strides[1])
        if self.data_format == "channels_first":
            return (input_shape[0], self.filters, out_rows, out_cols)
        return (input_shape[0], out_rows, out_cols, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), **self.penalty_config()}

