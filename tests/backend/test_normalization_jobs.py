"""Batch normalization's training passes on rows as native jobs (`kernels.normalization_jobs`):
the same bits as the pool's path (float32/64, ReLU or not, the moving statistics, the input
gradient new, written over ``g`` or none), and the pool's path where the job is declined."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.engine import normalization as bn
from kerasette.backend.engine import normalization_training as training
from kerasette.backend.kernels import normalization_jobs as jobs
from kerasette.backend.kernels import spin
from tests.backend.native_pool import engine_on, spinning_pool


@pytest.fixture(params=[2, 3])
def native_pool(request, monkeypatch):
    """The engine's passes on a pool of spinning workers (1 or 2), recording the jobs run."""
    p = spinning_pool(monkeypatch, request.param)
    ran = []
    engine_on(monkeypatch, p, request.param)
    for name in ("batch_norm_forward_run", "batch_norm_backward_run"):
        kernel = getattr(jobs, name)
        monkeypatch.setattr(jobs, name, lambda *args, kernel=kernel, name=name: ran.append(name) or kernel(*args))
    with parallel.parallel_settings(memory_bound_min=0):
        yield p, ran
    assert set(p.slots[:, spin.JOB]) <= {spin.DONE, spin.IDLE}
    p.close()


def _passes(shape, dtype, relu, moving, input_gradient, overwrite_g):
    """A forward and a backward pass on rows: every array they give."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    chans = shape[-1]
    gamma, beta = rng.standard_normal(chans).astype(dtype), rng.standard_normal(chans).astype(dtype)
    view = bn.channel_view(shape, tuple(range(len(shape) - 1)))
    rows = x.reshape(view.shape)
    stats = (np.ones(chans, dtype), np.full(chans, 0.5, dtype), 0.9) if moving else None
    y, work, small, mean, var = view.train_rows(rows, gamma, beta, 1e-3, relu, stats)
    grows = g.reshape(view.shape).copy()
    dx, dgamma, dbeta, bwork = view.train_rows_backward(grows, rows, gamma, (work, small), relu, input_gradient,
                                                        overwrite_g)
    width = view.shape[1]
    out = [y, work, small[:2 * width + 2 * chans], mean, var, dgamma, dbeta, bwork, grows]  # (small's rest: scratch)
    if dx is not None:
        out.append(dx)
    if stats is not None:
        out += [stats[0], stats[1]]
    return out


@pytest.mark.parametrize("shape, dtype, relu, moving, input_gradient, overwrite_g", [
    ((32, 16, 16, 32), np.float32, False, True, True, False),
    ((32, 16, 16, 32), np.float32, True, False, True, True),
    ((32, 32, 32, 16), np.float32, True, True, False, False),
    ((32, 32, 32, 16), np.float32, False, True, True, True),
    ((32, 16, 16, 32), np.float64, True, True, True, False),
    ((3000, 100), np.float64, False, False, True, False)])
def test_jobs_same_bits_as_the_pool_path(native_pool, monkeypatch, shape, dtype, relu, moving, input_gradient,
                                         overwrite_g):
    p, ran = native_pool
    args = (shape, dtype, relu, moving, input_gradient, overwrite_g)
    native = [_passes(*args) for _ in range(3)]
    pieces = len(bn.channel_view(shape, tuple(range(len(shape) - 1)))._bounds()) - 1
    # fewer pieces than threads: the calling thread alone, inside run_native (the scratch is for fewer threads)
    jobs_run = ["batch_norm_forward_run", "batch_norm_backward_run"] * 3 if pieces > len(p.workers) else []
    assert ran == jobs_run
    monkeypatch.setattr(training, "NATIVE", False)
    expected = _passes(*args)
    assert ran == jobs_run
    for arrays in native:
        assert len(arrays) == len(expected)
        for got, want in zip(arrays, expected):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_declined_jobs_take_the_pool_path(native_pool, monkeypatch):
    p, ran = native_pool
    shape = (32, 32, 32, 16)  # 4 pieces: a job for 2 and 3 threads
    expected = _passes(shape, np.float32, True, True, True, False)
    p.lock.acquire()  # another thread is using the pool: run_native declines, the pool runs inline
    try:
        declined = _passes(shape, np.float32, True, True, True, False)
    finally:
        p.lock.release()
    assert ran == ["batch_norm_forward_run", "batch_norm_backward_run"]
    for got, want in zip(declined, expected):
        np.testing.assert_array_equal(got, want)


def test_arrays_the_jobs_do_not_take_go_by_the_pool_path(native_pool):
    _, ran = native_pool
    view = bn.channel_view((32, 32, 32, 16), (0, 1, 2))
    x = np.random.default_rng(6).standard_normal(view.shape).astype(np.float32)
    gamma, beta = np.ones(16, np.float32), np.zeros(16, np.float32)
    moving = (np.zeros(16), np.ones(16), 0.5)  # float64 statistics of a float32 pass
    y, _, _, mean, var = view.train_rows(x, gamma, beta, 1e-3, False, moving)
    assert ran == []
    assert not training._native_takes((x, gamma, beta, x[:, ::2]), x.dtype)  # strided
    assert not training._native_takes((x.astype(np.float16),), np.dtype(np.float16))
    np.testing.assert_allclose(y.reshape(-1, 16).mean(axis=0), 0, atol=1e-5)
    np.testing.assert_array_equal(moving[0], mean.astype(np.float64) * 0.5)
