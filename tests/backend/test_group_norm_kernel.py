"""The group normalization kernels (`kerasette.backend.kernels.group_norm`) and the op's
channels-last path against plain numpy, in float32 and float64, serial and split over threads."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.kernels import group_norm as kernels
from kerasette.backend.ops.sample_normalization import group_normalization
from kerasette.backend.parallel import parallel_settings
from kerasette.backend.tensor import Tensor


def reference(x, gamma, beta, groups, epsilon, grad):
    """Forward output, statistics and gradients of group normalization of (batch, positions,
    channels), in float64 numpy."""
    x, grad = x.astype(np.float64), grad.astype(np.float64)
    b, s, c = x.shape
    xg = x.reshape(b, s, groups, c // groups)
    mean = xg.mean(axis=(1, 3), keepdims=True)
    var = ((xg - mean) ** 2).mean(axis=(1, 3), keepdims=True)
    inv = 1 / np.sqrt(var + epsilon)
    xhat = ((xg - mean) * inv).reshape(x.shape)
    y = xhat * gamma + beta
    d = (grad * gamma).reshape(xg.shape)
    xh = xhat.reshape(xg.shape)
    dx = inv * (d - d.mean(axis=(1, 3), keepdims=True) - xh * (d * xh).mean(axis=(1, 3), keepdims=True))
    return (y, mean.reshape(b, groups), inv.reshape(b, groups), dx.reshape(x.shape),
            (grad * xhat).sum(axis=(0, 1)), grad.sum(axis=(0, 1)))


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("shape, groups", [((3, 10, 8), 4), ((2, 1, 6), 3), ((4, 7, 5), 1), ((2, 9, 4), 4)])
def test_kernels_match_numpy(dtype, tol, shape, groups):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    gamma, beta = rng.uniform(0.5, 1.5, shape[2]).astype(dtype), rng.standard_normal(shape[2]).astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    y_ref, mean_ref, inv_ref, dx_ref, dgamma_ref, dbeta_ref = reference(x, gamma, beta, groups, 1e-3, grad)
    out, mean, inv = np.full_like(x, np.nan), np.full((shape[0], groups), np.nan), np.full((shape[0], groups), np.nan)
    kernels.forward(x, gamma, beta, groups, 1e-3, out, mean, inv, 0, shape[0])
    np.testing.assert_allclose(out, y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-12)  # float64 accumulation
    np.testing.assert_allclose(inv, inv_ref, rtol=1e-12)
    dx, dgamma, dbeta = np.full_like(x, np.nan), np.full(shape[::2], np.nan), np.full(shape[::2], np.nan)
    kernels.backward(grad, x, gamma, mean, inv, groups, dx, dgamma, dbeta, 0, shape[0])
    np.testing.assert_allclose(dx, dx_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(dgamma.sum(axis=0), dgamma_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dbeta.sum(axis=0), dbeta_ref, rtol=1e-10, atol=1e-10)


def test_kernels_touch_only_their_samples():
    x = np.random.default_rng(1).standard_normal((4, 3, 4))
    out = np.full_like(x, np.nan)
    mean, inv = np.full((4, 2), np.nan), np.full((4, 2), np.nan)
    kernels.forward(x, np.ones(4), np.zeros(4), 2, 1e-3, out, mean, inv, 1, 3)
    assert np.isnan(out[[0, 3]]).all() and not np.isnan(out[1:3]).any()
    assert np.isnan(mean[[0, 3]]).all() and not np.isnan(mean[1:3]).any()


def test_float32_stays_accurate_for_a_large_mean():
    """Statistics in float64 and the output from ``x - mean``: no cancellation when the mean
    dwarfs the spread."""
    rng = np.random.default_rng(2)
    x = (1000 + rng.standard_normal((2, 50, 4))).astype(np.float32)
    y = group_normalization(x, None, None, 2).data
    expected = reference(x, np.ones(4), np.zeros(4), 2, 1e-3, x)[0]
    np.testing.assert_allclose(y, expected, atol=2e-4)


def test_an_outlier_first_value_does_not_spoil_the_variance():
    """The statistics pass shifts each channel by its first value: an outlier there must not
    cost precision (the shifted sums are float64)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 400, 4)).astype(np.float32)
    x[:, 0, :] = 5000.0
    y = group_normalization(x, None, None, 2).data
    np.testing.assert_allclose(y, reference(x, np.ones(4), np.zeros(4), 2, 1e-3, x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_op_is_the_same_split_over_threads(threads):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 5, 8)).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 1.5, 8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    previous = parallel.num_threads()
    try:
        parallel.set_num_threads(threads)
        with parallel_settings(memory_bound_min=0):
            xt, gt, bt = (Tensor(a, requires_grad=True) for a in (x, gamma, beta))
            y = group_normalization(xt, gt, bt, 4)
            y.backward(dy)
    finally:
        parallel.set_num_threads(previous)
    ref = reference(x.reshape(6, 25, 8), gamma, beta, 4, 1e-3, dy.reshape(6, 25, 8))
    np.testing.assert_allclose(y.data.reshape(6, 25, 8), ref[0], rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(xt.grad.reshape(6, 25, 8), ref[3], rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(gt.grad, ref[4], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bt.grad, ref[5], rtol=1e-5, atol=1e-5)
    assert y.dtype == xt.grad.dtype == gt.grad.dtype == np.float32
