"""Matrix products and bias addition."""

from __future__ import annotations

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.ops.base import Op, apply, unbroadcast

#: A dense layer's products are split over the thread pool from this many multiply-adds (the
#: pool's general threshold, `parallel.matmul_min_work`, is 2**24, or lower when set lower). With
#: the pool's threads spinning a hand-off costs about 30 us: the seed convnet's dense layer at 32 x
#: 32 (32 x 1600 by 1600 x 256, 13M) took 340/370/245 us unsplit and 250/270/195 split (forward,
#: input gradient, kernel gradient, weights out of cache as in a training step); at 4M splitting
#: gained nothing, at 8M 10-25%.
DENSE_SPLIT_MIN = 1 << 23


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D float arrays by `parallel.matmul`, split from `DENSE_SPLIT_MIN`
    multiply-adds (or the pool's threshold when that is lower)."""
    return parallel.matmul(a, b, min_work=min(DENSE_SPLIT_MIN, parallel.matmul_min_work()))


class MatMul(Op):
    """``a @ b`` with numpy's matmul semantics (batched, broadcasting leading axes)."""

    name = "matmul"

    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ValueError(
                f"matmul: both operands need at least 2 dimensions; received shapes "
                f"{a.shape} and {b.shape}"
            )
        self.a, self.b = a, b
        return a @ b

    def backward(self, grad):
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(grad @ np.swapaxes(self.b, -1, -2), self.a.shape)
        if self.needs_grad[1]:
            gb = unbroadcast(np.swapaxes(self.a, -1, -2) @ grad, self.b.shape)
        return ga, gb


class Dense(Op):
    """``x @ kernel + bias`` for x of shape (..., in), optionally followed by ReLU, in one op."""

    name = "dense"

    def __init__(self, relu: bool = False):
        self.relu = relu

    def forward(self, x, kernel, bias=None):
        self.x, self.kernel = x, kernel
        x2 = x.reshape(-1, x.shape[-1])
        out = _product(x2, kernel)
        if bias is not None:
            out += bias
        if self.relu:
            np.maximum(out, 0, out=out)
            self.out = out
        return out.reshape(x.shape[:-1] + (kernel.shape[1],))

    def backward(self, grad):
        g2 = grad.reshape(-1, grad.shape[-1])
        if self.relu:
            g2 = g2 * (self.out > 0)
        gx = _product(g2, self.kernel.T).reshape(self.x.shape) if self.needs_grad[0] else None
        gk = _product(self.x.reshape(-1, self.x.shape[-1]).T, g2) if self.needs_grad[1] else None
        gb = g2.sum(axis=0) if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return gx, gk, gb


class BiasAdd(Op):
    """Adds a vector along the last axis (channels-last) or axis 1 (channels-first)."""

    name = "bias_add"

    def __init__(self, data_format: str = "channels_last"):
        self.data_format = data_format

    def forward(self, x, bias):
        self.ndim = x.ndim
        if self.data_format == "channels_first" and x.ndim > 2:
            return x + bias.reshape((1, -1) + (1,) * (x.ndim - 2))
        return x + bias

    def backward(self, grad):
        gb = None
        if self.needs_grad[1]:
            if self.data_format == "channels_first" and self.ndim > 2:
                gb = grad.sum(axis=(0,) + tuple(range(2, self.ndim)))
            else:
                gb = grad.reshape(-1, grad.shape[-1]).sum(axis=0)
        return grad, gb


def matmul(a, b):
    """Matrix product with numpy's matmul semantics."""
    return apply(MatMul(), a, b)


def dense(x, kernel, bias=None, relu: bool = False):
    """Affine map over the last axis, with an optional fused ReLU."""
    if bias is None:
        return apply(Dense(relu), x, kernel)
    return apply(Dense(relu), x, kernel, bias)


def bias_add(x, bias, data_format: str = "channels_last"):
    """Adds ``bias`` along the channel axis."""
    return apply(BiasAdd(data_format), x, bias)
