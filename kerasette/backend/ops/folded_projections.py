"""The LSTM's input projections of embedding rows, folded into a table kept across inference
calls (`FoldedProjections`), with the bit-for-bit checks that keep it up to date with the weights.

A recurrent layer fed by `kerasette.backend.ops.embedding.embedding` for inference reads each
step's projections as a row of this table (`kerasette.backend.ops.recurrent.recurrence` with
``rows``) instead of multiplying the gathered embeddings by its kernel.
"""

from __future__ import annotations

import threading

import numpy as np


def _kernels():
    from kerasette.backend.kernels import recurrent  # deferred: numba compiles on first use only

    return recurrent


class FoldedProjections:
    """The input projections of embedding rows, ``row @ kernel + bias``, kept across inference
    calls: a recurrent layer fed by an `embedding` then reads each step's projections as a row
    of this table (one per vocabulary row) instead of multiplying the gathered embeddings by its
    kernel (the same values, up to the products' rounding; what folding a batch normalization
    into a convolution is to convolutions).

    A row is computed when a token first needs it and kept with a copy of the embedding row it
    came from. Each call (`rows_for`) checks the kernel and bias against the copies they were
    folded from (bit for bit: any change clears the table) and the embedding row of every token
    read against the copy its table row came from (a changed row is recomputed), so that
    training, ``set_weights`` or any other write into the weights between calls is always seen.
    The check reads the embedding rows in place (`kernels.recurrent.stale_rows`): nothing is
    gathered. The table (vocabulary, gates * units) and the copies are allocated on the second
    call with the same kernel and bias (kept across calls), or on the first when the call reads
    at least as many tokens as the vocabulary has rows, and only when they fit in `MAX_BYTES`;
    otherwise `rows_for` returns None and the caller projects as usual.
    """

    #: the largest table of projections, with the copies, kept (bytes)
    MAX_BYTES = 1 << 28

    def __init__(self):
        self.kernel = self.bias = None  # copies of the kernel and bias the table was folded from
        self.table = self.kept = self.state = self.rows = None
        self._lock = getattr(self, "_lock", None) or threading.Lock()  # calls from several threads take turns

    def __reduce__(self):
        """Copies and pickles start empty: the table is a cache, not part of the model."""
        return (FoldedProjections, ())

    def nbytes(self) -> int:
        """The memory held (bytes)."""
        return sum(a.nbytes for a in (self.kernel, self.bias, self.table, self.kept, self.state, self.rows)
                   if a is not None)

    def clear(self) -> None:
        """Drops everything (the memory too)."""
        self.__init__()

    def rows_for(self, tokens: np.ndarray, embeddings: np.ndarray, kernel: np.ndarray, bias):
        """The table of projections with the rows of every token read up to date, or None when
        folding does not pay (see the class).

        Args:
            tokens: the token indices read (any shape; in range, as `embedding` checked).
            embeddings: the embedding table (vocabulary, D).
            kernel: (D, gates * units); bias: (gates * units,) or None.
        """
        with self._lock:
            return self._rows_for(tokens, np.asarray(embeddings), np.asarray(kernel),
                                  None if bias is None else np.asarray(bias))

    def _rows_for(self, tokens, embeddings, kernel, bias):
        dtype = kernel.dtype
        D, G = kernel.shape
        vocabulary = embeddings.shape[0]
        if embeddings.dtype != dtype or (bias is not None and bias.dtype != dtype) or embeddings.shape[1:] != (D,):
            return None
        k = _kernels()
        same_weights = self.kernel is not None and _same_bits(k, self.kernel, kernel) and (
            (bias is None and self.bias is None) or (bias is not None and self.bias is not None
                                                     and _same_bits(k, self.bias, bias)))
        if not same_weights or (self.state is not None and self.state.size != vocabulary):
            self.clear()
            self.kernel, self.bias = kernel.copy(), None if bias is None else bias.copy()
            if tokens.size < vocabulary:  # the first call with these weights: fold from the next one on
                return None
        if self.table is None:
            if (vocabulary * (G + D) + tokens.size) * dtype.itemsize > self.MAX_BYTES:
                return None
            self.table, self.kept = np.empty((vocabulary, G), dtype), np.empty((vocabulary, D), dtype)
            self.state = np.zeros(vocabulary, np.uint8)
        flat = np.ascontiguousarray(tokens, dtype=np.int64).reshape(-1)
        if self.rows is None or self.rows.size < flat.size:
            self.rows = np.empty(flat.size, np.int64)
        view = np.dtype(f"u{dtype.itemsize}")
        source = np.ascontiguousarray(embeddings)
        count = k.stale_rows(source.view(view), self.kept.view(view), self.state, flat, self.rows)
        if count:
            rows = self.rows[:count]
            fresh = source[rows]
            projected = fresh @ self.kernel
            if self.bias is not None:
                projected += self.bias
            self.table[rows] = projected
            self.kept[rows] = fresh
            self.state[rows] = 1
        return self.table


def _same_bits(k, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` hold the same values bit for bit (a NaN equals itself, -0.0
    differs from 0.0); ``a`` C-contiguous."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    view = f"u{a.dtype.itemsize}"
    return k.same_bits(a.reshape(-1).view(view), np.ascontiguousarray(b).reshape(-1).view(view))
