"""Average pooling: over 2-D windows of NHWC tensors, and over whole images (global).

With ``'same'`` padding the padded cells are left out of each average (each window is divided
by the number of real cells it covers), as Keras does. Global average pooling of channels-last
images runs on numba kernels (`kerasette.backend.engine.normalization`), float64 sums.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.base import Op, apply
from kerasette.utils.conv_utils import conv_output_length, padding_amounts


def _engine():
    from kerasette.backend.engine import normalization  # deferred: imports numba

    return normalization


def _window_slices(offset: int, stride: int, count: int) -> slice:
    return slice(offset, offset + stride * (count - 1) + 1, stride)


class AvgPool2D(Op):
    """Mean over each (ph, pw) window of x (N, H, W, C), moved by ``strides``."""

    name = "avg_pool2d"

    def __init__(self, pool_size, strides, padding: str):
        self.pool_size, self.strides, self.padding = tuple(pool_size), tuple(strides), padding

    def forward(self, x):
        _, height, width, _ = x.shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        oh = conv_output_length(height, ph, self.padding, sh)
        ow = conv_output_length(width, pw, self.padding, sw)
        top, bottom, left, right = padding_amounts(height, width, self.pool_size, self.strides, self.padding)
        self.x_shape, self.pads, self.out_hw = x.shape, (top, bottom, left, right), (oh, ow)
        xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0))) if any(self.pads) else x
        real = np.pad(np.ones((height, width)), ((top, bottom), (left, right)))
        y = np.zeros((x.shape[0], oh, ow, x.shape[3]), x.dtype)
        counts = np.zeros((oh, ow))
        for i in range(ph):
            for j in range(pw):
                rows, cols = _window_slices(i, sh, oh), _window_slices(j, sw, ow)
                y += xp[:, rows, cols, :]
                counts += real[rows, cols]
        self.inv_counts = (1.0 / counts).astype(x.dtype)[None, :, :, None]
        y *= self.inv_counts
        return y

    def backward(self, grad):
        n, height, width, chans = self.x_shape
        top, bottom, left, right = self.pads
        (ph, pw), (sh, sw), (oh, ow) = self.pool_size, self.strides, self.out_hw
        g = grad * self.inv_counts
        if (ph, pw) == (sh, sw) and not any(self.pads):
            # windows side by side (the usual 2x2 pooling): each input cell gets its window's
            # gradient, written in one pass; cells no window covers get zero
            dx = np.empty(self.x_shape, grad.dtype)
            covered = dx[:, :oh * ph, :ow * pw, :].reshape(n, oh, ph, ow, pw, chans)
            covered[...] = g[:, :, None, :, None, :]
            dx[:, oh * ph:, :, :] = 0
            dx[:, :, ow * pw:, :] = 0
            return (dx,)
        dxp = np.zeros((n, height + top + bottom, width + left + right, chans), grad.dtype)
        for i in range(ph):
            for j in range(pw):
                dxp[:, _window_slices(i, sh, oh), _window_slices(j, sw, ow), :] += g
        return (dxp[:, top:top + height, left:left + width, :],)


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding: str = "valid"):
    """Average pooling of NHWC ``x``; ``'same'`` padding leaves the padded cells out of the mean.

    Example:
        >>> import numpy as np
        >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
        >>> avg_pool2d(x, (2, 2), (2, 2), "same").data[0, :, :, 0].tolist()
        [[2.0, 3.5], [6.5, 8.0]]
    """
    return apply(AvgPool2D(pool_size, strides or pool_size, padding), x)


class GlobalAvgPool2D(Op):
    """The mean of each channel of an image: (N, H, W, C) -> (N, C) channels-last, (N, C, H, W)
    -> (N, C) channels-first."""

    name = "global_average_pool2d"

    def __init__(self, channels_last: bool):
        self.channels_last = channels_last

    def forward(self, x):
        self.x_shape = x.shape
        if self.channels_last:
            return _engine().global_average_pool_forward(x)
        n, c, h, w = x.shape
        return (x.reshape(n, c, h * w).sum(axis=2, dtype=np.float64) / (h * w)).astype(x.dtype)

    def backward(self, grad):
        if self.channels_last:
            return (_engine().global_average_pool_backward(grad, self.x_shape),)
        n, c, h, w = self.x_shape
        g = grad / grad.dtype.type(h * w)
        return (np.ascontiguousarray(np.broadcast_to(g[:, :, None, None], self.x_shape)),)


def global_average_pool2d(x, data_format: str = "channels_last"):
    """The mean of each channel of 4-D ``x`` over its rows and columns, shape (N, C).

    Example:
        >>> import numpy as np
        >>> global_average_pool2d(np.arange(8.0).reshape(1, 2, 2, 2)).data.tolist()
        [[3.0, 4.0]]
    """
    return apply(GlobalAvgPool2D(data_format == "channels_last"), x)
