"""The embedding lookup as an op (``table[indices]``), and the lazy gather it returns for inference.

`embedding` gathers rows of a table, differentiable in the table (`Embedding`: the gradient
added back row by row, split over the threads). When no gradient is recorded it returns a
`GatheredRows` instead, a tensor of known shape whose rows are gathered only when its values are
first read, so that a layer reading the table by rows itself (the LSTM's folded input
projections, `kerasette.backend.ops.folded_projections`) never pays for the gather;
`gathered_rows` and `embedding_of` tell such a layer where its input came from.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.ops.base import Op, apply
from kerasette.backend.ops.recording import records_gradient
from kerasette.backend.tensor import Tensor


class Embedding(Op):
    """``table[indices]``: rows gathered in the forward pass, gradients added back per row."""

    name = "embedding"

    def __init__(self, indices):
        self.indices = np.ascontiguousarray(indices, dtype=np.int64)

    def forward(self, table):
        self.table_shape = table.shape
        flat = self.indices.reshape(-1)
        out = np.take(table, flat, axis=0)
        return out.reshape(self.indices.shape + table.shape[1:])

    def backward(self, grad):
        V, D = self.table_shape[0], int(np.prod(self.table_shape[1:]))
        flat = self.indices.reshape(-1)
        rows = np.ascontiguousarray(grad, dtype=grad.dtype).reshape(flat.size, D)
        out = np.empty((V, D), grad.dtype)
        # the dense gradient's zeros (10 MB for a vocabulary of 20,000 by 128) by the threads, each
        # its own rows, then the rows added, each thread its own columns
        parallel.map_chunks(lambda r0, r1: out[r0:r1].fill(0), V, parallel.memory_bound_min(), D)
        k = _embedding_kernels()
        parallel.map_chunks(lambda d0, d1: k(flat, rows, d0, d1, out), D, parallel.memory_bound_min(), flat.size)
        return (out.reshape(self.table_shape),)


def _embedding_kernels():
    from kerasette.backend.kernels.recurrent import scatter_add_rows  # deferred: numba on first use

    return scatter_add_rows


def embedding(indices, table):
    """The rows of ``table`` (vocabulary, dim) at integer ``indices`` (any shape): shape
    ``indices.shape + (dim,)``; differentiable in ``table`` (indices out of range raise).

    When no gradient is recorded (inference), the rows are gathered when the result's values are
    first read (`GatheredRows`): a layer after that reads the table by rows itself (the LSTM's
    folded projections) never pays for the gather."""
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if not np.issubdtype(idx.dtype, np.integer):
        idx = idx.astype(np.int64)
    values = table.data if isinstance(table, Tensor) else np.asarray(table)
    size = values.shape[0]
    if idx.size:
        low, high = idx.min(), idx.max()
        if low < 0 or high >= size:
            bad = low if low < 0 else high
            raise ValueError(f"embedding: indices must be in [0, {size}) (the table's rows); received {int(bad)}")
    if not records_gradient(table):  # nothing will flow back: gather only when read
        return GatheredRows(values, idx)
    return apply(Embedding(idx), table)


class LazyTensor(Tensor):
    """A tensor of known shape and dtype whose values are computed (``compute()``) when first
    read (``data``), for inference only (it records no gradient)."""

    def __init__(self, compute, shape: tuple, dtype):
        super().__init__(np.empty((0,), dtype))  # Tensor's attributes; the values come when read
        self._values = None
        self._compute, self._shape, self._dtype = compute, tuple(shape), np.dtype(dtype)

    def _values_now(self) -> np.ndarray:
        return self._compute()

    @property
    def data(self) -> np.ndarray:
        values = self._values
        if values is None:
            values = self._values = self._values_now()
        return values

    @data.setter
    def data(self, value) -> None:
        self._values = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._shape))


class GatheredRows(LazyTensor):
    """``table[indices]`` for inference, gathered when its values (``data``) are first read;
    shape and dtype known before. `gathered_rows` gives ``(table, indices)`` to a layer that
    reads the table by rows itself.

    The rows are read at that first read, not at the call: in inference nothing writes the
    weights between a layer's call and the next layer's read (a user who keeps the output of an
    eager call while writing the table in place reads it first)."""

    def __init__(self, table: np.ndarray, indices: np.ndarray):
        super().__init__(None, indices.shape + table.shape[1:], table.dtype)
        self.gathered = (table, indices)

    def _values_now(self) -> np.ndarray:
        table, indices = self.gathered
        return np.take(table, indices.reshape(-1), axis=0).reshape(self._shape)


def embedding_of(x):
    """``(table tensor, indices)`` when tensor ``x`` is the recorded output of `embedding`
    (``table[indices]`` with a gradient to flow back), else None: a layer that wants the rows in
    another order gathers them in that order (`embedding` again) instead of moving ``x``."""
    op = getattr(x, "_op", None)
    return (x._inputs[0], op.indices) if isinstance(op, Embedding) else None


def gathered_rows(x):
    """``(table, indices)`` when tensor ``x`` is ``table[indices]`` as `embedding` returned it
    for inference (no gradient recorded), else None."""
    return x.gathered if isinstance(x, GatheredRows) else None

