"""What the 1-D (sequence) convolution, pooling and reshaping layers share: the steps and channel
axes of either data format, the 3-D input spec, the error for a window longer than its input,
and the (N, 1, steps, C) image view through which they run the engine's 2-D ops.

A sequence is (batch, steps, channels) channels-last, or (batch, channels, steps) channels-first.
The engine computes channels-last; a channels-first layer transposes at its boundary
(`to_channels_last`/`from_channels_last`). A channels-last sequence reshaped to (N, 1, steps, C)
is an image of one row (a view: no copy), so a 1-D window of length k is a (1, k) 2-D window.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.input_spec import InputSpec
from kerasette.utils.validation import shape_str

#: (batch, steps, channels) <-> (batch, channels, steps): the same permutation both ways
SWAP_STEPS_AND_CHANNELS = (0, 2, 1)

SEQUENCE_NDIM_TEXT = "a 3-D input (batch, steps, channels) or (batch, channels, steps)"


def steps_and_channels(input_shape, data_format: str) -> tuple:
    """(steps, channels) of a 3-D shape in ``data_format``."""
    if data_format == "channels_first":
        return input_shape[2], input_shape[1]
    return input_shape[1], input_shape[2]


def sequence_shape(batch, steps, channels, data_format: str) -> tuple:
    """A 3-D shape from its parts, in ``data_format``'s order."""
    return (batch, channels, steps) if data_format == "channels_first" else (batch, steps, channels)


def sequence_input_spec(data_format: str, channels: int | None = None) -> InputSpec:
    """A 3-D sequence input, with a known channel count once built."""
    axis = 1 if data_format == "channels_first" else -1
    return InputSpec(ndim=3, ndim_text=SEQUENCE_NDIM_TEXT, axes={axis: channels} if channels else None,
                     axis_names={axis: f"input channels ({data_format})"})


def check_steps_fit(layer, input_shape, window: int, padding: str, what: str) -> None:
    """Raises the error a user meets when the input is not a sequence with the expected channels
    (the layer's input spec), or when a ``'valid'`` kernel or pool is longer than it."""
    Layer.check_input(layer, input_shape)
    if padding != "valid":
        return
    steps, _ = steps_and_channels(input_shape, layer.data_format)
    if steps is not None and steps < window:
        hint = ""
        if layer.data_format == "channels_last":
            hint = " If your input_shape is (channels, steps), use data_format='channels_first'."
        raise ValueError(f"{type(layer).__name__} '{layer.name}': input length {steps} is shorter than the "
                         f"{what} length {window} (input shape {shape_str(input_shape)}).{hint}")


def to_channels_last(x, data_format: str):
    """``x`` as (batch, steps, channels)."""
    return ops.transpose(x, SWAP_STEPS_AND_CHANNELS) if data_format == "channels_first" else x


def from_channels_last(y, data_format: str):
    """A (batch, steps, channels) result in ``data_format``'s order."""
    return ops.transpose(y, SWAP_STEPS_AND_CHANNELS) if data_format == "channels_first" else y


def as_image(x):
    """A channels-last sequence (N, W, C) as an image of one row, (N, 1, W, C) (a view)."""
    return ops.reshape(x, (x.shape[0], 1, x.shape[1], x.shape[2]))


def from_image(y):
    """An image of one row (N, 1, W, C) as a sequence (N, W, C) (a view)."""
    return ops.reshape(y, (y.shape[0], y.shape[2], y.shape[3]))


def causal_pad(x, amount: int):
    """``amount`` steps of zeros before a channels-last sequence (causal padding: output step
    t then sees inputs t and before only)."""
    if amount == 0:
        return x
    zeros = np.zeros((x.shape[0], amount, x.shape[2]), dtype=x.dtype)
    return ops.concatenate([zeros, x], axis=1)
