"""The convolutional LSTM's gate kernels (`kerasette.backend.kernels.conv_recurrent`) against
plain numpy, for every activation code, with and without a mask, in float32 and float64, on
whole arrays and on row chunks; and the op split over the threads against the op in one piece."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend.parallel import parallel_settings

CODES = {0: "linear", 1: "tanh", 2: "sigmoid", 3: "hard_sigmoid", 4: "relu"}


def _act(code, x):
    if code == 1:
        return np.tanh(x)
    if code == 2:
        return 1 / (1 + np.exp(-x))
    if code == 3:
        return np.clip(x / 6 + 0.5, 0, 1)
    if code == 4:
        return np.maximum(x, 0)
    return x


def _slope(code, y):
    """The derivative where the activation's output is ``y``."""
    if code == 1:
        return 1 - y * y
    if code == 2:
        return y * (1 - y)
    if code == 3:
        return ((y > 0) & (y < 1)) / 6
    if code == 4:
        return (y > 0).astype(y.dtype)
    return np.ones_like(y)


def _forward_reference(z, xp, c_prev, h_prev, keep, act, ract):
    f = c_prev.shape[1]
    z = z + xp
    gates = np.concatenate([_act(ract, z[:, :2 * f]), _act(act, z[:, 2 * f:3 * f]), _act(ract, z[:, 3 * f:])], 1)
    i, fg, g, o = np.split(gates, 4, axis=1)
    c = fg * c_prev + i * g
    h = o * _act(act, c)
    k = keep[:, None]
    return gates, np.where(k, c, c_prev), np.where(k, h, h_prev)


def _backward_reference(gates, c_prev, dh, dc, keep, act, ract):
    i, fg, g, o = np.split(gates, 4, axis=1)
    tc = _act(act, fg * c_prev + i * g)
    d_c = dc + dh * o * _slope(act, tc)
    dz = np.concatenate([d_c * g * _slope(ract, i), d_c * c_prev * _slope(ract, fg), d_c * i * _slope(act, g),
                         dh * tc * _slope(ract, o)], axis=1)
    k = keep[:, None]
    return np.where(k, dz, 0), np.where(k, d_c * fg, dc), np.where(k, 0, dh)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("act,ract", [(1, 2), (4, 3), (0, 1), (2, 0), (3, 4)])
def test_the_gate_kernels_match_numpy(act, ract, masked, dtype):
    from kerasette.backend.kernels import conv_recurrent as k

    rng = np.random.default_rng(act * 10 + ract)
    rows, f = 23, 5
    z, xp = (rng.standard_normal((rows, 4 * f)).astype(dtype) for _ in range(2))
    c_prev, h_prev, dh, dc = (rng.standard_normal((rows, f)).astype(dtype) for _ in range(4))
    keep = rng.random(rows) < 0.6 if masked else np.ones(rows, bool)
    gates_want, c_want, h_want = _forward_reference(z, xp, c_prev, h_prev, keep, act, ract)
    c_out, h_out = np.full((rows, f), np.nan, dtype), np.full((rows, f), np.nan, dtype)
    z_run = z.copy()
    for r0, r1 in ((0, 7), (7, 20), (20, rows)):  # in chunks, as the thread pool runs them
        k.gates_forward(z_run, xp, c_prev, h_prev, keep if masked else np.ones(1, bool), masked, act, ract, c_out,
                        h_out, r0, r1)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(z_run, gates_want, **tol)
    np.testing.assert_allclose(c_out, c_want, **tol)
    np.testing.assert_allclose(h_out, h_want, **tol)

    dz_want, dc_want, dh_want = _backward_reference(gates_want, c_prev, dh, dc, keep, act, ract)
    dz, dh_run, dc_run = np.full((rows, 4 * f), np.nan, dtype), dh.copy(), dc.copy()
    for r0, r1 in ((0, 11), (11, rows)):
        k.gates_backward(z_run, c_prev, dh_run, dc_run, keep if masked else np.ones(1, bool), masked, act, ract, dz,
                         r0, r1)
    np.testing.assert_allclose(dz, dz_want, **tol)
    np.testing.assert_allclose(dc_run, dc_want, **tol)
    np.testing.assert_allclose(dh_run, dh_want, **tol)


@pytest.mark.parametrize("masked", [False, True])
def test_the_op_split_over_the_threads_equals_the_op_in_one_piece(masked):
    from kerasette.backend.ops.conv_recurrent import conv_lstm_recurrence
    from kerasette.backend.tensor import Variable

    rng = np.random.default_rng(3)
    xp = rng.standard_normal((3, 4, 5, 6, 8)).astype("float32")
    h0, c0 = (rng.standard_normal((4, 5, 6, 2)).astype("float32") for _ in range(2))
    rk = (0.3 * rng.standard_normal((3, 3, 2, 8))).astype("float32")
    mask = rng.random((3, 4)) < 0.6 if masked else None
    seed = rng.standard_normal((4, 4, 5, 6, 2)).astype("float32")

    def run():
        tensors = [Variable(a) for a in (xp, h0, c0, rk)]
        out = conv_lstm_recurrence(*tensors, mask=mask, with_carry=True)
        out.backward(seed)
        return [out.data] + [t.grad for t in tensors]

    with parallel_settings(memory_bound_min=10**12):
        whole = run()
    with parallel_settings(memory_bound_min=0):
        split = run()
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
