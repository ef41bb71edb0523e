"""1-D pooling layers: MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D,
in either data format (Keras 1: ``pool_length``, ``stride``, ``border_mode``).

The windowed layers run the engine's 2-D pooling kernels on the sequence seen as an image of one
row, (N, 1, steps, C), with a (1, pool) window (`kerasette.layers.sequence_input`). With
``'same'`` padding, AveragePooling1D leaves the padded steps out of each average, as Keras does.
GlobalAveragePooling1D takes a mask (from ``Embedding(mask_zero=True)`` or ``Masking``): the
average is then over the unmasked steps only; the result carries no mask.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.layers.sequence_input import (
    as_image,
    check_steps_fit,
    from_channels_last,
    from_image,
    sequence_input_spec,
    sequence_shape,
    steps_and_channels,
    to_channels_last,
)
from kerasette.utils import conv_utils

POOLING1D_KERAS1 = {"pool_length": "pool_size", "stride": "strides", "border_mode": "padding"}


def _data_format(value, owner: str) -> str:
    try:
        return normalize_data_format(value)
    except ValueError as exc:
        raise ValueError(f"{owner}: {exc}") from None


class _Pooling1D(Layer):
    """A 1-D window moved along each sequence; subclasses give the 2-D op it runs (`pool2d`)."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        self.pool_size = conv_utils.normalize_tuple(pool_size, 1, "pool_size", owner)
        self.strides = conv_utils.normalize_tuple(strides if strides is not None else self.pool_size,
                                                  1, "strides", owner)
        self.padding = conv_utils.normalize_padding(padding, owner)
        self.data_format = _data_format(data_format, owner)
        self.input_spec = sequence_input_spec(self.data_format)

    def build(self, input_shape):
        check_steps_fit(self, input_shape, self.pool_size[0], self.padding, "pool")
        self.built = True

    def check_input(self, shape) -> None:
        check_steps_fit(self, (None,) + tuple(shape[1:]), self.pool_size[0], self.padding, "pool")

    def call(self, inputs):
        x = as_image(to_channels_last(inputs, self.data_format))
        y = self.pool2d(x, (1, self.pool_size[0]), (1, self.strides[0]), self.padding)
        return from_channels_last(from_image(y), self.data_format)

    def pool2d(self, x, pool_size, strides, padding):
        """The 2-D pooling op on the (N, 1, steps, C) view."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        check_steps_fit(self, input_shape, self.pool_size[0], self.padding, "pool")
        steps, channels = steps_and_channels(input_shape, self.data_format)
        out = conv_utils.conv_output_length(steps, self.pool_size[0], self.padding, self.strides[0])
        return sequence_shape(input_shape[0], out, channels, self.data_format)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


@keras_layer(aliases=("MaxPool1D",), keras1=POOLING1D_KERAS1)
class MaxPooling1D(_Pooling1D):
    """Max-pooling over 1-D windows.

    Args:
        pool_size: int or (p,): the window's length (Keras 1: ``pool_length``).
        strides: int or (s,); ``pool_size`` when None (Keras 1: ``stride``).
        padding: ``'valid'`` or ``'same'`` (Keras 1: ``border_mode``).
        data_format: ``'channels_last'`` (batch, steps, channels) or ``'channels_first'``
            (batch, channels, steps); the backend default when None.

    Example:
        >>> MaxPooling1D(2).compute_output_shape((None, 9, 4))
        (None, 4, 4)
    """

    def pool2d(self, x, pool_size, strides, padding):
        return ops.max_pool2d(x, pool_size, strides, padding)


@keras_layer(aliases=("AvgPool1D",), keras1=POOLING1D_KERAS1)
class AveragePooling1D(_Pooling1D):
    """Average-pooling over 1-D windows; with ``'same'`` padding the padded steps are left out of
    each average, as in Keras.

    Args:
        pool_size, strides, padding, data_format: as in `MaxPooling1D`.

    Example:
        >>> AveragePooling1D(3, strides=2, padding="same").compute_output_shape((None, 9, 4))
        (None, 5, 4)
    """

    def pool2d(self, x, pool_size, strides, padding):
        return ops.avg_pool2d(x, pool_size, strides, padding)


class _GlobalPooling1D(Layer):
    """Reduces the steps of each sequence to one value per channel."""

    supports_masking = False  # Keras 3: the steps are pooled away, and the mask with them

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format, f"{type(self).__name__} '{self.name}'")
        self.keepdims = bool(keepdims)
        self.input_spec = sequence_input_spec(self.data_format)

    @property
    def _steps_axis(self) -> int:
        return 2 if self.data_format == "channels_first" else 1

    def compute_output_shape(self, input_shape):
        Layer.check_input(self, input_shape)
        _, channels = steps_and_channels(input_shape, self.data_format)
        if not self.keepdims:
            return (input_shape[0], channels)
        return sequence_shape(input_shape[0], 1, channels, self.data_format)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@keras_layer(aliases=("GlobalMaxPool1D",))
class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum of each channel over the steps. Where several steps hold the maximum, the
    gradient goes to the first of them channels-last (as in MaxPooling1D and PyTorch's max
    pooling), and is shared equally between them channels-first (as Keras 3's ``ops.max``).

    Args:
        data_format: ``'channels_last'`` or ``'channels_first'``; the backend default when None.
        keepdims: keep the steps as an axis of size 1.

    Example:
        >>> GlobalMaxPooling1D().compute_output_shape((None, 9, 4))
        (None, 4)
    """

    def call(self, inputs):
        if self.data_format == "channels_first":  # steps last: numpy's reduction reads them in a row
            return ops.max(inputs, axis=2, keepdims=self.keepdims)
        # channels-last: the max-pooling kernel with one window the length of the sequence, which
        # keeps each maximum's position, so the backward pass writes one value per channel
        n, steps, channels = inputs.shape
        y = ops.max_pool2d(as_image(inputs), (1, steps), (1, steps), "valid")
        return ops.reshape(y, (n, 1, channels) if self.keepdims else (n, channels))


@keras_layer(aliases=("GlobalAvgPool1D",))
class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean of each channel over the steps; with a mask (batch, steps), over the unmasked
    steps only (Keras's semantics: a sample with every step masked gives 0 / 0).

    Args:
        data_format: ``'channels_last'`` or ``'channels_first'``; the backend default when None.
        keepdims: keep the steps as an axis of size 1.

    Example:
        >>> GlobalAveragePooling1D(keepdims=True).compute_output_shape((None, 9, 4))
        (None, 1, 4)
    """

    supports_masking = True

    def call(self, inputs, mask=None):
        axis = self._steps_axis
        if mask is None:
            return ops.mean(inputs, axis=axis, keepdims=self.keepdims)
        keep = np.expand_dims(np.asarray(getattr(mask, "data", mask), dtype=bool),
                              1 if self.data_format == "channels_first" else 2)
        total = ops.sum(ops.where(keep, inputs, 0.0), axis=axis, keepdims=self.keepdims)
        counts = keep.sum(axis=axis, keepdims=self.keepdims).astype(inputs.dtype)
        return ops.divide(total, counts)
