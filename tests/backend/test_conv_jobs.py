"""A Winograd convolution's passes as native jobs (`engine.conv_jobs`, `engine.winograd_jobs`, `kernels.conv_jobs`):
the same bits as the prepared calls (float32/64, odd batches, ReLU and bias on or off, with and
without the input gradient, the loops', vector and fused chunk kernels), a worker that never
takes its job, and the prepared calls where the job is declined or does not apply."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import memory, parallel, pool
from kerasette.backend.engine import conv, conv_jobs, winograd_jobs
from kerasette.backend.engine.algorithms import choose
from kerasette.backend.kernels import conv_jobs as jobs
from kerasette.backend.kernels import spin
from tests.backend.native_pool import engine_on, spinning_pool


@pytest.fixture(params=[2, 3])
def native_pool(request, monkeypatch):
    """The engine's passes on a pool of spinning workers (1 or 2), recording the jobs run."""
    p = spinning_pool(monkeypatch, request.param)
    ran = []
    engine_on(monkeypatch, p, request.param)
    monkeypatch.setattr(conv_jobs, "_PLANS", {})  # every pass new: its first call makes no plan
    monkeypatch.setattr(winograd_jobs, "_PLANS", {})
    kernel = jobs.winograd_backward_run
    monkeypatch.setattr(jobs, "winograd_backward_run", lambda *args: ran.append(args[3]) or kernel(*args))
    yield p, ran
    assert set(p.slots[:, spin.JOB]) <= {spin.DONE, spin.IDLE}
    p.close()


def _case(n, hw, cin, cout, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, hw, hw, cin)).astype(dtype)
    w = rng.standard_normal((3, 3, cin, cout)).astype(dtype)
    dy = rng.standard_normal((n, hw, hw, cout)).astype(dtype)
    out = rng.standard_normal((n, hw, hw, cout)).astype(dtype)
    return x, w, dy, out


def _backward(native, monkeypatch, x, w, dy, out, relu, bias, need_input=True, padding="same", overwrite=False):
    """The pass's second call (a pass's first takes the prepared calls and makes no plan)."""
    monkeypatch.setattr(conv_jobs, "NATIVE", native)
    if native:
        _backward_once(x, w, dy, out, relu, bias, need_input, padding, overwrite)
    return _backward_once(x, w, dy, out, relu, bias, need_input, padding, overwrite)


def _backward_once(x, w, dy, out, relu, bias, need_input, padding, overwrite):
    fresh = memory.empty_aligned(dy.shape, dy.dtype)  # aligned: the ReLU's mask may go into it
    fresh[...] = dy
    return conv.conv2d_backward(fresh, x, w, out, relu, bias, (1, 1), padding, need_input=need_input,
                                overwrite_dy=overwrite)


def _same_bits(first, second):
    for a, b in zip(first, second):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


#: (batch, size, cin, cout) -> the chunk kernels' family: the loops (32, 64 channels), explicit
#: vectors on one side (16 -> 32), fused (16 -> 16 float32: one vector a side); 8 -> 8: the job
#: for the kernel gradient alone.
SHAPES = [(5, 16, 32, 32), (9, 8, 64, 64), (9, 16, 16, 32), (4, 32, 16, 16), (17, 16, 8, 8)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu, bias, overwrite", [(False, False, False), (False, True, False), (True, True, False),
                                                   (True, True, True), (True, False, True)])
@pytest.mark.parametrize("need_input", [True, False])
def test_job_same_bits_as_prepared_calls(native_pool, monkeypatch, shape, dtype, relu, bias, overwrite, need_input):
    _, ran = native_pool
    x, w, dy, out = _case(*shape, dtype)
    expected = _backward(False, monkeypatch, x, w, dy, out, relu, bias, need_input, overwrite=overwrite)
    assert not ran
    got = _backward(True, monkeypatch, x, w, dy, out, relu, bias, need_input, overwrite=overwrite)
    _same_bits(expected, got)
    g = conv.conv_geometry(x.shape, w.shape, (1, 1), "same", x.dtype)
    if choose("kernel_grad", g).name != "winograd" or need_input and choose("input_grad", g).name != "winograd":
        assert not ran  # few channels (8 -> 8): the direct kernels, not the job
        return
    assert len(ran) == 1
    out_pass = ran[0][jobs.OUT_PASS]
    assert out_pass == (0 if not (relu or bias) else 1 if not relu else 2 if overwrite else 3)
    assert (ran[0][jobs.IN_KIND] >= 0) == need_input


def test_a_job_no_worker_takes_runs_every_chunk_here(native_pool, monkeypatch):
    """Workers that never take their job (slots nobody watches): the calling thread takes each
    job back and claims every chunk itself; the same bits."""
    p, _ = native_pool
    x, w, dy, out = _case(5, 16, 32, 32, np.float32)
    expected = _backward(False, monkeypatch, x, w, dy, out, True, True)
    slots = np.zeros((len(p.workers), pool.SLOT_CELLS), np.int64)
    calls = []
    monkeypatch.setattr(parallel, "run_native", lambda call: calls.append(call(slots, 10)) or True)
    got = _backward(True, monkeypatch, x, w, dy, out, True, True)
    assert len(calls) == 1 and set(slots[:, spin.JOB]) == {spin.IDLE}
    _same_bits(expected, got)


def test_declined_job_takes_the_prepared_calls(native_pool, monkeypatch):
    p, ran = native_pool
    x, w, dy, out = _case(5, 16, 32, 32, np.float64)
    monkeypatch.setattr(conv_jobs, "NATIVE", True)
    _backward_once(x, w, dy, out, True, True, True, "same", False)  # the first call: no plan yet
    p.workers[0].sleeping = True  # run_native declines: a sleeping worker is woken by `run` only
    try:
        got = _backward_once(x, w, dy, out, True, True, True, "same", False)
    finally:
        p.workers[0].sleeping = False
    assert not ran  # the run kernel never called: run_native declined
    _same_bits(_backward(False, monkeypatch, x, w, dy, out, True, True), got)


@pytest.mark.parametrize("case", ["valid", "float16", "small", "direct"])
def test_passes_the_job_does_not_take(native_pool, monkeypatch, case):
    """The adjoint input gradient ('valid'), other dtypes, passes below the split and
    convolutions of other algorithms keep the prepared calls."""
    _, ran = native_pool
    shape, padding = {"valid": ((5, 16, 32, 32), "valid"), "small": ((2, 8, 32, 32), "same")}.get(
        case, ((5, 16, 32, 32), "same"))
    x, w, dy, out = _case(*shape, np.float32)
    if padding == "valid":  # 18 -> 16: fewer tiles as the adjoint of the forward pass
        x, w = _case(5, 18, 32, 32, np.float32)[:2]
    if case == "direct":
        x, w = x[..., :2], w[:, :, :2]  # few input channels: the direct kernels
    if case == "float16":
        assert conv_jobs._plan(dy, x.astype(np.float16), w.shape, conv.conv_geometry(
            x.shape, w.shape, (1, 1), "same", np.float16), True, None, 0, 2) is None
        return
    got = _backward(True, monkeypatch, x, w, dy, out, False, True, padding=padding)
    assert not ran
    _same_bits(_backward(False, monkeypatch, x, w, dy, out, False, True, padding=padding), got)


# -- the forward pass (`engine.winograd_jobs`) -------------------------------------------------------
@pytest.fixture
def forward_jobs(native_pool, monkeypatch):
    ran = []
    kernel = jobs.winograd_forward_run
    monkeypatch.setattr(jobs, "winograd_forward_run", lambda *args: ran.append(args[3]) or kernel(*args))
    return ran


def _forward(native, monkeypatch, x, w, b, relu, residual):
    """The pass's second call, as `_backward`."""
    monkeypatch.setattr(winograd_jobs, "NATIVE", native)
    if native:
        conv.conv2d_forward(x, w, b, padding="same", relu=relu, residual=residual)
    return conv.conv2d_forward(x, w, b, padding="same", relu=relu, residual=residual)


@pytest.mark.parametrize("shape", SHAPES[:4] + [(3, 32, 16, 16)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu, bias, residual", [(False, False, False), (True, True, False), (True, True, True),
                                                  (False, True, True)])
def test_forward_job_same_bits_as_prepared_calls(forward_jobs, monkeypatch, shape, dtype, relu, bias, residual):
    x, w, dy, _ = _case(*shape, dtype)
    b = dy[0, 0, 0] * 0.5 if bias else None
    r = dy if residual else None
    expected = _forward(False, monkeypatch, x, w, b, relu, r)
    assert not forward_jobs
    got = _forward(True, monkeypatch, x, w, b, relu, r)
    assert len(forward_jobs) == 1 and forward_jobs[0][jobs.FW_HAS_RES] == residual
    assert got.tobytes() == expected.tobytes()


def test_forward_job_declined_or_small_takes_the_prepared_calls(forward_jobs, native_pool, monkeypatch):
    p, _ = native_pool
    x, w, _, _ = _case(2, 8, 32, 32, np.float32)  # below the split: one chunk, here
    expected = _forward(False, monkeypatch, x, w, None, True, None)
    assert _forward(True, monkeypatch, x, w, None, True, None).tobytes() == expected.tobytes()
    x, w, _, _ = _case(5, 16, 32, 32, np.float32)
    expected = _forward(False, monkeypatch, x, w, None, True, None)
    monkeypatch.setattr(winograd_jobs, "NATIVE", True)
    conv.conv2d_forward(x, w, None, padding="same", relu=True)  # the first call: no plan yet
    p.workers[0].sleeping = True
    try:
        got = conv.conv2d_forward(x, w, None, padding="same", relu=True)
    finally:
        p.workers[0].sleeping = False
    assert not forward_jobs and got.tobytes() == expected.tobytes()


def test_a_pass_first_call_takes_the_prepared_calls(native_pool, forward_jobs, monkeypatch):
    """No plan (no job to compile or load) before a pass's second call."""
    _, ran = native_pool
    x, w, dy, out = _case(7, 16, 32, 32, np.float32, seed=5)
    monkeypatch.setattr(conv_jobs, "NATIVE", True)
    monkeypatch.setattr(winograd_jobs, "NATIVE", True)
    for calls in (1, 2):
        conv.conv2d_forward(x, w, None, padding="same")
        conv.conv2d_backward(dy.copy(), x, w, None, False, True, (1, 1), "same")
        assert len(forward_jobs) == len(ran) == calls - 1
