"""The LSTM's float32 rows in explicit SIMD vectors against the scalar loops (bit for bit) and
slow float64 numpy references: `lstm_cell_row_vectors` (two vectors of units at a time, then an
odd one alone) and `lstm_grad_row_vectors` (the backward row), for one to four vectors of
units, and a whole backward pass through time whose rows take the vector path."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend.kernels import recurrent as k
from kerasette.backend.kernels import simd
from kerasette.backend.ops import recurrent as rops

L = simd.lanes(4)


def _sigmoid(v):
    return 0.5 * np.tanh(0.5 * v) + 0.5  # no overflow for large inputs


@pytest.mark.parametrize("vectors", [1, 2, 3, 4])
@pytest.mark.parametrize("scale", [0.5, 30.0])
def test_cell_row_vectors_agree_with_the_loop_bit_for_bit(vectors, scale):
    rng = np.random.default_rng(vectors * 7 + int(scale))
    U = vectors * L
    z = (rng.standard_normal(4 * U) * scale).astype(np.float32)
    x = (rng.standard_normal((3, 4 * U)) * scale).astype(np.float32)
    c_prev = (rng.standard_normal(U) * scale).astype(np.float32)
    loop_z, vector_z = z.copy(), z.copy()
    c1, h1, c2, h2 = (np.full(U, 7.0, np.float32) for _ in range(4))
    k.lstm_cell_row(loop_z, x[2], c_prev, c1, h1)
    k.lstm_cell_row_vectors(vector_z, x, 2 * 4 * U, c_prev, c2, h2)
    for a, b in ((loop_z, vector_z), (c1, c2), (h1, h2)):
        np.testing.assert_array_equal(a, b)
    a = z.astype(np.float64) + x[2]
    gates = _sigmoid(a)
    gates[2 * U:3 * U] = np.tanh(a[2 * U:3 * U])
    i, f, g, o = np.split(gates, 4)
    c = f * c_prev + i * g
    np.testing.assert_allclose(vector_z, gates, rtol=0, atol=2e-6)
    np.testing.assert_allclose(c2, c, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(h2, o * np.tanh(c), rtol=0, atol=8e-6)


@pytest.mark.parametrize("vectors", [1, 2, 3])
def test_grad_row_vectors_agree_with_the_loop_bit_for_bit(vectors):
    rng = np.random.default_rng(vectors)
    U = vectors * L
    a = rng.standard_normal(4 * U) * 2
    gates = _sigmoid(a)
    gates[2 * U:3 * U] = np.tanh(a[2 * U:3 * U])
    gates = gates.astype(np.float32)
    c_prev, c_now, gh, gc = (rng.standard_normal(U).astype(np.float32) * 2 for _ in range(4))
    dr1, dr2 = np.full(4 * U, 7.0, np.float32), np.full(4 * U, 7.0, np.float32)
    gc1, gc2 = gc.copy(), gc.copy()
    k.lstm_grad_row(gates, c_prev, c_now, gh, gc1, dr1)
    k.lstm_grad_row_vectors(gates, c_prev, c_now, gh, gc2, dr2)
    np.testing.assert_array_equal(dr1, dr2)
    np.testing.assert_array_equal(gc1, gc2)
    i, f, g, o = np.split(gates.astype(np.float64), 4)
    t = np.tanh(c_now.astype(np.float64))
    g_c = gc + gh * o * (1 - t * t)
    expected = np.concatenate([g_c * g * i * (1 - i), g_c * c_prev * f * (1 - f), g_c * i * (1 - g * g),
                               gh * t * o * (1 - o)])
    np.testing.assert_allclose(dr2, expected, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(gc2, g_c * f, rtol=2e-5, atol=2e-5)


def _bptt_reference(xp, rk, h0, c0, dlast):
    """The LSTM forward and backward through time in float64 numpy: (dxp, dh0, dc0)."""
    T, B, G = xp.shape
    U = G // 4
    hs, cs, gates = [h0], [c0], []
    for t in range(T):
        a = xp[t] + hs[-1] @ rk
        gt = _sigmoid(a)
        gt[:, 2 * U:3 * U] = np.tanh(a[:, 2 * U:3 * U])
        i, f, g, o = np.split(gt, 4, axis=1)
        cs.append(f * cs[-1] + i * g)
        hs.append(o * np.tanh(cs[-1]))
        gates.append(gt)
    dh, dc = dlast[:, :U].copy(), dlast[:, U:].copy()
    dxp = np.zeros_like(xp)
    for t in range(T - 1, -1, -1):
        i, f, g, o = np.split(gates[t], 4, axis=1)
        th = np.tanh(cs[t + 1])
        dc = dc + dh * o * (1 - th * th)
        dxp[t] = np.concatenate([dc * g * i * (1 - i), dc * cs[t] * f * (1 - f), dc * i * (1 - g * g),
                                 dh * th * o * (1 - o)], axis=1)
        dh, dc = dxp[t] @ rk.T, dc * f
    return dxp, dh, dc


@pytest.mark.parametrize("vectors", [1, 4])
def test_lstm_backward_with_vector_rows_matches_numpy(vectors):
    """Whole float32 passes forward and back through time (the rows in vectors, the products
    packed) against float64 numpy, the gradient of the last state and cell given."""
    rng = np.random.default_rng(3)
    T, B, U = 6, 5, vectors * L
    G = 4 * U
    xp = rng.standard_normal((T, B, G)).astype(np.float32)
    rk = (rng.standard_normal((U, G)) * 0.2).astype(np.float32)
    h0, c0 = (rng.standard_normal((B, U)).astype(np.float32) for _ in range(2))
    dlast = rng.standard_normal((B, 2 * U)).astype(np.float32)
    hs, cs = np.empty((T + 1, B, U), np.float32), np.empty((T + 1, B, U), np.float32)
    hs[0], cs[0] = h0, c0
    gates, hd = np.empty((T, B, G), np.float32), np.empty((B, U), np.float32)
    one8, one = np.ones((1, 1), np.uint8), np.ones((1, 1), np.float32)
    k.lstm_forward(xp, rk, one8, False, one, False, 1, 2, 0, B, hs, cs, gates, hd)
    dxp = np.empty((T, B, G), np.float32)
    dh, dc, tmp, dact = (np.empty((B, U), np.float32) for _ in range(4))
    packed = rops.pack_lstm_recurrent(rk, transposed=True)
    use_packed = packed is not None
    packed = packed if use_packed else np.empty((0, 0, 4, 0), np.float32)
    k.lstm_backward(np.zeros((1, 1, 1), np.float32), False, dlast, True, True, gates, cs,
                    np.ascontiguousarray(rk.T), packed, use_packed, one8, False, one, False, 1, 2, 0, B, dxp, dh, dc,
                    tmp, dact)
    expected = _bptt_reference(xp.astype(np.float64), rk.astype(np.float64), h0.astype(np.float64),
                               c0.astype(np.float64), dlast.astype(np.float64))
    for got, want in zip((dxp, dh, dc), expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
