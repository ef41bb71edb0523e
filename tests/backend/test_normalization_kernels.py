"""The batch normalization and global average pooling kernels, their threaded passes and the ops
built on them, against slow plain numpy (float64) references."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.layers as L
from kerasette.backend import autograd, backprop, ops, parallel
from kerasette.backend.engine import normalization as bn
from kerasette.backend.kernels import normalization as kernels
from kerasette.backend.ops.normalization import update_moving_statistics
from kerasette.backend.ops.pooling import global_average_pool2d
from kerasette.backend.parallel import parallel_settings
from kerasette.backend.tensor import Tensor, Variable, enable_grad

DTYPES = [np.float32, np.float64]


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


# -- slow references ----------------------------------------------------------------------------------
def sums_reference(a, b, a_center, b_center, channel_axis):
    """Per channel: sum(a - ac) and sum((a - ac) * (b - bc)), each element taken one by one."""
    a, b = np.moveaxis(a.astype(np.float64), channel_axis, -1), np.moveaxis(b.astype(np.float64), channel_axis, -1)
    chans = a.shape[-1]
    s1, s2 = np.zeros(chans), np.zeros(chans)
    for c in range(chans):
        for u, v in zip(a[..., c].ravel(), b[..., c].ravel()):
            s1[c] += u - a_center[c]
            s2[c] += (u - a_center[c]) * (v - b_center[c])
    return s1, s2


def batch_norm_reference(x, gamma, beta, channel_axis, epsilon):
    """Forward and backward of batch normalization from the definitions, in float64."""
    axes = tuple(a for a in range(x.ndim) if a != channel_axis)
    shape = [1] * x.ndim
    shape[channel_axis] = -1
    x = x.astype(np.float64)
    mean = x.mean(axis=axes)
    var = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + epsilon)
    return xhat * gamma.reshape(shape) + beta.reshape(shape), mean, var, xhat


def batch_norm_grads_reference(x, gamma, dy, channel_axis, epsilon):
    axes = tuple(a for a in range(x.ndim) if a != channel_axis)
    shape = [1] * x.ndim
    shape[channel_axis] = -1
    _, _, var, xhat = batch_norm_reference(x, gamma, np.zeros_like(gamma), channel_axis, epsilon)
    dy = dy.astype(np.float64)
    n = x.size // x.shape[channel_axis]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    dx = gamma.reshape(shape) / np.sqrt(var.reshape(shape) + epsilon) * (
        dy - dbeta.reshape(shape) / n - xhat * dgamma.reshape(shape) / n)
    return dx, dgamma, dbeta


# -- kernels ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 3, 37, 70])  # below, at and past the 4-row step and the block
def test_channel_sums_rows_kernel(dtype, rows):
    rng = np.random.default_rng(rows)
    a, b = rng.standard_normal((rows, 5)).astype(dtype), rng.standard_normal((rows, 5)).astype(dtype)
    ac, bc = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)
    s1, s2 = np.full(5, 0.5), np.full(5, -0.25)  # added to
    kernels.channel_sums_rows(a, b, ac, bc, s1, s2, np.empty(5, dtype), np.empty(5, dtype))
    r1, r2 = sums_reference(a, b, ac, bc, 1)
    np.testing.assert_allclose(s1, r1 + 0.5, **_tol(dtype))
    np.testing.assert_allclose(s2, r2 - 0.25, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 3, 37, 70])
@pytest.mark.parametrize("width", [5, 16, 37, 64, 80])
def test_channel_stats_rows_kernel_is_the_sums_of_an_array_with_itself(dtype, rows, width):
    """The statistics' kernel against the reference, and the same bits as `channel_sums_rows`
    given the array twice (at widths around the vector lanes: its vectors and the channels left
    over)."""
    rng = np.random.default_rng(rows)
    a = (rng.standard_normal((rows, width)) * 3 + 7).astype(dtype)
    center = a[0].copy()
    s1, s2 = np.full(width, 0.5), np.full(width, -0.25)
    kernels.channel_stats_rows(a, center, s1, s2, np.empty(width, dtype), np.empty(width, dtype))
    r1, r2 = sums_reference(a, a, center, center, 1)
    np.testing.assert_allclose(s1, r1 + 0.5, **_tol(dtype))
    np.testing.assert_allclose(s2, r2 - 0.25, **_tol(dtype))
    t1, t2 = np.full(width, 0.5), np.full(width, -0.25)
    kernels.channel_sums_rows(a, a, center, center, t1, t2, np.empty(width, dtype), np.empty(width, dtype))
    np.testing.assert_array_equal(s1, t1)
    np.testing.assert_array_equal(s2, t2)


def _sums_plain(a, b, a_center, b_center, relu=None):
    """The rows sums as the plain loop computes them, numpy over the channels (each channel's
    arithmetic in the input's dtype, in the loop's order: blocks of SUM_BLOCK rows, four rows a
    trip, then the block's last rows; the blocks' sums added in float64): the bits the kernels
    must give. ``relu``: ``(scale, shift)``, the gradient ``a`` masked where ``b * scale +
    shift`` is not positive (`channel_sums_rows_relu`, ``a_center`` zeros)."""
    rows, width = a.shape
    s1, s2 = np.zeros(width), np.zeros(width)

    def term(r):
        if relu is None:
            d = a[r] - a_center
        else:
            d = np.where(b[r] * relu[0] + relu[1] > 0, a[r], a.dtype.type(0))
        return d, d * (b[r] - b_center)

    for r0 in range(0, rows, kernels.SUM_BLOCK):
        r1 = min(r0 + kernels.SUM_BLOCK, rows)
        p1, p2 = np.zeros(width, a.dtype), np.zeros(width, a.dtype)
        r = r0
        while r + 4 <= r1:
            (d0, e0), (d1, e1), (d2, e2), (d3, e3) = (term(r + i) for i in range(4))
            p1 = p1 + ((d0 + d1) + (d2 + d3))
            p2 = p2 + ((e0 + e1) + (e2 + e3))
            r += 4
        while r < r1:
            d, e = term(r)
            p1, p2 = p1 + d, p2 + e
            r += 1
        s1 += p1
        s2 += p2
    return s1, s2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width", [5, 16, 37, 64, 80])
@pytest.mark.parametrize("relu", [False, True])
def test_channel_sums_rows_kernels_are_the_plain_loop(dtype, width, relu):
    """`channel_sums_rows` and `channel_sums_rows_relu` (vectors of channels, then the channels
    left over) give the plain loop's bits at widths around this machine's vector lanes, NaN in
    the mask's map counting as off."""
    rng = np.random.default_rng(width + relu)
    rows = 70
    a, b = rng.standard_normal((rows, width)).astype(dtype), (rng.standard_normal((rows, width)) + 2).astype(dtype)
    b[5, 0] = np.nan if relu else b[5, 0]
    b_center = b[1].copy() if not relu else rng.standard_normal(width).astype(dtype)
    b_center[0] = 0
    s1, s2 = np.zeros(width), np.zeros(width)
    p = np.empty(width, dtype), np.empty(width, dtype)
    if relu:
        scale, shift = rng.uniform(0.5, 1.5, width).astype(dtype), rng.standard_normal(width).astype(dtype)
        kernels.channel_sums_rows_relu(a, b, scale, shift, b_center, dtype(0), s1, s2, *p)
        want = _sums_plain(a, b, np.zeros(width, dtype), b_center, (scale, shift))
    else:
        a_center = a[0].copy()
        kernels.channel_sums_rows(a, b, a_center, b_center, s1, s2, *p)
        want = _sums_plain(a, b, a_center, b_center)
    np.testing.assert_array_equal(s1, want[0])
    np.testing.assert_array_equal(s2, want[1])


def test_channel_sums_rows_keeps_nan_and_inf():
    """A NaN or an infinity in the input reaches the statistics."""
    a = np.ones((8, 2), np.float32)
    a[3, 0], a[5, 1] = np.nan, -np.inf
    s1, s2 = np.zeros(2), np.zeros(2)
    zeros = np.zeros(2, np.float32)
    kernels.channel_sums_rows(a, a, zeros, zeros, s1, s2, np.empty(2, np.float32), np.empty(2, np.float32))
    assert np.isnan(s1[0]) and s1[1] == -np.inf and s2[1] == np.inf
    s1, s2 = np.zeros(2), np.zeros(2)
    kernels.channel_stats_rows(a, zeros, s1, s2, np.empty(2, np.float32), np.empty(2, np.float32))
    assert np.isnan(s1[0]) and s1[1] == -np.inf and s2[1] == np.inf


def forward_map(x, scale, shift):
    """``x * scale + shift`` in ``x``'s dtype, one multiply and one add rounded each (the forward
    kernel's operations)."""
    return (x * scale).astype(x.dtype) + shift


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("inner", [1, 15, 16, 17, 600])  # tails of the 16 lanes; past a block
def test_channel_sums_planes_kernel(dtype, inner):
    rng = np.random.default_rng(inner)
    a, b = rng.standard_normal((2, 3, inner)).astype(dtype), rng.standard_normal((2, 3, inner)).astype(dtype)
    ac, bc = rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)
    s1, s2 = np.zeros(3), np.zeros(3)
    lanes = kernels.LANES
    kernels.channel_sums_planes(a, b, ac, bc, s1, s2, np.empty(lanes, dtype), np.empty(lanes, dtype))
    r1, r2 = sums_reference(a, b, ac, bc, 1)
    np.testing.assert_allclose(s1, r1, **_tol(dtype))
    np.testing.assert_allclose(s2, r2, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_channel_affine_kernels(dtype):
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal((7, 4)).astype(dtype), rng.standard_normal((7, 4)).astype(dtype)
    a, b, c = (rng.standard_normal(4).astype(dtype) for _ in range(3))
    nan, zero = dtype(np.nan), dtype(0)
    y = np.full_like(u, np.nan)
    kernels.channel_affine_rows(u, a, b, nan, y)
    np.testing.assert_allclose(y, u * a + b, **_tol(dtype))
    kernels.channel_affine_rows(u, a, b, zero, y)  # and a ReLU
    np.testing.assert_allclose(y, np.maximum(u * a + b, 0), **_tol(dtype))
    kernels.channel_affine2_rows(u, v, a, b, c, y)
    np.testing.assert_allclose(y, u * a + v * b + c, **_tol(dtype))
    scale, shift = rng.standard_normal(4).astype(dtype), rng.standard_normal(4).astype(dtype)  # a forward map
    m = forward_map(v, scale, shift)  # before its ReLU: u masked where it is not positive
    kernels.channel_affine2_rows_relu(u, v, scale, shift, a, b, c, zero, y)
    want = np.where(m > 0, u, 0) * a + v * b + c
    np.testing.assert_allclose(y, want, **_tol(dtype))
    w = u.copy()
    kernels.channel_affine2_rows_relu_inplace(w, v, scale, shift, a, b, c, zero)
    np.testing.assert_array_equal(w, y)
    kernels.channel_affine2_rows(u, v, a, b, c, y)
    w = u.copy()
    kernels.channel_affine2_rows_inplace(w, v, a, b, c)
    np.testing.assert_array_equal(w, y)
    u3, v3 = u.reshape(7, 4, 1).transpose(2, 1, 0).copy(), v.reshape(7, 4, 1).transpose(2, 1, 0).copy()  # (1, 4, 7)
    y3 = np.full_like(u3, np.nan)
    kernels.channel_affine_planes(u3, a, b, nan, y3)
    np.testing.assert_allclose(y3, u3 * a[:, None] + b[:, None], **_tol(dtype))
    kernels.channel_affine_planes(u3, a, b, zero, y3)
    np.testing.assert_allclose(y3, np.maximum(u3 * a[:, None] + b[:, None], 0), **_tol(dtype))
    kernels.channel_affine2_planes(u3, v3, a, b, c, y3)
    np.testing.assert_allclose(y3, u3 * a[:, None] + v3 * b[:, None] + c[:, None], **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_affine_backward_rows_kernel(dtype):
    rng = np.random.default_rng(4)
    g, x = rng.standard_normal((45, 6)).astype(dtype), rng.standard_normal((45, 6)).astype(dtype)
    scale = rng.standard_normal(6).astype(dtype)
    dx = np.full_like(g, np.nan)
    s1, s2 = np.zeros(6), np.zeros(6)
    kernels.affine_backward_rows(g, x, scale, dx, s1, s2, np.empty(6, dtype), np.empty(6, dtype))
    np.testing.assert_allclose(dx, g * scale, **_tol(dtype))
    r1, r2 = sums_reference(g, x, np.zeros(6), np.zeros(6), 1)
    np.testing.assert_allclose(s1, r1, **_tol(dtype))
    np.testing.assert_allclose(s2, r2, **_tol(dtype))


def _affine_backward_plain(g, x, scale, s1, s2):
    """`affine_backward_rows` as the plain loop over rows (blocks of SUM_BLOCK rows summed in
    the input's dtype, value by value in row order, each block's sums added to ``s1``, ``s2``):
    the bits the kernel must give."""
    dtype = g.dtype.type
    rows, width = g.shape
    s1, s2 = s1.copy(), s2.copy()
    for r0 in range(0, rows, kernels.SUM_BLOCK):
        p1, p2 = np.zeros(width, g.dtype), np.zeros(width, g.dtype)
        for r in range(r0, min(r0 + kernels.SUM_BLOCK, rows)):
            p1 = (p1 + g[r]).astype(g.dtype)
            p2 = (p2 + (g[r] * x[r]).astype(g.dtype)).astype(g.dtype)
        s1 += p1
        s2 += p2
    return (g * scale).astype(dtype), s1, s2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width", [5, 16, 37, 64, 80])
def test_affine_backward_rows_kernel_is_the_plain_loop(dtype, width):
    """The kernel's vector groups (two vectors, one, then the channels left over) give the plain
    loop's bits, at widths around this machine's vector lanes."""
    rng = np.random.default_rng(width)
    rows = 70  # two whole blocks and a short one
    g, x = rng.standard_normal((rows, width)).astype(dtype), rng.standard_normal((rows, width)).astype(dtype)
    scale = rng.standard_normal(width).astype(dtype)
    dx = np.full_like(g, np.nan)
    s1, s2 = np.full(width, 0.25), np.full(width, -0.5)  # added to
    kernels.affine_backward_rows(g, x, scale, dx, s1, s2, np.empty(width, dtype), np.empty(width, dtype))
    want_dx, w1, w2 = _affine_backward_plain(g, x, scale, np.full(width, 0.25), np.full(width, -0.5))
    np.testing.assert_array_equal(dx, want_dx)
    np.testing.assert_array_equal(s1, w1)
    np.testing.assert_array_equal(s2, w2)


def test_moving_update_kernel():
    mean, var = np.array([1.0, 2.0], "float32"), np.array([3.0, 4.0], "float32")
    update_moving_statistics(mean, var, np.array([5.0, -2.0]), np.array([1.0, 0.0]), 0.75)
    np.testing.assert_allclose(mean, [0.75 * 1 + 0.25 * 5, 0.75 * 2 - 0.25 * 2], rtol=1e-7)
    np.testing.assert_allclose(var, [0.75 * 3 + 0.25 * 1, 0.75 * 4], rtol=1e-7)


# -- the threaded passes and the ops ------------------------------------------------------------------
@pytest.mark.parametrize("threads_split", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, channel_axis", [((4, 5, 6, 8), 3), ((4, 8, 5, 6), 1), ((30, 7), 1)])
def test_batch_norm_op_forward_backward(threads_split, dtype, shape, channel_axis):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    chans = shape[channel_axis]
    gamma, beta = rng.uniform(0.5, 2, chans).astype(dtype), rng.standard_normal(chans).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    axes = tuple(a for a in range(len(shape)) if a != channel_axis)
    xt, gt, bt = Variable(x, dtype=dtype), Variable(gamma, dtype=dtype), Variable(beta, dtype=dtype)
    with parallel_settings(memory_bound_min=0 if threads_split else 10**9):
        y, mean, var = ops.batch_normalization(xt, gt, bt, axes, 1e-3)
        grads = backprop.grad(y, [xt, gt, bt], dy)
    ry, rmean, rvar, _ = batch_norm_reference(x, gamma, beta, channel_axis, 1e-3)
    tol = _tol(dtype)
    np.testing.assert_allclose(y.data, ry, **tol)
    np.testing.assert_allclose(mean, rmean, **tol)
    np.testing.assert_allclose(var, rvar, **tol)
    for got, want in zip(grads, batch_norm_grads_reference(x, gamma, dy, channel_axis, 1e-3)):
        np.testing.assert_allclose(got, want, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)


@pytest.mark.parametrize("threads_split", [False, True])
@pytest.mark.parametrize("shape, axes", [((4, 5, 6, 8), (0, 1, 2)), ((4, 8, 5, 6), (0, 2, 3)),
                                         ((4, 3, 5, 2), (1, 3))])  # rows, planes, numpy (kept axes apart)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_with_fused_relu_equals_batch_norm_then_relu(threads_split, shape, axes, training):
    """``relu=True`` gives the values and the gradients (input, gamma, beta) of a separate ReLU
    after the normalization, in training (batch statistics) and in inference (given ones)."""
    rng = np.random.default_rng(17)
    x = rng.standard_normal(shape) * 2 + 0.5
    kept = [shape[a] for a in range(len(shape)) if a not in axes]
    gamma, beta = rng.uniform(0.5, 2, kept), rng.standard_normal(kept)
    stats = () if training else (rng.standard_normal(kept), rng.uniform(0.5, 2, kept))
    dy = rng.standard_normal(shape)
    results = []
    for fused in (True, False):
        tensors = [Variable(t, dtype="float64") for t in (x, gamma, beta)]
        with parallel_settings(memory_bound_min=0 if threads_split else 10**9):
            y, _, _ = ops.batch_normalization(*tensors, axes, 1e-3, *stats, relu=fused)
            if not fused:
                y = ops.relu(y)
            results.append((y.data, backprop.grad(y, tensors, dy)))
    (y1, g1), (y0, g0) = results
    assert (y1 == 0).any() and (y1 > 0).any()
    np.testing.assert_allclose(y1, y0, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rows, chans, wide", [(12, 16, 4), (6, 16, 2), (5, 16, 1), (64, 1, 64), (40, 32, 2),
                                               (8, 64, 1), (8, 24, 1)])
def test_channel_view_widens_few_channels(rows, chans, wide):
    """Rows of fewer than 64 channels (a divisor of 64) are seen ``WIDE / C`` at a time, halved
    until the count divides the rows; per-channel numbers are tiled, sums folded."""
    view = bn.channel_view((rows, 1, chans), (0, 1))
    assert view.wide == wide and view.shape == (rows // wide, chans * wide) and view.channels == chans
    values = np.arange(chans, dtype=np.float64)
    np.testing.assert_array_equal(view.tile(values, np.float32), np.tile(values, wide).astype(np.float32))
    totals = np.zeros((1, 2, chans * wide))  # one piece's per-column sums, folded back per channel
    totals[0, 0] = np.tile(values, wide)
    s1, s2 = np.empty((2, chans))
    kernels.fold_totals(totals, chans * wide, chans, s1, s2)
    np.testing.assert_array_equal(s1, values * wide)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("pieces", [False, True])
@pytest.mark.parametrize("shape", [(4, 6, 5, 16), (3, 5, 7, 16), (2, 9, 4, 32), (2, 3, 5, 3)])
def test_batch_norm_op_on_wide_rows_and_pieces(relu, pieces, shape, monkeypatch):
    """Channels-last inputs whose rows are widened (16 and 32 channels; an odd row count, which
    is not) and cut into many pieces shared by the threads, with and without the fused ReLU,
    against the float64 reference."""
    rng = np.random.default_rng(23)
    x = rng.standard_normal(shape) * 2 + 1
    chans = shape[-1]
    gamma, beta = rng.uniform(0.5, 2, chans), rng.standard_normal(chans)
    dy = rng.standard_normal(shape)
    tensors = [Variable(t, dtype="float64") for t in (x, gamma, beta)]
    if pieces:
        monkeypatch.setattr(bn, "PASS_MIN", 0)
        monkeypatch.setattr(bn, "piece_work", lambda total: 64)  # one or two kernel rows a piece
    y, mean, var = ops.batch_normalization(*tensors, (0, 1, 2), 1e-3, relu=relu)
    grads = backprop.grad(y, tensors, dy)
    ry, rmean, rvar, _ = batch_norm_reference(x, gamma, beta, 3, 1e-3)
    mask = (ry > 0) if relu else np.ones(shape, bool)
    np.testing.assert_allclose(y.data, np.where(mask, ry, 0), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(mean, rmean, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(var, rvar, rtol=1e-11, atol=1e-11)
    for got, want in zip(grads, batch_norm_grads_reference(x, gamma, np.where(mask, dy, 0), 3, 1e-3)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_passes_give_the_same_bits_on_one_and_two_threads(monkeypatch, dtype):
    """Batch normalization's passes on wide rows cut into many pieces: the same bits whichever
    thread takes which piece (the reductions add each piece's sums in piece order)."""
    from kerasette.backend import parallel

    rng = np.random.default_rng(29)
    x = (rng.standard_normal((6, 10, 10, 16)) * 3 + 5).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    monkeypatch.setattr(bn, "PASS_MIN", 0)
    monkeypatch.setattr(bn, "piece_work", lambda total: 640)
    saved = parallel.num_threads()
    view = bn.channel_view(x.shape, (0, 1, 2))
    assert view.wide == 4 and len(view._pieces()) > 8
    results = []
    try:
        for count in (1, 2, 2):
            parallel.set_num_threads(count)
            xv, gv = view.of(x), view.of(g)
            scale = np.linspace(0.5, 1.5, 16)
            y = view.affine(xv, scale, -scale, relu=True)
            relu = view.tile(scale, dtype), view.tile(-scale, dtype)
            results.append([*view.statistics(xv), y, *view.relu_sums(gv, xv, *relu, scale),
                            view.affine2(gv, xv, scale, -scale, scale, relu=relu),
                            (lambda u: view.affine2(u, xv, scale, -scale, scale, relu=relu, out=u))(gv.copy()),
                            *view.affine_backward(gv, xv, scale)])
    finally:
        parallel.set_num_threads(saved)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_batch_norm_relu_is_one_planned_step_in_training_and_inference():
    """The planner runs ``BatchNormalization`` + ``Activation('relu')`` as one fused step, with the
    learning phase reaching it: a training call moves the statistics, an inference call does not,
    and both equal the layers run one by one."""
    import kerasette
    from kerasette.models.planner import Plan

    rng = np.random.default_rng(3)
    inp = L.Input((6, 6, 4))
    out = L.Activation("relu")(L.BatchNormalization(momentum=0.5)(inp))
    model = kerasette.models.Model(inp, out)
    plan = Plan([inp], [out])
    assert [s.fused is not None for s in plan.steps if s.layer is not None and s.alias_of is None] == [True]
    bn = model.layers[1]
    x = (rng.standard_normal((5, 6, 6, 4)) + 1).astype("float32")
    want_train = np.maximum(ops.batch_normalization(x, bn.gamma.data, bn.beta.data, (0, 1, 2), 1e-3)[0].data, 0)
    np.testing.assert_allclose(model(x, training=True).data, want_train, rtol=1e-5, atol=1e-6)
    moved = bn.moving_mean.data.copy()
    assert np.abs(moved).max() > 0.1  # the training call moved the statistics
    np.testing.assert_allclose(model(x, training=False).data,
                               np.maximum(bn(x, training=False).data, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(bn.moving_mean.data, moved)  # the inference call did not


def test_batch_statistics_stay_accurate_far_from_zero():
    """float32 data with a mean 10,000 times its spread: the shifted sums keep the variance."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((64, 8, 8, 4)) * 0.1 + 1000.0).astype(np.float32)
    _, mean, var = ops.batch_normalization(x, np.ones(4, "float32"), np.zeros(4, "float32"), (0, 1, 2), 1e-3)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 1, 2)), rtol=1e-7)
    np.testing.assert_allclose(var, x64.var(axis=(0, 1, 2)), rtol=1e-4)


@pytest.mark.parametrize("threads_split", [False, True])
@pytest.mark.parametrize("channel_axis", [3, 1])
def test_inference_affine_op_forward_backward(threads_split, channel_axis):
    rng = np.random.default_rng(11)
    shape = (3, 6, 5, 4) if channel_axis == 3 else (3, 4, 6, 5)
    x = rng.standard_normal(shape)
    g, b, m, v = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    axes = tuple(a for a in range(4) if a != channel_axis)
    tensors = [Variable(t, dtype="float64") for t in (x, g, b)]
    dy = rng.standard_normal(shape)
    with parallel_settings(memory_bound_min=0 if threads_split else 10**9):
        y, _, _ = ops.batch_normalization(*tensors, axes, 1e-3, m, v)
        gx, gg, gb = backprop.grad(y, tensors, dy)
    shape_c = [1] * 4
    shape_c[channel_axis] = -1
    scale = g / np.sqrt(v + 1e-3)
    np.testing.assert_allclose(y.data, (x - m.reshape(shape_c)) * scale.reshape(shape_c) + b.reshape(shape_c),
                               rtol=1e-12)
    np.testing.assert_allclose(gx, dy * scale.reshape(shape_c), rtol=1e-12)
    np.testing.assert_allclose(gg, (dy * (x - m.reshape(shape_c))).sum(axis=axes) / np.sqrt(v + 1e-3), rtol=1e-10)
    np.testing.assert_allclose(gb, dy.sum(axis=axes), rtol=1e-10)


def test_inference_affine_input_gradient_only():
    rng = np.random.default_rng(12)
    x = Variable(rng.standard_normal((4, 3, 3, 5)), dtype="float64")
    g, b, m, v = (rng.uniform(0.5, 2, 5) for _ in range(4))
    y, _, _ = ops.batch_normalization(x, g, b, (0, 1, 2), 1e-3, m, v)  # constants: no scale gradient
    dy = rng.standard_normal(x.shape)
    (gx,) = backprop.grad(y, [x], dy)
    np.testing.assert_allclose(gx, dy * g / np.sqrt(v + 1e-3), rtol=1e-12)


def test_layers_moving_statistics_follow_keras_rule():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 5, 5, 3)).astype("float32") * 2 + 1
    bn = L.BatchNormalization(momentum=0.9)
    bn(x, training=True)
    mean, var = x.astype(np.float64).mean(axis=(0, 1, 2)), x.astype(np.float64).var(axis=(0, 1, 2))
    np.testing.assert_allclose(bn.moving_mean.data, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.data, 0.9 + 0.1 * var, rtol=1e-5)


@pytest.mark.parametrize("threads_split", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_average_pool_op(threads_split, data_format):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 7, 6, 3))
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2).copy()
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    xt = Variable(x, dtype="float64")
    dy = rng.standard_normal((5, 3))
    with parallel_settings(memory_bound_min=0 if threads_split else 10**9):
        y = global_average_pool2d(xt, data_format)
        (gx,) = backprop.grad(y, [xt], dy)
    np.testing.assert_allclose(y.data, x.mean(axis=axes), rtol=1e-12)
    expand = dy[:, None, None, :] if data_format == "channels_last" else dy[:, :, None, None]
    np.testing.assert_allclose(gx, np.broadcast_to(expand / 42, x.shape), rtol=1e-12)


def test_global_average_pool_float32_sums_are_accurate():
    x = (np.random.default_rng(0).standard_normal((2, 300, 300, 2)) + 100).astype(np.float32)
    y = global_average_pool2d(Tensor(x)).data
    np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=(1, 2)), rtol=1e-7)


def test_residual_block_fuses_add_and_relu_and_trains_like_unfused():
    """In a residual block ``Add`` + ``Activation('relu')`` and ``BatchNormalization`` +
    ``Activation('relu')`` are fused steps; a training step gives the same weights as the same
    model whose activations cannot fuse (a ``Lambda`` ReLU)."""
    import kerasette
    from kerasette.models.planner import Plan

    def block(relu):
        inp = L.Input((6, 6, 4))
        y = L.Conv2D(4, 3, padding="same", kernel_initializer="he_normal")(inp)
        y = relu()(L.BatchNormalization()(y))
        y = L.BatchNormalization()(L.Conv2D(4, 3, padding="same", kernel_initializer="he_normal")(y))
        out = relu()(L.Add()([inp, y]))
        return inp, out

    kerasette.utils.set_random_seed(1)
    inp, out = block(lambda: L.Activation("relu"))
    fused = kerasette.models.Model(inp, out)
    kinds = sorted(type(s.layer).__name__ for s in Plan([inp], [out]).steps if s.fused is not None)
    assert kinds == ["Add", "BatchNormalization"]
    kerasette.utils.set_random_seed(1)
    inp2, out2 = block(lambda: L.Lambda(lambda t: ops.relu(t)))
    plain = kerasette.models.Model(inp2, out2)
    assert not any(s.fused is not None for s in Plan([inp2], [out2]).steps)
    plain.set_weights(fused.get_weights())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 6, 6, 4)).astype("float32")
    target = rng.standard_normal((8, 6, 6, 4)).astype("float32")
    for model in (fused, plain):
        model.compile("sgd", "mse")
        model.train_on_batch(x, target)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_inference_scale_shift_numpy_path_equals_the_recorded_one(dtype):
    """Without a gradient to record, the inference scale and shift come from plain numpy: the same
    bits as the differentiable ops give."""
    from kerasette.backend.ops.normalization import inference_scale_shift
    from kerasette.backend.tensor import no_grad

    rng = np.random.default_rng(9)
    g, b, m = (Variable(rng.standard_normal(6).astype(dtype), dtype=dtype) for _ in range(3))
    v = rng.uniform(0.5, 2, 6).astype(dtype)
    recorded = inference_scale_shift(g, b, m, v, 1e-3, dtype)
    assert recorded[0].requires_grad
    with no_grad():
        plain = inference_scale_shift(g, b, m, v, 1e-3, dtype)
    assert not plain[0].requires_grad
    for a, c in zip(recorded, plain):
        assert a.data.dtype == c.data.dtype == dtype
        np.testing.assert_array_equal(a.data, c.data)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_elementwise_passes_split_in_pieces(monkeypatch, dtype):
    """``add_relu``, ``relu_grad`` and ``relu_grad_add`` split over the threads (one prepared
    kernel call per thread's chunk) equal the numpy definitions exactly (the sign of zero
    aside), NaN kept; the same on one thread."""
    from kerasette.backend import parallel
    from kerasette.backend.engine import elementwise

    rng = np.random.default_rng(31)
    a, b, g, h = (rng.standard_normal((5, 7, 9, 16)).astype(dtype) for _ in range(4))
    a[0, 0, 0, 0] = np.nan
    a[-1, -1, -1, -1] = np.nan  # in the second thread's chunk
    monkeypatch.setattr(elementwise, "PASS_MIN", 0)
    saved = parallel.num_threads()
    try:
        for threads in (2, 1):
            parallel.set_num_threads(threads)
            y = elementwise.add_relu(a, b)
            np.testing.assert_array_equal(y, np.where(a + b > 0, a + b, 0) + np.where(np.isnan(a + b), np.nan, 0))
            np.testing.assert_array_equal(elementwise.relu_grad(g, y), np.where(y > 0, g, 0))
            expected = np.where(y > 0, g, 0)
            gc = g.copy()
            assert elementwise.relu_grad(gc, y, in_place=True) is gc
            np.testing.assert_array_equal(gc, expected)
            gc = g.copy()
            assert elementwise.relu_grad_add(gc, h, y) is gc
            np.testing.assert_array_equal(gc, np.where(y > 0, g + h, 0))
    finally:
        parallel.set_num_threads(saved)


@pytest.mark.parametrize("fused", [True, False])
def test_relu_gradient_is_written_into_a_gradient_no_one_else_reads(monkeypatch, fused):
    """In a training step's walk, the ReLU's and the Add + ReLU's backward pass mask the gradient
    they are given in place when nothing else refers to it, the same values as a new array."""
    from kerasette.backend.engine import elementwise

    seen = []
    plain = elementwise.relu_grad
    monkeypatch.setattr(elementwise, "relu_grad",
                        lambda g, y, in_place=False: (seen.append(in_place), plain(g, y, in_place))[1])
    rng = np.random.default_rng(5)
    a, b, w = (Variable(rng.standard_normal((4, 8, 8, 3)).astype(np.float32)) for _ in range(3))
    with enable_grad():
        h = ops.add_relu(a, b) if fused else ops.relu(ops.add(a, b))
        total = ops.sum(ops.multiply(h, w))
    ga, gb = autograd.gradients_or_none(total, [a, b])
    expected = np.where(a.data + b.data > 0, w.data, 0)
    np.testing.assert_array_equal(ga, expected)
    np.testing.assert_array_equal(gb, expected)
    assert seen == [True]


def test_pass_pieces_grow_with_the_pass():
    from kerasette.backend import parallel
    from kerasette.backend.engine.elementwise import PASS_PIECE, piece_work

    assert piece_work(1000) == piece_work(2 * PASS_PIECE) == PASS_PIECE
    assert piece_work(16 * PASS_PIECE) == 2 * PASS_PIECE  # an eighth
    assert piece_work(1 << 30) == parallel.PIECE_WORK


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 3, 3, 16), (2, 3, 3, 64), (2, 16, 3, 3)])
def test_inference_numbers_are_folding_scale_and_shift_tiled(dtype, shape):
    """`engine.normalization.inference_numbers`: the bits of `engine.folding.scale_and_shift`,
    repeated as the view's kernels take them (wide rows at 16 channels; planes once), from
    inputs of any dtype and layout."""
    from kerasette.backend.engine import folding

    rng = np.random.default_rng(4)
    axes = (0, 1, 2) if shape[-1] in (16, 64) else (0, 2, 3)
    chans = shape[3] if axes == (0, 1, 2) else shape[1]
    gamma, beta, mean = (rng.standard_normal(chans) for _ in range(3))  # float64: cast to dtype
    variance = rng.uniform(0.5, 2, (chans, 2))[:, 0]  # strided
    view = bn.channel_view(shape, axes)
    scale, shift = bn.inference_numbers(view, gamma, beta, mean, variance, 1e-3, dtype)
    want_scale, want_shift = folding.scale_and_shift(gamma, beta, mean, variance, 1e-3, dtype)
    copies = view.wide if view.rows else 1
    assert scale.dtype == shift.dtype == np.dtype(dtype) and scale.size == chans * copies
    np.testing.assert_array_equal(scale, np.tile(want_scale, copies))
    np.testing.assert_array_equal(shift, np.tile(want_shift, copies))


def test_rows_bounds_follow_the_piece_setting(monkeypatch):
    """`ChannelView._bounds` keeps its pieces per view, made again when `parallel.PIECE_WORK`
    changes (the pieces of `_pieces`, which the training passes' bits depend on)."""
    view = bn.channel_view((32, 32, 32, 64), (0, 1, 2))
    for piece_work, count in ((None, 8), (1 << 17, 16), (None, 8)):
        if piece_work is not None:
            monkeypatch.setattr(parallel, "PIECE_WORK", piece_work)
        else:
            monkeypatch.undo()
        bounds = view._bounds()
        parts = view._pieces()
        assert len(parts) == count
        np.testing.assert_array_equal(bounds, [start for start, _ in parts] + [parts[-1][1]])


@pytest.mark.parametrize("chans, wide", [(64, 1), (16, 4)])
def test_inference_numbers_direct_kernel_is_the_wrapper(chans, wide):
    """`inference_numbers` calling the scale-and-shift kernel directly (1-D numbers of the input's
    dtype) gives the bits of `engine.folding.scale_and_shift` (its path for other numbers) and of
    numpy's float32 formula, tiled for a widened view."""
    rng = np.random.default_rng(4)
    gamma, beta, mean = (rng.standard_normal(chans).astype(np.float32) for _ in range(3))
    variance = rng.uniform(0.1, 3, chans).astype(np.float32)
    view = bn.channel_view((64, 1, chans), (0, 1))
    assert view.wide == wide
    dtype = np.dtype(np.float32)
    direct = bn.inference_numbers(view, gamma, beta, mean, variance, 1e-3, dtype)
    wrapped = bn.inference_numbers(view, gamma.astype(np.float64), beta, mean, variance[None], 1e-3, dtype)
    scale = gamma * (np.float32(1) / np.sqrt(variance + np.float32(1e-3)))
    for got, other, want in zip(direct, wrapped, (scale, beta - mean * scale), strict=True):
        np.testing.assert_array_equal(got, other)
        np.testing.assert_array_equal(got, np.tile(want, wide))
