"""The embedding's kernels: its gradient's scatter-add, and for the LSTM's folded input
projections (`kerasette.backend.ops.recurrent.FoldedProjections`) the check of which rows of
the table are stale (`stale_rows`) and of whether the weights changed (`same_bits`).
"""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.recurrent_products import _prefetch, _prefetch_row


@kernel
def scatter_add_rows(indices, rows, d0, d1, out):
    """``out[indices[n], d0:d1] += rows[n, d0:d1]`` for every n, in order (the embedding's
    gradient; a column range per thread, so no two threads write one value). The rows of
    ``out`` are scattered over a large table: each is fetched a few indices ahead."""
    ahead = 8
    width = out.shape[1]
    line = max(1, 64 // out.itemsize)
    for n in range(min(ahead, indices.size)):
        for d in range(d0, d1, line):
            _prefetch(out, indices[n] * width + d)
    for n in range(indices.size):
        if n + ahead < indices.size:
            for d in range(d0, d1, line):
                _prefetch(out, indices[n + ahead] * width + d)
        r = indices[n]
        for d in range(d0, d1):
            out[r, d] += rows[n, d]


@kernel
def stale_rows(embeddings, kept, state, tokens, rows):
    """The rows of a table of projections (`kerasette.backend.ops.recurrent.FoldedProjections`)
    that ``tokens`` need recomputed: those never computed (``state`` 0) and those computed from
    an embedding row other, bit for bit, than the one in the embedding table now. ``embeddings``
    (V, D) is the embedding table and ``kept`` (V, D) the rows the table was computed from, both
    viewed as unsigned integers (so that a NaN equals itself and -0.0 differs from 0.0). Each
    such token is listed once, in ``rows``, in the order of first reading; returns how many.

    ``state`` (V,) is 0 (not computed), 1 (computed) or, during the call, 2 (listed, to be
    computed by the caller, who sets it back to 1) and 3 (checked: unchanged)."""
    D = embeddings.shape[1]
    count = 0
    ahead = 8  # the rows are scattered over both tables: fetch a few tokens ahead
    for n in range(min(ahead, tokens.size)):
        _prefetch_row(embeddings, tokens[n])
        _prefetch_row(kept, tokens[n])
    for n in range(tokens.size):
        if n + ahead < tokens.size:
            _prefetch_row(embeddings, tokens[n + ahead])
            _prefetch_row(kept, tokens[n + ahead])
        v = tokens[n]
        s = state[v]
        if s >= 2:
            continue
        if s == 1:
            differ = embeddings[v, 0] ^ kept[v, 0]  # every word compared, no early exit: the loop vectorizes
            for d in range(1, D):
                differ |= embeddings[v, d] ^ kept[v, d]
            if differ == 0:
                state[v] = 3
                continue
        state[v] = 2
        rows[count] = v
        count += 1
    for n in range(tokens.size):
        v = tokens[n]
        if state[v] == 3:
            state[v] = 1
    return count


@kernel
def same_bits(a, b):
    """Whether the flat unsigned-integer views ``a`` and ``b`` (one size) hold the same words:
    blocks of 256 compared without a branch (they vectorize), stopping at the first that
    differs."""
    n = a.size
    for start in range(0, n, 256):
        differ = a[start] ^ b[start]
        for i in range(start + 1, min(start + 256, n)):
            differ |= a[i] ^ b[i]
        if differ != 0:
            return False
    return True
