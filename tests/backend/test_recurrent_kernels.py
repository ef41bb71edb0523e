"""The recurrence kernels' building blocks against numpy: the float32 exponential and the row
activations (float32 within a few ulps, float64 exact), and the embedding's scatter-add and gradient. The
whole recurrences are compared with numpy step loops in ``recurrent_op_cases.py``."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.kernels import recurrent as k
from kerasette.backend.ops import recurrent as rops

EXACT = {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "hard_sigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1),
         "relu": lambda v: np.maximum(v, 0), "linear": lambda v: v}


@numba.njit
def _exp32_all(x, out):
    for i in range(x.size):
        out[i] = k._exp32(x[i])


def _values(dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-12, 12, 4000), rng.standard_normal(4000) * 1e-3,
                        [0.0, -0.0, 30.0, -30.0, 89.0, -89.0, 200.0, -200.0]])
    return x.astype(dtype)


def test_exp32_is_within_two_ulps_over_float32s_range():
    x = np.linspace(-87, 88, 200001).astype(np.float32)
    out = np.empty_like(x)
    _exp32_all(x, out)
    exact = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - exact) / exact) < 2.5e-7
    big = np.array([100.0, -100.0], np.float32)
    _exp32_all(big, out[:2])
    assert np.isfinite(out[:2]).all() and out[0] > 1e38 and 0 <= out[1] < 1e-37  # clamped, never inf


@pytest.mark.parametrize("dtype, tolerance", [("float32", 3e-7), ("float64", 1e-15)])
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "hard_sigmoid", "relu", "linear"])
def test_activate_row_matches_numpy(name, dtype, tolerance):
    x = _values(dtype)
    exact = EXACT[name](x.astype(np.float64))
    rows = np.stack([x, x[::-1]]).copy()
    k.activate_row(k.ACTIVATIONS[name], rows, 1, 3, x.size - 2)  # a part of one row only
    np.testing.assert_array_equal(rows[0], x)
    np.testing.assert_array_equal(rows[1, :3], x[::-1][:3])
    np.testing.assert_allclose(rows[1, 3:-2], exact[::-1][3:-2], rtol=0, atol=tolerance)
    assert rows.dtype == np.dtype(dtype)


def test_scatter_add_rows_adds_repeated_indices():
    """Repeated indices add up, in order (the same bits as ``np.add.at``); only the columns
    given are written."""
    rng = np.random.default_rng(1)
    indices = np.array([3, 0, 3, 3, 1], np.int64)
    rows = rng.standard_normal((5, 4))
    out = np.zeros((6, 4))
    k.scatter_add_rows(indices, rows, 1, 3, out)  # columns 1 and 2 only
    expected = np.zeros((6, 4))
    np.add.at(expected, indices, rows)
    np.testing.assert_array_equal(out[:, 1:3], expected[:, 1:3])
    assert not out[:, [0, 3]].any()


def test_embedding_gradient_is_the_dense_sum_of_its_rows():
    """The embedding op's gradient: every row of the table, zeros where no index points (the
    zeros written by the threads), repeated indices summed in order, with either thread count."""
    rng = np.random.default_rng(2)
    V, D = 3000, 8
    indices = rng.integers(0, V // 2, (40, 30))
    grad = rng.standard_normal((40, 30, D)).astype(np.float32)
    expected = np.zeros((V, D), np.float32)
    np.add.at(expected, indices.reshape(-1), grad.reshape(-1, D))
    previous = parallel.num_threads()
    try:
        for threads in (1, 2):
            parallel.set_num_threads(threads)
            with parallel.parallel_settings(memory_bound_min=1):
                op = rops.Embedding(indices)
                op.forward(np.zeros((V, D), np.float32))
                (got,) = op.backward(grad)
            np.testing.assert_array_equal(got, expected)
    finally:
        parallel.set_num_threads(previous)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "hard_sigmoid", "relu", "linear"])
def test_derivative_row_from_the_activation_output(name):
    fn = EXACT[name]
    x = np.linspace(-4, 4, 101)
    x = x[np.abs(np.abs(x) - 3) > 1e-3]  # away from hard sigmoid's corners
    y = fn(x)
    eps = 1e-6
    numeric = (fn(x + eps) - fn(x - eps)) / (2 * eps)
    out = np.empty_like(y)
    k.derivative_row(k.ACTIVATIONS[name], y, out)
    keep = np.abs(x) > 1e-3  # relu's kink at 0
    np.testing.assert_allclose(out[keep], numeric[keep], rtol=1e-6, atol=1e-8)
