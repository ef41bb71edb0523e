"""Layer table entries: the noise layers (GaussianNoise, GaussianDropout, AlphaDropout), the
Dropout family's masks (noise_shape, SpatialDropout1D/2D/3D), GroupNormalization and
UnitNormalization.

The noise layers are the identity in inference, which is what the table's reference checks
(their training behaviour is tested in ``tests/layers/test_noise_layers.py``); the generic
harness's training step runs them in training mode.
"""

from __future__ import annotations

import numpy as np

from kerasette import layers
from tests.layers.specs import Spec

GAMMA_BETA = ("gamma", "beta")


def group_norm_reference(x, groups, axis=-1, epsilon=1e-3):
    """Group normalization with gamma 1 and beta 0, written plainly: channel axis moved last,
    each sample's group normalized over its channels and every other non-batch axis."""
    moved = np.moveaxis(x.astype(np.float64), axis, -1)
    split = moved.reshape(moved.shape[:-1] + (groups, moved.shape[-1] // groups))
    reduce = tuple(range(1, split.ndim - 2)) + (split.ndim - 1,)
    mean = split.mean(axis=reduce, keepdims=True)
    var = ((split - mean) ** 2).mean(axis=reduce, keepdims=True)
    out = ((split - mean) / np.sqrt(var + epsilon)).reshape(moved.shape)
    return np.moveaxis(out, -1, axis)


def unit_norm_reference(x, axis=-1):
    x = x.astype(np.float64)
    return x / np.maximum(np.sqrt((x**2).sum(axis=axis, keepdims=True)), 1e-12)


def _identity(x):
    return x


SPECS = [
    # noise layers: weightless, the identity in inference
    Spec("gaussian-noise", lambda: layers.GaussianNoise(0.2), (6,), 0, 0, _identity),
    Spec("gaussian-noise-image-seeded", lambda: layers.GaussianNoise(1.5, seed=1), (3, 3, 2), 0, 0, _identity),
    Spec("gaussian-dropout", lambda: layers.GaussianDropout(0.3), (6,), 0, 0, _identity),
    Spec("gaussian-dropout-seeded", lambda: layers.GaussianDropout(0.1, seed=4), (2, 5), 0, 0, _identity),
    Spec("alpha-dropout", lambda: layers.AlphaDropout(0.2), (5,), 0, 0, _identity),
    Spec("alpha-dropout-noise-shape", lambda: layers.AlphaDropout(0.2, noise_shape=(None, 1, 3), seed=2),
         (4, 3), 0, 0, _identity),
    # the Dropout family's masks
    Spec("dropout-noise-shape", lambda: layers.Dropout(0.5, noise_shape=(None, 1, 3)), (4, 3), 0, 0, _identity),
    Spec("dropout-noise-shape-sizes", lambda: layers.Dropout(0.25, noise_shape=[None, 2, 1, None], seed=7),
         (2, 3, 4), 0, 0, _identity),
    Spec("spatial-dropout1d", lambda: layers.SpatialDropout1D(0.3), (5, 4), 0, 0, _identity),
    Spec("spatial-dropout2d", lambda: layers.SpatialDropout2D(0.3, seed=1), (4, 4, 3), 0, 0, _identity),
    Spec("spatial-dropout2d-channels_first", lambda: layers.SpatialDropout2D(0.3, data_format="channels_first"),
         (3, 4, 4), 0, 0, _identity),
    Spec("spatial-dropout3d", lambda: layers.SpatialDropout3D(0.2), (2, 3, 3, 2), 0, 0, _identity),
    Spec("spatial-dropout3d-channels_first", lambda: layers.SpatialDropout3D(0.2, data_format="channels_first"),
         (2, 2, 3, 3), 0, 0, _identity),
    # GroupNormalization
    Spec("groupnorm", lambda: layers.GroupNormalization(groups=2), (6,), 2, 12,
         lambda x: group_norm_reference(x, 2), GAMMA_BETA),
    Spec("groupnorm-image", lambda: layers.GroupNormalization(groups=3), (4, 4, 6), 2, 12,
         lambda x: group_norm_reference(x, 3), GAMMA_BETA),
    Spec("groupnorm-channels_first", lambda: layers.GroupNormalization(groups=2, axis=1, epsilon=1e-5),
         (4, 3, 3), 2, 8, lambda x: group_norm_reference(x, 2, axis=1, epsilon=1e-5), GAMMA_BETA),
    Spec("groupnorm-instance", lambda: layers.GroupNormalization(groups=-1), (5, 4), 2, 8,
         lambda x: group_norm_reference(x, 4), GAMMA_BETA),
    Spec("groupnorm-one-group-no-center", lambda: layers.GroupNormalization(groups=1, center=False), (3, 4), 1, 4,
         lambda x: group_norm_reference(x, 1), ("gamma",)),
    Spec("groupnorm-middle-axis-no-scale", lambda: layers.GroupNormalization(groups=2, axis=-2, scale=False),
         (3, 4, 2), 1, 4, lambda x: group_norm_reference(x, 2, axis=-2), ("beta",)),
    # UnitNormalization
    Spec("unitnorm", lambda: layers.UnitNormalization(), (5,), 0, 0, unit_norm_reference),
    Spec("unitnorm-axes", lambda: layers.UnitNormalization(axis=[1, 2]), (3, 4, 2), 0, 0,
         lambda x: unit_norm_reference(x, (1, 2))),
    Spec("unitnorm-axis1", lambda: layers.UnitNormalization(axis=1), (3, 4), 0, 0,
         lambda x: unit_norm_reference(x, 1)),
]
