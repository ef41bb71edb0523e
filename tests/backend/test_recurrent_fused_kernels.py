"""The LSTM's fused kernels against slow numpy references: one step of one row forward
(`lstm_cell_row`, `lstm_cell_row_general`) and backward (`lstm_grad_row`,
`lstm_grad_row_general`), the inference buffers of `lstm_forward` (no gates kept, two state
slots), `_pow2`, and the GRU's gates on carried-over steps. Whole recurrences and their float64
gradients are checked in ``recurrent_op_cases.py``."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from kerasette.backend import Tensor, no_grad
from kerasette.backend.kernels import recurrent as k
from kerasette.backend.ops import recurrent as rops

ACT = {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "hard_sigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1),
       "relu": lambda v: np.maximum(v, 0), "linear": lambda v: v}
SLOPE = {"tanh": lambda y: 1 - y * y, "sigmoid": lambda y: y * (1 - y),
         "hard_sigmoid": lambda y: np.where((y > 0) & (y < 1), 1 / 6, 0.0), "relu": lambda y: (y > 0) * 1.0,
         "linear": lambda y: np.ones_like(y)}
TOLERANCE = {"float32": 2e-6, "float64": 1e-13}


def _cell_reference(z, x, c_prev, act="tanh", ract="sigmoid"):
    """One LSTM step in float64: (gates i, f, c, o; new cell; new output)."""
    u = c_prev.size
    a = z.astype(np.float64) + x
    gates = np.concatenate([ACT[ract](a[:2 * u]), ACT[act](a[2 * u:3 * u]), ACT[ract](a[3 * u:])])
    i, f, g, o = np.split(gates, 4)
    c = f * c_prev + i * g
    return gates, c, o * ACT[act](c)


def _grad_reference(gates, c_prev, c_now, gh, gc, act="tanh", ract="sigmoid"):
    """One LSTM step back in float64: (gradient of the pre-activations, of the previous cell)."""
    i, f, g, o = np.split(gates.astype(np.float64), 4)
    a = ACT[act](c_now.astype(np.float64))
    gc = gc + gh * o * SLOPE[act](a)
    dz = np.concatenate([gc * g * SLOPE[ract](i), gc * c_prev * SLOPE[ract](f), gc * i * SLOPE[act](g),
                         gh * a * SLOPE[ract](o)])
    return dz, gc * f


def _row(rng, dtype, units, scale=2.0):
    return (rng.standard_normal(units) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("units", [1, 7, 64, 130])
def test_lstm_cell_row_matches_numpy(dtype, units):
    rng = np.random.default_rng(units)
    z, x, c_prev = _row(rng, dtype, 4 * units), _row(rng, dtype, 4 * units), _row(rng, dtype, units)
    c_new, h_new = np.empty(units, dtype), np.empty(units, dtype)
    gates = z.copy()
    k.lstm_cell_row(gates, x, c_prev, c_new, h_new)
    expected_gates, expected_c, expected_h = _cell_reference(z, x, c_prev)
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(gates, expected_gates, rtol=0, atol=tol)
    np.testing.assert_allclose(c_new, expected_c, rtol=tol, atol=tol)
    np.testing.assert_allclose(h_new, expected_h, rtol=0, atol=tol * 4)
    assert gates.dtype == c_new.dtype == h_new.dtype == np.dtype(dtype)


def test_lstm_cell_row_agrees_with_the_general_row_bit_for_bit_in_float32():
    """The fused loop computes exactly what the passes of `activate_flat` compute."""
    rng = np.random.default_rng(3)
    units = 37
    z, x, c_prev = _row(rng, "float32", 4 * units, 4.0), _row(rng, "float32", 4 * units), _row(rng, "float32", units)
    fused, general = z.copy(), z.copy()
    c1, h1, c2, h2, scratch = (np.empty(units, np.float32) for _ in range(5))
    k.lstm_cell_row(fused, x, c_prev, c1, h1)
    k.lstm_cell_row_general(general, x, c_prev, c2, h2, k.ACTIVATIONS["tanh"], k.ACTIVATIONS["sigmoid"], scratch)
    np.testing.assert_array_equal(fused, general)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(h1, h2)


@pytest.mark.parametrize("act, ract", [("relu", "hard_sigmoid"), ("linear", "tanh"), ("tanh", "sigmoid")])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lstm_cell_row_general_matches_numpy(act, ract, dtype):
    rng = np.random.default_rng(5)
    units = 19
    z, x, c_prev = _row(rng, dtype, 4 * units), _row(rng, dtype, 4 * units), _row(rng, dtype, units)
    c_new, h_new, scratch = (np.empty(units, dtype) for _ in range(3))
    gates = z.copy()
    k.lstm_cell_row_general(gates, x, c_prev, c_new, h_new, k.ACTIVATIONS[act], k.ACTIVATIONS[ract], scratch)
    expected_gates, expected_c, expected_h = _cell_reference(z, x, c_prev, act, ract)
    tol = TOLERANCE[dtype] * 10
    np.testing.assert_allclose(gates, expected_gates, rtol=tol, atol=tol)
    np.testing.assert_allclose(c_new, expected_c, rtol=tol, atol=tol)
    np.testing.assert_allclose(h_new, expected_h, rtol=tol, atol=tol)


def _gates(rng, dtype, units, act="tanh", ract="sigmoid"):
    a = rng.standard_normal(4 * units) * 2
    return np.concatenate([ACT[ract](a[:2 * units]), ACT[act](a[2 * units:3 * units]),
                           ACT[ract](a[3 * units:])]).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("units", [1, 9, 128])
def test_lstm_grad_row_matches_numpy(dtype, units):
    rng = np.random.default_rng(units + 1)
    gates = _gates(rng, dtype, units)
    c_prev, c_now, gh, gc = (_row(rng, dtype, units) for _ in range(4))
    dr, gc_row = np.empty(4 * units, dtype), gc.copy()
    k.lstm_grad_row(gates, c_prev, c_now, gh, gc_row, dr)
    expected_dz, expected_gc = _grad_reference(gates, c_prev, c_now, gh, gc)
    tol = TOLERANCE[dtype] * 10
    np.testing.assert_allclose(dr, expected_dz, rtol=tol, atol=tol)
    np.testing.assert_allclose(gc_row, expected_gc, rtol=tol, atol=tol)
    assert dr.dtype == gc_row.dtype == np.dtype(dtype)


@pytest.mark.parametrize("act, ract", [("relu", "hard_sigmoid"), ("tanh", "sigmoid"), ("linear", "sigmoid")])
def test_lstm_grad_row_general_matches_numpy(act, ract):
    rng = np.random.default_rng(11)
    units = 23
    gates = _gates(rng, "float64", units, act, ract)
    c_prev, c_now, gh, gc = (_row(rng, "float64", units) for _ in range(4))
    dr, gc_row, ac, da = np.empty(4 * units), gc.copy(), np.empty(units), np.empty(units)
    k.lstm_grad_row_general(gates, c_prev, c_now, gh, gc_row, dr, k.ACTIVATIONS[act], k.ACTIVATIONS[ract], ac, da)
    expected_dz, expected_gc = _grad_reference(gates, c_prev, c_now, gh, gc, act, ract)
    np.testing.assert_allclose(dr, expected_dz, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gc_row, expected_gc, rtol=1e-12, atol=1e-12)


def _lstm_inputs(dtype, steps=9, batch=6, units=5, seed=0):
    rng = np.random.default_rng(seed)
    xp = rng.standard_normal((steps, batch, 4 * units)).astype(dtype)
    rk = (rng.standard_normal((units, 4 * units)) * 0.4).astype(dtype)
    h0, c0 = (rng.standard_normal((batch, units)).astype(dtype) for _ in range(2))
    mask = (rng.random((steps, batch)) > 0.3).astype(np.uint8)
    rmask = (rng.random((batch, units)) > 0.4).astype(dtype) * 2
    return xp, rk, h0, c0, mask, rmask


@pytest.mark.parametrize("masks", [False, True])
@pytest.mark.parametrize("steps", [1, 8, 9])
def test_lstm_forward_inference_buffers_give_the_same_states(masks, steps):
    """Gates as one (1, B, 4U) scratch and two state slots: the same last states, bit for bit,
    whichever slot the last step lands in; chunks of rows run independently."""
    xp, rk, h0, c0, mask, rmask = _lstm_inputs("float32", steps=steps)
    T, B, G = xp.shape
    U = G // 4

    def run(state_slots, gate_steps):
        hs, cs = np.empty((state_slots, B, U), np.float32), np.empty((state_slots, B, U), np.float32)
        hs[0], cs[0] = h0, c0
        gates, hd = np.empty((gate_steps, B, G), np.float32), np.empty((B, U), np.float32)
        for b0, b1 in ((0, 2), (2, B)):
            k.lstm_forward(xp, rk, mask, masks, rmask, masks, 1, 2, b0, b1, hs, cs, gates, hd)
        last = T if state_slots == T + 1 else T % 2
        return hs[last], cs[last]

    h_full, c_full = run(T + 1, T)
    h_short, c_short = run(2, 1)
    np.testing.assert_array_equal(h_short, h_full)
    np.testing.assert_array_equal(c_short, c_full)


def test_lstm_op_inference_matches_training_and_keeps_no_gates():
    xp, rk, h0, c0, mask, rmask = _lstm_inputs("float32", steps=12, batch=4, units=6, seed=2)
    for sequences in (False, True):
        trained, train_op = rops.recurrence("lstm", Tensor(xp, requires_grad=True), h0, c0, rk, mask=mask.astype(bool),
                                            recurrent_mask=rmask, sequences=sequences, with_cell=True)
        with no_grad():
            inferred, infer_op = rops.recurrence("lstm", Tensor(xp, requires_grad=True), h0, c0, rk,
                                                 mask=mask.astype(bool), recurrent_mask=rmask, sequences=sequences,
                                                 with_cell=True)
        np.testing.assert_array_equal(inferred.data, trained.data)
        for a, b in zip(infer_op.final_states(), train_op.final_states()):
            np.testing.assert_array_equal(a, b)
        assert infer_op.inference and not train_op.inference
        assert infer_op.gates.shape[0] == 1 and infer_op.hs.shape[0] == (13 if sequences else 2)
    with pytest.raises(RuntimeError, match="lstm recurrence: run for inference"):
        infer_op.backward(np.ones(inferred.shape, np.float32))


@numba.njit
def _pow2_all(ks, out):
    for i in range(ks.size):
        out[i] = k._pow2(ks[i])


def test_pow2_is_exact_over_the_normal_exponents():
    ks = np.arange(-126, 128, dtype=np.int32)
    out = np.empty(ks.size, np.float32)
    _pow2_all(ks, out)
    np.testing.assert_array_equal(out, np.ldexp(np.float32(1), ks).astype(np.float32))


def test_gru_reset_before_zeroes_the_gates_of_carried_over_steps():
    """Reset before, the saved ``r * h`` of every step enters the recurrent kernel's gradient as
    a product: a carried-over step's row must hold zeros, not what the buffer held before."""
    rng = np.random.default_rng(4)
    T, B, U = 4, 3, 2
    G = 3 * U
    xp = rng.standard_normal((T, B, G)).astype(np.float32)
    rk = rng.standard_normal((U, G)).astype(np.float32)
    mask = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 1]], np.uint8)
    hs = np.zeros((T + 1, B, U), np.float32)
    gates = np.full((T, B, 4 * U), np.nan, np.float32)
    scratch = [np.empty((B, G), np.float32), np.empty((B, U), np.float32), np.empty((B, U), np.float32)]
    k.gru_forward(xp, rk, np.zeros(G, np.float32), False, mask, True, np.ones((1, 1), np.float32), False, 1, 2, 0, B,
                  hs, gates, *scratch)
    assert np.isfinite(gates).all()
    assert not gates[mask == 0].any()
