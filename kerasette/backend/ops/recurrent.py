"""Recurrent ops (SimpleRNN, LSTM, GRU through time) and the embedding lookup.

The recurrent ops take the input projections of every step at once, time-major: ``xp`` of shape
(steps, batch, gates * units), computed by the caller as one matrix product (``x @ kernel +
bias``). They run the recurrence with the numba kernels of
`kerasette.backend.kernels.recurrent` (one BLAS product and one fused gate pass per step, the
batch split over the thread pool) and back-propagate through time with the same kernels.

Each returns either every step's output, time-major (steps, batch, units), or only the last
state (batch, units) (``sequences=False``); the LSTM with ``with_cell=True`` appends the cell
state along the last axis (units * 2). When no gradient is being recorded (``no_grad``, as in
``predict``, or no input needs one) the LSTM keeps nothing for a backward pass: no gates and,
for the last state only, two state slots instead of every step's (`Recurrence.inference`). An
LSTM fed by `embedding` for inference can read its projections by row from a table folded
across calls (``rows``, `FoldedProjections`). Options common to all:

- ``mask``: (steps, batch) booleans, time-major; a False step leaves the states as they were
  (its output repeats the previous one), as Keras's masking does.
- ``recurrent_mask``: (batch, units) multiplier of the previous output before the recurrent
  product (recurrent dropout: the same mask on every step).
- ``activation``, ``recurrent_activation``: one of ``'tanh'``, ``'sigmoid'``,
  ``'hard_sigmoid'`` (Keras 3's, ``x / 6 + 0.5`` clipped), ``'relu'``, ``'linear'``.

Example:
    >>> import numpy as np
    >>> xp = np.zeros((5, 2, 12), 'float32'); h0 = np.zeros((2, 3), 'float32')
    >>> lstm(xp, h0, h0, np.zeros((3, 12), 'float32'), sequences=False).shape
    (2, 3)
"""

from __future__ import annotations

import threading

import numpy as np

from kerasette.backend import parallel, state
from kerasette.backend.ops.base import Op, apply
from kerasette.backend.tensor import Tensor

ACTIVATION_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2, "hard_sigmoid": 3, "relu": 4}

#: the kinds of recurrence: (gates per unit, states)
KINDS = {"simple": (1, 1), "lstm": (4, 2), "gru": (3, 1)}


def _kernels():
    from kerasette.backend.kernels import recurrent  # deferred: numba compiles on first use only

    return recurrent


def activation_code(name) -> int:
    """The kernel code of activation ``name`` (a ValueError for others)."""
    if isinstance(name, (int, np.integer)):
        return int(name)
    try:
        return ACTIVATION_CODES[name]
    except KeyError:
        raise ValueError(f"recurrent ops: activation must be one of {sorted(ACTIVATION_CODES)}; "
                         f"received {name!r}") from None


class Recurrence(Op):
    """A recurrence through every step; inputs ``xp, h0, [c0 (lstm)], recurrent_kernel,
    [recurrent_bias (gru reset_after)]``. After the forward pass ``final_states()`` gives the
    last states as arrays (for stateful layers)."""

    name = "recurrence"

    def __init__(self, kind: str, mask=None, recurrent_mask=None, activation="tanh",
                 recurrent_activation="sigmoid", sequences: bool = True, with_cell: bool = False,
                 reset_after: bool = True, has_recurrent_bias: bool = False, inference: bool = False,
                 rows=None):
        if kind not in KINDS:
            raise ValueError(f"Recurrence: kind must be one of {sorted(KINDS)}; received {kind!r}")
        self.kind = kind
        self.mask = None if mask is None else np.ascontiguousarray(np.asarray(mask).astype(np.uint8, copy=False))
        self.rmask = recurrent_mask
        self.act, self.ract = activation_code(activation), activation_code(recurrent_activation)
        self.sequences, self.with_cell = bool(sequences), bool(with_cell and kind == "lstm")
        self.reset_after = bool(reset_after)
        self.has_rb = bool(has_recurrent_bias)
        #: no backward pass will follow: the LSTM keeps no gates and, for the last state only,
        #: two state slots instead of every step's
        self.inference = bool(inference)
        #: (steps, batch) rows of the first input to read each step's projections from (the
        #: LSTM for inference only: ``xp`` is then a table of projections, `FoldedProjections`)
        self.rows = None if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
        if self.rows is not None and not (kind == "lstm" and self.inference):
            raise ValueError(f"Recurrence: projections read by rows are for the LSTM's inference only; "
                             f"received kind={kind!r}, inference={self.inference}")

    # -- forward ---------------------------------------------------------------------------
    def forward(self, xp, h0, *rest):
        kind = self.kind
        dtype = xp.dtype
        xp = np.ascontiguousarray(xp)
        if self.rows is not None:
            (T, B), G = self.rows.shape, xp.shape[1]
            if self.rows.size and (self.rows.min() < 0 or self.rows.max() >= xp.shape[0]):
                raise ValueError(f"lstm recurrence: rows must be in [0, {xp.shape[0]}) (the table's rows)")
        else:
            T, B, G = xp.shape
        U = h0.shape[1]
        if kind == "lstm":
            c0, rk = rest[0], rest[1]
        else:
            rk = rest[0]
        rk = np.ascontiguousarray(rk, dtype=dtype)
        rb = np.ascontiguousarray(rest[1], dtype=dtype).reshape(-1) if (kind == "gru" and self.has_rb) \
            else np.zeros(3 * U if kind == "gru" else 1, dtype)
        self.rk, self.rb_used = rk, kind == "gru" and self.has_rb
        if self.mask is not None and self.mask.shape != (T, B):
            raise ValueError(f"{kind} recurrence: the mask must have shape (steps, batch) = {(T, B)}; "
                             f"received {self.mask.shape}")
        rmask = np.ones((1, 1), dtype) if self.rmask is None else np.ascontiguousarray(self.rmask, dtype=dtype)
        self.rmask_arr = rmask
        has_mask, has_rmask = self.mask is not None, self.rmask is not None
        mask = self.mask if has_mask else np.ones((1, 1), np.uint8)
        hs = np.empty((T + 1, B, U), dtype)
        hs[0] = h0
        hd = np.empty((B, U), dtype)
        k = _kernels()
        work = T * G * U
        if kind == "simple":
            gates = None
            parallel.map_chunks(lambda b0, b1: k.simple_forward(xp, rk, mask, has_mask, rmask, has_rmask, self.act,
                                                                b0, b1, hs, hd), B, parallel.matmul_min_work(), work)
            cs = None
        elif kind == "lstm":
            if self.inference and not self.sequences:
                hs = np.empty((2, B, U), dtype)
                hs[0] = h0
            cs = np.empty(hs.shape, dtype)
            cs[0] = c0
            gates = np.empty((1 if self.inference else T, B, G), dtype)
            indexed = self.rows is not None
            xr = xp if indexed else xp.reshape(T * B, G)
            rows = self.rows if indexed else np.empty((T, 0), np.int64)
            packed = pack_lstm_recurrent(rk)
            use_packed = packed is not None
            packed = packed if use_packed else np.empty((0, 0, 4, 0), dtype)
            parallel.map_chunks(lambda b0, b1: k.lstm_rows(xr, rows, indexed, rk, packed, use_packed, mask, has_mask,
                                                           rmask, has_rmask, self.act, self.ract, b0, b1, hs, cs,
                                                           gates, hd),
                                B, parallel.matmul_min_work(), work)
        else:
            cs = None
            gates = np.empty((T, B, 4 * U), dtype)
            z = np.empty((B, G), dtype)
            q = np.empty((B, U), dtype)
            parallel.map_chunks(lambda b0, b1: k.gru_forward(xp, rk, rb, self.reset_after, mask, has_mask, rmask,
                                                             has_rmask, self.act, self.ract, b0, b1, hs, gates, z,
                                                             hd, q), B, parallel.matmul_min_work(), work)
        self.hs, self.cs, self.gates, self.shape = hs, cs, gates, (T, B, G, U)
        self.last = T if hs.shape[0] == T + 1 else T % 2  # the slot of the last states
        if self.sequences:
            out = hs[1:]
            return np.concatenate([out, cs[1:]], axis=-1) if self.with_cell else out
        last = self.last
        return np.concatenate([hs[last], cs[last]], axis=-1) if self.with_cell else hs[last]

    def final_states(self) -> list[np.ndarray]:
        """The states after the last step (copies): [h] or [h, c]."""
        last = self.last
        return [self.hs[last].copy()] + ([self.cs[last].copy()] if self.cs is not None else [])

    # -- backward --------------------------------------------------------------------------
    def backward(self, grad):
        if self.inference:
            raise RuntimeError(f"{self.kind} recurrence: run for inference (no gradient was being recorded), "
                               "it kept nothing for a backward pass")
        kind = self.kind
        T, B, G, U = self.shape
        dtype = self.hs.dtype
        grad = np.ascontiguousarray(grad, dtype=dtype)
        dummy3, dummy2 = np.zeros((1, 1, 1), dtype), np.zeros((1, 1), dtype)
        if self.sequences:
            dseq, has_seq, dlast, has_last = grad, True, dummy2, False
        else:
            dseq, has_seq, dlast, has_last = dummy3, False, grad, True
        has_mask, has_rmask = self.mask is not None, self.rmask is not None
        mask = self.mask if has_mask else np.ones((1, 1), np.uint8)
        rmask, rk = self.rmask_arr, self.rk
        dxp = np.empty((T, B, G), dtype)
        dh = np.empty((B, U), dtype)
        tmp = np.empty((B, U), dtype)
        k = _kernels()
        work = T * G * U
        dc = drec = None
        if kind == "simple":
            parallel.map_chunks(lambda b0, b1: k.simple_backward(dseq, has_seq, dlast, has_last, self.hs, rk, mask,
                                                                 has_mask, rmask, has_rmask, self.act, b0, b1, dxp,
                                                                 dh, tmp), B, parallel.matmul_min_work(), work)
        elif kind == "lstm":
            dc, dact = np.empty((B, U), dtype), np.empty((B, U), dtype)
            packed = pack_lstm_recurrent(rk, transposed=True)
            use_packed = packed is not None
            rkt = np.empty((0, 0), dtype) if use_packed else np.ascontiguousarray(rk.T)
            packed = packed if use_packed else np.empty((0, 0, 4, 0), dtype)
            parallel.map_chunks(lambda b0, b1: k.lstm_backward(dseq, has_seq, dlast, has_last, self.with_cell,
                                                               self.gates, self.cs, rkt, packed, use_packed, mask,
                                                               has_mask, rmask,
                                                               has_rmask, self.act, self.ract, b0, b1, dxp, dh, dc,
                                                               tmp, dact), B, parallel.matmul_min_work(), work)
        else:
            drec = np.empty((T, B, G), dtype)
            q = np.empty((B, U), dtype)
            parallel.map_chunks(lambda b0, b1: k.gru_backward(dseq, has_seq, dlast, has_last, self.gates, self.hs,
                                                              rk, self.reset_after, mask, has_mask, rmask,
                                                              has_rmask, self.act, self.ract, b0, b1, dxp, drec, dh,
                                                              tmp, q), B, parallel.matmul_min_work(), work)
        needs = self.needs_grad
        grads: list = [dxp if needs[0] else None, dh if needs[1] else None]
        if kind == "lstm":
            grads.append(dc if needs[2] else None)
        index_rk = len(grads)
        if needs[index_rk]:
            prev = self.hs[:-1]
            if has_rmask:
                prev = prev * rmask
            prev = prev.reshape(T * B, U)
            if kind == "gru" and not self.reset_after:
                drk = np.empty((U, G), dtype)
                drk[:, :2 * U] = prev.T @ drec.reshape(T * B, G)[:, :2 * U]
                drk[:, 2 * U:] = self.gates[..., 3 * U:].reshape(T * B, U).T @ drec.reshape(T * B, G)[:, 2 * U:]
            else:
                source = drec if kind == "gru" else dxp
                drk = parallel.matmul(prev.T, source.reshape(T * B, G))
            grads.append(drk)
        else:
            grads.append(None)
        if kind == "gru" and self.has_rb:
            grads.append(drec.sum(axis=(0, 1)).reshape(self._rb_shape) if needs[index_rk + 1] else None)
        return tuple(grads)


def pack_lstm_recurrent(rk: np.ndarray, transposed: bool = False):
    """The LSTM's recurrent kernel ``rk`` (U, 4U) packed for the kernels' own product
    (`kernels.recurrent.blocked_product`), or None when the units do not fill whole SIMD vectors
    (BLAS then computes each step's product). L is the number of SIMD lanes.

    Forward (`lstm_product`, ``h @ rk``): (U // L, U, 4, L), block ``j`` holding for each input
    unit ``k`` the four gates' weights (i, f, c, o) of output units ``[j L, (j + 1) L)``, so that
    one block of accumulators gives every gate of L units. ``transposed`` (the backward product
    ``dz @ rk^T``): (U // 4L, 4U, 4, L), block ``j`` holding for each gate column ``k`` the
    weights of units ``[4 j L, 4 (j + 1) L)`` as four vectors."""
    from kerasette.backend.kernels import simd  # deferred: numba compiles on first use only

    U = rk.shape[0]
    L = simd.lanes(rk.itemsize)
    if U % ((4 if transposed else 1) * L):
        return None
    if transposed:
        return np.ascontiguousarray(rk.T.reshape(4 * U, U // (4 * L), 4, L).transpose(1, 0, 2, 3))
    return np.ascontiguousarray(rk.reshape(U, 4, U // L, L).transpose(2, 0, 1, 3))


def recurrence(kind: str, xp, h0, *weights, mask=None, recurrent_mask=None, activation="tanh",
               recurrent_activation="sigmoid", sequences: bool = True, with_cell: bool = False,
               reset_after: bool = True, rows=None):
    """Runs a recurrence and returns ``(output tensor, op)``; the op's ``final_states()`` gives
    the last states. ``weights``: ``[c0,] recurrent_kernel[, recurrent_bias]``. ``rows``
    (steps, batch) integers (LSTM inference only): ``xp`` is a table of projections (rows, 4 *
    units) and step ``t`` of sample ``b`` reads its row ``rows[t, b]`` (`FoldedProjections`)."""
    has_rb = kind == "gru" and len(weights) == 2
    records = records_gradient(xp, h0, *weights)
    op = Recurrence(kind, mask, recurrent_mask, activation, recurrent_activation, sequences, with_cell,
                    reset_after, has_rb, inference=not records, rows=rows)
    if has_rb:
        op._rb_shape = tuple(np.shape(weights[1].data if hasattr(weights[1], "data") else weights[1]))
    return apply(op, xp, h0, *weights), op


def records_gradient(*inputs) -> bool:
    """Whether an op on ``inputs`` would be recorded for a backward pass (gradients enabled and
    an input that requires one)."""
    return state.grad_mode.is_enabled() and any(getattr(t, "requires_grad", False) for t in inputs)


def simple_rnn(xp, h0, recurrent_kernel, mask=None, recurrent_mask=None, activation="tanh", sequences=True):
    """``h_t = activation(xp_t + h_{t-1} @ recurrent_kernel)`` for every step (see the module)."""
    return recurrence("simple", xp, h0, recurrent_kernel, mask=mask, recurrent_mask=recurrent_mask,
                      activation=activation, sequences=sequences)[0]


def lstm(xp, h0, c0, recurrent_kernel, mask=None, recurrent_mask=None, activation="tanh",
         recurrent_activation="sigmoid", sequences=True, with_cell=False):
    """Keras's LSTM (gates i, f, c, o): ``c = f * c + i * act(x_c)``, ``h = o * act(c)``."""
    return recurrence("lstm", xp, h0, c0, recurrent_kernel, mask=mask, recurrent_mask=recurrent_mask,
                      activation=activation, recurrent_activation=recurrent_activation, sequences=sequences,
                      with_cell=with_cell)[0]


def gru(xp, h0, recurrent_kernel, recurrent_bias=None, reset_after=True, mask=None, recurrent_mask=None,
        activation="tanh", recurrent_activation="sigmoid", sequences=True):
    """Keras's GRU (gates z, r, h): ``h = z * h + (1 - z) * act(x_h + r * (h @ U_h + b_h))``
    (``reset_after``) or ``act(x_h + (r * h) @ U_h)``; ``recurrent_bias`` (3U,) only reset after."""
    weights = (recurrent_kernel,) if recurrent_bias is None else (recurrent_kernel, recurrent_bias)
    return recurrence("gru", xp, h0, *weights, mask=mask, recurrent_mask=recurrent_mask, activation=activation,
                      recurrent_activation=recurrent_activation, sequences=sequences, reset_after=reset_after)[0]


# ----------------------------------------------------------------------------- embedding
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
