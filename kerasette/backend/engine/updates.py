"""Array-level optimizer updates on the numba kernels, split over the thread pool."""

from __future__ import annotations

import operator

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


class AddressTable:
    """The start addresses of some C-contiguous arrays of one dtype, with the arrays themselves
    (kept alive while the table is): what a kernel updating many weights in one call reads.

    Args:
        arrays: the arrays, in the order the kernel takes them.
    """

    def __init__(self, arrays):
        self.arrays = tuple(arrays)
        for a in self.arrays:
            if not a.flags.c_contiguous or a.dtype != self.arrays[0].dtype:
                raise ValueError(f"AddressTable: every array must be C-contiguous and of one dtype; received "
                                 f"{[(x.dtype.name, x.flags.c_contiguous) for x in self.arrays]}")
        self.addresses = np.array([a.ctypes.data for a in self.arrays], np.int64)

    def holds(self, arrays) -> bool:
        """Whether the table is for exactly these array objects, in this order."""
        return len(arrays) == len(self.arrays) and all(map(operator.is_, arrays, self.arrays))


class SgdGroup:
    """Keras's SGD rule with momentum for many small weights in one serial kernel call: the
    gradients concatenated, the weights and velocities named by their addresses (an
    `AddressTable` each, kept from one step to the next while the arrays stay the same). The
    same bits as `sgd_momentum_small` on each weight (an optimizer step updates 82 such
    weights in a ResNet-20: one call instead of 82, each with its Python around it)."""

    def __init__(self):
        self._values = self._velocities = None
        self._starts = np.zeros(1, np.int64)

    def __call__(self, values, grads, velocities, lr: float, momentum: float, nesterov: bool) -> None:
        """Updates ``values[k]`` and ``velocities[k]`` in place from ``grads[k]`` for every ``k``:
        ``values`` and ``velocities`` C-contiguous, float32 or float64, all of one dtype;
        ``grads[k]`` of ``values[k]``'s shape and dtype (any layout)."""
        if self._values is None or not (self._values.holds(values) and self._velocities.holds(velocities)):
            self._values, self._velocities = AddressTable(values), AddressTable(velocities)
            self._starts = np.zeros(len(values) + 1, np.int64)
            np.cumsum([a.size for a in values], out=self._starts[1:])
        flat = np.concatenate(grads, axis=None)
        if flat.dtype != self._values.arrays[0].dtype or flat.size != self._starts[-1]:
            raise ValueError(f"SgdGroup: the gradients ({flat.size} values of {flat.dtype}) do not match the "
                             f"weights ({self._starts[-1]} of {self._values.arrays[0].dtype})")
        kind = flat.dtype.type
        _update.sgd_momentum_group(flat, self._starts, self._values.addresses, self._velocities.addresses, kind(lr),
                                   kind(momentum), nesterov)
