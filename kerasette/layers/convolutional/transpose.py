"""Conv2DTranspose (Keras 1: Deconvolution2D): the transposed 2-D convolution, in either data format.

A transposed convolution spreads each input pixel over a window of the output, weighted by the
kernel, stepping ``strides`` output pixels per input pixel; it is the gradient of a convolution
with respect to that convolution's input, and is used to upsample with learned weights. The kernel
is stored as Keras stores it: (rows, cols, filters, in_channels) whatever the data format. Output
sizes follow Keras 3's rule (`kerasette.utils.conv_transpose`): 'same' gives ``input * strides``,
'valid' ``(input - 1) * strides + max(kernel, strides)``, and ``output_padding`` chooses another
size, ``(input - 1) * strides + kernel % 2 + output_padding`` ('same') or ``(input - 1) * strides +
kernel + output_padding`` ('valid').

Keras 1's ``Deconvolution2D(nb_filter, nb_row, nb_col, output_shape, subsample=, border_mode=,
dim_ordering=)`` is this layer with its Keras 1 names. Keras 1 required ``output_shape`` (the
whole output, batch first, in the layer's dim_ordering), because TensorFlow's conv2d_transpose
needed it; here it is optional: the layer derives the ``output_padding`` that gives those rows and
columns from the input size (every size TensorFlow accepted for that input has one, with the same
placement of the output), and raises a ValueError naming both shapes when the given
``output_shape`` is not a possible output for the input (or its channels are not ``nb_filter``).
The layer's config is then written in Keras 3's form (``output_padding``), so files move to
Keras 2 and 3.
"""

from __future__ import annotations

from kerasette import activations, initializers
from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.core import WeightPenalties
from kerasette.layers.image_input import (
    TO_CHANNELS_FIRST,
    TO_CHANNELS_LAST,
    image_input_spec,
    spatial_dims,
)
from kerasette.layers.legacy import CONV_KERAS1, keras_layer
from kerasette.utils import conv_utils
from kerasette.utils.conv_transpose import deconv_output_length
from kerasette.utils.validation import check_positive_int, shape_str


def deconvolution_positional(args: tuple, kwargs: dict, translated: list[str]) -> tuple:
    """``Deconvolution2D(nb_filter, nb_row, nb_col, output_shape, ...)`` and ``nb_row=, nb_col=``
    become ``kernel_size=(nb_row, nb_col)`` and ``output_shape=``."""
    if "nb_row" in kwargs or "nb_col" in kwargs:
        kwargs["kernel_size"] = (kwargs.pop("nb_row", 1), kwargs.pop("nb_col", 1))
        translated.append("nb_row/nb_col")
    if len(args) >= 3 and all(isinstance(a, int) and not isinstance(a, bool) for a in args[:3]):
        kwargs["kernel_size"] = (args[1], args[2])
        translated.append("Deconvolution2D(nb_filter, nb_row, nb_col)")
        if len(args) >= 4:
            if "output_shape" in kwargs:
                raise TypeError("Deconvolution2D: got `output_shape` both as the fourth positional argument "
                                "and as a keyword")
            kwargs["output_shape"] = args[3]
            args = args[:1] + args[4:]
        else:
            args = args[:1]
    return args


@keras_layer(aliases=("Deconvolution2D", "Convolution2DTranspose"),
             keras1={**CONV_KERAS1, "nb_filter": "filters"}, keras1_positional=deconvolution_positional)
class Conv2DTranspose(WeightPenalties, Layer):
    """Transposed 2-D convolution layer (sometimes called deconvolution).

    Args:
        filters: number of output channels (Keras 1: ``nb_filter``).
        kernel_size: int or (rows, cols) (Keras 1: ``nb_row, nb_col``).
        strides: int or (rows, cols): output pixels per input pixel (Keras 1: ``subsample``).
        padding: ``'valid'`` or ``'same'`` (Keras 1: ``border_mode``).
        output_padding: None (the size 'valid' or 'same' gives) or an int or (rows, cols), each
            smaller than its stride: extra rows and columns at the end of the output.
        data_format: ``'channels_last'`` or ``'channels_first'`` (Keras 1: ``dim_ordering``).
        dilation_rate: int or (rows, cols); above 1 only with strides 1 (Keras's rule).
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as in
            `Conv2D` (Keras 1: ``init``, ``bias``, ``W_regularizer``, ``b_regularizer``,
            ``W_constraint``, ``b_constraint``).
        output_shape: Keras 1 only: the output shape (batch, rows, cols, filters), or channels
            first; see the module docstring.

    Input shape: (batch, rows, cols, channels), or (batch, channels, rows, cols) channels-first.
    Output shape: (batch, new_rows, new_cols, filters), or channels-first likewise.

    Example:
        >>> Conv2DTranspose(8, 3, strides=2, padding="same").compute_output_shape((None, 16, 16, 4))
        (None, 32, 32, 8)
        >>> Conv2DTranspose(8, 3, strides=2, output_padding=1).compute_output_shape((None, 16, 16, 4))
        (None, 34, 34, 8)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, output_shape=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"Conv2DTranspose '{self.name}'"
        self.filters = check_positive_int(filters, "filters", owner)
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, 2, "kernel_size", owner)
        self.strides = conv_utils.normalize_tuple(strides, 2, "strides", owner)
        self.padding = conv_utils.normalize_padding(padding, owner)
        self.data_format = normalize_data_format(data_format)
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, 2, "dilation_rate", owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: strides above 1 and dilation_rate above 1 cannot be used together "
                             f"(Keras's rule); received strides={strides!r}, dilation_rate={dilation_rate!r}")
        self.output_padding = self._check_output_padding(output_padding, owner)
        self.output_shape_keras1 = self._check_output_shape(output_shape, owner)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._init_penalties(kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                             bias_constraint)
        self.input_spec = image_input_spec(self.data_format)

    # -- arguments --------------------------------------------------------------------------------
    def _check_output_padding(self, value, owner):
        if value is None:
            return None
        pairs = value if not isinstance(value, int) else (value, value)
        try:
            pairs = tuple(pairs)
        except TypeError:
            pairs = ()
        if len(pairs) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in pairs):
            raise ValueError(f"{owner}: argument `output_padding` must be None, an int or two ints >= 0; "
                             f"received output_padding={value!r}")
        for axis, (pad, stride) in enumerate(zip(pairs, self.strides)):
            if pad >= stride:
                raise ValueError(f"{owner}: each value of `output_padding` must be smaller than its stride; "
                                 f"received output_padding={value!r} with strides={self.strides} "
                                 f"(axis {axis}: {pad} >= {stride})")
        return pairs

    def _check_output_shape(self, value, owner):
        """Keras 1's ``output_shape``: checked for its form here, against the input when built."""
        if value is None:
            return None
        try:
            shape = tuple(None if v is None else int(v) for v in value)
        except (TypeError, ValueError):
            shape = ()
        if len(shape) == 3:  # Keras 1 also took (rows, cols, filters) without the batch axis
            shape = (None,) + shape
        if len(shape) != 4:
            raise ValueError(f"{owner}: Keras 1 argument `output_shape` must be the output's shape "
                             f"(batch, rows, cols, filters) (channels first: (batch, filters, rows, cols)); "
                             f"received output_shape={value!r}")
        rows, cols, channels = spatial_dims(shape, self.data_format)
        if channels is not None and channels != self.filters:
            raise ValueError(f"{owner}: Keras 1 argument `output_shape`={value!r} has {channels} channels "
                             f"({self.data_format}), but the layer has nb_filter={self.filters}")
        return (rows, cols)

    def _apply_output_shape(self, input_shape) -> None:
        """Derives ``output_padding`` from Keras 1's ``output_shape`` for this input (once its
        rows and cols are known), or raises the error of an output no padding gives."""
        if self.output_shape_keras1 is None:
            return
        rows, cols, _ = spatial_dims(input_shape, self.data_format)
        if rows is None or cols is None:
            return
        pads, non_default = [], False
        for axis, (size, target) in enumerate(zip((rows, cols), self.output_shape_keras1)):
            k = (self.kernel_size[axis] - 1) * self.dilation_rate[axis] + 1
            stride = self.strides[axis]
            default = deconv_output_length(size, k, self.padding, None, stride)
            target = default if target is None else target
            non_default |= target != default
            # the sizes output_padding gives: base + 0 ... base + stride - 1
            base = (size - 1) * stride + (k if self.padding == "valid" else k % 2)
            if not (0 <= target - base < stride or target == default):
                high = max(base + stride - 1, default)
                raise ValueError(
                    f"Deconvolution2D '{self.name}': Keras 1 argument `output_shape` "
                    f"{shape_str(self._keras1_shape_text())} asks for {('rows', 'cols')[axis]} {target}, but an "
                    f"input of shape {shape_str(input_shape)} with kernel {self.kernel_size}, strides "
                    f"{self.strides} and padding '{self.padding}' gives {base} to {high} "
                    f"{('rows', 'cols')[axis]}")
            pads.append(target - base)
        if non_default:
            if any(p >= s for p, s in zip(pads, self.strides)):  # 'same', an even kernel, one axis default
                raise ValueError(
                    f"Deconvolution2D '{self.name}': Keras 1 argument `output_shape` "
                    f"{shape_str(self._keras1_shape_text())} cannot be written as one `output_padding` for an "
                    f"input of shape {shape_str(input_shape)}; give `output_padding` (Keras 2) instead")
            self.output_padding = tuple(pads)
        self.output_shape_keras1 = None  # settled: from here on the layer is the Keras 2/3 one

    def _keras1_shape_text(self):
        rows, cols = self.output_shape_keras1
        return ((None, self.filters, rows, cols) if self.data_format == "channels_first"
                else (None, rows, cols, self.filters))

    # -- the layer ------------------------------------------------------------------------------
    def build(self, input_shape):
        Layer.check_input(self, input_shape)
        channels = spatial_dims(input_shape, self.data_format)[2]
        if channels is None:
            raise ValueError(f"Conv2DTranspose '{self.name}': the channel axis must be known; "
                             f"received input shape {shape_str(input_shape)}")
        self._apply_output_shape(input_shape)
        self.compute_output_shape(input_shape)  # the errors of impossible sizes, before any weight
        shape = self.kernel_size + (self.filters, channels)
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.input_spec = image_input_spec(self.data_format, channels)
        self.built = True

    def check_input(self, shape) -> None:
        Layer.check_input(self, shape)
        self._apply_output_shape((None,) + tuple(shape[1:]))

    def call(self, inputs):
        if self.data_format == "channels_first":
            y = self.call_channels_last(ops.transpose(inputs, TO_CHANNELS_LAST))
            return ops.transpose(y, TO_CHANNELS_FIRST)
        return self.call_channels_last(inputs)

    def call_channels_last(self, x, training=False, activation=None):
        """The computation on a channels-last tensor, whatever ``data_format`` says."""
        fuse = self.activation is activations.relu or (activation is activations.relu and self.fuses(activation))
        y = ops.conv2d_transpose(x, self.kernel, self.bias, self.strides, self.padding, self.output_padding,
                                 self.dilation_rate, relu=fuse)
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

    def stored_weight_converter(self, var, stored_shape, origin):
        """Keras 2 and 3 store the kernel as (rows, cols, filters, in); Keras 1's Deconvolution2D
        stored it as its Convolution2D did: (rows, cols, in, filters) with dim_ordering 'tf',
        (filters, in, rows, cols) with 'th'. Kernels trained with Theano's true convolution are
        flipped in both spatial axes (see ``origin.flip_for``)."""
        if var is not self.kernel:
            return None
        rows, cols, filters, cin = var.shape
        stored = tuple(stored_shape)
        th_shape, tf_shape = (filters, cin, rows, cols), (rows, cols, cin, filters)
        if not origin.is_keras1:
            if stored != (rows, cols, filters, cin):
                return None
            order = "keras2"
        elif stored == th_shape and (self.data_format == "channels_first" or stored != tf_shape):
            order = "keras1_th"
        elif stored == tf_shape:
            order = "keras1_tf"
        else:
            return None
        flip = origin.flip_for(self, order == "keras1_th")

        def convert(value):
            if value.ndim == 4:
                if order == "keras1_tf":
                    value = value.transpose(0, 1, 3, 2)
                elif order == "keras1_th":
                    value = value.transpose(2, 3, 0, 1)
                if flip:
                    value = value[::-1, ::-1, :, :]
            return value.copy(order="C")

        return convert

    def compute_output_shape(self, input_shape):
        Layer.check_input(self, input_shape)
        rows, cols, _ = spatial_dims(input_shape, self.data_format)
        pads = (None, None) if self.output_padding is None else self.output_padding
        if self.output_shape_keras1 is not None and rows is not None and cols is not None:
            self._apply_output_shape(input_shape)
            pads = (None, None) if self.output_padding is None else self.output_padding
        out = [deconv_output_length(size, self.kernel_size[a], self.padding, pads[a], self.strides[a],
                                    self.dilation_rate[a]) for a, size in enumerate((rows, cols))]
        if any(size is not None and size < 1 for size in out):
            raise ValueError(f"Conv2DTranspose '{self.name}': an input of shape {shape_str(input_shape)} gives an "
                             f"empty output ({out[0]} x {out[1]}) with kernel {self.kernel_size}, strides "
                             f"{self.strides}, padding '{self.padding}' and output_padding {self.output_padding}")
        if self.output_shape_keras1 is not None:  # rows or cols unknown: Keras 1's given size
            out = [o if o is not None else w for o, w in zip(out, self.output_shape_keras1)]
        if self.data_format == "channels_first":
            return (input_shape[0], self.filters, out[0], out[1])
        return (input_shape[0], out[0], out[1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), **self.penalty_config()}


Deconvolution2D = Conv2DTranspose
