"""2-D convolution and max-pooling ops (channels-last), on the array-level engine.

The array work lives in `kerasette.backend.engine` (algorithms, tiling, buffers, kernels); it is
imported on first use so that importing kerasette neither imports numba nor compiles anything.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.base import Op, apply


def _conv():
    from kerasette.backend.engine import conv  # deferred: imports numba

    return conv


def _pooling():
    from kerasette.backend.engine import pooling  # deferred: imports numba

    return pooling


class Conv2D(Op):
    """``relu?(conv2d(x, kernel) + bias)`` for x (N, H, W, C) and kernel (kh, kw, C, F)."""

    name = "conv2d"

    def __init__(self, strides=(1, 1), padding: str = "valid", relu: bool = False):
        self.strides, self.padding, self.relu = tuple(strides), padding, relu

    def forward(self, x, kernel, bias=None):
        self.x, self.kernel = x, kernel
        out = _conv().conv2d_forward(x, kernel, bias, self.strides, self.padding, relu=self.relu)
        if self.relu:
            self.out = out
        return out

    def backward(self, grad):
        has_bias = len(self.needs_grad) > 2
        gx, gk, gb = _conv().conv2d_backward(
            grad, self.x, self.kernel, self.out if self.relu else None, self.relu, has_bias,
            self.strides, self.padding, need_input=self.needs_grad[0], need_kernel=self.needs_grad[1])
        return gx, gk, (gb if has_bias and self.needs_grad[2] else None)


class MaxPool2D(Op):
    """Max-pooling over (N, H, W, C), keeping each window's argmax for the backward pass."""

    name = "max_pool2d"

    def __init__(self, pool_size=(2, 2), strides=None, padding: str = "valid"):
        self.pool_size = tuple(pool_size)
        self.strides = tuple(strides) if strides is not None else self.pool_size
        self.padding = padding

    def forward(self, x):
        self.x_shape = x.shape
        out, self.argmax = _pooling().maxpool2d_forward(x, self.pool_size, self.strides, self.padding)
        return out

    def backward(self, grad):
        return (_pooling().maxpool2d_backward(np.ascontiguousarray(grad), self.argmax, self.x_shape),)


def conv2d(x, kernel, bias=None, strides=(1, 1), padding: str = "valid", relu: bool = False):
    """Cross-correlation of NHWC ``x`` with an (kh, kw, in, out) kernel, as in Keras."""
    if bias is None:
        return apply(Conv2D(strides, padding, relu), x, kernel)
    return apply(Conv2D(strides, padding, relu), x, kernel, bias)


def max_pool2d(x, pool_size=(2, 2), strides=None, padding: str = "valid"):
    """Max-pooling of NHWC ``x``."""
    return apply(MaxPool2D(pool_size, strides, padding), x)
