"""What the image layers (convolution, pooling, reshaping) share: the spatial axes of either data
format, the 4-D input spec, and the error for a window larger than its input."""

from __future__ import annotations

from kerasette.layers.base import Layer
from kerasette.layers.input_spec import InputSpec
from kerasette.utils.validation import shape_str

TO_CHANNELS_LAST = (0, 2, 3, 1)
TO_CHANNELS_FIRST = (0, 3, 1, 2)


def spatial_dims(input_shape, data_format: str) -> tuple:
    """(rows, cols, channels) of a 4-D shape in ``data_format``."""
    if data_format == "channels_first":
        return input_shape[2], input_shape[3], input_shape[1]
    return input_shape[1], input_shape[2], input_shape[3]


IMAGE_NDIM_TEXT = "a 4-D input (batch, rows, cols, channels) or (batch, channels, rows, cols)"


def image_input_spec(data_format: str, channels: int | None = None) -> InputSpec:
    """A 4-D image input, with a known channel count once built."""
    axis = 1 if data_format == "channels_first" else -1
    return InputSpec(ndim=4, ndim_text=IMAGE_NDIM_TEXT, axes={axis: channels} if channels else None,
                     axis_names={axis: f"input channels ({data_format})"})


def check_window_fits(layer, input_shape, window, padding: str, what: str) -> None:
    """Raises the error a user meets when the input is not an image with the expected channels
    (the layer's input spec), or when a kernel or pool is larger than it."""
    Layer.check_input(layer, input_shape)
    if padding != "valid":
        return
    rows, cols, _ = spatial_dims(input_shape, layer.data_format)
    for axis, size, k in (("height", rows, window[0]), ("width", cols, window[1])):
        if size is not None and size < k:
            hint = ""
            if layer.data_format == "channels_last":
                hint = (" If your input_shape is (channels, rows, cols), use "
                        "data_format='channels_first'.")
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}': input {axis} {size} is smaller than the "
                f"{what} {axis} {k} (input shape {shape_str(input_shape)}).{hint}"
            )
