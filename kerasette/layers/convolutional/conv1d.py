"""Conv1D (Keras 1: Convolution1D, AtrousConvolution1D): 1-D convolution over sequences, in
either data format, strided or dilated, grouped, with ``'causal'`` padding.

The layer runs the engine's 2-D convolution on the sequence seen as an image of one row,
(N, 1, steps, C), with a (1, k) kernel (`kerasette.layers.sequence_input`): no kernel of its own.
``'causal'`` padding is ``(k - 1) * dilation_rate`` zeros before the first step, then a
``'valid'`` convolution, so output step t sees inputs t and before only (WaveNet's convolutions).
The kernel is stored as Keras stores it, (k, in_channels // groups, filters), whatever the data
format; Keras 1 stored it as (k, 1, in_channels, filters) and such files load too.

Keras 1's ``Convolution1D(nb_filter, filter_length, init=, activation=, weights=, border_mode=,
subsample_length=, W_regularizer=, b_regularizer=, activity_regularizer=, W_constraint=,
b_constraint=, bias=, input_dim=, input_length=)`` and ``AtrousConvolution1D(..., atrous_rate=)``
are this layer with their Keras 1 names.
"""

from __future__ import annotations

import functools

from kerasette import activations, initializers
from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.convolutional.conv2d import add_kernel_and_bias, dilation_and_strides
from kerasette.layers.core import WeightPenalties
from kerasette.layers.folding import folded_kernel_and_bias
from kerasette.layers.legacy import WEIGHT_KERAS1, keras_layer
from kerasette.layers.sequence_input import (
    as_image,
    causal_pad,
    check_steps_fit,
    from_channels_last,
    from_image,
    sequence_input_spec,
    sequence_shape,
    steps_and_channels,
    to_channels_last,
)
from kerasette.utils import conv_utils
from kerasette.utils.validation import check_positive_int, shape_str

#: Keras 1 names of the 1-D layers with a kernel (no dim_ordering: Keras 1 sequences were
#: always (batch, steps, channels))
CONV1D_KERAS1 = {**WEIGHT_KERAS1, "nb_filter": "filters", "filter_length": "kernel_size",
                 "border_mode": "padding", "subsample_length": "strides", "atrous_rate": "dilation_rate"}

#: Keras 1's positional order after (nb_filter, filter_length)
_KERAS1_TAIL = ("init", "activation", "weights", "border_mode", "subsample_length")


def sequence_input_shape(kwargs: dict, translated: list[str]) -> None:
    """Keras 1 and 2's ``input_dim=`` (channels) and ``input_length=`` (steps) of a first 1-D
    layer, as ``input_shape=(input_length, input_dim)`` (Keras 2 read them the same way).

    Keras 1 configs carry both keys on every 1-D layer, None on all but the first, whose
    ``batch_input_shape`` says the same: without an ``input_dim`` they give no shape, and an
    explicit ``input_shape`` or ``batch_input_shape`` wins."""
    if "input_dim" not in kwargs and "input_length" not in kwargs:
        return
    input_dim, input_length = kwargs.pop("input_dim", None), kwargs.pop("input_length", None)
    translated.append("input_dim/input_length -> input_shape")
    if input_dim is None or "input_shape" in kwargs or "batch_input_shape" in kwargs:
        return
    kwargs["input_shape"] = (input_length, input_dim)


def conv1d_keras1(args: tuple, kwargs: dict, translated: list[str]) -> tuple:
    """Keras 1's positional forms (``Convolution1D(64, 3, 'uniform', 'relu')``: the third
    argument a string is Keras 1's ``init``) and ``input_dim``/``input_length``."""
    sequence_input_shape(kwargs, translated)
    if len(args) >= 3 and isinstance(args[2], str):
        tail = args[2:]
        if len(tail) > len(_KERAS1_TAIL):
            raise TypeError(f"Convolution1D takes at most {2 + len(_KERAS1_TAIL)} positional arguments in Keras "
                            f"1's form; received {len(args)}")
        for name, value in zip(_KERAS1_TAIL, tail):
            if name in kwargs:
                raise TypeError(f"Convolution1D: got `{name}` both positionally and as a keyword")
            kwargs[name] = value
        translated.append("Convolution1D(nb_filter, filter_length, init, ...)")
        args = args[:2]
    return args


def normalize_padding(value, owner: str, allow_causal: bool) -> str:
    """``'valid'``, ``'same'`` and, where allowed, ``'causal'`` (any case)."""
    padding = str(value).lower()
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if padding not in allowed:
        raise ValueError(f"{owner}: argument `padding` must be one of {allowed}; received padding={value!r}")
    return padding


def output_steps(steps, extent: int, padding: str, stride: int):
    """The output length of a 1-D window of ``extent`` steps (``'causal'`` keeps the length at
    stride 1, as ``'same'`` does)."""
    if steps is None:
        return None
    if padding == "causal":
        return conv_utils.conv_output_length(steps + extent - 1, extent, "valid", stride)
    return conv_utils.conv_output_length(steps, extent, padding, stride)


class Window1D:
    """The arguments and shapes of a 1-D convolution window, shared by Conv1D, DepthwiseConv1D,
    SeparableConv1D and Conv1DTranspose: kernel_size, strides, padding, data_format,
    dilation_rate, activation, use_bias; the channels-first boundary (a transpose each way), the
    one-row image view the 2-D ops run on, and the ReLU fused into the last op. A subclass gives
    `_compute` (its ops on the view) and `_output_channels`."""

    allow_causal = False

    def _init_window(self, kernel_size, strides, padding, data_format, dilation_rate, activation,
                     use_bias) -> str:
        owner = f"{type(self).__name__} '{self.name}'"
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, 1, "kernel_size", owner)
        self.strides = conv_utils.normalize_tuple(strides, 1, "strides", owner)
        self.padding = normalize_padding(padding, owner, self.allow_causal)
        try:
            self.data_format = normalize_data_format(data_format)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, 1, "dilation_rate", owner)
        dilation_and_strides(owner, self.strides, self.dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.input_spec = sequence_input_spec(self.data_format)
        return owner

    @property
    def _extent(self) -> int:
        """The steps the kernel spans: ``(k - 1) * dilation_rate + 1``."""
        return (self.kernel_size[0] - 1) * self.dilation_rate[0] + 1

    def _input_channels(self, input_shape) -> int:
        check_steps_fit(self, input_shape, self._extent, self.padding, "kernel")
        channels = steps_and_channels(input_shape, self.data_format)[1]
        if channels is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the channel axis must be known; "
                             f"received input shape {shape_str(input_shape)}")
        return channels

    def check_input(self, shape) -> None:
        check_steps_fit(self, (None,) + tuple(shape[1:]), self._extent, self.padding, "kernel")

    def _image_arguments(self) -> tuple[tuple[int, int], str, tuple[int, int]]:
        """(strides, padding, dilation) of the 2-D op on the (N, 1, steps, C) view."""
        padding = "valid" if self.padding == "causal" else self.padding
        return (1, self.strides[0]), padding, (1, self.dilation_rate[0])

    # -- layouts and fusion ---------------------------------------------------------------------
    def call(self, inputs):
        return self._call(inputs, None)

    def call_with_activation(self, inputs, activation, training=False, mask=None):
        return self._call(inputs, activation)

    def _call(self, inputs, activation):
        x = to_channels_last(inputs, self.data_format)
        if self.padding == "causal":
            x = causal_pad(x, self._extent - 1)
        fuse = self.activation is activations.relu or (activation is activations.relu and self.fuses(activation))
        y = from_image(self._compute(as_image(x), fuse))
        y = self._penalized_output(y if fuse else self.activation(y))
        return from_channels_last(y, self.data_format)

    def _compute(self, image, relu: bool):
        """The layer's ops on the (N, 1, steps, C) view, bias and (when ``relu``) ReLU included."""
        raise NotImplementedError

    def fuses(self, activation) -> bool:
        return (activation is activations.relu and self.activation is activations.linear
                and self.activity_regularizer is None)

    # -- shapes and config ------------------------------------------------------------------------
    def _output_channels(self, channels):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        check_steps_fit(self, input_shape, self._extent, self.padding, "kernel")
        steps, channels = steps_and_channels(input_shape, self.data_format)
        out = output_steps(steps, self._extent, self.padding, self.strides[0])
        return sequence_shape(input_shape[0], out, self._output_channels(channels), self.data_format)

    def _window_config(self) -> dict:
        return {"kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate)}


@keras_layer(aliases=("Convolution1D", "AtrousConvolution1D"), keras1=CONV1D_KERAS1, keras1_positional=conv1d_keras1)
class Conv1D(Window1D, WeightPenalties, Layer):
    """1-D convolution layer (temporal cross-correlation, as in Keras).

    Args:
        filters: number of output channels (Keras 1: ``nb_filter``).
        kernel_size: int or (k,) (Keras 1: ``filter_length``).
        strides: int or (s,) (Keras 1: ``subsample_length``). Not above 1 with a dilation_rate
            above 1.
        padding: ``'valid'``, ``'same'`` or ``'causal'`` (Keras 1: ``border_mode``); causal pads
            ``(k - 1) * dilation_rate`` zeros before the sequence, so no output sees a later input.
        data_format: ``'channels_last'`` (batch, steps, channels) or ``'channels_first'``
            (batch, channels, steps); the backend default when None.
        dilation_rate: int or (d,): the kernel's taps are d steps apart (Keras 1: ``atrous_rate``
            of ``AtrousConvolution1D``).
        groups: the input channels and the filters split into this many groups, each group of
            filters seeing only its group of channels; the kernel has ``in // groups`` inputs.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as in
            `Conv2D` (Keras 1: ``init``, ``bias``, ``W_regularizer``, ``b_regularizer``,
            ``W_constraint``, ``b_constraint``).

    Input shape: (batch, steps, channels), or (batch, channels, steps) channels-first.
    Output shape: (batch, new_steps, filters), or channels-first likewise.

    Example:
        >>> Conv1D(8, 3).compute_output_shape((None, 10, 4))
        (None, 8, 8)
        >>> Conv1D(8, 3, padding="causal", dilation_rate=2).compute_output_shape((None, 10, 4))
        (None, 10, 8)
    """

    allow_causal = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = self._init_window(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias)
        self.filters = check_positive_int(filters, "filters", owner)
        self.groups = check_positive_int(groups, "groups", owner)
        if self.filters % self.groups:
            raise ValueError(f"{owner}: the number of filters must be divisible by the number of groups; "
                             f"received filters={self.filters}, groups={self.groups}")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._init_penalties(kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                             bias_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        add_kernel_and_bias(self, channels, input_shape, "Conv1D")
        self.input_spec = sequence_input_spec(self.data_format, channels)
        self.built = True

    def _compute(self, image, relu):
        strides, padding, dilation = self._image_arguments()
        kernel = ops.reshape(self.kernel, (1,) + tuple(self.kernel.shape))
        return ops.conv2d(image, kernel, self.bias, strides, padding, relu=relu, dilation_rate=dilation,
                          groups=self.groups)

    def _output_channels(self, channels):
        return self.filters

    def output_affine_folder(self, axis: int, ndim: int):
        """How to fold a per-channel ``output * scale + shift`` (an inference BatchNormalization)
        into the kernel and bias, as `Conv2D.output_affine_folder` does: None unless ``axis`` is
        the output's channel axis and the layer has no activation or activity regularizer."""
        channel = 1 if self.data_format == "channels_first" else 2
        if (ndim, axis) != (3, channel) or self.activation is not activations.linear \
                or self.activity_regularizer is not None:
            return None
        return functools.partial(folded_kernel_and_bias, self)

    def stored_weight_converter(self, var, stored_shape, origin):
        """Keras 1 stored the kernel as (k, 1, in, filters) (its Convolution1D ran a 2-D
        convolution); kernels trained with Theano's true convolution have their taps reversed
        (see ``origin.flip_for``)."""
        if var is not self.kernel:
            return None
        k, cin, cout = var.shape
        stored = tuple(stored_shape)
        if stored not in ((k, 1, cin, cout), (k, cin, cout)):
            return None
        flip = origin.flip_for(self, False)

        def convert(value):
            value = value.reshape(k, cin, cout) if value.size == k * cin * cout else value
            if flip and value.ndim == 3:
                value = value[::-1]
            return value.copy(order="C")

        return convert

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._window_config(), "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), **self.penalty_config()}


Convolution1D = Conv1D
AtrousConvolution1D = Conv1D
