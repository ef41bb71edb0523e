"""Normalization (Keras 3's ``keras.layers.Normalization``): feature-wise standardisation with a
mean and variance given or learnt from data by `Normalization.adapt`."""

from __future__ import annotations

import math

import numpy as np

from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.utils.sequence import Sequence

EPSILON = 1e-7  # Keras's backend epsilon: the smallest standard deviation divided by


def _axes(axis) -> tuple[int, ...]:
    if axis is None:
        return ()
    if isinstance(axis, (int, np.integer)):
        return (int(axis),)
    return tuple(int(a) for a in axis)


def _first_array(batch):
    """The inputs of a batch ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, w)``."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


@keras_layer()
class Normalization(Layer):
    """``(inputs - mean) / sqrt(variance)`` per feature (``invert=True``: the inverse map).

    ``axis`` names the axes that keep their own statistics (default the last: one mean and
    variance per feature or channel); the others are averaged over. ``mean`` and ``variance``
    can be given (numbers, or arrays that broadcast along the kept axes, right-aligned), and are
    then part of the config; otherwise the layer has three non-trainable weights, ``mean``,
    ``variance`` (shape: the kept axes' sizes) and ``count`` (an int32 scalar Keras keeps for old
    files), set by `adapt` and saved with the model, as Keras 3 does. The standard deviation is
    never taken below 1e-7.

    Example:
        >>> import numpy as np
        >>> layer = Normalization()
        >>> layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> layer(np.array([[1.0, 20.0]], "float32")).data.tolist()
        [[0.0, 0.0]]
    """

    supports_masking = True  # Keras 3: passes its input's mask on

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        owner = f"Normalization '{self.name}'"
        try:
            self.axis = _axes(axis)
        except (TypeError, ValueError):
            raise ValueError(f"{owner}: argument `axis` must be None, an int or a list of ints; received "
                             f"axis={axis!r}") from None
        if (mean is None) != (variance is None):
            raise ValueError(f"{owner}: give both `mean` and `variance`, or neither; received mean={mean!r} and "
                             f"variance={variance!r}")
        if mean is not None and np.shape(mean) != np.shape(variance):
            raise ValueError(f"{owner}: `mean` and `variance` must have the same shape; received shapes "
                             f"{np.shape(mean)} and {np.shape(variance)}")
        self.input_mean, self.input_variance, self.invert = mean, variance, bool(invert)
        self._keep = self._broadcast = None

    # -- shapes ---------------------------------------------------------------------------------
    def build(self, input_shape):
        owner = f"Normalization '{self.name}'"
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"{owner}: every `axis` must be in [-{ndim}, {ndim}) for inputs of rank {ndim}; "
                             f"received axis={list(self.axis)}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        if any(input_shape[a] is None for a in self._keep):
            raise ValueError(f"{owner}: the kept axes {list(self._keep)} must have known sizes; received input "
                             f"shape {tuple(input_shape)}")
        self._broadcast = [input_shape[a] if a in self._keep else 1 for a in range(ndim)]
        self._build_shape = tuple(input_shape)
        stats_shape = tuple(input_shape[a] for a in self._keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=stats_shape, initializer="zeros", trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=stats_shape, initializer="ones",
                                                  trainable=False)
            self.count = self.add_weight(name="count", shape=(), initializer="zeros", dtype="int32", trainable=False)
        else:
            self._constants = (self._aligned(self.input_mean, ndim), self._aligned(self.input_variance, ndim))
        self.built = True

    def _aligned(self, value, ndim) -> np.ndarray:
        """A given mean or variance reshaped to broadcast against the input: a scalar fills the kept
        axes; an array's axes line up with the kept axes from the right."""
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 0:
            return np.broadcast_to(value, self._broadcast).copy()
        shape = [1] * ndim
        for i in range(1, value.ndim + 1):
            if i > len(self._keep):
                raise ValueError(f"Normalization '{self.name}': `mean` of shape {value.shape} has more axes than "
                                 f"the kept axes {list(self._keep)}")
            shape[self._keep[-i]] = value.shape[-i]
        return value.reshape(shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # -- statistics -----------------------------------------------------------------------------
    def adapt(self, data) -> None:
        """Sets ``mean`` and ``variance`` from data: an array, or batches (a `Sequence`, a list
        or any iterable of arrays or ``(x, y)`` tuples), combined exactly as if concatenated."""
        owner = f"Normalization '{self.name}'"
        if self.input_mean is not None:
            raise ValueError(f"{owner}: adapt() cannot change a mean and variance given to the constructor")
        if isinstance(data, np.ndarray) or hasattr(data, "shape"):
            batches = [np.asarray(data)]
        elif isinstance(data, Sequence):
            batches = (_first_array(data[i]) for i in range(len(data)))
        elif hasattr(data, "__iter__"):
            batches = (_first_array(b) for b in data)
        else:
            raise TypeError(f"{owner}: adapt() takes an array, a Sequence or an iterable of batches; received "
                            f"{type(data).__name__}")
        mean = var = None
        total = 0
        for batch in batches:
            batch = np.asarray(batch, dtype=np.float64)
            if not self.built:
                self.build_for((None,) + batch.shape[1:])
            elif any(batch.shape[a] != self._build_shape[a] for a in self._keep):
                raise ValueError(f"{owner}: adapt() received data of shape {batch.shape}, incompatible with the "
                                 f"input shape {self._build_shape} the layer was built for")
            reduce = tuple(a for a in range(batch.ndim) if a not in self._keep)
            b_mean, b_var = batch.mean(axis=reduce), batch.var(axis=reduce)
            count = math.prod(batch.shape[a] for a in reduce) if reduce else 1
            if mean is None:
                mean, var, total = b_mean, b_var, count
                continue
            total += count
            weight = count / total
            new_mean = mean * (1 - weight) + b_mean * weight
            var = (var + (mean - new_mean) ** 2) * (1 - weight) + (b_var + (b_mean - new_mean) ** 2) * weight
            mean = new_mean
        if mean is None:
            raise ValueError(f"{owner}: adapt() received no data (an empty iterable)")
        self.adapt_mean.assign(mean.astype(self.adapt_mean.dtype))
        self.adapt_variance.assign(var.astype(self.adapt_variance.dtype))

    def _statistics(self, dtype):
        if self.input_mean is not None:
            mean, variance = self._constants
        else:
            mean = self.adapt_mean.data.reshape(self._broadcast)
            variance = self.adapt_variance.data.reshape(self._broadcast)
        return mean.astype(dtype), np.maximum(np.sqrt(variance), EPSILON).astype(dtype)

    def call(self, inputs):
        mean, std = self._statistics(inputs.dtype)
        if self.invert:
            return inputs * std + mean
        return (inputs - mean) / std

    def get_config(self):
        def listed(v):
            return np.asarray(v).tolist() if isinstance(v, np.ndarray) else v

        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": listed(self.input_mean), "variance": listed(self.input_variance)}
