"""Layers that move the values of volumes without learning: ZeroPadding3D, Cropping3D and
UpSampling3D, in either data format (Keras 1: ``dim_ordering``)."""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.legacy import IMAGE_KERAS1, keras_layer
from kerasette.layers.volume_input import data_format_of, spatial_axes, volume_input_spec
from kerasette.utils.validation import check_positive_int, shape_str


def _triple_pairs(value, name: str, owner: str) -> tuple[tuple[int, int], ...]:
    """``((front, back), (top, bottom), (left, right))`` from an int, three ints or three pairs
    (Keras's forms)."""
    try:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            pairs = ((int(value),) * 2,) * 3
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            sizes = tuple(int(v) for v in value)
            if len(sizes) != 3:
                raise ValueError
            pairs = tuple((s, s) for s in sizes)
        else:
            pairs = tuple(tuple(int(v) for v in pair) for pair in value)
            if len(pairs) != 3 or any(len(pair) != 2 for pair in pairs):
                raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: argument `{name}` must be an int, three ints or three pairs of ints; received "
                         f"{name}={value!r}") from None
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"{owner}: argument `{name}` must not be negative; received {name}={value!r}")
    return pairs


@keras_layer(keras1=IMAGE_KERAS1)
class ZeroPadding3D(Layer):
    """Adds zeros around volumes along depth, rows and columns.

    Args:
        padding: an int (every side), three ints (both sides of depth, rows, cols) or three pairs
            ((front, back), (top, bottom), (left, right)); not negative.
        data_format: ``'channels_last'`` or ``'channels_first'`` (Keras 1: ``dim_ordering``).

    Example:
        >>> ZeroPadding3D(((1, 0), (0, 2), (1, 1))).compute_output_shape((None, 3, 4, 5, 2))
        (None, 4, 6, 7, 2)
    """

    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"ZeroPadding3D '{self.name}'"
        self.padding = _triple_pairs(padding, "padding", owner)
        self.data_format = data_format_of(data_format, owner)
        self.input_spec = volume_input_spec(self.data_format)

    def compute_output_shape(self, input_shape):
        Layer.check_input(self, input_shape)
        out = list(input_shape)
        for axis, (before, after) in zip(spatial_axes(self.data_format), self.padding):
            out[axis] = None if out[axis] is None else out[axis] + before + after
        return tuple(out)

    def call(self, inputs):
        widths = [(0, 0)] * 5
        for axis, pair in zip(spatial_axes(self.data_format), self.padding):
            widths[axis] = pair
        return ops.pad(inputs, widths)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding], "data_format": self.data_format}


@keras_layer(keras1=IMAGE_KERAS1)
class Cropping3D(Layer):
    """Removes values at the edges of volumes along depth, rows and columns.

    Args:
        cropping: as ``padding`` of `ZeroPadding3D`; at least one value must be left on each axis.
        data_format: ``'channels_last'`` or ``'channels_first'`` (Keras 1: ``dim_ordering``).

    Example:
        >>> Cropping3D(((1, 1), (2, 0), (0, 1))).compute_output_shape((None, 4, 5, 6, 2))
        (None, 2, 3, 5, 2)
    """

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"Cropping3D '{self.name}'"
        self.cropping = _triple_pairs(cropping, "cropping", owner)
        self.data_format = data_format_of(data_format, owner)
        self.input_spec = volume_input_spec(self.data_format)

    def compute_output_shape(self, input_shape):
        Layer.check_input(self, input_shape)
        out = list(input_shape)
        for axis, (before, after) in zip(spatial_axes(self.data_format), self.cropping):
            if out[axis] is not None:
                if out[axis] - before - after < 1:
                    raise ValueError(f"Cropping3D '{self.name}': cropping {self.cropping} leaves nothing of an input "
                                     f"of shape {shape_str(input_shape)}; each axis must keep at least one value")
                out[axis] -= before + after
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def check_input(self, shape) -> None:
        self.compute_output_shape((None,) + tuple(shape[1:]))

    def call(self, inputs):
        index = [slice(None)] * 5
        for axis, (before, after) in zip(spatial_axes(self.data_format), self.cropping):
            index[axis] = slice(before, inputs.shape[axis] - after)
        return ops.getitem(inputs, tuple(index))

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping], "data_format": self.data_format}


@keras_layer(keras1=IMAGE_KERAS1)
class UpSampling3D(Layer):
    """Repeats each value of a volume ``size[0]`` times along depth, ``size[1]`` times along rows
    and ``size[2]`` times along columns (nearest neighbour, as Keras's only mode).

    Args:
        size: int or three ints, positive.
        data_format: ``'channels_last'`` or ``'channels_first'`` (Keras 1: ``dim_ordering``).

    Example:
        >>> UpSampling3D((1, 2, 3)).compute_output_shape((None, 2, 3, 4, 5))
        (None, 2, 6, 12, 5)
    """

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"UpSampling3D '{self.name}'"
        sizes = (size,) * 3 if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
        try:
            sizes = tuple(sizes)
        except TypeError:
            sizes = ()
        if len(sizes) != 3:
            raise ValueError(f"{owner}: argument `size` must be an int or three ints; received size={size!r}")
        self.size = tuple(check_positive_int(s, "size", owner) for s in sizes)
        self.data_format = data_format_of(data_format, owner)
        self.input_spec = volume_input_spec(self.data_format)

    def compute_output_shape(self, input_shape):
        Layer.check_input(self, input_shape)
        out = list(input_shape)
        for axis, factor in zip(spatial_axes(self.data_format), self.size):
            out[axis] = None if out[axis] is None else out[axis] * factor
        return tuple(out)

    def call(self, inputs):
        shape = tuple(inputs.shape)
        axes = spatial_axes(self.data_format)
        spread, reps = [], []  # a new axis of length 1 after each spatial axis, tiled ``size`` times
        for axis, n in enumerate(shape):
            spread.append(n)
            reps.append(1)
            if axis in axes:
                spread.append(1)
                reps.append(self.size[axes.index(axis)])
        out = tuple(n * self.size[axes.index(a)] if a in axes else n for a, n in enumerate(shape))
        return ops.reshape(ops.tile(ops.reshape(inputs, tuple(spread)), tuple(reps)), out)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format}
