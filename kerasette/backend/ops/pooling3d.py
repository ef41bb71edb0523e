"""3-D max and average pooling ops on channels-last volumes (N, D, H, W, C).

With ``'same'`` padding the padded cells take no part: max pooling ignores them and average
pooling leaves them out of each mean, as Keras does. The array work lives in
`kerasette.backend.engine.conv3d` (numba kernels over the batch split between the threads).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.base import Op, apply


def _engine():
    from kerasette.backend.engine import conv3d  # deferred: imports numba

    return conv3d


def _window(pool_size, strides, padding: str, name: str):
    pool = (pool_size,) * 3 if isinstance(pool_size, (int, np.integer)) else tuple(pool_size)
    strides = pool if strides is None else ((strides,) * 3 if isinstance(strides, (int, np.integer)) else tuple(strides))
    if len(pool) != 3 or len(strides) != 3 or min(pool + strides) < 1:
        raise ValueError(f"{name}: `pool_size` and `strides` must be positive ints or three positive ints; "
                         f"received pool_size={pool_size!r}, strides={strides!r}")
    if padding not in ("valid", "same"):
        raise ValueError(f"{name}: `padding` must be 'valid' or 'same'; received {padding!r}")
    return tuple(int(p) for p in pool), tuple(int(s) for s in strides), padding


def _check(x, name: str) -> None:
    if x.ndim != 5:
        raise ValueError(f"{name}: expected a 5-D input (N, D, H, W, C); received shape {x.shape}")


class MaxPool3D(Op):
    """The maximum of each window, keeping where it was for the backward pass (the gradient goes
    to the first cell holding the maximum, in window order)."""

    name = "max_pool3d"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding: str = "valid"):
        self.pool_size, self.strides, self.padding = _window(pool_size, strides, padding, self.name)

    def forward(self, x):
        _check(x, self.name)
        self.x_shape = x.shape
        y, self.arg = _engine().maxpool3d_forward(x, self.pool_size, self.strides, self.padding)
        return y

    def backward(self, grad):
        return (_engine().maxpool3d_backward(grad, self.arg, self.x_shape),)


class AvgPool3D(Op):
    """The mean of each window over its cells inside the volume."""

    name = "avg_pool3d"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding: str = "valid"):
        self.pool_size, self.strides, self.padding = _window(pool_size, strides, padding, self.name)

    def forward(self, x):
        _check(x, self.name)
        self.x_shape = x.shape
        return _engine().avgpool3d_forward(x, self.pool_size, self.strides, self.padding)

    def backward(self, grad):
        return (_engine().avgpool3d_backward(grad, self.x_shape, self.pool_size, self.strides, self.padding),)


def max_pool3d(x, pool_size=(2, 2, 2), strides=None, padding: str = "valid"):
    """Max pooling of channels-last ``x`` (N, D, H, W, C); ``strides`` default to ``pool_size``.

    Example:
        >>> import numpy as np
        >>> max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2, 1)).data.ravel().tolist()
        [7.0]
    """
    return apply(MaxPool3D(pool_size, strides, padding), x)


def avg_pool3d(x, pool_size=(2, 2, 2), strides=None, padding: str = "valid"):
    """Average pooling of channels-last ``x`` (N, D, H, W, C); with ``'same'`` padding the padded
    cells are left out of each mean.

    Example:
        >>> import numpy as np
        >>> avg_pool3d(np.arange(27.0).reshape(1, 3, 3, 3, 1), 2, 2, "same").data.ravel().tolist()
        [6.5, 8.0, 11.0, 12.5, 20.0, 21.5, 24.5, 26.0]
    """
    return apply(AvgPool3D(pool_size, strides, padding), x)
