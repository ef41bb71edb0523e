"""The geometry of a 2-D window over NHWC images: output size and padding, and the facts about a
convolution that its algorithms' ``applies`` tests read."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from kerasette.utils.conv_utils import conv_output_length, padding_amounts


def window(x_shape, kernel, strides, padding):
    """Output size and (top, bottom, left, right) padding of a 2-D window over NHWC ``x_shape``."""
    return _window(x_shape[1], x_shape[2], tuple(kernel), tuple(strides), padding)


@functools.lru_cache(maxsize=512)
def _window(height, width, kernel, strides, padding):
    """:func:`window` for one image size (a network asks for the same few windows at every step,
    a few times each per layer: remembered rather than computed each time)."""
    out_h = conv_output_length(height, kernel[0], padding, strides[0])
    out_w = conv_output_length(width, kernel[1], padding, strides[1])
    return (out_h, out_w), padding_amounts(height, width, kernel, strides, padding)


class ConvGeometry(NamedTuple):
    """One convolution, as its algorithms see it.

    Attributes:
        kernel: (kh, kw).
        cin, cout: input and output channels.
        strides: (sh, sw).
        in_hw, out_hw: input and output (height, width).
        pads: (top, bottom, left, right).
        dtype: the dtype the pass computes in.
        empty: whether the pass's input array (``x`` forward, ``dy`` backward) has no values.
    """

    kernel: tuple[int, int]
    cin: int
    cout: int
    strides: tuple[int, int]
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    pads: tuple[int, int, int, int]
    dtype: np.dtype
    empty: bool = False


def conv_geometry(x_shape, w_shape, strides, padding, dtype, empty: bool = False) -> ConvGeometry:
    """The `ConvGeometry` of a convolution of NHWC ``x_shape`` with a (kh, kw, cin, cout) kernel."""
    return _conv_geometry(x_shape[1], x_shape[2], tuple(w_shape), tuple(strides), padding, np.dtype(dtype),
                          bool(empty))


@functools.lru_cache(maxsize=512)
def _conv_geometry(height, width, w_shape, strides, padding, dtype, empty) -> ConvGeometry:
    """:func:`conv_geometry`, remembered (the passes of every layer ask for it at every step)."""
    kh, kw, cin, cout = w_shape
    out_hw, pads = _window(height, width, (kh, kw), strides, padding)
    return ConvGeometry((kh, kw), cin, cout, strides, (height, width), out_hw, pads, dtype, empty)


def dilated_window(x_shape, kernel, strides, padding, dilation=(1, 1)):
    """:func:`window` for a kernel whose taps are ``dilation`` apart (its extent along an axis is
    ``(k - 1) * d + 1``, which sets the output size and 'same' padding)."""
    extent = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True))
    return window(x_shape, extent, strides, padding)
