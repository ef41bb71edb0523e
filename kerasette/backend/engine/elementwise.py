"""Array-level fused elementwise passes on the numba kernels, split over the thread pool."""

from __future__ import annotations

import numpy as np

from kerasette.backend import memory, parallel
from kerasette.backend.kernels import elementwise as _k


def add_relu(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``max(a + b, 0)``, a new array (``a``, ``b``: one shape and dtype)."""
    y = memory.empty_aligned(a.shape, a.dtype)
    fa, fb, fy = np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1), y.reshape(-1)
    zero = a.dtype.type(0)
    parallel.map_pieces(lambda i, j: _k.add_relu(fa[i:j], fb[i:j], zero, fy[i:j]), fy.size,
                        parallel.memory_bound_min())
    return y


def relu_grad(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The gradient through a ReLU whose output is ``y``: ``g`` where ``y > 0``, else 0 (a new array)."""
    out = memory.empty_aligned(g.shape, g.dtype)
    fg, fy, fo = np.ascontiguousarray(g).reshape(-1), np.ascontiguousarray(y).reshape(-1), out.reshape(-1)
    zero = g.dtype.type(0)
    parallel.map_pieces(lambda i, j: _k.relu_grad(fg[i:j], fy[i:j], zero, fo[i:j]), fo.size,
                        parallel.memory_bound_min())
    return out
