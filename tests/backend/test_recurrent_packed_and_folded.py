"""The LSTM's own recurrent product and its folded input projections against slow numpy
references: `pack_lstm_recurrent`, `lstm_product` and `blocked_product` (the register-blocked
products with the packed recurrent kernel, forward and backward), `lstm_rows` reading its projections by rows of a table, `stale_rows`
and `FoldedProjections` (which rows it recomputes, and that any change of the weights is seen)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import Tensor, no_grad
from kerasette.backend.kernels import recurrent as k
from kerasette.backend.kernels import simd
from kerasette.backend.ops import recurrent as rops


def _packed(rk):
    return rops.pack_lstm_recurrent(rk)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pack_lstm_recurrent_matches_loops(dtype):
    L = simd.lanes(np.dtype(dtype).itemsize)
    U = 8 * L
    rk = np.arange(U * 4 * U, dtype=dtype).reshape(U, 4 * U)
    packed, transposed = rops.pack_lstm_recurrent(rk), rops.pack_lstm_recurrent(rk, transposed=True)
    assert packed.shape == (U // L, U, 4, L) and transposed.shape == (2, 4 * U, 4, L)
    for j in range(U // L):
        for k_ in range(U):
            for g in range(4):
                for lane in range(L):
                    assert packed[j, k_, g, lane] == rk[k_, g * U + j * L + lane]
    for j in range(2):
        for k_ in range(4 * U):
            for v in range(4):
                for lane in range(L):
                    assert transposed[j, k_, v, lane] == rk[(4 * j + v) * L + lane, k_]
    assert packed.flags.c_contiguous and transposed.flags.c_contiguous
    assert rops.pack_lstm_recurrent(np.zeros((L + 1, 4 * L + 4), dtype)) is None
    assert rops.pack_lstm_recurrent(np.zeros((L, 4 * L), dtype), transposed=True) is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [1, 5, 9])
def test_blocked_product_of_the_backward_pass_matches_numpy(dtype, rows):
    """``dz @ rk^T`` with the transposed packing, rows at offsets and with a row stride."""
    rng = np.random.default_rng(rows)
    L = simd.lanes(np.dtype(dtype).itemsize)
    U = 8 * L
    G = 4 * U
    rk = rng.standard_normal((U, G)).astype(dtype)
    dz = rng.standard_normal((rows + 1, G)).astype(dtype)
    out = np.full((rows + 2, U), 3.0, dtype)
    k.blocked_product(dz, G, G, rows, rops.pack_lstm_recurrent(rk, transposed=True), out, U, U, 4 * L, L)
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out[1:1 + rows], dz[1:].astype(np.float64) @ rk.T.astype(np.float64), rtol=tol,
                               atol=tol)
    assert np.all(out[0] == 3.0) and np.all(out[1 + rows:] == 3.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [1, 3, 4, 7, 32])
def test_lstm_product_matches_numpy(dtype, rows):
    """Blocks of four rows and the rows left over, at offsets into larger arrays, in float64
    against numpy's product; nothing outside the rows' gate columns is written."""
    rng = np.random.default_rng(rows)
    L = simd.lanes(np.dtype(dtype).itemsize)
    U = 2 * L
    G = 4 * U
    rk = rng.standard_normal((U, G)).astype(dtype)
    h = rng.standard_normal((2, rows + 2, U)).astype(dtype)
    z = np.full((3, rows + 1, G), 7.0, dtype)
    h_off, z_off = (rows + 2) * U + U, (rows + 1) * G + G  # flat starts of h[1, 1:] and z[1, 1:]
    k.lstm_product(h, h_off, rows, _packed(rk), z, z_off)
    expected = h[1, 1:1 + rows].astype(np.float64) @ rk.astype(np.float64)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(z[1, 1:1 + rows], expected, rtol=tol, atol=tol)
    untouched = np.ones(z.shape, bool)
    untouched[1, 1:1 + rows] = False
    assert np.all(z[untouched] == 7.0)


def test_blocked_product_refuses_vectors_of_another_width():
    L = simd.lanes(4)
    packed = np.zeros((1, 2, 4, L + 1), np.float32)  # lanes other than the compiled vectors'
    with pytest.raises(ValueError, match="blocked_product: the packed operand does not fill whole compiled SIMD"):
        k.lstm_product(np.zeros((1, 2), np.float32), 0, 1, packed, np.zeros((1, 8), np.float32), 0)


def _lstm_reference(xp, rk, h0, c0):
    """Every step of an LSTM (sigmoid gates, tanh) in float64: the last (h, c)."""
    h, c = h0.astype(np.float64), c0.astype(np.float64)
    U = h.shape[1]
    for x in xp.astype(np.float64):
        z = x + h @ rk
        sig = 1 / (1 + np.exp(-z))
        i, f, o = sig[:, :U], sig[:, U:2 * U], sig[:, 3 * U:]
        c = f * c + i * np.tanh(z[:, 2 * U:3 * U])
        h = o * np.tanh(c)
    return h, c


@pytest.mark.parametrize("packed_product", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lstm_rows_by_index_matches_the_gathered_projections(packed_product, dtype):
    """Rows read by index from a table give the same states as the same rows gathered into
    (T, B, 4U) first, bit for bit (BLAS or the packed product), and as a float64 reference."""
    rng = np.random.default_rng(5)
    T, B, V = 6, 5, 11
    U = simd.lanes(np.dtype(dtype).itemsize)
    G = 4 * U
    table = rng.standard_normal((V, G)).astype(dtype)
    rows = rng.integers(0, V, (T, B))
    rk = (rng.standard_normal((U, G)) * 0.3).astype(dtype)
    h0, c0 = (rng.standard_normal((B, U)).astype(dtype) for _ in range(2))
    packed = _packed(rk) if packed_product else np.empty((0, 0, 4, 0), dtype)
    mask, rmask = np.ones((1, 1), np.uint8), np.ones((1, 1), dtype)

    def run(xr, index, indexed):
        hs, cs = np.empty((2, B, U), dtype), np.empty((2, B, U), dtype)
        hs[0], cs[0] = h0, c0
        gates, hd = np.empty((1, B, G), dtype), np.empty((B, U), dtype)
        for b0, b1 in ((0, 2), (2, B)):
            k.lstm_rows(xr, index, indexed, rk, packed, packed_product, mask, False, rmask, False, 1, 2, b0, b1,
                        hs, cs, gates, hd)
        return hs[T % 2], cs[T % 2]

    by_index = run(table, rows, True)
    gathered = run(table[rows].reshape(T * B, G), np.empty((T, 0), np.int64), False)
    for a, b in zip(by_index, gathered):
        np.testing.assert_array_equal(a, b)
    tol = 2e-5 if dtype == "float32" else 1e-12
    for a, b in zip(by_index, _lstm_reference(table[rows], rk, h0, c0)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _stale_reference(table, kept, state, tokens):
    """What `stale_rows` lists: each token once, in first-read order, when its row was never
    computed or was computed from a row other (bit for bit) than the table's now."""
    listed = []
    for v in tokens:
        if v in listed:
            continue
        if state[v] == 0 or table[v].tobytes() != kept[v].tobytes():
            listed.append(int(v))
    return listed


def test_stale_rows_matches_the_reference_and_leaves_states_valid():
    rng = np.random.default_rng(2)
    V, D = 9, 5
    table = rng.standard_normal((V, D)).astype(np.float32)
    kept = table.copy()
    kept[3, 2] += 1  # row 3 changed since it was computed
    kept[4, D - 1] += 1  # row 4 too, in its last word only
    table[5, 0], kept[5, 0] = np.nan, np.nan  # the same NaN bits: unchanged
    table[6, 1], kept[6, 1] = -0.0, 0.0  # a different bit pattern: changed
    state = np.array([1, 1, 0, 1, 1, 1, 1, 0, 1], np.uint8)
    tokens = np.array([3, 2, 2, 5, 6, 0, 3, 8, 7, 0, 4, 4, 1] * 2)  # more than the prefetch distance
    rows = _stale_reference(table, kept, state, tokens)
    assert rows == [3, 2, 6, 7, 4]
    out_rows = np.empty(tokens.size, np.int64)
    before = state.copy()
    count = k.stale_rows(table.view(np.uint32), kept.view(np.uint32), state, tokens, out_rows)
    assert list(out_rows[:count]) == rows
    for v in range(V):  # listed rows are 2 until the caller computes them; the rest as they were
        assert state[v] == (2 if v in rows else before[v])


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 1000])
def test_same_bits_finds_a_difference_in_any_word(size):
    a = np.arange(size, dtype=np.uint32)
    assert k.same_bits(a, a.copy())
    for at in sorted({0, size // 2, size - 1}) if size else []:
        b = a.copy()
        b[at] ^= 1 << 31
        assert not k.same_bits(a, b)


def test_folded_projections_match_the_product_and_follow_every_change():
    rng = np.random.default_rng(0)
    V, D, G = 40, 6, 8
    source = rng.standard_normal((V, D)).astype(np.float32)
    kernel = rng.standard_normal((D, G)).astype(np.float32)
    bias = rng.standard_normal(G).astype(np.float32)
    folded = rops.FoldedProjections()
    few = rng.integers(0, V, (3, 4))

    def rows_for(tokens, bias=bias):
        return folded.rows_for(tokens, source, kernel, bias)

    def check(tokens):
        table = rows_for(tokens)
        expected = source[tokens].astype(np.float64) @ kernel + bias
        np.testing.assert_allclose(table[tokens], expected, rtol=1e-6, atol=1e-6)

    assert rows_for(few) is None  # first call, fewer tokens than rows
    assert folded.table is None and folded.nbytes() == kernel.nbytes + bias.nbytes
    check(few)  # the second call with the same weights folds
    check(rng.integers(0, V, (5, 7)))
    source[few[0, 0]] += 1  # a row written in place: recomputed
    check(few)
    kernel[2, 3] = 5  # the kernel written in place: every row recomputed
    assert rows_for(few) is None  # ... from the next call on (fewer tokens than rows)
    check(few)
    bias[0] = -3
    many = rng.integers(0, V, (8, 6))  # at least as many tokens as rows: folds on the first call
    check(many)
    assert rows_for(few, bias=None) is None  # no bias: another fold, from the next call on
    assert rows_for(few, bias=None) is not None
    assert folded.rows_for(few, np.vstack([source, source[:1]]), kernel, None) is None  # another vocabulary
    assert folded.table is None


def test_folded_projections_stay_off_above_their_memory_limit(monkeypatch):
    source = np.ones((10, 2), np.float32)
    kernel = np.ones((2, 4), np.float32)
    monkeypatch.setattr(rops.FoldedProjections, "MAX_BYTES", 10 * 6 * 4)  # rows x (G + D): no room for the rest
    folded = rops.FoldedProjections()
    tokens = np.arange(10)
    assert folded.rows_for(tokens, source, kernel, None) is None and folded.table is None


def test_lstm_op_reads_rows_for_inference_only():
    table = np.zeros((3, 4), np.float32)
    h0 = np.zeros((2, 1), np.float32)
    rk = Tensor(np.zeros((1, 4), np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="projections read by rows are for the LSTM's inference only"):
        rops.recurrence("lstm", table, h0, h0, rk, rows=np.zeros((2, 2), np.int64))
    with no_grad(), pytest.raises(ValueError, match=r"lstm recurrence: rows must be in \[0, 3\)"):
        rops.recurrence("lstm", table, h0, h0, rk, rows=np.full((2, 2), 3))


@pytest.mark.parametrize("scale", [0.3, 4.0, 60.0, 500.0])
def test_lstm_cell_row_vectors_agrees_with_the_loop_bit_for_bit(scale):
    """The explicit-vector step computes `lstm_cell_row`'s float32 operations in the same order
    (exp clamped at both ends for large inputs), and both agree with a float64 reference."""
    rng = np.random.default_rng(int(scale * 10))
    U = 3 * simd.lanes(4)
    z = (rng.standard_normal(4 * U) * scale).astype(np.float32)
    x = (rng.standard_normal((2, 4 * U)) * scale).astype(np.float32)
    c_prev = (rng.standard_normal(U) * scale).astype(np.float32)
    loop_z, vector_z = z.copy(), z.copy()
    c1, h1, c2, h2 = (np.empty(U, np.float32) for _ in range(4))
    k.lstm_cell_row(loop_z, x[1], c_prev, c1, h1)
    k.lstm_cell_row_vectors(vector_z, x, 4 * U, c_prev, c2, h2)
    for a, b in ((loop_z, vector_z), (c1, c2), (h1, h2)):
        np.testing.assert_array_equal(a, b)
    gates = 0.5 * np.tanh(0.5 * (z.astype(np.float64) + x[1])) + 0.5  # the sigmoid, without overflow
    gates[2 * U:3 * U] = np.tanh(z[2 * U:3 * U].astype(np.float64) + x[1, 2 * U:3 * U])
    np.testing.assert_allclose(vector_z, gates, rtol=0, atol=2e-6)
    c = gates[U:2 * U] * c_prev + gates[:U] * gates[2 * U:3 * U]
    np.testing.assert_allclose(c2, c, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(h2, gates[3 * U:] * np.tanh(c), rtol=0, atol=8e-6)
