"""Layer table entries for Keras 3's preprocessing layers (``kerasette/layers/preprocessing``).

The harness calls layers in inference, where the random augmentation layers pass their input
through; their training behaviour is tested in ``tests/images/test_preprocessing_layers.py``.
"""

from __future__ import annotations

import numpy as np

from kerasette import layers
from kerasette.utils.image_utils import resize_array
from tests.layers.specs import Spec


def _crop_then_resize(x, height, width):
    rows, cols = x.shape[1:3]
    crop_rows = min(rows, cols * height // width)
    crop_cols = min(cols, rows * width // height)
    top, left = (rows - crop_rows) // 2, (cols - crop_cols) // 2
    return resize_array(x[:, top:top + crop_rows, left:left + crop_cols], (height, width))


SPECS = [
    Spec("rescaling", lambda: layers.Rescaling(1 / 255, offset=-1.0), (3, 4), 0, 0, lambda x: x / 255 - 1),
    Spec("rescaling-per-channel", lambda: layers.Rescaling([1.0, 2.0, 3.0]), (2, 2, 3), 0, 0,
         lambda x: x * np.array([1.0, 2.0, 3.0])),
    Spec("resizing-bilinear", lambda: layers.Resizing(3, 7), (5, 4, 2), 0, 0, lambda x: resize_array(x, (3, 7))),
    Spec("resizing-nearest-channels_first", lambda: layers.Resizing(4, 2, interpolation="nearest",
                                                                    data_format="channels_first"), (2, 5, 3), 0, 0,
         lambda x: resize_array(x, (4, 2), "nearest", data_format="channels_first")),
    Spec("resizing-crop-to-aspect", lambda: layers.Resizing(3, 3, crop_to_aspect_ratio=True), (4, 7, 1), 0, 0,
         lambda x: _crop_then_resize(x, 3, 3)),
    Spec("resizing-pad-to-aspect", lambda: layers.Resizing(4, 4, pad_to_aspect_ratio=True), (2, 4, 1), 0, 0,
         lambda x: resize_array(np.pad(x, ((0, 0), (1, 1), (0, 0), (0, 0))), (4, 4))),
    Spec("center-crop", lambda: layers.CenterCrop(2, 3), (5, 6, 2), 0, 0, lambda x: x[:, 1:3, 1:4]),
    Spec("center-crop-channels_first", lambda: layers.CenterCrop(2, 2, data_format="channels_first"), (1, 4, 5),
         0, 0, lambda x: x[:, :, 1:3, 1:3]),
    Spec("center-crop-smaller-input", lambda: layers.CenterCrop(6, 6), (4, 5, 1), 0, 0,
         lambda x: _crop_then_resize(x, 6, 6)),
    Spec("normalization-given", lambda: layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 9.0, 16.0]),
         (2, 2, 3), 0, 0, lambda x: (x - np.array([1.0, 2.0, 3.0])) / np.array([2.0, 3.0, 4.0])),
    Spec("normalization-invert-scalar", lambda: layers.Normalization(axis=None, mean=2.0, variance=4.0,
                                                                     invert=True), (3,), 0, 0, lambda x: x * 2 + 2),
    Spec("random-flip", lambda: layers.RandomFlip(seed=1), (4, 4, 3), 0, 0, lambda x: x),
    Spec("random-rotation", lambda: layers.RandomRotation(0.2, seed=1), (5, 4, 2), 0, 0, lambda x: x),
    Spec("random-zoom", lambda: layers.RandomZoom(0.2, (-0.1, 0.3), fill_mode="constant", seed=2), (4, 4, 1), 0,
         0, lambda x: x),
    Spec("random-translation-channels_first",
         lambda: layers.RandomTranslation(0.1, 0.2, fill_mode="wrap", interpolation="nearest",
                                          data_format="channels_first", seed=3), (2, 4, 5), 0, 0, lambda x: x),
    Spec("random-contrast", lambda: layers.RandomContrast(0.4, seed=4), (3, 3, 3), 0, 0, lambda x: x),
    Spec("random-brightness", lambda: layers.RandomBrightness((-0.1, 0.3), value_range=(0, 1), seed=5), (3, 3, 1),
         0, 0, lambda x: x),
    Spec("random-crop", lambda: layers.RandomCrop(3, 2, seed=6), (5, 4, 2), 0, 0, lambda x: _crop_then_resize(x, 3, 2)),
]
