"""Keras 3's preprocessing layers for images and features, one module per group.

Layers that change values the same way every time (`Rescaling`, `Resizing`, `CenterCrop`,
`Normalization`) run in training and inference alike. The random augmentation layers
(`RandomFlip`, `RandomRotation`, `RandomZoom`, `RandomTranslation`, `RandomContrast`,
`RandomBrightness`, `RandomCrop`) change their input only when called with ``training=True``
(``fit``), and pass it through unchanged otherwise, as Keras 3 does; `RandomCrop` crops at
inference too (the centre, after the resize that keeps the target's aspect ratio).
"""

from kerasette.layers.preprocessing.normalization import Normalization
from kerasette.layers.preprocessing.random_color import RandomBrightness, RandomContrast
from kerasette.layers.preprocessing.random_geometry import (
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from kerasette.layers.preprocessing.rescaling import Rescaling
from kerasette.layers.preprocessing.resizing import CenterCrop, Resizing

__all__ = ["CenterCrop", "Normalization", "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip",
           "RandomRotation", "RandomTranslation", "RandomZoom", "Rescaling", "Resizing"]
