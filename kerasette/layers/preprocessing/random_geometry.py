"""The random geometric layers of Keras 3: RandomFlip, RandomRotation, RandomZoom,
RandomTranslation and RandomCrop, and `RandomLayer`, their common base.

Rotation, zoom and translation resample each image of the batch through its own 2x3 matrix in
one numba pass (`kerasette.backend.kernels.affine`), about the image's centre
``((rows - 1) / 2, (cols - 1) / 2)``, with Keras 3's fill modes: 'reflect' (``d c b a | a b c d
| d c b a``), 'wrap' (``a b c d | a b c d``), 'constant' (``fill_value`` beyond the edges,
blended with them) and 'nearest'. Their output is a constant of the computation: no gradient
flows back through them to earlier layers (they are meant to come first). Flips and crops are
indexing, so gradients do flow through them.

Randomness: each layer draws from its own generator, seeded by ``seed`` (or, without one, from
kerasette's generator, `kerasette.backend.random`, when first used).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend import random as krandom
from kerasette.backend.config import normalize_data_format
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import keras_layer
from kerasette.layers.preprocessing.resizing import _output_shape, resize_images
from kerasette.utils.validation import check_positive_int

#: Keras 3's fill modes as the affine kernel names them
KERNEL_FILL = {"reflect": "reflect", "wrap": "grid-wrap", "constant": "grid-constant", "nearest": "nearest"}
INTERPOLATION_ORDER = {"nearest": 0, "bilinear": 1}


class RandomLayer(Layer):
    """Base of the random augmentation layers: ``call(inputs, training)`` returns the input
    unchanged unless ``training`` is true, and otherwise ``augment(inputs, rng)``."""

    def _seeded(self, seed) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"{type(self).__name__} '{self.name}': argument `seed` must be an integer or None; "
                             f"received seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        self._generator = None
        self.input_spec = InputSpec(ndim=4)

    def _rng(self) -> np.random.Generator:
        if self._generator is None:
            seed = self.seed if self.seed is not None else int(krandom.generator().integers(2**62))
            self._generator = np.random.default_rng(seed)
        return self._generator

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return self.augment(inputs, self._rng())

    def augment(self, inputs, rng):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "seed": self.seed}


def _check_choice(value, name, choices, owner):
    if value not in choices:
        raise ValueError(f"{owner}: argument `{name}` must be one of {', '.join(map(repr, choices))}; received "
                         f"{name}={value!r}")
    return value


def _symmetric_pair(factor, name, owner, low=-1.0, high=1.0) -> tuple[float, float]:
    """A number ``f`` as ``(-f, f)``, or a pair as given; every value in [low, high]."""
    message = f"{owner}: argument `{name}` must be a number or a pair of numbers in [{low}, {high}]; received " \
              f"{name}={factor!r}"
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2 or not all(isinstance(v, (int, float, np.number)) for v in factor):
            raise ValueError(message)
        pair = (float(factor[0]), float(factor[1]))
    elif isinstance(factor, (int, float, np.number)) and not isinstance(factor, bool):
        pair = (-abs(float(factor)), abs(float(factor)))
    else:
        raise ValueError(message)
    if not all(low <= v <= high for v in pair) or pair[0] > pair[1]:
        raise ValueError(message)
    return pair


def _listed(factor):
    return list(factor) if isinstance(factor, tuple) else factor


class _AffineLayer(RandomLayer):
    """Shared by rotation, zoom and translation: fill mode, interpolation, the resampling."""

    def _setup(self, fill_mode, interpolation, fill_value, data_format, seed, owner):
        self.fill_mode = _check_choice(fill_mode, "fill_mode", tuple(KERNEL_FILL), owner)
        self.interpolation = _check_choice(interpolation, "interpolation", tuple(INTERPOLATION_ORDER), owner)
        self.fill_value = float(fill_value)
        self.data_format = normalize_data_format(data_format)
        self._seeded(seed)

    def augment(self, inputs, rng):
        from kerasette.backend.kernels import affine  # deferred: numba loads only when a model trains with it

        x = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        first = self.data_format == "channels_first"
        if first:
            x = np.moveaxis(x, 1, 3)
        rows, cols = x.shape[1], x.shape[2]
        linear, shift = self.matrices(len(x), rows, cols, rng)  # (n, 2, 2) about the centre, (n, 2)
        centre = np.array([(rows - 1) / 2, (cols - 1) / 2])
        m = np.empty((len(x), 2, 3))
        m[:, :, :2] = linear
        m[:, :, 2] = centre - linear @ centre + shift
        out = affine.resample_batch(x, m, INTERPOLATION_ORDER[self.interpolation], KERNEL_FILL[self.fill_mode],
                                    self.fill_value)
        out = out.astype(x.dtype, copy=False)
        return Tensor(np.moveaxis(out, 3, 1) if first else out)

    def matrices(self, n, rows, cols, rng):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "interpolation": self.interpolation}


@keras_layer()
class RandomFlip(RandomLayer):
    """In training, flips each image left-right and/or top-bottom, each with probability 1/2
    (``mode``: 'horizontal', 'vertical' or 'horizontal_and_vertical'). Unchanged in inference."""

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.mode = _check_choice(mode, "mode", self.MODES, f"RandomFlip '{self.name}'")
        self.data_format = normalize_data_format(data_format)
        self._seeded(seed)

    def augment(self, inputs, rng):
        n = inputs.shape[0]
        row_axis, col_axis = (2, 3) if self.data_format == "channels_first" else (1, 2)
        out = inputs
        for flag, axis in (("horizontal", col_axis), ("vertical", row_axis)):
            if flag not in self.mode:
                continue
            chosen = (rng.random(n) < 0.5).reshape(n, 1, 1, 1)
            index = [slice(None)] * 4
            index[axis] = slice(None, None, -1)
            out = ops.where(np.broadcast_to(chosen, out.shape), ops.getitem(out, tuple(index)), out)
        return out

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras_layer()
class RandomRotation(_AffineLayer):
    """In training, rotates each image by a random angle: ``factor`` is a fraction of a full turn,
    a number ``f`` meaning uniform in ``[-f, f]`` (``(low, high)`` for another range); positive
    angles turn counter-clockwise. Unchanged in inference.

    Args:
        fill_mode: 'reflect', 'wrap', 'constant' or 'nearest' (see the module docstring).
        interpolation: 'bilinear' or 'nearest'.
        fill_value: the value outside the image for 'constant'.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 value_range=(0, 255), data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"RandomRotation '{self.name}'"
        self.factor = _symmetric_pair(factor, "factor", owner, -1.0, 1.0)
        self.value_range = value_range
        self._setup(fill_mode, interpolation, fill_value, data_format, seed, owner)

    def matrices(self, n, rows, cols, rng):
        angle = rng.uniform(self.factor[0], self.factor[1], n) * 2 * np.pi
        cos, sin = np.cos(angle), np.sin(angle)
        linear = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1)
        return linear, np.zeros((n, 2))

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


@keras_layer()
class RandomZoom(_AffineLayer):
    """In training, zooms each image by a random factor: the image is shown ``1 + z`` times
    larger an area, ``z`` uniform in ``height_factor`` (a number ``f``: ``[-f, f]``; positive
    values zoom out, negative zoom in); ``width_factor`` likewise for columns, or None to zoom
    columns as rows (keeping the aspect ratio). Unchanged in inference."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"RandomZoom '{self.name}'"
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _symmetric_pair(height_factor, "height_factor", owner)
        self._width = None if width_factor is None else _symmetric_pair(width_factor, "width_factor", owner)
        for name, pair in (("height_factor", self._height), ("width_factor", self._width)):
            if pair is not None and pair[0] <= -1:
                raise ValueError(f"{owner}: argument `{name}` must stay above -1 (a zoom of 1 + factor must be "
                                 f"positive); received {name}={height_factor if name[0] == 'h' else width_factor!r}")
        self._setup(fill_mode, interpolation, fill_value, data_format, seed, owner)

    def matrices(self, n, rows, cols, rng):
        zoom_rows = 1.0 + rng.uniform(self._height[0], self._height[1], n)
        zoom_cols = zoom_rows if self._width is None else 1.0 + rng.uniform(self._width[0], self._width[1], n)
        linear = np.zeros((n, 2, 2))
        linear[:, 0, 0], linear[:, 1, 1] = zoom_rows, zoom_cols
        return linear, np.zeros((n, 2))

    def get_config(self):
        return {**super().get_config(), "height_factor": _listed(self.height_factor),
                "width_factor": _listed(self.width_factor)}


@keras_layer()
class RandomTranslation(_AffineLayer):
    """In training, shifts each image by a random fraction of its height (``height_factor``: a
    number ``f`` means uniform in ``[-f, f]``; positive moves the picture down) and of its
    width (``width_factor``; positive moves it right). Unchanged in inference."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"RandomTranslation '{self.name}'"
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _symmetric_pair(height_factor, "height_factor", owner)
        self._width = _symmetric_pair(width_factor, "width_factor", owner)
        self._setup(fill_mode, interpolation, fill_value, data_format, seed, owner)

    def matrices(self, n, rows, cols, rng):
        shift = np.stack([rng.uniform(self._height[0], self._height[1], n) * rows,
                          rng.uniform(self._width[0], self._width[1], n) * cols], -1)
        return np.tile(np.eye(2), (n, 1, 1)), -shift

    def get_config(self):
        return {**super().get_config(), "height_factor": _listed(self.height_factor),
                "width_factor": _listed(self.width_factor)}


@keras_layer()
class RandomCrop(RandomLayer):
    """A ``height`` x ``width`` window of the images.

    In training, when the images are larger than the target on both sides, one random window
    (the same for the whole batch, as in Keras 3); otherwise, and in inference, the images are
    resized to the target after cropping them to its aspect ratio (the centred window), as
    Keras 3 documents. The output always has the target's size.
    """

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"RandomCrop '{self.name}'"
        self.height = check_positive_int(height, "height", owner)
        self.width = check_positive_int(width, "width", owner)
        self.data_format = normalize_data_format(data_format)
        self._seeded(seed)

    def compute_output_shape(self, input_shape):
        return _output_shape(input_shape, self.height, self.width, self.data_format)

    def call(self, inputs, training=False):
        first = self.data_format == "channels_first"
        rows, cols = (inputs.shape[2], inputs.shape[3]) if first else (inputs.shape[1], inputs.shape[2])
        if training and rows > self.height and cols > self.width:
            rng = self._rng()
            top = int(rng.integers(0, rows - self.height + 1))
            left = int(rng.integers(0, cols - self.width + 1))
            window = (slice(top, top + self.height), slice(left, left + self.width))
            index = (slice(None), slice(None)) + window if first else (slice(None),) + window + (slice(None),)
            return ops.getitem(inputs, index)
        if (rows, cols) == (self.height, self.width):
            return inputs
        return resize_images(inputs, self.height, self.width, "bilinear", self.data_format, crop_to_aspect_ratio=True)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
