"""Resizing and CenterCrop (Keras 3), as two matrix products per image so that gradients flow.

Resizing along one axis is a linear map (`kerasette.utils.image_utils.interpolation_matrix`:
half-pixel centres, no antialiasing, as Keras 3 does; bilinear, nearest, bicubic, area or
Lanczos weights). Cropping or padding to an aspect ratio first only shifts which input pixels
the rows of that map read. So the whole
resize is ``A_rows @ image @ A_cols.T`` per channel, with ``ops.matmul``, and the layer is
differentiable like any other.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import keras_layer
from kerasette.utils.image_utils import (
    RESIZE_INTERPOLATIONS,
    aspect_crop_box,
    aspect_pad_box,
    interpolation_matrix,
)
from kerasette.utils.validation import check_positive_int

INTERPOLATIONS = RESIZE_INTERPOLATIONS


def resize_images(x, height: int, width: int, interpolation: str, data_format: str, crop_to_aspect_ratio=False,
                  pad_to_aspect_ratio=False, fill_value: float = 0.0):
    """A batch of images (a Tensor) resized to ``height`` x ``width``, differentiably."""
    channels_first = data_format == "channels_first"
    rows, cols = (x.shape[2], x.shape[3]) if channels_first else (x.shape[1], x.shape[2])
    row_offset = col_offset = 0
    row_span, col_span = rows, cols
    if crop_to_aspect_ratio:
        left, top, right, bottom = aspect_crop_box(cols, rows, width, height)
        row_offset, col_offset, row_span, col_span = -top, -left, bottom - top, right - left
    elif pad_to_aspect_ratio:
        left, top, col_span, row_span = aspect_pad_box(cols, rows, width, height)
        row_offset, col_offset = top, left
    a_rows = interpolation_matrix(rows, height, interpolation, row_offset, row_span)
    a_cols = interpolation_matrix(cols, width, interpolation, col_offset, col_span)
    dtype = x.dtype
    t = x if channels_first else ops.transpose(x, (0, 3, 1, 2))  # (n, c, rows, cols)
    t = ops.matmul(t, a_cols.T.astype(dtype))  # (n, c, rows, width)
    t = ops.matmul(a_rows.astype(dtype), t)  # (n, c, height, width)
    if pad_to_aspect_ratio and fill_value:
        covered = np.outer(a_rows.sum(1), a_cols.sum(1))
        t = t + (fill_value * (1 - covered)).astype(dtype)
    return t if channels_first else ops.transpose(t, (0, 2, 3, 1))


def _check_interpolation(value, owner):
    if value not in INTERPOLATIONS:
        raise ValueError(f"{owner}: argument `interpolation` must be one of {', '.join(INTERPOLATIONS)}; received "
                         f"interpolation={value!r}")
    return value


def _output_shape(input_shape, height, width, data_format):
    out = list(input_shape)
    axes = (2, 3) if data_format == "channels_first" else (1, 2)
    out[axes[0]], out[axes[1]] = height, width
    return tuple(out)


@keras_layer()
class Resizing(Layer):
    """Resizes a batch of images to ``height`` x ``width`` (Keras 3's ``keras.layers.Resizing``).

    ``interpolation``: 'bilinear', 'nearest', 'bicubic', 'area', 'lanczos3' or 'lanczos5' (see
    `kerasette.utils.image_utils.interpolation_matrix`). With
    ``crop_to_aspect_ratio`` the largest centred window with the target's aspect ratio is
    resized (no distortion); with ``pad_to_aspect_ratio`` the image is first padded evenly
    with ``fill_value`` to that ratio. ``fill_mode`` is Keras's, 'constant' only.

    Example:
        >>> import numpy as np
        >>> Resizing(2, 2)(np.arange(16, dtype="float32").reshape(1, 4, 4, 1)).data[0, :, :, 0].tolist()
        [[2.5, 4.5], [10.5, 12.5]]
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"Resizing '{self.name}'"
        self.height = check_positive_int(height, "height", owner)
        self.width = check_positive_int(width, "width", owner)
        self.interpolation = _check_interpolation(interpolation, owner)
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"{owner}: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True")
        if fill_mode != "constant":
            raise ValueError(f"{owner}: argument `fill_mode` must be 'constant' (the padding's fill); received "
                             f"fill_mode={fill_mode!r}")
        if antialias:
            raise ValueError(f"{owner}: antialias=True is not implemented; received antialias={antialias!r}")
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value, self.antialias = fill_mode, float(fill_value), False
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        return _output_shape(input_shape, self.height, self.width, self.data_format)

    def call(self, inputs):
        return resize_images(inputs, self.height, self.width, self.interpolation, self.data_format,
                             self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}


@keras_layer()
class CenterCrop(Layer):
    """The centred ``height`` x ``width`` window of each image (Keras 3's ``keras.layers.CenterCrop``).

    An image smaller than the target on either side is instead resized (bilinear) after cropping
    it to the target's aspect ratio, as Keras's ``smart_resize`` does. Runs in training and
    inference.

    Example:
        >>> import numpy as np
        >>> CenterCrop(2, 2)(np.arange(16, dtype="float32").reshape(1, 4, 4, 1)).data[0, :, :, 0].tolist()
        [[5.0, 6.0], [9.0, 10.0]]
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"CenterCrop '{self.name}'"
        self.height = check_positive_int(height, "height", owner)
        self.width = check_positive_int(width, "width", owner)
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        return _output_shape(input_shape, self.height, self.width, self.data_format)

    def call(self, inputs):
        first = self.data_format == "channels_first"
        rows, cols = (inputs.shape[2], inputs.shape[3]) if first else (inputs.shape[1], inputs.shape[2])
        if rows < self.height or cols < self.width:
            return resize_images(inputs, self.height, self.width, "bilinear", self.data_format,
                                 crop_to_aspect_ratio=True)
        top, left = (rows - self.height) // 2, (cols - self.width) // 2
        window = (slice(top, top + self.height), slice(left, left + self.width))
        index = (slice(None), slice(None)) + window if first else (slice(None),) + window + (slice(None),)
        return ops.getitem(inputs, index)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "height": self.height, "width": self.width}
