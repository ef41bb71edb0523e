"""Batch normalization's packed passes on rows (`kernels.normalization_passes.
batch_norm_forward_rows_packed`, `batch_norm_backward_rows_packed`): the shared kernels' bits
from three packed arrays, on any number of threads and whenever they start, and the rounded
statistics and parameter gradients as numpy rounds them."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import memory
from kerasette.backend.engine import normalization as bn
from kerasette.backend.kernels import normalization as kernels
from kerasette.backend.kernels import normalization_passes as passes
from tests.backend.test_normalization_shared import LEAVE, PAD, _bounds, _forward_one_by_one, _run_threads


def _forward_packed(x, gamma, beta, relu, bounds, parts, late, moving=None):
    """The packed forward pass on ``parts`` threads: ``(y, work, small)`` (``moving``: the
    moving statistics and momentum the kernel updates)."""
    width, chans, dtype = x.shape[1], gamma.size, x.dtype
    pieces = len(bounds) - 1
    work = np.zeros(3 * chans + pieces * 2 * (width + PAD))
    small = np.full(2 * width + 2 * chans + parts * 3 * (width + PAD), np.nan, dtype)
    cells = np.zeros(2 * parts + passes.PASS_STATE_CELLS, np.int64)
    y = np.full_like(x, np.nan)
    lower = dtype.type(0 if relu else np.nan)
    moving = (small[:0], small[:0], 0.0) if moving is None else moving
    _run_threads(lambda me: passes.batch_norm_forward_rows_packed(x, gamma, beta, 1e-3, lower, *moving, bounds, work,
                                                                  small, cells, me, *LEAVE, y), parts, late)
    assert cells[2 * parts] == pieces and cells[2 * parts + 1] == 1
    return y, work, small


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pieces, parts, late", [(1, 1, False), (5, 1, False), (7, 2, False), (7, 2, True),
                                                 (3, 3, False), (16, 2, False)])
@pytest.mark.parametrize("relu", [False, True])
def test_forward_packed_is_the_passes_one_by_one(dtype, pieces, parts, late, relu):
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(3)
    rows, width, chans = 53, 64, 16
    x = (rng.standard_normal((rows, width)) * 3 + 2).astype(dtype)
    gamma, beta = rng.uniform(0.5, 2, chans).astype(dtype), rng.standard_normal(chans).astype(dtype)
    bounds = _bounds(rows, pieces)
    y_want, mean, var, inv, scale, shift = _forward_one_by_one(x, x[0, :chans].astype(np.float64), gamma, beta, relu,
                                                               bounds)
    for _ in range(3 if parts > 1 and not late else 1):  # threads racing: several tries
        y, work, small = _forward_packed(x, gamma, beta, relu, bounds, parts, late)
        np.testing.assert_array_equal(y, y_want)
        np.testing.assert_array_equal(work[:3 * chans], np.concatenate([mean, var, inv]))
        np.testing.assert_array_equal(small[:2 * width], np.concatenate([scale, shift]))
        np.testing.assert_array_equal(small[2 * width:2 * width + chans], mean.astype(dtype))
        np.testing.assert_array_equal(small[2 * width + chans:2 * width + 2 * chans], var.astype(dtype))


@pytest.mark.parametrize("weights", [np.float32, np.float64])
@pytest.mark.parametrize("parts, late", [(1, False), (2, False), (2, True)])
def test_forward_packed_moves_the_moving_statistics(weights, parts, late):
    """Given the moving statistics, the packed forward pass moves them as `moving_update` does
    with the rounded batch statistics (weights of the input's dtype or another), once."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((40, 64)) * 2 + 3).astype(np.float32)
    gamma, beta = np.ones(32, np.float32), np.zeros(32, np.float32)
    start_mean, start_var = rng.standard_normal(32).astype(weights), rng.uniform(0.5, 2, 32).astype(weights)
    moving_mean, moving_var = start_mean.copy(), start_var.copy()
    _, _, small = _forward_packed(x, gamma, beta, False, _bounds(40, 4), parts, late, (moving_mean, moving_var, 0.9))
    want_mean, want_var = start_mean.copy(), start_var.copy()
    kernels.moving_update(want_mean, want_var, small[128:160], small[160:192], 0.9)
    np.testing.assert_array_equal(moving_mean, want_mean)
    np.testing.assert_array_equal(moving_var, want_var)
    assert not np.array_equal(moving_mean, start_mean)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pieces, parts, late", [(1, 1, False), (6, 2, False), (6, 2, True), (9, 3, False)])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("map_out", [0, 1, 2])
def test_backward_packed_is_the_shared_kernel(dtype, pieces, parts, late, relu, map_out):
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(5)
    rows, width, chans = 41, 64, 32
    x = (rng.standard_normal((rows, width)) * 2 + 1).astype(dtype)
    g = rng.standard_normal((rows, width)).astype(dtype)
    gamma, beta = rng.uniform(0.5, 2, chans).astype(dtype), rng.standard_normal(chans).astype(dtype)
    bounds = _bounds(rows, pieces)
    _, saved, saved_small = _forward_packed(x, gamma, beta, relu, bounds, 1, False)
    mean, inv = saved[:chans], saved[2 * chans:3 * chans]
    scale, shift = saved_small[:width], saved_small[width:2 * width]
    # the shared kernel, as the engine called it before the packed one
    zeros, zero = np.zeros(width, dtype), dtype.type(0)
    centre = np.tile(mean, width // chans).astype(dtype)
    totals = np.zeros((pieces, 2, width + PAD))
    want_db, want_dg = np.empty((2, chans))
    wa, wb, wc = np.empty((3, width), dtype)
    gw = g.copy()
    want_dx = np.full_like(g, np.nan) if map_out == 1 else gw
    passes.batch_norm_backward_rows_shared(gw, x, relu, scale, shift, zeros, centre, zero, bounds, totals,
                                           np.empty((1, 2, width + PAD), dtype), np.zeros((2, 1), np.int64),
                                           np.zeros(passes.PASS_STATE_CELLS, np.int64), 0, *LEAVE, centre[:chans],
                                           mean, inv, gamma, float(rows * width // chans), want_db, want_dg,
                                           wa, wb, wc, map_out, want_dx)
    for _ in range(3 if parts > 1 and not late else 1):
        gs = g.copy()
        dx = np.full_like(g, np.nan) if map_out == 1 else gs
        work = np.zeros(2 * chans + pieces * 2 * (width + PAD))
        small = np.full(3 * width + 2 * chans + parts * 4 * (width + PAD), np.nan, dtype)
        cells = np.zeros(2 * parts + passes.PASS_STATE_CELLS, np.int64)
        _run_threads(lambda me, gs=gs, dx=dx, work=work, small=small, cells=cells:
                     passes.batch_norm_backward_rows_packed(gs, x, relu, gamma, saved, saved_small, zero, bounds, work,
                                                            small, cells, me, *LEAVE, map_out, dx), parts, late)
        np.testing.assert_array_equal(work[:2 * chans], np.concatenate([want_db, want_dg]))
        np.testing.assert_array_equal(small[:3 * width], np.concatenate([wa, wb, wc]))
        np.testing.assert_array_equal(small[3 * width:3 * width + chans], want_dg.astype(dtype))
        np.testing.assert_array_equal(small[3 * width + chans:3 * width + 2 * chans], want_db.astype(dtype))
        if map_out:
            np.testing.assert_array_equal(dx, want_dx)
        else:
            np.testing.assert_array_equal(gs, g)  # no map: the gradient untouched


@pytest.mark.parametrize("relu", [False, True])
def test_view_normalize_on_rows_keeps_its_results(relu):
    """`ChannelView.normalize`/`normalize_backward` on rows (now through the packed passes)
    return what the passes one by one give, float64 numbers and all."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((96, 16)) * 2 + 1).astype(np.float32)
    g = rng.standard_normal((96, 16)).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 2, 16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    view = bn.channel_view(x.shape, (0,))
    vx, vg = view.of(x), view.of(g)
    y, mean, var, inv, scale, shift = view.normalize(vx, gamma, beta, 1e-3, relu=relu)
    want = _forward_one_by_one(vx, vx[0, :16].astype(np.float64), gamma, beta, relu, view._bounds())
    for got, expected in zip([y, mean, var, inv, scale, shift], want, strict=True):
        np.testing.assert_array_equal(got, expected)
    dx, dgamma, dbeta = view.normalize_backward(vg, vx, mean, inv, gamma, (scale, shift) if relu else None)
    _, work, small, _, _ = view.train_rows(vx, gamma, beta, 1e-3, relu)
    dx2, dgamma2, dbeta2, work2 = view.train_rows_backward(vg, vx, gamma, (work, small), relu, True, False)
    np.testing.assert_array_equal(dx, dx2)
    assert dgamma.dtype == dbeta.dtype == np.float64
    np.testing.assert_array_equal(dgamma, work2[16:32])
    np.testing.assert_array_equal(dbeta, work2[:16])
    np.testing.assert_array_equal(dgamma2, dgamma.astype(np.float32))


def test_training_outputs_are_aligned_new_arrays():
    """`train_rows`'s output and `train_rows_backward`'s input gradient (when not written over
    the output gradient) are new, C-contiguous, writable and `memory.ALIGNMENT`-aligned."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((256, 64)).astype(np.float32)
    gamma, beta = np.ones(64, np.float32), np.zeros(64, np.float32)
    view = bn.channel_view(x.shape, (0,))
    for _ in range(4):
        y, work, small, _, _ = view.train_rows(x, gamma, beta, 1e-3, False)
        g = rng.standard_normal(x.shape).astype(np.float32)
        dx, _, _, _ = view.train_rows_backward(g, x, gamma, (work, small), False, True, False)
        for out in (y, dx):
            assert out.shape == view.shape and out.dtype == np.float32
            assert out.flags.c_contiguous and out.flags.writeable
            assert memory.data_address(out) % memory.ALIGNMENT == 0
            assert not np.shares_memory(out, x) and not np.shares_memory(out, g)
