"""The recurrence op: SimpleRNN, LSTM and GRU through every step, forward and backward.

`Recurrence` runs the numba kernels of `kerasette.backend.kernels.recurrent` over time-major
input projections ``xp`` (steps, batch, gates * units) and back-propagates through time with
them; `pack_lstm_recurrent` lays the LSTM's recurrent kernel out for the kernels' own product.
The functions that build it (`recurrence`, `simple_rnn`, `lstm`, `gru`) and the options it takes
are described in `kerasette.backend.ops.recurrent`.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.ops.base import Op

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

