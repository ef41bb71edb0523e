"""MaxPooling2D (Keras 1: border_mode, dim_ordering)."""

from __future__ import annotations

from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.convolutional import (
    TO_CHANNELS_FIRST,
    TO_CHANNELS_LAST,
    check_window_fits,
    image_input_spec,
    spatial_dims,
)
from kerasette.layers.legacy import CONV_KERAS1, keras_layer
from kerasette.utils import conv_utils


@keras_layer(aliases=("MaxPool2D",), keras1=CONV_KERAS1)
class MaxPooling2D(Layer):
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

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"MaxPooling2D '{self.name}'"
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

    def call_channels_last(self, x, training=False, activation=None):
        """The computation on a channels-last tensor, whatever ``data_format`` says."""
        return ops.max_pool2d(x, self.pool_size, self.strides, self.padding)

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

