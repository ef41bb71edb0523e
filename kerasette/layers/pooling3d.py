"""3-D pooling layers over volumes: MaxPooling3D, AveragePooling3D, GlobalMaxPooling3D,
GlobalAveragePooling3D, in either data format (Keras 1: ``border_mode``, ``dim_ordering``).

The windowed layers run the engine's channels-last 3-D pooling kernels
(`kerasette.backend.ops.pooling3d`); a channels-first layer transposes at its boundary. With
``'same'`` padding the padded cells take no part: max pooling ignores them, average pooling leaves
them out of each mean, as Keras does.
"""

from __future__ import annotations

from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.legacy import IMAGE_KERAS1, keras_layer
from kerasette.layers.volume_input import (
    channels_last_call,
    check_volume_window_fits,
    data_format_of,
    volume_dims,
    volume_input_spec,
    volume_shape,
)
from kerasette.utils import conv_utils


class _Pooling3D(Layer):
    """A 3-D window moved over each volume; subclasses give the channels-last op (`pool`)."""

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        self.pool_size = conv_utils.normalize_tuple(pool_size, 3, "pool_size", owner)
        self.strides = conv_utils.normalize_tuple(strides if strides is not None else self.pool_size,
                                                  3, "strides", owner)
        self.padding = conv_utils.normalize_padding(padding, owner)
        self.data_format = data_format_of(data_format, owner)
        self.input_spec = volume_input_spec(self.data_format)

    def build(self, input_shape):
        check_volume_window_fits(self, input_shape, self.pool_size, self.padding, "pool")
        self.built = True

    def check_input(self, shape) -> None:
        check_volume_window_fits(self, (None,) + tuple(shape[1:]), self.pool_size, self.padding, "pool")

    def call(self, inputs):
        return channels_last_call(self, inputs, lambda x: self.pool(x, self.pool_size, self.strides, self.padding))

    def pool(self, x, pool_size, strides, padding):
        """The pooling op on a channels-last (N, D, H, W, C) tensor."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        check_volume_window_fits(self, input_shape, self.pool_size, self.padding, "pool")
        *sizes, channels = volume_dims(input_shape, self.data_format)
        out = tuple(conv_utils.conv_output_length(n, p, self.padding, s)
                    for n, p, s in zip(sizes, self.pool_size, self.strides))
        return volume_shape(input_shape[0], out, channels, self.data_format)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


@keras_layer(aliases=("MaxPool3D",), keras1=IMAGE_KERAS1)
class MaxPooling3D(_Pooling3D):
    """Max-pooling over 3-D windows. Where several cells of a window hold its maximum, the
    gradient goes to the first of them (depth, then rows, then columns), as PyTorch's does.

    Args:
        pool_size: int or (depth, rows, cols).
        strides: int or three ints; ``pool_size`` when None.
        padding: ``'valid'`` or ``'same'`` (Keras 1: ``border_mode``).
        data_format: ``'channels_last'`` or ``'channels_first'`` (Keras 1: ``dim_ordering``); the
            backend default when None.

    Example:
        >>> MaxPooling3D().compute_output_shape((None, 8, 9, 10, 3))
        (None, 4, 4, 5, 3)
    """

    def pool(self, x, pool_size, strides, padding):
        return ops.max_pool3d(x, pool_size, strides, padding)


@keras_layer(aliases=("AvgPool3D",), keras1=IMAGE_KERAS1)
class AveragePooling3D(_Pooling3D):
    """Average-pooling over 3-D windows; with ``'same'`` padding the padded cells are left out of
    each average, as in Keras.

    Args:
        pool_size, strides, padding, data_format: as in `MaxPooling3D`.

    Example:
        >>> AveragePooling3D(3, strides=2, padding="same").compute_output_shape((None, 3, 5, 7, 2))
        (None, 2, 3, 4, 2)
    """

    def pool(self, x, pool_size, strides, padding):
        return ops.avg_pool3d(x, pool_size, strides, padding)


class _GlobalPooling3D(Layer):
    """Reduces the depth, rows and columns of each volume to one value per channel."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_of(data_format, f"{type(self).__name__} '{self.name}'")
        self.keepdims = bool(keepdims)
        self.input_spec = volume_input_spec(self.data_format)

    def call(self, inputs):
        axes = (2, 3, 4) if self.data_format == "channels_first" else (1, 2, 3)
        return self.reduce(inputs, axes, self.keepdims)

    def reduce(self, x, axes, keepdims):
        """The reduction of ``x`` over its spatial ``axes``."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        Layer.check_input(self, input_shape)
        channels = volume_dims(input_shape, self.data_format)[3]
        if not self.keepdims:
            return (input_shape[0], channels)
        return volume_shape(input_shape[0], (1, 1, 1), channels, self.data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@keras_layer(aliases=("GlobalAvgPool3D",), keras1=IMAGE_KERAS1)
class GlobalAveragePooling3D(_GlobalPooling3D):
    """The mean of each channel over the volume.

    Args:
        data_format: as in `MaxPooling3D`.
        keepdims: keep the depth, rows and columns as axes of size 1.

    Example:
        >>> GlobalAveragePooling3D().compute_output_shape((None, 4, 5, 6, 8))
        (None, 8)
    """

    def reduce(self, x, axes, keepdims):
        return ops.mean(x, axis=axes, keepdims=keepdims)


@keras_layer(aliases=("GlobalMaxPool3D",), keras1=IMAGE_KERAS1)
class GlobalMaxPooling3D(_GlobalPooling3D):
    """The maximum of each channel over the volume (ties share the gradient equally, as Keras 3's
    ``ops.max``).

    Args:
        data_format: as in `MaxPooling3D`.
        keepdims: keep the depth, rows and columns as axes of size 1.

    Example:
        >>> GlobalMaxPooling3D(keepdims=True, data_format="channels_first").compute_output_shape((None, 8, 4, 5, 6))
        (None, 8, 1, 1, 1)
    """

    def reduce(self, x, axes, keepdims):
        return ops.max(x, axis=axes, keepdims=keepdims)
