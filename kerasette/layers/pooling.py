"""Pooling layers: MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D
(Keras 1: border_mode, dim_ordering)."""

from __future__ import annotations

from kerasette.backend import ops, state
from kerasette.backend.config import normalize_data_format
from kerasette.backend.ops.pooling import global_average_pool2d, global_average_pool2d_array
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer
from kerasette.layers.image_input import (
    TO_CHANNELS_FIRST,
    TO_CHANNELS_LAST,
    check_window_fits,
    image_input_spec,
    spatial_dims,
)
from kerasette.layers.legacy import CONV_KERAS1, IMAGE_KERAS1, keras_layer
from kerasette.utils import conv_utils


class _Pooling2D(Layer):
    """A 2-D window moved over each image; subclasses say what it computes (`call_channels_last`).

    Args:
        pool_size: int or (rows, cols).
        strides: int or (rows, cols); ``pool_size`` when None.
        padding: ``'valid'`` or ``'same'`` (Keras 1: ``border_mode``).
        data_format: as in `Conv2D`.

    Example:
        >>> MaxPooling2D((2, 2)).compute_output_shape((None, 96, 96, 32))
        (None, 48, 48, 32)
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        self.pool_size = conv_utils.normalize_tuple(pool_size, 2, "pool_size", owner)
        self.strides = conv_utils.normalize_tuple(strides if strides is not None else self.pool_size,
                                                  2, "strides", owner)
        self.padding = conv_utils.normalize_padding(padding, owner)
        self.data_format = normalize_data_format(data_format)
        self.input_spec = image_input_spec(self.data_format)

    def build(self, input_shape):
        check_window_fits(self, input_shape, self.pool_size, self.padding, "pool")
        self.built = True

    def check_input(self, shape) -> None:
        check_window_fits(self, (None,) + tuple(shape[1:]), self.pool_size, self.padding, "pool")

    def call(self, inputs):
        if self.data_format == "channels_first":
            y = self.call_channels_last(ops.transpose(inputs, TO_CHANNELS_LAST))
            return ops.transpose(y, TO_CHANNELS_FIRST)
        return self.call_channels_last(inputs)

    def runs_channels_last(self) -> bool:
        return self.data_format == "channels_first"

    def compute_output_shape(self, input_shape):
        check_window_fits(self, input_shape, self.pool_size, self.padding, "pool")
        rows, cols, channels = spatial_dims(input_shape, self.data_format)
        out_rows = conv_utils.conv_output_length(rows, self.pool_size[0], self.padding, self.strides[0])
        out_cols = conv_utils.conv_output_length(cols, self.pool_size[1], self.padding, self.strides[1])
        if self.data_format == "channels_first":
            return (input_shape[0], channels, out_rows, out_cols)
        return (input_shape[0], out_rows, out_cols, channels)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


@keras_layer(aliases=("MaxPool2D",), keras1=CONV_KERAS1)
class MaxPooling2D(_Pooling2D):
    """Max-pooling over 2-D windows.

    Args:
        pool_size: int or (rows, cols).
        strides: int or (rows, cols); ``pool_size`` when None.
        padding: ``'valid'`` or ``'same'`` (Keras 1: ``border_mode``).
        data_format: as in `Conv2D`.

    Example:
        >>> MaxPooling2D((2, 2)).compute_output_shape((None, 96, 96, 32))
        (None, 48, 48, 32)
    """

    def call_channels_last(self, x, training=False, activation=None):
        """The computation on a channels-last tensor, whatever ``data_format`` says."""
        return ops.max_pool2d(x, self.pool_size, self.strides, self.padding)



@keras_layer(aliases=("AvgPool2D",), keras1=CONV_KERAS1)
class AveragePooling2D(_Pooling2D):
    """Average-pooling over 2-D windows; with ``'same'`` padding the padded cells are left out of
    each average, as in Keras.

    Args:
        pool_size, strides, padding, data_format: as in `MaxPooling2D`.

    Example:
        >>> AveragePooling2D(3, strides=2, padding="same").compute_output_shape((None, 7, 7, 8))
        (None, 4, 4, 8)
    """

    def call_channels_last(self, x, training=False, activation=None):
        return ops.avg_pool2d(x, self.pool_size, self.strides, self.padding)


class _GlobalPooling2D(Layer):
    """Reduces the rows and columns of each image to one value per channel."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format)
        self.keepdims = bool(keepdims)
        self.input_spec = image_input_spec(self.data_format)

    def call(self, inputs):
        axes = (2, 3) if self.data_format == "channels_first" else (1, 2)
        return self.reduce(inputs, axes, self.keepdims)

    def runs_channels_last(self) -> bool:
        return self.data_format == "channels_first" and not self.keepdims

    def call_channels_last(self, x, training=False, activation=None):
        return self.reduce(x, (1, 2), False)

    def reduce(self, x, axes, keepdims):
        """The reduction of ``x`` over its spatial ``axes``."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        Layer.check_input(self, input_shape)
        _, _, channels = spatial_dims(input_shape, self.data_format)
        if not self.keepdims:
            return (input_shape[0], channels)
        if self.data_format == "channels_first":
            return (input_shape[0], channels, 1, 1)
        return (input_shape[0], 1, 1, channels)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@keras_layer(aliases=("GlobalAvgPool2D",), keras1=IMAGE_KERAS1)
class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel over the image.

    Args:
        data_format: as in `Conv2D`.
        keepdims: keep the rows and columns as axes of size 1.

    Example:
        >>> GlobalAveragePooling2D().compute_output_shape((None, 7, 7, 8))
        (None, 8)
    """

    def run(self, inputs, training=False, mask=None, **kwargs):
        if mask is None and not kwargs and isinstance(inputs, Tensor) and not state.grad_mode.is_enabled() \
                and type(self).call is _GlobalPooling2D.call and type(self).reduce is GlobalAveragePooling2D.reduce \
                and not self.__dict__.get("_call_losses"):
            # an eager call with nothing recorded (layers_bench's forward rows, a user's loop under
            # no_grad): straight to the kernels, without `Layer.run`'s bookkeeping (for calls that may
            # add losses or take masks) or an op (~20 us a call of Python that runs with the caches
            # cold after the pass)
            self.check_input_once(inputs.shape)
            channels_last = self.data_format == "channels_last"
            y = global_average_pool2d_array(inputs.data, channels_last)
            return Tensor(y.reshape(_kept_shape(y.shape, channels_last)) if self.keepdims else y)
        return super().run(inputs, training, mask, **kwargs)

    def reduce(self, x, axes, keepdims):
        y = global_average_pool2d(x, "channels_last" if axes == (1, 2) else "channels_first")
        if keepdims:
            y = ops.reshape(y, _kept_shape(y.shape, axes == (1, 2)))
        return y


def _kept_shape(shape: tuple[int, int], channels_last: bool) -> tuple[int, int, int, int]:
    """The 4-D shape of global pooling's (N, C) output ``shape`` with ``keepdims``."""
    return (shape[0], 1, 1, shape[1]) if channels_last else (shape[0], shape[1], 1, 1)


@keras_layer(aliases=("GlobalMaxPool2D",), keras1=IMAGE_KERAS1)
class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum of each channel over the image.

    Args:
        data_format: as in `Conv2D`.
        keepdims: keep the rows and columns as axes of size 1.

    Example:
        >>> GlobalMaxPooling2D(keepdims=True).compute_output_shape((None, 7, 7, 8))
        (None, 1, 1, 8)
    """

    def reduce(self, x, axes, keepdims):
        return ops.max(x, axis=axes, keepdims=keepdims)


# Keras 1 and 2 scripts import the 1-D pooling layers from here (``keras.layers.pooling``).
from kerasette.layers.pooling1d import (  # noqa: E402,F401 - pooling1d imports nothing from here
    AveragePooling1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
)
from kerasette.layers.pooling3d import (  # noqa: E402,F401 - pooling3d imports nothing from here
    AveragePooling3D,
    GlobalAveragePooling3D,
    GlobalMaxPooling3D,
    MaxPooling3D,
)
