"""2-D convolution (plain, dilated, grouped, depthwise) and max-pooling ops (channels-last), on the array-level engine.

The array work lives in `kerasette.backend.engine` (algorithms, tiling, buffers, kernels); it is
imported on first use so that importing kerasette neither imports numba nor compiles anything.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.base import Op, apply, array_of
from kerasette.backend.tensor import Tensor

#: the engine modules, imported at their first use (they import numba) and kept: an import
#: statement in `_conv`, asked twice per convolution per step, cost 0.45 us a call
_modules: dict[str, object] = {}


def _conv():
    conv = _modules.get("conv")
    if conv is None:
        from kerasette.backend.engine import conv  # deferred: imports numba

        _modules["conv"] = conv
    return conv


def _depthwise():
    return _conv().depthwise_conv  # the engine's depthwise module, imported by its conv module


def _pooling():
    pooling = _modules.get("pooling")
    if pooling is None:
        from kerasette.backend.engine import pooling  # deferred: imports numba

        _modules["pooling"] = pooling
    return pooling


def _pair(value) -> tuple[int, int]:
    """An int or a pair of ints as a pair."""
    return (value, value) if isinstance(value, int) else tuple(value)


class Conv2D(Op):
    """``relu?(conv2d(x, kernel) + bias)`` for x (N, H, W, C) and kernel (kh, kw, C // groups, F),
    the kernel's taps ``dilation`` apart."""

    name = "conv2d"

    def __init__(self, strides=(1, 1), padding: str = "valid", relu: bool = False, dilation=(1, 1), groups=1):
        self.strides, self.padding, self.relu = tuple(strides), padding, relu
        self.dilation, self.groups = _pair(dilation), groups
        self.variant = {} if self.dilation == (1, 1) and groups == 1 else {"dilation": self.dilation,
                                                                              "groups": groups}

    def forward(self, x, kernel, bias=None):
        if self.variant and not (x.ndim == 4 and kernel.ndim == 4 and x.shape[3] == kernel.shape[2] * self.groups
                                 and kernel.shape[3] % self.groups == 0
                                 and (bias is None or bias.shape == kernel.shape[3:])):
            raise ValueError(f"conv2d: expected an input (N, H, W, C), a kernel (kh, kw, C // groups, F) with F "
                             f"divisible by groups={self.groups} and a bias (F,); received shapes {x.shape}, "
                             f"{kernel.shape} and {None if bias is None else bias.shape}")
        self.x, self.kernel = x, kernel
        if self.variant:
            self.variant["saved"] = {}  # what the backward pass reuses (a dilated input's phases)
        out = _conv().conv2d_forward(x, kernel, bias, self.strides, self.padding, relu=self.relu, **self.variant)
        if self.relu:
            self.out = out
        return out

    def backward(self, grad):
        has_bias = len(self.needs_grad) > 2
        # the gradient may be overwritten when nothing but the backward pass holds it
        in_place = {} if self.variant else {"overwrite_dy": getattr(self, "grad_is_scratch", False)}
        gx, gk, gb = _conv().conv2d_backward(
            grad, self.x, self.kernel, self.out if self.relu else None, self.relu, has_bias,
            self.strides, self.padding, need_input=self.needs_grad[0], need_kernel=self.needs_grad[1],
            **self.variant, **in_place)
        return gx, gk, (gb if has_bias and self.needs_grad[2] else None)


class DepthwiseConv2D(Op):
    """``relu?(depthwise_conv2d(x, kernel) + bias)`` for x (N, H, W, C) and kernel (kh, kw, C, m):
    output channel ``c * m + j`` is input channel ``c`` correlated with filter ``j`` of ``c``."""

    name = "depthwise_conv2d"

    def __init__(self, strides=(1, 1), padding: str = "valid", dilation=(1, 1), relu: bool = False):
        self.strides, self.padding, self.dilation, self.relu = _pair(strides), padding, _pair(dilation), relu

    def forward(self, x, kernel, bias=None):
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"depthwise_conv2d: the input must be float32 or float64, received {x.dtype}; "
                            "cast it first (for example with K.cast(x, 'float32'))")
        if (kernel.ndim != 4 or x.ndim != 4 or kernel.shape[2] != x.shape[3]
                or (bias is not None and bias.shape != (kernel.shape[2] * kernel.shape[3],))):
            raise ValueError(f"depthwise_conv2d: expected an input (N, H, W, C), a kernel (kh, kw, C, m) and a bias "
                             f"(C * m,); received shapes {x.shape}, {kernel.shape} and "
                             f"{None if bias is None else bias.shape}")
        self.x, self.kernel = x, kernel
        out = _depthwise().depthwise_forward(x, kernel, bias, self.strides, self.padding, self.dilation, self.relu)
        if self.relu:
            self.out = out
        return out

    def backward(self, grad):
        has_bias = len(self.needs_grad) > 2
        gx, gk, gb = _depthwise().depthwise_backward(
            grad, self.x, self.kernel, self.out if self.relu else None, self.relu, has_bias, self.strides,
            self.padding, self.dilation, need_input=self.needs_grad[0], need_kernel=self.needs_grad[1])
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


def conv2d(x, kernel, bias=None, strides=(1, 1), padding: str = "valid", relu: bool = False,
           dilation_rate=(1, 1), groups: int = 1):
    """Cross-correlation of NHWC ``x`` with an (kh, kw, in // groups, out) kernel, as in Keras.

    ``dilation_rate`` spreads the kernel's taps apart (its extent is ``(k - 1) * d + 1``);
    ``groups`` splits the channels: output channels ``g * out // groups`` onwards see only input
    channels ``g * in // groups`` onwards.
    """
    op = Conv2D(strides, padding, relu, dilation_rate, groups)
    return apply(op, x, kernel) if bias is None else apply(op, x, kernel, bias)


def conv2d_residual(x, kernel, bias, residual, strides=(1, 1), padding: str = "valid", relu: bool = False):
    """``relu?(conv2d(x, kernel) + bias + residual)`` with ``residual`` (the output's shape) added
    in the convolution's output pass, for inference: nothing is recorded for a gradient (for
    one, add the residual with ops). Arguments: tensors or arrays; returns a constant tensor."""
    return Tensor(_conv().conv2d_forward(array_of(x), array_of(kernel), array_of(bias), tuple(strides), padding,
                                         relu=relu, residual=array_of(residual)))


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), padding: str = "valid", dilation_rate=(1, 1),
                     relu: bool = False):
    """Depthwise cross-correlation of NHWC ``x`` (C channels) with a (kh, kw, C, m) kernel: C * m
    output channels, channel ``c * m + j`` from input channel ``c`` and filter ``j``."""
    op = DepthwiseConv2D(strides, padding, dilation_rate, relu)
    return apply(op, x, kernel) if bias is None else apply(op, x, kernel, bias)


def max_pool2d(x, pool_size=(2, 2), strides=None, padding: str = "valid"):
    """Max-pooling of NHWC ``x``."""
    return apply(MaxPool2D(pool_size, strides, padding), x)
