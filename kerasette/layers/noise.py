"""Noise layers (Keras 1: ``keras.layers.noise``): GaussianNoise, GaussianDropout, AlphaDropout.

Each is a regularizer active only in training (``training=True``, as ``fit`` calls it); in
inference (``predict``, ``evaluate``) it returns its input unchanged. The random draws come from
the layer's own generator when it has a ``seed`` (the same sequence of draws on every run), else
from kerasette's shared generator (`kerasette.backend.random`, seeded by ``K.set_seed``).
"""

from __future__ import annotations

import math

import numpy as np

from kerasette.backend import ops, parallel
from kerasette.backend import random as krandom
from kerasette.layers.base import Layer
from kerasette.layers.dropout import check_noise_shape, concrete_noise_shape
from kerasette.layers.legacy import keras_layer
from kerasette.utils.validation import check_rate

#: SELU's constants (`kerasette.activations.selu`): alpha and scale
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

#: values per independent random stream in `draws` (as the dropout op's blocks)
DRAW_BLOCK = 1 << 18


def draws(kind: str, shape, dtype, rng: np.random.Generator) -> np.ndarray:
    """Standard normal (``kind='normal'``) or uniform [0, 1) (``'uniform'``) draws of ``shape``,
    float64 for a float64 ``dtype`` and float32 otherwise.

    One integer drawn from ``rng`` seeds a stream per block of `DRAW_BLOCK` values, and the
    blocks are filled in parallel: the values depend on ``rng`` only, not on the thread count.
    """
    out = np.empty(tuple(shape), np.float64 if np.dtype(dtype) == np.float64 else np.float32)
    flat = out.reshape(-1)
    seed = int(rng.integers(0, 2**63))

    def blocks(b0, b1):
        for b in range(b0, b1):
            stream = np.random.default_rng([seed, b])
            part = flat[b * DRAW_BLOCK:(b + 1) * DRAW_BLOCK]
            if kind == "normal":
                stream.standard_normal(out=part, dtype=part.dtype)
            else:
                stream.random(out=part, dtype=part.dtype)

    parallel.map_chunks(blocks, -(-flat.size // DRAW_BLOCK), parallel.memory_bound_min(), DRAW_BLOCK)
    return out


class _Noise(Layer):
    """What the noise layers share: the seed and its generator, the identity outside training,
    an output shaped like the input."""

    supports_masking = True  # Keras 3: passes its input's mask on

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def generator(self) -> np.random.Generator:
        """The layer's own generator when it has a seed, else the shared one."""
        return self._rng or krandom.generator()

    def _normal(self, shape, dtype) -> np.ndarray:
        """Standard normal draws of ``shape`` in ``dtype``."""
        return draws("normal", shape, dtype, self.generator()).astype(dtype, copy=False)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras_layer(keras1={"sigma": "stddev"})
class GaussianNoise(_Noise):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` in training:
    ``inputs + stddev * N(0, 1)``, one draw per value (a form of data augmentation for
    real-valued inputs). In inference it is the identity.

    Args:
        stddev: the noise's standard deviation, >= 0 (Keras 1: ``sigma``). Keras 3 accepts only
            values up to 1; kerasette accepts larger ones, as Keras 1 and 2 did.
        seed: an int for a reproducible sequence of draws, or None (the shared generator).

    Example:
        >>> import numpy as np
        >>> layer = GaussianNoise(0.1, seed=1)
        >>> x = np.zeros((2, 3), "float32")
        >>> bool((layer(x).data == 0).all()), bool((layer(x, training=True).data != 0).all())
        (True, True)
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float, np.floating)) \
                or not math.isfinite(stddev) or stddev < 0:
            raise ValueError(f"GaussianNoise '{self.name}': argument `stddev` must be a finite number >= 0; "
                             f"received stddev={stddev!r}")
        self.stddev = float(stddev)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        noise = self._normal(inputs.shape, inputs.dtype)
        noise *= noise.dtype.type(self.stddev)
        return ops.add(inputs, noise)

    def layout_free(self) -> bool:
        return True

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@keras_layer(keras1={"p": "rate"})
class GaussianDropout(_Noise):
    """Multiplies the inputs by Gaussian noise of mean 1 in training: ``inputs * N(1, s)`` with
    ``s = sqrt(rate / (1 - rate))``, the standard deviation of Dropout(rate)'s multiplicative
    mask, so the two regularize alike; one draw per value. In inference it is the identity.

    Args:
        rate: the drop probability of the equivalent Dropout, in [0, 1) (Keras 1: ``p``).
        seed: as in `GaussianNoise`.

    Example:
        >>> round(GaussianDropout(0.2).noise_stddev, 6)
        0.5
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = check_rate(rate, "rate", f"GaussianDropout '{self.name}'")

    @property
    def noise_stddev(self) -> float:
        """The standard deviation of the multiplicative noise, ``sqrt(rate / (1 - rate))``."""
        return math.sqrt(self.rate / (1.0 - self.rate))

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        noise = self._normal(inputs.shape, inputs.dtype)
        kind = noise.dtype.type
        noise *= kind(self.noise_stddev)
        noise += kind(1.0)
        return ops.multiply(inputs, noise)

    def layout_free(self) -> bool:
        return True

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras_layer(keras1={"p": "rate"})
class AlphaDropout(_Noise):
    """Dropout that keeps the mean and variance of standardized inputs, for self-normalizing
    networks (SELU activations, Klambauer et al., 2017).

    In training each value is kept with probability ``1 - rate`` and otherwise set to SELU's
    negative saturation ``alpha_p = -alpha * scale`` (about -1.7581); then the result goes
    through the affine map ``a * v + b`` with ::

        a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * rate

    which brings a zero-mean, unit-variance input back to zero mean and unit variance. In
    inference the layer is the identity.

    Args:
        rate: the fraction to drop, in [0, 1) (Keras 1/2 spelling ``p`` accepted too).
        noise_shape: the shape of the keep mask, broadcast against the input, as in `Dropout`
            (None entries take the input's size).
        seed: as in `GaussianNoise`.

    Example:
        >>> a, b = AlphaDropout(0.1).affine
        >>> round(a, 4), round(b, 4)
        (0.9213, 0.162)
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = check_rate(rate, "rate", f"AlphaDropout '{self.name}'")
        self.noise_shape = check_noise_shape(self, noise_shape)

    @property
    def affine(self) -> tuple[float, float]:
        """``(a, b)`` of the correction ``a * v + b``."""
        alpha_p = -SELU_ALPHA * SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p**2)) ** -0.5
        return a, -a * alpha_p * self.rate

    def build(self, input_shape):
        concrete_noise_shape(self, self.noise_shape, input_shape)  # a wrong rank or size fails here
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        # a * (x * keep + alpha_p * (1 - keep)) + b, as x * scale + shift with per-mask constants
        shape = concrete_noise_shape(self, self.noise_shape, inputs.shape)
        dtype = np.dtype(inputs.dtype)
        keep = draws("uniform", shape, dtype, self.generator()) >= self.rate
        a, b = self.affine
        alpha_p = -SELU_ALPHA * SELU_SCALE
        scale = np.where(keep, a, 0.0).astype(dtype)
        shift = np.where(keep, b, a * alpha_p + b).astype(dtype)
        return ops.add(ops.multiply(inputs, scale), shift)

    def layout_free(self) -> bool:
        return self.noise_shape is None

    def get_config(self):
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": noise_shape}
