"""Deterministic weights for an application model, the same in real Keras and in kerasette.

Each weight is drawn from its own generator, seeded by its layer's name and its index within the
layer, so the values depend neither on the framework nor on the order layers are listed in.
Kernels are uniform with He-like variance (2 / fan_in); batch normalization's scale and variance
(its first and fourth weights) lie in [0.5, 1.5], its shift and mean in [-0.5, 0.5]; other
vectors (biases) in [-0.1, 0.1]. Uses numpy only: the Keras-side script imports it too.
"""

from __future__ import annotations

import zlib

import numpy as np


def weight_values(layer_class: str, layer_name: str, index: int, shape: tuple) -> np.ndarray:
    """The value of weight ``index`` of layer ``layer_name`` (of class ``layer_class``)."""
    rng = np.random.default_rng(zlib.crc32(f"{layer_name}/{index}".encode()))
    u = rng.random(size=shape)  # uniform [0, 1): stable across numpy versions
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[:2] if layer_class == "DepthwiseConv2D" else shape[:-1]))
        limit = np.sqrt(6.0 / fan_in)
        return ((2.0 * u - 1.0) * limit).astype(np.float32)
    if layer_class == "BatchNormalization":
        return (0.5 + u if index in (0, 3) else u - 0.5).astype(np.float32)
    return ((2.0 * u - 1.0) * 0.1).astype(np.float32)


def fill(layers) -> list[tuple[str, tuple]]:
    """Sets every weight of ``layers`` (objects with ``name``, ``weights`` and ``set_weights``)
    from the recipe; returns (layer name, weight shape) of each weight, in order."""
    listed = []
    for layer in layers:
        shapes = [tuple(int(d) for d in w.shape) for w in layer.weights]
        if not shapes:
            continue
        cls = type(layer).__name__
        layer.set_weights([weight_values(cls, layer.name, i, s) for i, s in enumerate(shapes)])
        listed.extend((layer.name, s) for s in shapes)
    return listed
