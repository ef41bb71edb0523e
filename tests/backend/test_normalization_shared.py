"""Batch normalization's whole passes on rows in one kernel call per thread
(`kernels.normalization_passes.batch_norm_forward_rows_shared`, `batch_norm_backward_rows_shared`):
the same bits as the passes one kernel at a time, however many threads take the pieces and
whenever they start, and against the float64 reference through the op."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.engine import normalization as bn
from kerasette.backend.kernels import normalization as kernels
from kerasette.backend.kernels import normalization_inference_passes as inference_passes
from kerasette.backend.kernels import normalization_passes as passes
from kerasette.backend.ops.normalization import BatchNorm
from tests.backend.test_normalization_kernels import batch_norm_grads_reference, batch_norm_reference

PAD = bn._PAD
#: `_leave`'s ticks for the shared kernels: a helper waits long for the calling thread (a late one
#: runs its whole kernel first), then a little
LEAVE = (10 ** 10, 1000)


def _bounds(rows, pieces):
    return np.linspace(0, rows, pieces + 1).astype(np.int64)


def _forward_one_by_one(x, first, gamma, beta, relu, bounds):
    """The forward pass as separate kernel calls, piece by piece (what the shared kernel must match)."""
    width, dtype = x.shape[1], x.dtype
    chans = first.size
    centre = np.tile(first, width // chans).astype(dtype)
    totals = np.zeros((len(bounds) - 1, 2, width + PAD))
    p1, p2 = np.empty(width, dtype), np.empty(width, dtype)
    for p in range(len(bounds) - 1):
        kernels.channel_stats_rows(x[bounds[p]:bounds[p + 1]], centre, totals[p, 0, :width], totals[p, 1, :width],
                                   p1, p2)
    mean, var, inv = np.empty((3, chans))
    scale, shift = np.empty((2, width), dtype)
    kernels.batch_norm_coefficients(totals, width, first, float(x.shape[0] * width // chans), gamma, beta, 1e-3,
                                    mean, var, inv, scale, shift)
    y = np.empty_like(x)
    kernels.channel_affine_rows(x, scale, shift, dtype.type(0 if relu else np.nan), y)
    return [y, mean, var, inv, scale, shift]


def _run_threads(call, parts, late):
    """``call(me)`` for ``me`` in ``range(parts)`` on as many Python threads at once (the kernels
    release the GIL), or, with ``late``, thread 0 alone first and the others after it finished
    (helpers that started too late: they must find nothing left and return)."""
    if late:
        for me in range(parts):
            call(me)
        return
    errors = []

    def run(me):
        try:
            call(me)
        except BaseException as e:  # raised in the test's thread below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(me,)) for me in range(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pieces, parts, late", [(1, 1, False), (5, 1, False), (7, 2, False), (7, 2, True),
                                                 (3, 3, False), (16, 2, False)])
@pytest.mark.parametrize("relu", [False, True])
def test_forward_shared_is_the_passes_one_by_one(dtype, pieces, parts, late, relu):
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(3)
    rows, width, chans = 53, 64, 16
    x = (rng.standard_normal((rows, width)) * 3 + 2).astype(dtype)
    first = x[0, :chans].astype(np.float64)
    gamma, beta = rng.uniform(0.5, 2, chans).astype(dtype), rng.standard_normal(chans).astype(dtype)
    bounds = _bounds(rows, pieces)
    want = _forward_one_by_one(x, first, gamma, beta, relu, bounds)
    for _ in range(3 if parts > 1 and not late else 1):  # threads racing: several tries
        totals = np.zeros((pieces, 2, width + PAD))
        scratch = np.empty((parts, 2, width + PAD), dtype)
        claims, state = np.zeros((2, parts), np.int64), np.zeros(passes.PASS_STATE_CELLS, np.int64)
        mean, var, inv = np.empty((3, chans))
        scale, shift = np.empty((2, width), dtype)
        y = np.empty_like(x)
        centre = np.tile(first, width // chans).astype(dtype)
        before = (x, centre, first, float(rows * width // chans), gamma, beta, 1e-3,
                  dtype.type(0 if relu else np.nan), bounds, totals, scratch, claims, state)
        after = (mean, var, inv, scale, shift, y)
        _run_threads(lambda me, before=before, after=after: passes.batch_norm_forward_rows_shared(
            *before, me, *LEAVE, *after), parts, late)
        for got, expected in zip([y, mean, var, inv, scale, shift], want, strict=True):
            np.testing.assert_array_equal(got, expected)
        assert state[0] == pieces and state[1] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pieces, parts, late", [(1, 1, False), (6, 2, False), (6, 2, True), (9, 3, False)])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("map_out", [0, 1, 2])
def test_backward_shared_is_the_passes_one_by_one(dtype, pieces, parts, late, relu, map_out):
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(5)
    rows, width, chans = 41, 32, 32
    x = (rng.standard_normal((rows, width)) * 2 + 1).astype(dtype)
    g = rng.standard_normal((rows, width)).astype(dtype)
    scale, shift = rng.uniform(0.5, 1.5, width).astype(dtype), rng.standard_normal(width).astype(dtype)
    mean, inv = x.mean(axis=0, dtype=np.float64), 1 / x.std(axis=0, dtype=np.float64)
    gamma = rng.uniform(0.5, 2, chans).astype(dtype)
    rounded = mean.astype(dtype)
    zeros, zero = np.zeros(width, dtype), dtype.type(0)
    bounds = _bounds(rows, pieces)
    # one by one
    totals = np.zeros((pieces, 2, width + PAD))
    p1, p2 = np.empty(width, dtype), np.empty(width, dtype)
    for p in range(pieces):
        i, j = bounds[p], bounds[p + 1]
        if relu:
            kernels.channel_sums_rows_relu(g[i:j], x[i:j], scale, shift, rounded, zero, totals[p, 0, :width],
                                           totals[p, 1, :width], p1, p2)
        else:
            kernels.channel_sums_rows(g[i:j], x[i:j], zeros, rounded, totals[p, 0, :width], totals[p, 1, :width],
                                      p1, p2)
    want_db, want_dg = np.empty((2, chans))
    wa, wb, wc = np.empty((3, width), dtype)
    kernels.batch_norm_backward_coefficients(totals, width, rounded, mean, inv, gamma, float(rows), want_db, want_dg,
                                             wa, wb, wc)
    want_dx = np.empty_like(g)
    if relu:
        kernels.channel_affine2_rows_relu(g, x, scale, shift, wa, wb, wc, zero, want_dx)
    else:
        kernels.channel_affine2_rows(g, x, wa, wb, wc, want_dx)
    # shared
    for _ in range(3 if parts > 1 and not late else 1):
        gs = g.copy()
        dx = np.full_like(g, np.nan) if map_out == 1 else gs
        totals = np.zeros((pieces, 2, width + PAD))
        scratch = np.empty((parts, 2, width + PAD), dtype)
        claims, state = np.zeros((2, parts), np.int64), np.zeros(passes.PASS_STATE_CELLS, np.int64)
        dbeta, dgamma = np.empty((2, chans))
        a, b, c = np.empty((3, width), dtype)
        before = (gs, x, relu, scale, shift, zeros, rounded, zero, bounds, totals, scratch, claims, state)
        after = (rounded, mean, inv, gamma, float(rows), dbeta, dgamma, a, b, c, map_out, dx)
        _run_threads(lambda me, before=before, after=after: passes.batch_norm_backward_rows_shared(
            *before, me, *LEAVE, *after), parts, late)
        for got, expected in zip([dbeta, dgamma, a, b, c], [want_db, want_dg, wa, wb, wc], strict=True):
            np.testing.assert_array_equal(got, expected)
        if map_out:
            np.testing.assert_array_equal(dx, want_dx)
        else:
            np.testing.assert_array_equal(gs, g)  # no map: the gradient untouched


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pieces, parts, late", [(1, 1, False), (6, 2, False), (6, 2, True), (9, 3, False)])
def test_affine_backward_shared_is_the_pieces_one_by_one(dtype, pieces, parts, late):
    """Inference batch normalization's backward pass (`affine_backward_rows_shared`): the input
    gradient and each piece's sums as `affine_backward_rows` gives them piece by piece, and the
    folded sums against a float64 numpy reference."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(8)
    rows, width = 45, 32
    x = (rng.standard_normal((rows, width)) * 2 + 1).astype(dtype)
    g = rng.standard_normal((rows, width)).astype(dtype)
    scale = rng.uniform(0.5, 1.5, width).astype(dtype)
    bounds = _bounds(rows, pieces)
    want_totals = np.zeros((pieces, 2, width + PAD))
    want_dx = np.empty_like(g)
    p1, p2 = np.empty(width, dtype), np.empty(width, dtype)
    for p in range(pieces):
        i, j = bounds[p], bounds[p + 1]
        kernels.affine_backward_rows(g[i:j], x[i:j], scale, want_dx[i:j], want_totals[p, 0, :width],
                                     want_totals[p, 1, :width], p1, p2)
    for _ in range(3 if parts > 1 and not late else 1):
        totals = np.zeros((pieces, 2, width + PAD))
        scratch = np.empty((parts, 2, width + PAD), dtype)
        claims, state = np.zeros((2, parts), np.int64), np.zeros(4, np.int64)
        dx = np.full_like(g, np.nan)
        _run_threads(lambda me, totals=totals, scratch=scratch, claims=claims, state=state, dx=dx:
                     inference_passes.affine_backward_rows_shared(g, x, scale, bounds, totals, scratch, claims, state,
                                                                  me, *LEAVE, dx),
                     parts, late)
        np.testing.assert_array_equal(dx, want_dx)
        np.testing.assert_array_equal(totals, want_totals)
        s1, s2 = np.empty((2, width))
        kernels.fold_totals(totals, width, width, s1, s2)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(s1, g.astype(np.float64).sum(axis=0), rtol=tol, atol=tol * rows)
        np.testing.assert_allclose(s2, (g.astype(np.float64) * x).sum(axis=0), rtol=tol, atol=tol * rows * 4)
        np.testing.assert_allclose(dx, g.astype(np.float64) * scale, rtol=tol)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape", [(32, 8, 8, 64), (8, 16, 16, 32), (16, 32, 32, 16), (3, 5, 7, 16)])
def test_op_on_shared_passes_against_the_reference(threads, relu, shape):
    """The op (rows: one kernel call per thread for each pass) at ResNet-20's shapes and an odd
    one, split over the threads (``memory_bound_min=0``), against the float64 reference; the
    gradient written over the output gradient (``grad_is_scratch``) and into a new array."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape) * 2 + 1
    chans = shape[-1]
    gamma, beta = rng.uniform(0.5, 2, chans), rng.standard_normal(chans)
    dy = rng.standard_normal(shape)
    ry, rmean, rvar, _ = batch_norm_reference(x, gamma, beta, 3, 1e-3)
    mask = (ry > 0) if relu else np.ones(shape, bool)
    want = batch_norm_grads_reference(x, gamma, np.where(mask, dy, 0), 3, 1e-3)
    saved = parallel.num_threads()
    try:
        parallel.set_num_threads(threads)
        with parallel.parallel_settings(memory_bound_min=0):
            for scratch in (False, True):
                op = BatchNorm((0, 1, 2), 1e-3, relu)
                op.needs_grad = (True, True, True)
                op.grad_is_scratch = scratch
                y = op.forward(x, gamma, beta)
                grad = dy.copy()
                grads = op.backward(grad)
                np.testing.assert_allclose(y, np.where(mask, ry, 0), rtol=1e-11, atol=1e-11)
                np.testing.assert_allclose(op.mean, rmean, rtol=1e-11, atol=1e-11)
                np.testing.assert_allclose(op.var, rvar, rtol=1e-11, atol=1e-11)
                for got, expected in zip(grads, want, strict=True):
                    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
                assert (grads[0] is grad) == scratch or grads[0].base is grad
    finally:
        parallel.set_num_threads(saved)


def test_op_without_input_gradient_leaves_the_output_gradient():
    """Only the scale's and offset's gradients asked: the map is skipped, ``dy`` unchanged."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 3, 3, 16)).astype(np.float32)
    gamma, beta = np.ones(16, np.float32), np.zeros(16, np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    op = BatchNorm((0, 1, 2), 1e-3)
    op.needs_grad = (False, True, True)
    op.grad_is_scratch = True
    op.forward(x, gamma, beta)
    kept = dy.copy()
    dx, _, dbeta = op.backward(kept)
    assert dx is None
    np.testing.assert_array_equal(kept, dy)
    np.testing.assert_allclose(dbeta, dy.sum(axis=(0, 1, 2), dtype=np.float64), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pieces, parts, late, reserve", [(1, 1, False, 0), (9, 2, False, 2), (9, 2, True, 2),
                                                          (16, 2, False, 0), (5, 3, False, 1), (4, 2, False, 9)])
@pytest.mark.parametrize("relu", [False, True])
def test_affine_shared_is_the_plain_map(dtype, pieces, parts, late, reserve, relu):
    """Inference's map with its pieces shared (`affine_rows_shared`): the plain kernel's bits,
    whoever takes the pieces, a calling thread that leaves pieces to the others (``reserve``),
    and helpers that start after the calling thread left (they find nothing and return)."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(17)
    rows, width = 45, 64
    x = rng.standard_normal((rows, width)).astype(dtype)
    scale, shift = rng.uniform(0.5, 1.5, width).astype(dtype), rng.standard_normal(width).astype(dtype)
    lower = dtype.type(0 if relu else np.nan)
    want = np.empty_like(x)
    kernels.channel_affine_rows(x, scale, shift, lower, want)
    bounds = _bounds(rows, pieces)
    for _ in range(3 if parts > 1 and not late else 1):
        cells = np.zeros(parts + 3, np.int64)
        y = np.full_like(x, np.nan)
        _run_threads(lambda me, cells=cells, y=y: inference_passes.affine_rows_shared(
            x, scale, shift, lower, bounds, cells[:parts], cells[parts:], me, reserve, 10 ** 9, 1000, y), parts, late)
        np.testing.assert_array_equal(y, want)


def _forward_pass(state):
    """A training forward pass on 8 rows of 4 channels in 2 pieces for 2 threads: a function of
    ``(me, wait, grace)`` that makes thread ``me``'s call (`_leave_first`'s ticks) and returns its
    seconds, and the output it writes."""
    x = np.arange(32.0).reshape(8, 4)
    y = np.full_like(x, np.nan)
    first, claims = x[0].copy(), np.zeros((2, 2), np.int64)
    arrays = (np.zeros((2, 2, 4)), np.empty((2, 2, 4)), claims, state)
    numbers = (*np.empty((3, 4)), *np.empty((2, 4)))  # mean, var, inv, scale, shift

    def call(me, wait, grace):
        start = time.perf_counter()
        passes.batch_norm_forward_rows_shared(x, first, first, 8.0, np.ones(4), np.zeros(4), 1e-3, np.nan,
                                              _bounds(8, 2), *arrays, me, wait, grace, *numbers, y)
        return time.perf_counter() - start

    return call, y


def test_training_pass_calling_thread_leaves_after_the_pool_threads():
    """Training's passes end with the pool's threads first (`_leave_first`): the calling thread
    that finds a pool thread gone waits ``grace`` after it left; one that finds a pool thread
    started and never leaving gives up after ``wait``; a pool thread waits for no one."""
    wait, grace = bn.leave_ticks(50_000)  # ticks: 2 ms; 50 ms
    state = np.zeros(passes.PASS_STATE_CELLS, np.int64)
    call, y = _forward_pass(state)
    assert call(1, 10 ** 12, 10 ** 12) < 1  # the pool thread alone does it all, and leaves
    assert state[2] == state[3] == 1 and not np.isnan(y).any()  # started, left
    done = y.copy()
    assert call(0, wait, grace) >= 0.045  # the calling thread finds it all done: waits the grace
    np.testing.assert_array_equal(y, done)
    stuck = np.zeros(passes.PASS_STATE_CELLS, np.int64)
    stuck[2] = 1  # a pool thread that started and never leaves
    call, y = _forward_pass(stuck)
    wait, grace = bn.leave_ticks(1)  # 2 ms; 1 us
    assert 0.0015 <= call(0, wait, grace) < 1  # does the pass, gives up after the wait
    np.testing.assert_array_equal(y, done)


def test_affine_shared_helper_alone_stops_waiting():
    """A helper whose calling thread never comes maps every piece and returns after its wait."""
    x = np.arange(32.0).reshape(8, 4)
    ones, zeros = np.ones(4), np.zeros(4)
    y = np.full_like(x, np.nan)
    inference_passes.affine_rows_shared(x, ones, zeros, np.nan, _bounds(8, 4), np.zeros(2, np.int64),
                                        np.zeros(3, np.int64), 1, 2, 1000, 10 ** 12, y)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("relu", [False, True])
def test_inference_map_split_is_unsplit(threads, relu):
    """`ChannelView.affine` on rows, split over the threads (pieces of `MAP_PIECE` values made
    small), the same bits as one plain kernel call."""
    rng = np.random.default_rng(19)
    x = rng.standard_normal((6, 9, 7, 16)).astype(np.float32)
    scale, shift = rng.uniform(0.5, 1.5, 16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    view = bn.ChannelView((6 * 9 * 7, 16))
    want = np.empty(view.shape, np.float32)
    kernels.channel_affine_rows(view.of(x), view.tile(scale, np.float32), view.tile(shift, np.float32),
                                np.float32(0 if relu else np.nan), want)
    saved, piece = parallel.num_threads(), bn.MAP_PIECE
    try:
        parallel.set_num_threads(threads)
        bn.MAP_PIECE = 64
        with parallel.parallel_settings(memory_bound_min=0):
            for _ in range(3):
                np.testing.assert_array_equal(view.affine(view.of(x), scale, shift, relu=relu), want)
    finally:
        parallel.set_num_threads(saved)
        bn.MAP_PIECE = piece
