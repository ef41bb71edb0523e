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


def sgd_momentum_small(value: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float, momentum: float,
                       nesterov: bool) -> None:
    """`kerasette.optimizers.SGD`'s numpy rule with momentum (the same bits) in one serial kernel
    call, for a weight too small to split over threads; all three arrays C-contiguous, float32 or
    float64, of one shape and dtype."""
    kind = value.dtype.type
    _update.sgd_momentum_small(value.reshape(-1), grad.reshape(-1), velocity.reshape(-1), kind(lr), kind(momentum),
                               nesterov)


def adam(value: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, alpha, beta_1: float, beta_2: float,
         epsilon: float) -> None:
    """Keras 3's Adam update (no amsgrad) of ``value`` and its moments ``m``, ``v`` in place, in
    one pass; all four arrays C-contiguous and of one shape; ``alpha`` the bias-corrected step size
    of this iteration. The same bits as the numpy rule in `kerasette.optimizers.Adam`."""
    flat_w, flat_g, flat_m, flat_v = value.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1)
    kind = value.dtype.type
    scalars = kind(alpha), kind(1 - beta_1), kind(1 - beta_2), kind(epsilon)

    def part(i, j):
        _update.adam(flat_w[i:j], flat_g[i:j], flat_m[i:j], flat_v[i:j], *scalars)

    parallel.map_chunks(part, flat_w.size, parallel.memory_bound_min())
