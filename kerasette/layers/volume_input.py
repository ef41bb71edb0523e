"""What the 3-D image layers (Conv3D, the 3-D pooling, padding, cropping and upsampling layers)
share: the spatial axes of a volume in either data format, the 5-D input spec, the transposes to
and from the engine's channels-last layout, and the error for a window larger than its input."""

from __future__ import annotations

from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.input_spec import InputSpec
from kerasette.utils.validation import shape_str

TO_CHANNELS_LAST_3D = (0, 2, 3, 4, 1)
TO_CHANNELS_FIRST_3D = (0, 4, 1, 2, 3)

VOLUME_NDIM_TEXT = ("a 5-D input (batch, depth, rows, cols, channels) or (batch, channels, depth, rows, cols)")


def volume_dims(input_shape, data_format: str) -> tuple:
    """(depth, rows, cols, channels) of a 5-D shape in ``data_format``."""
    if data_format == "channels_first":
        return tuple(input_shape[2:5]) + (input_shape[1],)
    return tuple(input_shape[1:5])


def spatial_axes(data_format: str) -> tuple[int, int, int]:
    """The axes of depth, rows and columns."""
    return (2, 3, 4) if data_format == "channels_first" else (1, 2, 3)


def volume_shape(batch, spatial, channels, data_format: str) -> tuple:
    """A 5-D shape from its parts, in ``data_format``."""
    if data_format == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def volume_input_spec(data_format: str, channels: int | None = None) -> InputSpec:
    """A 5-D volume input, with a known channel count once built."""
    axis = 1 if data_format == "channels_first" else -1
    return InputSpec(ndim=5, ndim_text=VOLUME_NDIM_TEXT, axes={axis: channels} if channels else None,
                     axis_names={axis: f"input channels ({data_format})"})


def data_format_of(value, owner: str) -> str:
    """``normalize_data_format`` with the layer named in its error."""
    try:
        return normalize_data_format(value)
    except ValueError as exc:
        raise ValueError(f"{owner}: {exc}") from None


def check_volume_window_fits(layer, input_shape, window, padding: str, what: str) -> None:
    """Raises the error a user meets when the input is not a volume with the expected channels
    (the layer's input spec), or when a 'valid' kernel or pool is larger than it."""
    Layer.check_input(layer, input_shape)
    if padding != "valid":
        return
    sizes = volume_dims(input_shape, layer.data_format)[:3]
    for axis, size, k in zip(("depth", "height", "width"), sizes, window):
        if size is not None and size < k:
            hint = ""
            if layer.data_format == "channels_last":
                hint = (" If your input_shape is (channels, depth, rows, cols), use "
                        "data_format='channels_first'.")
            raise ValueError(f"{type(layer).__name__} '{layer.name}': input {axis} {size} is smaller than the "
                             f"{what} {axis} {k} (input shape {shape_str(input_shape)}).{hint}")


def channels_last_call(layer, inputs, compute):
    """``compute`` (a function of a channels-last tensor) applied to ``inputs`` in the layer's
    data format: a transpose each way around it for channels-first."""
    if layer.data_format == "channels_first":
        return ops.transpose(compute(ops.transpose(inputs, TO_CHANNELS_LAST_3D)), TO_CHANNELS_FIRST_3D)
    return compute(inputs)
