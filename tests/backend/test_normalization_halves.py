"""Batch normalization's training passes on one piece shared by two threads as two halves
(`engine.normalization_training.HALVES_MIN`, `kernels.normalization_passes._units`): the bits
of the calling thread alone, on the native jobs and on the pool's path, for any row count."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.engine import normalization as bn
from kerasette.backend.engine import normalization_training as training
from kerasette.backend.kernels import normalization_jobs as jobs
from kerasette.backend.kernels import spin
from tests.backend.native_pool import engine_on, spinning_pool


@pytest.fixture(params=[(2, True), (3, True), (2, False)], ids=["native-2", "native-3", "pool-2"])
def two_threads(request, monkeypatch):
    """A pool of spinning workers (1 or 2) taking the native jobs, or the pool's path (NATIVE
    off); the jobs run are recorded."""
    threads, native = request.param
    p = spinning_pool(monkeypatch, threads)
    ran = []
    engine_on(monkeypatch, p, threads)
    monkeypatch.setattr(training, "NATIVE", native)
    for name in ("batch_norm_forward_run", "batch_norm_backward_run"):
        kernel = getattr(jobs, name)
        monkeypatch.setattr(jobs, name, lambda *args, kernel=kernel, name=name: ran.append(name) or kernel(*args))
    yield threads, native, ran
    assert set(p.slots[:, spin.JOB]) <= {spin.DONE, spin.IDLE}
    p.close()


def _passes(shape, dtype, relu, input_gradient, overwrite_g):
    """A forward and a backward pass on rows: what they give (the totals past the first
    piece's are scratch), and the bounds they ran on."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    chans = shape[-1]
    gamma, beta = rng.standard_normal(chans).astype(dtype), rng.standard_normal(chans).astype(dtype)
    view = bn.ChannelView((int(np.prod(shape[:-1])), chans))
    rows = x.reshape(view.shape)
    moving = (np.ones(chans, dtype), np.full(chans, 0.5, dtype), 0.9)
    y, work, small, mean, var = view.train_rows(rows, gamma, beta, 1e-3, relu, moving)
    grows = g.reshape(view.shape).copy()
    dx, dgamma, dbeta, bwork = view.train_rows_backward(grows, rows, gamma, (work, small), relu, input_gradient,
                                                        overwrite_g)
    width = view.shape[1]
    out = [y, work[:3 * chans], small[:2 * width + 2 * chans], mean, var, dgamma, dbeta, bwork[:2 * chans], grows,
           moving[0], moving[1]]
    if dx is not None:
        out.append(dx)
    return out, view._pass_plan()[0]


@pytest.mark.parametrize("shape, dtype, relu, input_gradient, overwrite_g", [
    ((32, 8, 8, 64), np.float32, True, True, True),  # ResNet-20's stage 3: 2048 rows, HALVES_MIN values
    ((32, 8, 8, 64), np.float32, False, True, False),
    ((32, 8, 8, 64), np.float32, True, False, False),
    ((5, 9, 13, 24), np.float32, True, True, False),  # 585 rows: a short last block, the half at 288
    ((3, 7, 5, 16), np.float64, False, True, True),  # wide rows (26, 64), a block and a short one
    ((1, 2, 33, 64), np.float32, True, True, False),  # 66 rows: halves at 32, a block and 2 rows
])
def test_halves_give_the_bits_of_one_thread(two_threads, monkeypatch, shape, dtype, relu, input_gradient,
                                            overwrite_g):
    threads, native, ran = two_threads
    monkeypatch.setattr(training, "HALVES_MIN", 0)
    got, bounds = _passes(shape, dtype, relu, input_gradient, overwrite_g)
    assert bounds.shape == (3,) and bounds[2] < bounds[1] and bounds[2] % 32 == 0  # the halves ran
    assert ran == (["batch_norm_forward_run", "batch_norm_backward_run"] if native and threads == 2 else [])
    monkeypatch.setattr(training, "HALVES_MIN", 1 << 62)
    want, bounds = _passes(shape, dtype, relu, input_gradient, overwrite_g)
    assert bounds.shape == (2,)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_the_plan_takes_halves_from_halves_min_on_two_threads(monkeypatch):
    view = bn.ChannelView((2048, 64))
    monkeypatch.setattr(parallel, "num_threads", lambda: 2)
    bounds, totals, parts = view._pass_plan()
    assert bounds.tolist() == [0, 2048, 1024] and totals == 1 + 1024 // 32 and parts == 2
    monkeypatch.setattr(parallel, "num_threads", lambda: 1)
    bounds, totals, parts = view._pass_plan()
    assert bounds.tolist() == [0, 2048] and totals == 1 and parts == 1
    monkeypatch.setattr(parallel, "num_threads", lambda: 2)
    small = bn.ChannelView((1024, 64))  # under HALVES_MIN
    assert small._pass_plan()[0].tolist() == [0, 1024]
    large = bn.ChannelView((8192, 64))  # pieces: as before
    assert large._pass_plan()[0].tolist() == large._bounds().tolist()
