"""Layer table entries for Conv2DTranspose (and its Keras 1 name Deconvolution2D) and UpSampling2D's
interpolations, with numpy references (`tests/backend/transpose_op_cases.py`)."""

from __future__ import annotations

import warnings

import numpy as np

from kerasette import layers
from tests.backend.transpose_op_cases import resize_reference
from tests.layers.specs import Spec


def _transpose(*args, **kwargs):
    return lambda: layers.Conv2DTranspose(*args, **kwargs)


def _deconvolution2d():
    """Keras 1's form (its DeprecationWarning is tested in test_transpose_and_upsampling.py)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return layers.Deconvolution2D(3, 3, 3, output_shape=(None, 9, 8, 3), subsample=(2, 2), border_mode="same")


def _channels_first(reference):
    return lambda x: reference(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


# The Conv2DTranspose entries' values are checked against the reference with the layer's own
# (random) weights in tests/layers/test_transpose_and_upsampling.py.
SPECS = [
    Spec("conv2d-transpose-valid", _transpose(4, 3), (5, 4, 2), 2, 3 * 3 * 4 * 2 + 4),
    Spec("conv2d-transpose-same-strides", _transpose(3, 3, strides=2, padding="same"), (4, 5, 2), 2, 57),
    Spec("conv2d-transpose-output-padding", _transpose(2, (3, 2), strides=(2, 3), output_padding=(1, 2)),
         (3, 4, 3), 2, 3 * 2 * 2 * 3 + 2),
    Spec("conv2d-transpose-same-output-padding-relu",
         _transpose(3, 4, strides=2, padding="same", output_padding=1, activation="relu"), (3, 3, 2), 2, 99),
    Spec("conv2d-transpose-dilated-no-bias", _transpose(2, 3, dilation_rate=(2, 1), use_bias=False), (4, 4, 3),
         1, 54),
    Spec("conv2d-transpose-channels_first", _transpose(3, 2, strides=2, data_format="channels_first"), (2, 3, 4),
         2, 2 * 2 * 3 * 2 + 3),
    Spec("deconvolution2d-keras1", _deconvolution2d, (5, 4, 2), 2, 57),
    Spec("upsampling-bilinear", lambda: layers.UpSampling2D((2, 3), interpolation="bilinear"), (3, 4, 2), 0, 0,
         lambda x: resize_reference(x.astype(np.float64), (2, 3), "bilinear")),
    Spec("upsampling-bilinear-channels_first",
         lambda: layers.UpSampling2D(2, data_format="channels_first", interpolation="bilinear"), (2, 3, 4), 0, 0,
         _channels_first(lambda x: resize_reference(x.astype(np.float64), (2, 2), "bilinear"))),
    Spec("upsampling-bicubic", lambda: layers.UpSampling2D((3, 2), interpolation="bicubic"), (4, 3, 2), 0, 0,
         lambda x: resize_reference(x.astype(np.float64), (3, 2), "bicubic")),
    Spec("upsampling-nearest-kernel", lambda: layers.UpSampling2D(3, interpolation="nearest"), (2, 3, 5), 0, 0,
         lambda x: x.repeat(3, axis=1).repeat(3, axis=2)),
]
