"""Array-level optimizer updates on the numba kernels, split over the thread pool."""

from __future__ import annotations

import functools
import weakref

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.engine.elementwise import PASS_MIN
from kerasette.backend.kernels import update as _update
from kerasette.backend.memory import ARRAY_DATA_OFFSET  # the data pointer's place in an array object, or None


def sgd_momentum(value: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float, momentum: float,
                 nesterov: bool) -> None:
    """Keras's SGD momentum (or Nesterov) update of ``value`` and ``velocity`` in place, in one
    pass; all three arrays C-contiguous and of one shape."""
    flat_w, flat_g, flat_v = value.reshape(-1), grad.reshape(-1), velocity.reshape(-1)
    kind = value.dtype.type
    lr, momentum = kind(lr), kind(momentum)
    # (the calls prepared here: a worker reaches its kernel at once, `parallel.map_prepared`)
    parallel.map_prepared(lambda _, i, j: functools.partial(_update.sgd_momentum, flat_w[i:j], flat_g[i:j],
                                                            flat_v[i:j], lr, momentum, nesterov),
                          flat_w.size, parallel.memory_bound_min())


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
    parallel.map_prepared(lambda _, i, j: functools.partial(_update.adam, flat_w[i:j], flat_g[i:j], flat_m[i:j],
                                                            flat_v[i:j], *scalars),
                          flat_w.size, parallel.memory_bound_min())


class AddressTable:
    """The start addresses of some C-contiguous arrays of one dtype: what a kernel updating many
    weights in one call reads, kept from one call to the next while the arrays are the same.

    It refers to the arrays only weakly: a weight's array held here would count as one more
    holder of it (`kerasette.optimizers.streamed_step.StreamedStep` updates a weight during the backward
    pass only when nothing else holds its array). Whoever calls the kernel holds them.

    Args:
        arrays: the arrays, in the order the kernel takes them.
    """

    def __init__(self, arrays):
        arrays = tuple(arrays)
        for a in arrays:
            if not a.flags.c_contiguous or a.dtype != arrays[0].dtype:
                raise ValueError(f"AddressTable: every array must be C-contiguous and of one dtype; received "
                                 f"{[(x.dtype.name, x.flags.c_contiguous) for x in arrays]}")
        self.dtype = arrays[0].dtype if arrays else None
        self._refs = tuple(weakref.ref(a) for a in arrays)
        self.addresses = np.array([a.ctypes.data for a in arrays], np.int64)

    def holds(self, arrays) -> bool:
        """Whether the table is for exactly these array objects (still alive), in this order."""
        return len(arrays) == len(self._refs) and all(ref() is a for ref, a in zip(self._refs, arrays))


class SgdGroup:
    """Keras's SGD rule with momentum for several small weights in one serial kernel call: the
    weights and velocities named by their addresses (an `AddressTable` each, kept from one step
    to the next for each group met, while the arrays stay the same), the gradients (new arrays
    each step) by the addresses of their array objects, whose data pointers the kernel reads
    (``ARRAY_DATA_OFFSET``). The same bits as `sgd_momentum_small` on each weight: one call
    instead of one per weight, each with its Python around it.

    Why objects' addresses: ``a.ctypes.data`` costs about 2 us an array in Python (a ResNet-20
    step has 82 small gradients), ``id(a)`` nothing; concatenating the gradients instead copied
    a megabyte on the calling thread each step."""

    #: Groups whose tables are kept (more: all are forgotten, and built again as they come).
    MAX_TABLES = 256

    def __init__(self):
        self._tables: dict[int, tuple] = {}

    def __reduce__(self):  # (the tables' weak references neither copy nor pickle: a copy builds its own)
        return (SgdGroup, ())

    def _table(self, values, velocities) -> tuple:
        """(values' table, velocities' table, starts, sizes) for this group, built when new."""
        key = id(values[0])
        table = self._tables.get(key)
        if table is None or not (table[0].holds(values) and table[1].holds(velocities)):
            sizes = [a.size for a in values]
            starts = np.zeros(len(values) + 1, np.int64)
            np.cumsum(sizes, out=starts[1:])
            table = (AddressTable(values), AddressTable(velocities), starts, sizes)
            if len(self._tables) >= self.MAX_TABLES:
                self._tables.clear()
            self._tables[key] = table
        return table

    def __call__(self, values, grads, velocities, lr: float, momentum: float, nesterov: bool) -> None:
        """Updates ``values[k]`` and ``velocities[k]`` in place from ``grads[k]`` for every ``k``:
        ``values`` (at least one) and ``velocities`` C-contiguous, float32 or float64, all of one
        dtype; ``grads[k]`` of ``values[k]``'s size and dtype (any layout)."""
        value_table, velocity_table, starts, sizes = self._table(values, velocities)
        dtype = value_table.dtype
        if [g.size for g in grads] != sizes or any(g.dtype != dtype for g in grads):
            raise ValueError(f"SgdGroup: the gradients ({sum(g.size for g in grads)} values of "
                             f"{[g.dtype.name for g in grads]}) do not match the weights ({starts[-1]} of {dtype})")
        kind = dtype.type
        values, velocities = value_table.addresses, velocity_table.addresses
        lr, momentum = kind(lr), kind(momentum)
        if ARRAY_DATA_OFFSET is None:
            flat = np.concatenate(grads, axis=None)
            call = functools.partial(_update.sgd_momentum_group, flat, starts, values, velocities, lr, momentum,
                                     nesterov)
        else:
            # (the list holds the arrays the kernel reads until it returns: a copy of any that is not C-contiguous)
            grads = [g if g.flags.c_contiguous else np.ascontiguousarray(g) for g in grads]
            objects = np.fromiter(map(id, grads), np.int64, len(grads))
            call = functools.partial(_update.sgd_momentum_addressed, objects, ARRAY_DATA_OFFSET, starts, values,
                                     velocities, lr, momentum, nesterov)
        # (a step's weights and velocities are out of cache by its end: both cores' bandwidth; the
        # calls prepared here, `parallel.map_prepared`)
        parallel.map_prepared(lambda _, lo, hi: functools.partial(call, lo, hi), int(starts[-1]),
                              min(PASS_MIN, parallel.memory_bound_min()))
