"""Array-level optimizer updates on the numba kernels, split over the thread pool."""

from __future__ import annotations

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.kernels import update as _update


def sgd_momentum(value: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float, momentum: float,
                 nesterov: bool) -> None:
    """Keras's SGD momentum (or Nesterov) update of ``value`` and ``velocity`` in place, in one
    pass; all three arrays C-contiguous and of one shape."""
    flat_w, flat_g, flat_v = value.reshape(-1), grad.reshape(-1), velocity.reshape(-1)
    kind = value.dtype.type

    def part(i, j):
        _update.sgd_momentum(flat_w[i:j], flat_g[i:j], flat_v[i:j], kind(lr), kind(momentum), nesterov)

    parallel.map_chunks(part, flat_w.size, parallel.memory_bound_min())
