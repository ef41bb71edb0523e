"""Conv3D (Keras 1: Convolution3D): 3-D convolution over volumes (video clips, medical scans) in
either data format, strided or dilated, grouped.

The engine convolves channels-last (`kerasette.backend.ops.conv3d`); a channels-first layer
transposes at its boundary. The kernel is stored as Keras stores it, (depth, rows, cols,
in_channels // groups, filters), whatever the data format; Keras 1 files with Theano's order
(filters, in, depth, rows, cols) load too.

Keras 1's ``Convolution3D(nb_filter, kernel_dim1, kernel_dim2, kernel_dim3, init=, activation=,
weights=, border_mode=, subsample=, dim_ordering=, W_regularizer=, b_regularizer=,
activity_regularizer=, W_constraint=, b_constraint=, bias=)`` is this layer with its Keras 1 names.
"""

from __future__ import annotations

import functools

from kerasette import activations, initializers
from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.convolutional.conv2d import add_kernel_and_bias, dilation_and_strides, kernel_extent
from kerasette.layers.core import WeightPenalties
from kerasette.layers.folding import folded_kernel_and_bias
from kerasette.layers.legacy import CONV_KERAS1, keras_layer
from kerasette.layers.volume_input import (
    channels_last_call,
    check_volume_window_fits,
    data_format_of,
    volume_dims,
    volume_input_spec,
    volume_shape,
)
from kerasette.utils import conv_utils
from kerasette.utils.validation import check_positive_int, shape_str

_KERNEL_DIMS = ("kernel_dim1", "kernel_dim2", "kernel_dim3")

#: Keras 1's positional order after (nb_filter, kernel_dim1, kernel_dim2, kernel_dim3)
_KERAS1_TAIL = ("init", "activation", "weights", "border_mode", "subsample", "dim_ordering")


def conv3d_kernel_size(args: tuple, kwargs: dict, translated: list[str]) -> tuple:
    """``Convolution3D(32, 3, 3, 3)`` and ``kernel_dim1=3, kernel_dim2=3, kernel_dim3=3`` become
    ``kernel_size=(3, 3, 3)`` (Keras 1's forms); Keras 1's positional arguments after them
    (``init``, ``activation``, ``weights``, ``border_mode``, ``subsample``, ``dim_ordering``) are
    passed by name."""
    if any(name in kwargs for name in _KERNEL_DIMS):
        missing = [name for name in _KERNEL_DIMS if name not in kwargs]
        if missing:
            raise TypeError(f"Convolution3D: Keras 1's kernel size needs kernel_dim1, kernel_dim2 and kernel_dim3; "
                            f"missing {', '.join(missing)}")
        kwargs["kernel_size"] = tuple(kwargs.pop(name) for name in _KERNEL_DIMS)
        translated.append("kernel_dim1/kernel_dim2/kernel_dim3")
    if len(args) >= 4 and all(isinstance(a, int) and not isinstance(a, bool) for a in args[:4]):
        kwargs["kernel_size"] = tuple(args[1:4])
        translated.append("Convolution3D(nb_filter, kernel_dim1, kernel_dim2, kernel_dim3)")
        tail = args[4:]
        if len(tail) > len(_KERAS1_TAIL):
            raise TypeError(f"Convolution3D takes at most {4 + len(_KERAS1_TAIL)} positional arguments in Keras 1's "
                            f"form; received {len(args)}")
        for name, value in zip(_KERAS1_TAIL, tail):
            if name in kwargs:
                raise TypeError(f"Convolution3D: got `{name}` both positionally and as a keyword")
            kwargs[name] = value
        args = args[:1]
    return args


@keras_layer(aliases=("Convolution3D",), keras1={**CONV_KERAS1, "nb_filter": "filters"},
             keras1_positional=conv3d_kernel_size)
class Conv3D(WeightPenalties, Layer):
    """3-D convolution layer (spatial cross-correlation over volumes, as in Keras).

    Args:
        filters: number of output channels (Keras 1: ``nb_filter``).
        kernel_size: int or (depth, rows, cols) (Keras 1: ``kernel_dim1, kernel_dim2, kernel_dim3``).
        strides: int or three ints (Keras 1: ``subsample``). Not above 1 with a dilation_rate above 1.
        padding: ``'valid'`` or ``'same'`` (Keras 1: ``border_mode``); 'same' pads
            ``max((out - 1) * s + extent - n, 0)`` along each axis, the smaller half before.
        data_format: ``'channels_last'`` (batch, depth, rows, cols, channels) or
            ``'channels_first'`` (batch, channels, depth, rows, cols) (Keras 1: ``dim_ordering``
            ``'tf'``/``'th'``); the backend default when None.
        dilation_rate: int or three ints: the kernel's taps are this far apart, so k taps span
            ``(k - 1) * d + 1``.
        groups: the input channels and the filters are split into this many groups, each group
            of filters seeing only its group of channels; the kernel has ``in // groups`` inputs.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as in
            `Conv2D` (Keras 1: ``init``, ``bias``, ``W_regularizer``, ``b_regularizer``,
            ``W_constraint``, ``b_constraint``).

    Input shape: (batch, depth, rows, cols, channels), or channels-first (batch, channels, depth,
    rows, cols). Output shape: likewise, with ``filters`` channels.

    Example:
        >>> Conv3D(8, 3).compute_output_shape((None, 10, 12, 14, 2))
        (None, 8, 10, 12, 8)
        >>> Conv3D(8, (1, 3, 3), strides=2, padding="same").compute_output_shape((None, 5, 9, 9, 2))
        (None, 3, 5, 5, 8)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        owner = f"Conv3D '{self.name}'"
        self.filters = check_positive_int(filters, "filters", owner)
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, 3, "kernel_size", owner)
        self.strides = conv_utils.normalize_tuple(strides, 3, "strides", owner)
        self.padding = conv_utils.normalize_padding(padding, owner)
        self.data_format = data_format_of(data_format, owner)
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, 3, "dilation_rate", owner)
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
        self.input_spec = volume_input_spec(self.data_format)

    @property
    def _extent(self) -> tuple[int, int, int]:
        return kernel_extent(self.kernel_size, self.dilation_rate)

    def build(self, input_shape):
        check_volume_window_fits(self, input_shape, self._extent, self.padding, "kernel")
        channels = volume_dims(input_shape, self.data_format)[3]
        if channels is None:
            raise ValueError(f"Conv3D '{self.name}': the channel axis must be known; "
                             f"received input shape {shape_str(input_shape)}")
        add_kernel_and_bias(self, channels, input_shape, "Conv3D")
        self.input_spec = volume_input_spec(self.data_format, channels)
        self.built = True

    def check_input(self, shape) -> None:
        check_volume_window_fits(self, (None,) + tuple(shape[1:]), self._extent, self.padding, "kernel")

    def call(self, inputs):
        return channels_last_call(self, inputs, self._channels_last)

    def call_with_activation(self, inputs, activation, training=False, mask=None):
        return channels_last_call(self, inputs, functools.partial(self._channels_last, activation=activation))

    def _channels_last(self, x, activation=None):
        fuse = self.activation is activations.relu or (activation is activations.relu and self.fuses(activation))
        y = ops.conv3d(x, self.kernel, self.bias, self.strides, self.padding, relu=fuse,
                       dilation_rate=self.dilation_rate, groups=self.groups)
        return self._penalized_output(y if fuse else self.activation(y))

    def fuses(self, activation) -> bool:
        return (activation is activations.relu and self.activation is activations.linear
                and self.activity_regularizer is None)

    def output_affine_folder(self, axis: int, ndim: int):
        """How to fold a per-channel ``output * scale + shift`` (an inference BatchNormalization)
        into the kernel and bias, as `Conv2D.output_affine_folder` does: None unless ``axis`` is
        the output's channel axis and the layer has no activation or activity regularizer."""
        channel = 1 if self.data_format == "channels_first" else 4
        if (ndim, axis) != (5, channel) or self.activation is not activations.linear \
                or self.activity_regularizer is not None:
            return None
        return functools.partial(folded_kernel_and_bias, self)

    def stored_weight_converter(self, var, stored_shape, origin):
        """Kernels stored in Theano's order ``(filters, in, depth, rows, cols)`` (Keras 1 with
        ``dim_ordering='th'``) are transposed; kernels trained with Theano's true convolution are
        flipped in the three spatial axes (see ``origin.flip_for``)."""
        if var is not self.kernel:
            return None
        kd, kh, kw, cin, cout = var.shape
        tf_order = tuple(stored_shape) == (kd, kh, kw, cin, cout)
        th_order = tuple(stored_shape) == (cout, cin, kd, kh, kw)
        if not (tf_order or th_order):
            return None
        if tf_order and th_order:  # every axis alike: Keras 1 kernels follow the layer's dim_ordering
            th_order = origin.is_keras1 and self.data_format == "channels_first"
        flip = origin.flip_for(self, th_order)

        def convert(value):
            if th_order and value.ndim == 5:
                value = value.transpose(2, 3, 4, 1, 0)
            if flip and value.ndim == 5:
                value = value[::-1, ::-1, ::-1, :, :]
            return value.copy(order="C")

        return convert

    def compute_output_shape(self, input_shape):
        check_volume_window_fits(self, input_shape, self._extent, self.padding, "kernel")
        sizes = volume_dims(input_shape, self.data_format)[:3]
        out = tuple(conv_utils.conv_output_length(n, e, self.padding, s)
                    for n, e, s in zip(sizes, self._extent, self.strides))
        return volume_shape(input_shape[0], out, self.filters, self.data_format)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), **self.penalty_config()}


Convolution3D = Conv3D
