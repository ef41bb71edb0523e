"""Batch normalization's ReLU backward pass on rows: the mask computed again from the input and
the forward map's numbers (the bits of the forward output's sign), and the input gradient written
over a scratch output gradient; against slow references and the forward kernel's own output."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend.engine import normalization as bn
from kerasette.backend.kernels import normalization as kernels
from tests.backend.test_normalization_kernels import DTYPES, _tol, forward_map


def relu_sums_reference(g, y, x, x_center):
    """Per channel (last axis): sum(m) and sum(m * (x - xc)), m = g where y > 0 else 0, one by one."""
    chans = g.shape[-1]
    s1, s2 = np.zeros(chans), np.zeros(chans)
    for c in range(chans):
        for gv, yv, xv in zip(g[..., c].ravel(), y[..., c].ravel(), x[..., c].ravel()):
            m = float(gv) if yv > 0 else 0.0
            s1[c] += m
            s2[c] += m * (float(xv) - float(x_center[c]))
    return s1, s2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 31, 33, 70])  # below, at and past the block
def test_channel_sums_rows_relu_kernel(dtype, rows):
    rng = np.random.default_rng(rows)
    g, x = (rng.standard_normal((rows, 6)).astype(dtype) for _ in range(2))
    scale, shift = rng.uniform(0.5, 2, 6).astype(dtype), rng.standard_normal(6).astype(dtype)
    shift[0] = -x[0, 0] * scale[0]  # the map at exactly 0 (or its rounding) somewhere
    xc = rng.standard_normal(6).astype(dtype)
    s1, s2 = np.full(6, 0.5), np.full(6, -0.25)  # added to
    kernels.channel_sums_rows_relu(g, x, scale, shift, xc, dtype(0), s1, s2, np.empty(6, dtype), np.empty(6, dtype))
    r1, r2 = relu_sums_reference(g, forward_map(x, scale, shift), x, xc)
    np.testing.assert_allclose(s1, r1 + 0.5, **_tol(dtype))
    np.testing.assert_allclose(s2, r2 - 0.25, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_mask_from_the_input_is_the_forward_outputs_sign(dtype):
    """The backward kernels' mask, ``x * scale + shift > 0`` computed again, is exactly where the
    forward kernel's output is positive, on values whose map lands at and around 0 (with its
    rounding): the forward kernel's output is the reference, not a formula."""
    rng = np.random.default_rng(5)
    rows, chans = 257, 64
    scale = rng.uniform(0.1, 3, chans).astype(dtype)
    shift = rng.standard_normal(chans).astype(dtype)
    x = (-shift / scale).astype(dtype) + rng.standard_normal((rows, chans)).astype(dtype) * dtype(1e-6)
    x[::7] = rng.standard_normal(x[::7].shape).astype(dtype)
    y = np.empty_like(x)
    kernels.channel_affine_rows(x, scale, shift, dtype(0), y)
    assert (y == 0).sum() > 1000 and (y > 0).sum() > 1000
    ones, zeros = np.ones(chans, dtype), np.zeros(chans, dtype)
    g = np.ones_like(x)
    out = np.full_like(x, np.nan)
    kernels.channel_affine2_rows_relu(g, x, scale, shift, ones, zeros, zeros, dtype(0), out)
    np.testing.assert_array_equal(out, (y > 0).astype(dtype))
    s1, s2 = np.zeros(chans), np.zeros(chans)
    kernels.channel_sums_rows_relu(g, x, scale, shift, zeros, dtype(0), s1, s2, np.empty(chans, dtype),
                                   np.empty(chans, dtype))
    np.testing.assert_array_equal(s1, (y > 0).sum(axis=0))


def test_relu_kernels_mask_an_infinite_gradient_to_zero():
    """Where the ReLU was off, the gradient is 0 even when it is infinite or NaN (a select, not a
    product with the mask, which would give NaN)."""
    g = np.array([[np.inf, 1.0], [np.nan, 2.0]], np.float32)
    x = np.array([[0.0, 1.0], [-1.0, 1.0]], np.float32)  # the map is x itself: off, on / off, on
    zeros, one = np.zeros(2, np.float32), np.ones(2, np.float32)
    s1, s2 = np.zeros(2), np.zeros(2)
    kernels.channel_sums_rows_relu(g, x, one, zeros, zeros, np.float32(0), s1, s2, np.empty(2, np.float32),
                                   np.empty(2, np.float32))
    assert s1.tolist() == [0.0, 3.0] and s2.tolist() == [0.0, 3.0]
    out = np.full_like(g, np.nan)
    kernels.channel_affine2_rows_relu(g, x, one, zeros, one, one, zeros, np.float32(0), out)
    assert out.tolist() == [[0.0, 2.0], [-1.0, 3.0]]
    kernels.channel_affine2_rows_relu_inplace(g, x, one, zeros, one, one, zeros, np.float32(0))
    assert g.tolist() == [[0.0, 2.0], [-1.0, 3.0]]


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape, axes", [((4, 6, 5, 16), (0, 1, 2)), ((5, 24), (0,)), ((3, 8, 4, 5), (0, 2, 3))])
def test_batch_norm_backward_writes_over_a_scratch_gradient(relu, shape, axes, monkeypatch):
    """When the backward walk says no one else reads the output gradient (``grad_is_scratch``),
    the input gradient is written over it (rows; planes return a new array): the same bits as
    into a new array, split in pieces or not."""
    from kerasette.backend.ops.normalization import BatchNorm

    rng = np.random.default_rng(31)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    kept = [shape[a] for a in range(len(shape)) if a not in axes]
    gamma, beta = rng.uniform(0.5, 2, kept).astype(np.float32), rng.standard_normal(kept).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    monkeypatch.setattr(bn, "PASS_MIN", 0)
    monkeypatch.setattr(bn, "piece_work", lambda total: 64)
    results = []
    for scratch in (False, True):
        op = BatchNorm(axes, 1e-3, relu=relu)
        op.needs_grad = (True, True, True)
        op.forward(x, gamma, beta)
        op.grad_is_scratch = scratch
        grad = dy.copy()
        dx, dgamma, dbeta = op.backward(grad)
        rows = len(axes) == len(shape) - 1 and axes[-1] == len(shape) - 2
        assert np.shares_memory(dx, grad) == (scratch and rows)
        results.append((dx, dgamma, dbeta))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
