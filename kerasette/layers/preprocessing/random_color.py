"""RandomContrast and RandomBrightness (Keras 3): one random factor per image, in training only."""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.layers.preprocessing.random_geometry import RandomLayer


def factor_pair(factor, bounds, name: str, owner: str) -> tuple[float, float]:
    """Keras 3's factor rule: a number ``f`` means ``(max(-|f|, low), |f|)``; a pair is sorted;
    every value must lie in ``bounds``."""
    low, high = bounds
    message = (f"{owner}: argument `{name}` must be a number or a pair of numbers in [{low}, {high}]; received "
               f"{name}={factor!r}")
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2 or not all(isinstance(v, (int, float, np.number)) for v in factor):
            raise ValueError(message)
        if factor[0] > high or factor[1] < low:
            raise ValueError(message)
        lower, upper = sorted(float(v) for v in factor)
        return lower, upper
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)) or not low <= factor <= high:
        raise ValueError(message)
    factor = abs(float(factor))
    return max(-factor, low), factor


def value_range_pair(value_range, owner: str) -> list[float]:
    if not isinstance(value_range, (list, tuple)) or len(value_range) != 2:
        raise ValueError(f"{owner}: argument `value_range` must be a pair [low, high]; received "
                         f"value_range={value_range!r}")
    return sorted(value_range)


@keras_layer()
class RandomContrast(RandomLayer):
    """In training, scales each image's deviation from its per-channel mean by a random factor
    drawn uniformly in ``[1 - lower, 1 + upper]`` (``factor``: a number ``f`` gives lower 0 and
    upper ``f``, as Keras 3 reads it; or a pair in [0, 1]), then clips to ``value_range``.
    Elementwise, so gradients flow. Unchanged in inference."""

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        Layer.__init__(self, **kwargs)
        owner = f"RandomContrast '{self.name}'"
        self.factor = factor_pair(factor, (0.0, 1.0), "factor", owner)
        self.value_range = value_range_pair(value_range, owner)
        self.data_format = normalize_data_format(data_format)
        self._seeded(seed)

    def augment(self, inputs, rng):
        n = inputs.shape[0]
        factors = rng.uniform(1.0 - self.factor[0], 1.0 + self.factor[1], n).astype(inputs.dtype)
        axes = (2, 3) if self.data_format == "channels_first" else (1, 2)
        mean = ops.mean(inputs, axis=axes, keepdims=True)
        out = (inputs - mean) * factors.reshape(n, 1, 1, 1) + mean
        return ops.clip(out, float(self.value_range[0]), float(self.value_range[1]))

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}


@keras_layer()
class RandomBrightness(RandomLayer):
    """In training, adds to each image a random offset ``uniform(lower, upper) * (high - low)``
    where ``factor`` gives (lower, upper) in [-1, 1] (a number ``f``: ``(-f, f)``) and
    ``value_range`` is (low, high); then clips to ``value_range``. Unchanged in inference."""

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        Layer.__init__(self, **kwargs)
        owner = f"RandomBrightness '{self.name}'"
        self.factor = factor_pair(factor, (-1.0, 1.0), "factor", owner)
        self.value_range = value_range_pair(value_range, owner)
        self.data_format = normalize_data_format(data_format)
        self._seeded(seed)

    def augment(self, inputs, rng):
        n = inputs.shape[0]
        span = self.value_range[1] - self.value_range[0]
        delta = (rng.uniform(self.factor[0], self.factor[1], n) * span).astype(inputs.dtype)
        out = inputs + delta.reshape((n,) + (1,) * (len(inputs.shape) - 1))
        return ops.clip(out, float(self.value_range[0]), float(self.value_range[1]))

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}
