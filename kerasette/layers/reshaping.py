"""Layers that move values without learning: RepeatVector, ZeroPadding2D, Cropping2D and
UpSampling2D (nearest neighbour), in both image data formats."""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import IMAGE_KERAS1, keras_layer
from kerasette.utils.validation import check_positive_int, shape_str


def _pairs(value, name: str, owner: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((top, bottom), (left, right))`` from an int, two ints or two pairs (Keras's forms)."""
    try:
        if isinstance(value, (int, np.integer)):
            pairs = ((int(value), int(value)), (int(value), int(value)))
        elif all(isinstance(v, (int, np.integer)) for v in value):
            rows, cols = (int(v) for v in value)
            pairs = ((rows, rows), (cols, cols))
        else:
            pairs = tuple(tuple(int(v) for v in pair) for pair in value)
            if len(pairs) != 2 or any(len(pair) != 2 for pair in pairs):
                raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: argument `{name}` must be an int, two ints or two pairs of ints; received "
                         f"{name}={value!r}") from None
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"{owner}: argument `{name}` must not be negative; received {name}={value!r}")
    return pairs


def _spatial_axes(data_format: str) -> tuple[int, int]:
    return (2, 3) if data_format == "channels_first" else (1, 2)


@keras_layer()
class RepeatVector(Layer):
    """Repeats a (batch, features) input ``n`` times: (batch, n, features).

    Example:
        >>> RepeatVector(3).compute_output_shape((None, 4))
        (None, 3, 4)
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_positive_int(n, "n", f"RepeatVector '{self.name}'")
        self.input_spec = InputSpec(ndim=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs):
        return ops.tile(ops.reshape(inputs, (inputs.shape[0], 1, inputs.shape[1])), (1, self.n, 1))

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@keras_layer(keras1=IMAGE_KERAS1)
class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around images: ``padding`` is an int, (rows, cols) or
    ((top, bottom), (left, right)).

    Example:
        >>> ZeroPadding2D(((1, 2), (0, 1))).compute_output_shape((None, 4, 4, 3))
        (None, 7, 5, 3)
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, "padding", f"ZeroPadding2D '{self.name}'")
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, (before, after) in zip(_spatial_axes(self.data_format), self.padding):
            out[axis] = None if out[axis] is None else out[axis] + before + after
        return tuple(out)

    def call(self, inputs):
        x = inputs
        for axis, (before, after) in zip(_spatial_axes(self.data_format), self.padding):
            parts = []
            for size in (before, after):
                shape = list(x.shape)
                shape[axis] = size
                parts.append(np.zeros(shape, dtype=x.dtype))
            x = ops.concatenate([parts[0], x, parts[1]], axis=axis)
        return x

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding], "data_format": self.data_format}


@keras_layer(keras1=IMAGE_KERAS1)
class Cropping2D(Layer):
    """Removes rows and columns at the edges of images: ``cropping`` as in `ZeroPadding2D`.

    Example:
        >>> Cropping2D(((1, 1), (2, 0))).compute_output_shape((None, 6, 6, 3))
        (None, 4, 4, 3)
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, "cropping", f"Cropping2D '{self.name}'")
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, (before, after) in zip(_spatial_axes(self.data_format), self.cropping):
            if out[axis] is not None:
                if out[axis] - before - after < 1:
                    raise ValueError(f"Cropping2D '{self.name}': cropping {self.cropping} leaves nothing of an input "
                                     f"of shape {shape_str(input_shape)}")
                out[axis] -= before + after
        return tuple(out)

    def call(self, inputs):
        index = [slice(None)] * 4
        for axis, (before, after) in zip(_spatial_axes(self.data_format), self.cropping):
            index[axis] = slice(before, inputs.shape[axis] - after)
        return ops.getitem(inputs, tuple(index))

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping], "data_format": self.data_format}


@keras_layer(keras1=IMAGE_KERAS1)
class UpSampling2D(Layer):
    """Repeats each row ``size[0]`` times and each column ``size[1]`` times (nearest neighbour).

    Example:
        >>> UpSampling2D((2, 3)).compute_output_shape((None, 4, 4, 3))
        (None, 8, 12, 3)
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        owner = f"UpSampling2D '{self.name}'"
        size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(size) != 2:
            raise ValueError(f"{owner}: argument `size` must be an int or two ints; received size={size!r}")
        self.size = tuple(check_positive_int(s, "size", owner) for s in size)
        if interpolation != "nearest":
            raise ValueError(f"{owner}: only interpolation='nearest' is supported; received "
                             f"interpolation={interpolation!r}")
        self.interpolation = interpolation
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, factor in zip(_spatial_axes(self.data_format), self.size):
            out[axis] = None if out[axis] is None else out[axis] * factor
        return tuple(out)

    def call(self, inputs):
        rows, cols = self.size
        if self.data_format == "channels_first":
            n, channels, height, width = inputs.shape
            x = ops.tile(ops.reshape(inputs, (n, channels, height, 1, width, 1)), (1, 1, 1, rows, 1, cols))
            return ops.reshape(x, (n, channels, height * rows, width * cols))
        n, height, width, channels = inputs.shape
        x = ops.tile(ops.reshape(inputs, (n, height, 1, width, 1, channels)), (1, 1, rows, 1, cols, 1))
        return ops.reshape(x, (n, height * rows, width * cols, channels))

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}
