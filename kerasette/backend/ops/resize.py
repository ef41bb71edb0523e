"""Upsampling of NHWC images by whole factors: nearest neighbour, bilinear and bicubic.

Keras 3's ``UpSampling2D`` semantics (on every backend; on torch it is
``F.interpolate(..., align_corners=False, antialias=False)``): output position ``o`` along an axis
of factor ``s`` samples the input at ``(o + 0.5) / s - 0.5`` (half-pixel centres);

* ``'nearest'``: input ``o // s`` (Keras repeats each row and column ``s`` times);
* ``'bilinear'``: the two neighbours of the sample point (clamped at 0 first), weighted by
  distance, the second one clamped to the last row or column at the far edge;
* ``'bicubic'``: four neighbours with Keys's cubic convolution (A = -0.75, as PyTorch), taps
  outside the image reading its edge row or column.

Each axis becomes a table of taps (input positions and weights), and the numba kernels
(`kerasette.backend.kernels.resize`, imported on first use) run one chunk of images per thread.
"""

from __future__ import annotations

import math

import numpy as np

from kerasette.backend import memory, parallel
from kerasette.backend.ops.base import Op, apply

#: The interpolations `resize2d` computes (those Keras 3's UpSampling2D supports on torch).
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


def _kernels():
    from kerasette.backend.kernels import resize  # deferred: imports numba

    return resize


def _cubic(t: float, a: float = -0.75) -> float:
    t = abs(t)
    if t <= 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def taps(size_in: int, factor: int, interpolation: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(index, weight)``, each (size_in * factor, taps): the input positions each output
    position reads along one axis, and their weights.

    Example:
        >>> index, weight = taps(2, 2, "bilinear", np.float64)
        >>> index.tolist(), weight.tolist()
        ([[0, 1], [0, 1], [0, 1], [1, 1]], [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.75, 0.25]])
    """
    size_out = size_in * factor
    n_taps = {"nearest": 1, "bilinear": 2, "bicubic": 4}[interpolation]
    index = np.zeros((size_out, n_taps), np.int64)
    weight = np.zeros((size_out, n_taps), dtype)
    for o in range(size_out):
        if interpolation == "nearest":
            index[o, 0], weight[o, 0] = o // factor, 1
            continue
        src = (o + 0.5) / factor - 0.5
        if interpolation == "bilinear":
            src = max(src, 0.0)
            i0 = int(math.floor(src))
            t = src - i0
            index[o] = (min(i0, size_in - 1), min(i0 + 1, size_in - 1))
            weight[o] = (1 - t, t)
        else:
            i0 = int(math.floor(src))
            t = src - i0
            for k in range(4):
                index[o, k] = min(max(i0 - 1 + k, 0), size_in - 1)
                weight[o, k] = _cubic(k - 1 - t)
    return index, weight


class Resize2D(Op):
    """Upsampling of x (N, H, W, C) by whole factors ``size`` = (rows, cols)."""

    name = "resize2d"

    def __init__(self, size, interpolation: str):
        self.size, self.interpolation = tuple(size), interpolation

    def _run(self, fn, images: int, work_per_image: int):
        parallel.map_chunks(fn, images, parallel.memory_bound_min(), work_per_image)

    def forward(self, x):
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.result_type(x.dtype, np.float32))
        x = np.ascontiguousarray(x)
        n, height, width, chans = x.shape
        sh, sw = self.size
        self.x_shape = x.shape
        y = memory.empty_aligned((n, height * sh, width * sw, chans), x.dtype)
        if y.size == 0:
            return y
        k = _kernels()
        if self.interpolation == "nearest":
            self._run(lambda i, j: k.nearest_forward(x, y, sh, sw, i, j), n, y[0].size)
            return y
        self.tables = (*taps(height, sh, self.interpolation, x.dtype), *taps(width, sw, self.interpolation, x.dtype))
        self._run(lambda i, j: k.resize_forward(x, y, *self.tables, i, j), n, y[0].size)
        return y

    def backward(self, grad):
        dy = np.ascontiguousarray(grad)
        dx = memory.empty_aligned(self.x_shape, dy.dtype)
        if dx.size == 0:
            return (dx,)
        if dy.size == 0:
            dx[...] = 0
            return (dx,)
        k, n = _kernels(), self.x_shape[0]
        if self.interpolation == "nearest":
            sh, sw = self.size
            self._run(lambda i, j: k.nearest_backward(dy, dx, sh, sw, i, j), n, dy[0].size)
        else:
            tables = tuple(t.astype(dy.dtype) if t.dtype.kind == "f" else t for t in self.tables)
            self._run(lambda i, j: k.resize_backward(dy, dx, *tables, i, j), n, dy[0].size)
        return (dx,)


def resize2d(x, size=(2, 2), interpolation: str = "bilinear"):
    """Upsampling of NHWC ``x`` by whole factors ``size`` (rows, cols), as Keras 3's UpSampling2D.

    Args:
        x: (N, H, W, C) float tensor.
        size: two positive ints.
        interpolation: one of `INTERPOLATIONS`.

    Returns:
        (N, H * size[0], W * size[1], C).
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"resize2d: argument `interpolation` must be one of {INTERPOLATIONS}; "
                         f"received interpolation={interpolation!r}")
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"resize2d: argument `size` must be two positive ints; received size={size!r}")
    return apply(Resize2D(size, interpolation), x)
