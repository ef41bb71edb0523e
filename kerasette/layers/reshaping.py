"""Layers that move values without learning: RepeatVector, ZeroPadding2D, Cropping2D and
UpSampling2D (nearest, bilinear, bicubic), in both image data formats."""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.backend.ops.resize import INTERPOLATIONS
from kerasette.layers.base import Layer
from kerasette.layers.image_input import TO_CHANNELS_FIRST, TO_CHANNELS_LAST
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
        widths = [(0, 0)] * len(inputs.shape)
        for axis, pair in zip(_spatial_axes(self.data_format), self.padding):
            widths[axis] = pair
        return ops.pad(inputs, widths)

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


#: Interpolations Keras offers for UpSampling2D that kerasette does not compute, and why.
_UNSUPPORTED_INTERPOLATIONS = {
    "lanczos3": "is not supported by kerasette (nor by Keras 3 on the torch backend)",
    "lanczos5": "is not supported by kerasette (nor by Keras 3 on the torch backend)",
    "area": "is Keras 2's (TensorFlow's resize) and not supported by kerasette",
    "gaussian": "is Keras 2's (TensorFlow's resize) and not supported by kerasette",
    "mitchellcubic": "is Keras 2's (TensorFlow's resize) and not supported by kerasette",
}


@keras_layer(keras1=IMAGE_KERAS1)
class UpSampling2D(Layer):
    """Upsamples images by whole factors: each row ``size[0]`` times, each column ``size[1]`` times.

    Keras 3's semantics (`kerasette.backend.ops.resize`): ``'nearest'`` repeats each pixel over
    its block; ``'bilinear'`` and ``'bicubic'`` interpolate with half-pixel centres (output pixel
    ``o`` samples the input at ``(o + 0.5) / size - 0.5``), no antialiasing, edges clamped.

    Args:
        size: int or (rows, cols), positive.
        data_format: ``'channels_last'`` or ``'channels_first'`` (Keras 1: ``dim_ordering``).
        interpolation: ``'nearest'``, ``'bilinear'`` or ``'bicubic'``; Keras's Lanczos (and Keras
            2's 'area', 'gaussian', 'mitchellcubic') raise a ValueError.

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
        name = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if name not in INTERPOLATIONS:
            why = _UNSUPPORTED_INTERPOLATIONS.get(name, "is not an interpolation Keras knows")
            raise ValueError(f"{owner}: argument `interpolation`={interpolation!r} {why}; supported "
                             f"interpolations: {', '.join(repr(i) for i in INTERPOLATIONS)}")
        self.interpolation = name
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, factor in zip(_spatial_axes(self.data_format), self.size):
            out[axis] = None if out[axis] is None else out[axis] * factor
        return tuple(out)

    def call(self, inputs):
        if self.data_format == "channels_first":
            y = self.call_channels_last(ops.transpose(inputs, TO_CHANNELS_LAST))
            return ops.transpose(y, TO_CHANNELS_FIRST)
        return self.call_channels_last(inputs)

    def runs_channels_last(self) -> bool:
        return self.data_format == "channels_first"

    def call_channels_last(self, x, training=False, activation=None):
        """The upsampling of a channels-last tensor, whatever ``data_format`` says."""
        return ops.resize2d(x, self.size, self.interpolation)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}


# -- sequences (batch, steps, channels) ------------------------------------------------------------
def _sequence_pair(value, name: str, owner: str) -> tuple[int, int]:
    """``(before, after)`` from an int or two ints (Keras's forms; Keras 1's ZeroPadding1D also took
    ``{'left_pad': ..., 'right_pad': ...}``)."""
    if isinstance(value, dict) and set(value) <= {"left_pad", "right_pad"}:
        value = (value.get("left_pad", 0), value.get("right_pad", 0))
    try:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            pair = (int(value), int(value))
        else:
            pair = tuple(value)
            if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in pair):
                raise ValueError
            pair = tuple(int(v) for v in pair)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: argument `{name}` must be an int or two ints (before, after); received "
                         f"{name}={value!r}") from None
    if min(pair) < 0:
        raise ValueError(f"{owner}: argument `{name}` must not be negative; received {name}={value!r}")
    return pair


@keras_layer()
class ZeroPadding1D(Layer):
    """Adds steps of zeros before and after each sequence: ``padding`` is an int (both ends) or
    (before, after) (Keras 1 also: ``{'left_pad': a, 'right_pad': b}``).

    Args:
        padding: int or (before, after), not negative.
        data_format: ``'channels_last'`` (batch, steps, channels) or ``'channels_first'``
            (batch, channels, steps) (Keras 3.x added it); the backend default when None.

    Example:
        >>> ZeroPadding1D((1, 2)).compute_output_shape((None, 5, 3))
        (None, 8, 3)
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _sequence_pair(padding, "padding", f"ZeroPadding1D '{self.name}'")
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=3)

    @property
    def _steps_axis(self) -> int:
        return 2 if self.data_format == "channels_first" else 1

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        axis = self._steps_axis
        out[axis] = None if out[axis] is None else out[axis] + sum(self.padding)
        return tuple(out)

    def call(self, inputs):
        widths = [(0, 0)] * len(inputs.shape)
        widths[self._steps_axis] = tuple(self.padding)
        return ops.pad(inputs, widths)

    def get_config(self):
        return {**super().get_config(), "padding": list(self.padding), "data_format": self.data_format}


@keras_layer()
class Cropping1D(Layer):
    """Removes steps at the start and end of each sequence (batch, steps, channels).

    Args:
        cropping: int or (before, after), not negative.

    Example:
        >>> Cropping1D((1, 2)).compute_output_shape((None, 6, 3))
        (None, 3, 3)
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _sequence_pair(cropping, "cropping", f"Cropping1D '{self.name}'")
        self.input_spec = InputSpec(ndim=3)

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        if steps is not None:
            if steps - sum(self.cropping) < 1:
                raise ValueError(f"Cropping1D '{self.name}': cropping {self.cropping} leaves nothing of an input of "
                                 f"shape {shape_str(input_shape)}; the cropping must be shorter than the input")
            steps -= sum(self.cropping)
        return (input_shape[0], steps, input_shape[2])

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def check_input(self, shape) -> None:
        Layer.check_input(self, shape)
        self.compute_output_shape((None,) + tuple(shape[1:]))

    def call(self, inputs):
        before, after = self.cropping
        return ops.getitem(inputs, (slice(None), slice(before, inputs.shape[1] - after)))

    def get_config(self):
        return {**super().get_config(), "cropping": list(self.cropping)}


@keras_layer(keras1={"length": "size"})
class UpSampling1D(Layer):
    """Repeats each step of a sequence (batch, steps, channels) ``size`` times.

    Args:
        size: positive int (Keras 1: ``length``).

    Example:
        >>> UpSampling1D(3).compute_output_shape((None, 4, 2))
        (None, 12, 2)
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = check_positive_int(size, "size", f"UpSampling1D '{self.name}'")
        self.input_spec = InputSpec(ndim=3)

    def compute_output_shape(self, input_shape):
        steps = None if input_shape[1] is None else input_shape[1] * self.size
        return (input_shape[0], steps, input_shape[2])

    def call(self, inputs):
        n, steps, channels = inputs.shape
        repeated = ops.tile(ops.reshape(inputs, (n, steps, 1, channels)), (1, 1, self.size, 1))
        return ops.reshape(repeated, (n, steps * self.size, channels))

    def get_config(self):
        return {**super().get_config(), "size": self.size}
