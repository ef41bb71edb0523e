"""The Dropout family: Dropout (with ``noise_shape``) and SpatialDropout1D/2D/3D, which drop whole
feature maps, plus the noise-shape helpers the noise layers share. Keras 1 and 2 import them from
``keras.layers.core``: `kerasette.layers.core` re-exports them.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend import random as krandom
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import keras_layer
from kerasette.utils.validation import check_rate, shape_str


def check_noise_shape(layer, noise_shape) -> tuple | None:
    """``noise_shape`` as a tuple of positive ints and Nones (None stays None), or a ValueError
    naming ``layer``."""
    if noise_shape is None:
        return None
    entries = None if isinstance(noise_shape, (str, bytes)) else _as_tuple(noise_shape)
    if entries is None or not all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                                                and d > 0) for d in entries):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `noise_shape` must be a list of positive "
                         f"ints or None (one per input axis); received noise_shape={noise_shape!r}")
    return tuple(None if d is None else int(d) for d in entries)


def _as_tuple(value) -> tuple | None:
    try:
        return tuple(value)
    except TypeError:
        return None


def concrete_noise_shape(layer, noise_shape: tuple | None, input_shape) -> tuple:
    """The mask shape for inputs of ``input_shape``: ``noise_shape`` with each None replaced by the
    input's size on that axis (Keras's rule), checked to broadcast against the input (each size
    1 or the input's)."""
    input_shape = tuple(input_shape)
    if noise_shape is None:
        return input_shape
    if len(noise_shape) != len(input_shape):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `noise_shape` must have one entry per input "
                         f"axis ({len(input_shape)}); received noise_shape={_shape_arg(noise_shape)} for "
                         f"input shape {shape_str(input_shape)}")
    shape = tuple(n if d is None else d for d, n in zip(noise_shape, input_shape))
    for d, n in zip(shape, input_shape):
        if d is not None and n is not None and d not in (1, n):
            raise ValueError(f"{type(layer).__name__} '{layer.name}': each entry of `noise_shape` must be None, 1 "
                             f"or the input's size on that axis; received noise_shape={_shape_arg(noise_shape)} "
                             f"for input shape {shape_str(input_shape)}")
    return shape


def _shape_arg(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def keep_mask(shape: tuple, rate: float, rng: np.random.Generator, dtype) -> np.ndarray:
    """A dropout mask of ``shape``: ``1 / (1 - rate)`` with probability ``1 - rate``, else 0."""
    dtype = np.dtype(dtype)
    draws = rng.random(shape, dtype=np.float64 if dtype == np.float64 else np.float32)
    return np.where(draws >= rate, dtype.type(1.0 / (1.0 - rate)), dtype.type(0.0)).astype(dtype, copy=False)


@keras_layer(keras1={"p": "rate"})
class Dropout(Layer):
    """Inverted dropout: in training, each value is set to 0 with probability ``rate`` and the
    others are scaled by ``1 / (1 - rate)``, so the expected output equals the input; in
    inference the layer is the identity.

    Args:
        rate: the fraction to drop, in [0, 1) (Keras 1: ``p``).
        noise_shape: the shape of the random mask, broadcast against the input: one entry per
            input axis (batch axis included), each None (the input's size on that axis), 1 (the
            same draw along that axis) or the input's size. ``(None, 1, features)`` on
            (batch, timesteps, features) drops the same features at every timestep. None: one
            draw per value.
        seed: makes the layer's masks a reproducible sequence of its own; None draws from
            kerasette's shared generator (`kerasette.backend.random`, seeded by ``K.set_seed``).

    Example:
        >>> Dropout(0.5).rate
        0.5
        >>> Dropout(0.5, noise_shape=(None, 1, 4)).get_config()["noise_shape"]
        [None, 1, 4]
    """

    supports_masking = True  # Keras 3: passes its input's mask on

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(rate, "rate", f"{type(self).__name__} '{self.name}'")
        self.noise_shape = check_noise_shape(self, noise_shape)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def build(self, input_shape):
        concrete_noise_shape(self, self.noise_shape, input_shape)  # a wrong rank or size fails here
        self.built = True

    def generator(self) -> np.random.Generator:
        """The layer's own generator when it has a seed, else the shared one."""
        return self._rng or krandom.generator()

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return self._drop(inputs, self._mask_shape(inputs.shape))

    def _mask_shape(self, input_shape) -> tuple:
        return concrete_noise_shape(self, self.noise_shape, input_shape)

    def _drop(self, inputs, mask_shape: tuple):
        if tuple(mask_shape) == tuple(inputs.shape):
            return ops.dropout(inputs, self.rate, self.generator())  # the fused kernel, one draw per value
        return ops.multiply(inputs, keep_mask(mask_shape, self.rate, self.generator(), inputs.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def layout_free(self) -> bool:
        return self.noise_shape is None

    def get_config(self):
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape, "seed": self.seed}


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one draw per sample and channel, shared along every other
    axis, so that correlated neighbouring values are dropped together (Tompson et al., 2014)."""

    ndim = 0  # the input's rank, batch axis included

    def __init__(self, rate, data_format=None, seed=None, noise_shape=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        if noise_shape is not None:  # Keras 2 wrote Dropout's config, with noise_shape None
            raise ValueError(f"{type(self).__name__} '{self.name}': the mask shape follows the channels; "
                             f"`noise_shape` must be None, received noise_shape={noise_shape!r}")
        try:
            self.data_format = normalize_data_format(data_format)
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__} '{self.name}': {exc}") from None
        self.input_spec = InputSpec(ndim=self.ndim)

    def build(self, input_shape):
        self.built = True

    def _mask_shape(self, input_shape) -> tuple:
        ones = (1,) * (len(input_shape) - 2)
        if self.data_format == "channels_first":
            return (input_shape[0], input_shape[1]) + ones
        return (input_shape[0],) + ones + (input_shape[-1],)

    def layout_free(self) -> bool:
        return False

    def runs_channels_last(self) -> bool:
        # a channels-first image's channels are the channels-last tensor's last axis
        return self.ndim == 4 and self.data_format == "channels_first"

    def call_channels_last(self, x, training=False, activation=None):
        if not training or self.rate == 0:
            return x
        return self._drop(x, (x.shape[0], 1, 1, x.shape[3]))

    def get_config(self):
        # Keras 3 writes only these (its constructor takes no `trainable`)
        config = {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        return config


@keras_layer(keras1={"p": "rate"})
class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole channels of a sequence (batch, steps, channels): the mask has shape
    (batch, 1, channels). Active in training only; in inference the identity.

    Args:
        rate: the fraction of channels to drop in each sample, in [0, 1) (Keras 1: ``p``).
        seed: as in `Dropout`.

    Example:
        >>> SpatialDropout1D(0.2).compute_output_shape((None, 10, 4))
        (None, 10, 4)
    """

    ndim = 3

    def __init__(self, rate, seed=None, noise_shape=None, **kwargs):
        super().__init__(rate, data_format="channels_last", seed=seed, noise_shape=noise_shape, **kwargs)


@keras_layer(keras1={"p": "rate", "dim_ordering": "data_format"})
class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole 2-D feature maps: one draw per sample and channel of an image, so the
    mask has shape (batch, 1, 1, channels) (channels-last) or (batch, channels, 1, 1)
    (channels-first). Active in training only; in inference the identity.

    Args:
        rate: the fraction of channels to drop in each sample, in [0, 1) (Keras 1: ``p``).
        data_format: ``'channels_last'`` or ``'channels_first'`` (Keras 1: ``dim_ordering``,
            ``'tf'`` or ``'th'``); None is the backend's image data format.
        seed: as in `Dropout`.

    Example:
        >>> SpatialDropout2D(0.2, data_format="channels_first").get_config()["data_format"]
        'channels_first'
    """

    ndim = 4

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@keras_layer(keras1={"p": "rate", "dim_ordering": "data_format"})
class SpatialDropout3D(_SpatialDropout):
    """Dropout of whole 3-D feature maps of a volume: the mask has shape
    (batch, 1, 1, 1, channels) (channels-last) or (batch, channels, 1, 1, 1) (channels-first).
    Active in training only; in inference the identity.

    Args:
        rate: the fraction of channels to drop in each sample, in [0, 1) (Keras 1: ``p``).
        data_format: as in `SpatialDropout2D`.
        seed: as in `Dropout`.

    Example:
        >>> SpatialDropout3D(0.2).compute_output_shape((None, 2, 3, 4, 5))
        (None, 2, 3, 4, 5)
    """

    ndim = 5

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
