"""Average pooling: over 2-D windows of NHWC tensors, and over whole images (global).

With ``'same'`` padding the padded cells are left out of each average (each window is divided
by the number of real cells it covers), as Keras does. Both run on the numba kernels of
`kerasette.backend.engine.pooling` (global pooling of channels-last images with float64 sums).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.base import Op, apply

#: the engine module, imported at its first use (it imports numba) and kept (an import statement
#: costs 0.45 us a call)
_modules: dict[str, object] = {}


def _pooling():
    pooling = _modules.get("pooling")
    if pooling is None:
        from kerasette.backend.engine import pooling  # deferred: imports numba

        _modules["pooling"] = pooling
    return pooling


class AvgPool2D(Op):
    """Mean over each (ph, pw) window of x (N, H, W, C), moved by ``strides``, on the numba
    kernels of `kerasette.backend.engine.pooling`."""

    name = "avg_pool2d"

    def __init__(self, pool_size, strides, padding: str):
        self.pool_size, self.strides, self.padding = tuple(pool_size), tuple(strides), padding

    def forward(self, x):
        self.x_shape = x.shape
        return _pooling().avgpool2d_forward(np.ascontiguousarray(x), self.pool_size, self.strides, self.padding)

    def backward(self, grad):
        return (_pooling().avgpool2d_backward(np.ascontiguousarray(grad), self.x_shape, self.pool_size,
                                              self.strides, self.padding),)


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
        return global_average_pool2d_array(x, self.channels_last)

    def backward(self, grad):
        if self.channels_last:
            return (_pooling().global_avgpool2d_backward(grad, self.x_shape),)
        n, c, h, w = self.x_shape
        g = grad / grad.dtype.type(h * w)
        return (np.ascontiguousarray(np.broadcast_to(g[:, :, None, None], self.x_shape)),)


def global_average_pool2d_array(x: np.ndarray, channels_last: bool = True) -> np.ndarray:
    """`GlobalAvgPool2D`'s forward pass on the array ``x``, with no op and nothing recorded (the
    layer's eager calls under ``no_grad``): (N, C), in ``x``'s dtype from float64 sums."""
    if channels_last:
        return _pooling().global_avgpool2d_forward(x)
    n, c, h, w = x.shape
    return (x.reshape(n, c, h * w).sum(axis=2, dtype=np.float64) / (h * w)).astype(x.dtype)


def global_average_pool2d(x, data_format: str = "channels_last"):
    """The mean of each channel of 4-D ``x`` over its rows and columns, shape (N, C).

    Example:
        >>> import numpy as np
        >>> global_average_pool2d(np.arange(8.0).reshape(1, 2, 2, 2)).data.tolist()
        [[3.0, 4.0]]
    """
    return apply(GlobalAvgPool2D(data_format == "channels_last"), x)
