"""Native jobs (`kernels.native_jobs`): a job posted to the pool's spinning workers runs in them
without Python (`spin.publish_and_watch`'s ``serve``) and is done, or taken back untouched, when
the calling thread's kernel returns; `Pool.run_native` runs one only when every worker spins;
batch normalization's inference map and global average pooling's sums as jobs
(`kernels.inference_jobs`) give the bits of the pool's path, whoever takes part."""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest

from kerasette.backend import parallel, pool
from kerasette.backend.engine import normalization as bn
from kerasette.backend.engine import normalization_inference as inference
from kerasette.backend.engine import pooling as engine
from kerasette.backend.kernels import inference_jobs as jobs
from kerasette.backend.kernels import spin
from kerasette.backend.kernels.native_jobs import address_of, int64_array, run_job
from tests.backend import native_pool


@numba.cfunc(numba.types.void(numba.types.CPointer(numba.types.float64), numba.types.int64, numba.types.int64))
def _roll_call(data, arguments, me):
    """Marks ``arguments[1 + me]``; thread 0 waits up to ``arguments[0]`` turns for thread 1's mark."""
    cells = int64_array(arguments, 3)
    spin._store_release(cells, 1 + me, 1)
    if me == 0:
        for _ in range(cells[0]):
            if spin._load_acquire(cells, 2) == 1:
                return
            spin._pause()


@numba.njit(nogil=True)
def _run(slots, spins, function, cells):
    run_job(slots, spins, function, 0, address_of(cells))


@pytest.fixture
def spinning_pool(monkeypatch):
    """`native_pool.spinning_pool` with two threads."""
    p = native_pool.spinning_pool(monkeypatch, 2)
    yield p
    p.close()


def test_a_spinning_worker_runs_the_job_and_says_done(spinning_pool):
    cells = np.array([10**10, 0, 0], np.int64)  # thread 0 waits until the worker took part
    assert spinning_pool.run_native(lambda slots, spins: _run(slots, spins, _roll_call.address, cells))
    assert cells.tolist() == [10**10, 1, 1]
    assert spinning_pool.slots[0, spin.JOB] == spin.DONE
    assert spinning_pool.run([lambda: 7], lambda: 8) == ([7], 8)  # the pool's own tasks still run


def test_a_job_no_worker_takes_is_taken_back():
    slots = np.zeros((1, pool.SLOT_CELLS), np.int64)  # a slot nobody watches
    cells = np.array([1000, 0, 0], np.int64)
    _run(slots, 10, _roll_call.address, cells)
    assert cells.tolist() == [1000, 1, 0]
    assert slots[0, spin.JOB] == spin.IDLE


def test_publish_and_watch_serves_only_with_a_thread_number():
    cells = np.zeros(pool.SLOT_CELLS, np.int64)
    job = np.array([0, 0, 0], np.int64)
    cells[spin.JOB_FUNCTION], cells[spin.JOB_ARGUMENTS] = _roll_call.address, job.ctypes.data
    cells[spin.JOB] = spin.POSTED
    assert spin.publish_and_watch(cells, -1, 0, pool.SEQ, 0, 100, 0, 0) == 0
    assert cells[spin.JOB] == spin.POSTED and job.tolist() == [0, 0, 0]
    assert spin.publish_and_watch(cells, -1, 0, pool.SEQ, 0, 100, 0, 1) == 0
    assert cells[spin.JOB] == spin.DONE and job.tolist() == [0, 0, 1]



def test_run_native_declines_when_the_worker_cannot_take_a_job(spinning_pool):
    calls = []
    assert not pool.Pool(1).run_native(calls.append)  # no workers
    spinning_pool.lock.acquire()  # another thread is using the pool
    try:
        assert not spinning_pool.run_native(calls.append)
    finally:
        spinning_pool.lock.release()
    spinning_pool.spins = 0  # spinning off: a sleeping worker is woken by `run` only
    assert not spinning_pool.run_native(calls.append)
    spinning_pool.spins = 10
    spinning_pool.workers[0].sleeping = True
    assert not spinning_pool.run_native(calls.append)
    spinning_pool.workers[0].sleeping = False
    assert spinning_pool.run_native(lambda slots, spins: calls.append((slots.shape, spins)))
    assert calls == [((1, pool.SLOT_CELLS), 10)]


def _weights(chans, dtype, seed=0):
    rng = np.random.default_rng(seed)
    gamma, beta, mean = (rng.standard_normal(chans).astype(dtype) for _ in range(3))
    return gamma, beta, mean, (rng.random(chans) * 2 + 0.1).astype(dtype)


@pytest.fixture
def native_engine(spinning_pool, monkeypatch):
    """The engine's passes on `spinning_pool` (every call a native job), recording the jobs run."""
    ran = []
    native_pool.engine_on(monkeypatch, spinning_pool, 2)
    monkeypatch.setattr(inference.state.threads, "count", lambda: 2)
    for name, backward in (("batch_norm_inference_run", -2), ("global_avgpool_run", -3)):  # its argument's place
        kernel = getattr(jobs, name)
        monkeypatch.setattr(jobs, name, lambda *args, kernel=kernel, at=backward: ran.append(args[at]) or kernel(*args))
    with parallel.parallel_settings(memory_bound_min=0):
        yield ran


@pytest.mark.parametrize("shape, dtype, relu", [
    ((8, 16, 16, 64), "float32", False), ((8, 16, 16, 64), "float32", True), ((6, 10, 10, 16), "float32", False),
    ((300, 100), "float32", True), ((4, 12, 12, 32), "float64", True), ((2, 64), "float32", False)])
def test_batch_norm_inference_job_same_bits_as_the_pool_path(native_engine, monkeypatch, shape, dtype, relu):
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    weights = _weights(shape[-1], dtype)
    view = bn.channel_view(x.shape, tuple(range(x.ndim - 1)))
    native = [inference.inference_rows(view, x, *weights, 1e-3, relu) for _ in range(3)]
    assert native_engine == [True, False, True]  # the read order as the pool's path takes it
    monkeypatch.setattr(inference, "NATIVE", False)
    expected = inference.inference_rows(view, x, *weights, 1e-3, relu)
    assert len(native_engine) == 3
    for y in native:
        np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("shape, dtype", [((8, 16, 16, 64), np.float32), ((3, 37, 29, 5), np.float32),
                                          ((2, 112, 112, 64), np.float32), ((5, 9, 10, 7), np.float64)])
def test_global_average_pooling_job_same_bits_as_the_pool_path(native_engine, monkeypatch, shape, dtype):
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    native = [engine.global_avgpool2d_forward(x) for _ in range(3)]
    assert native_engine == [True, False, True]
    monkeypatch.setattr(engine, "NATIVE", False)
    expected = engine.global_avgpool2d_forward(x)
    assert len(native_engine) == 3
    for y in native:
        np.testing.assert_array_equal(y, expected)
    np.testing.assert_allclose(expected, x.astype(np.float64).mean(axis=(1, 2)), atol=1e-6 if dtype == np.float32 else 1e-14)


def test_jobs_from_two_threads_at_once_give_the_same_bits(native_engine):
    """A second thread finds the pool taken (`run_native` declines): the pool's path, inline."""
    x = np.random.default_rng(3).standard_normal((8, 32, 32, 64)).astype(np.float32)
    expected = engine.global_avgpool2d_forward(x)
    results = []
    threads = [threading.Thread(target=lambda: results.extend(engine.global_avgpool2d_forward(x) for _ in range(20)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40
    for y in results:
        np.testing.assert_array_equal(y, expected)


def test_three_threads_share_a_job(monkeypatch):
    p = native_pool.spinning_pool(monkeypatch, 3)
    try:
        x = np.random.default_rng(4).standard_normal((8, 16 * 16, 64)).astype(np.float32)
        k, rows = engine.global_segments(16 * 16, 64)
        sums, y = np.empty((8 * k, 64)), np.empty((8, 64), np.float32)
        expected = engine.global_avgpool2d_forward(x.reshape(8, 16, 16, 64))
        job = jobs.job_address(jobs.global_avgpool_job, x.dtype)
        for backward in (False, True):
            y[...] = np.nan
            assert p.run_native(lambda slots, spins, backward=backward: jobs.global_avgpool_run(
                slots, spins, job, x, k, rows, np.zeros(3, np.int64), backward, sums, y))
            np.testing.assert_array_equal(y, expected)
            assert set(p.slots[:, spin.JOB]) <= {spin.DONE, spin.IDLE}
    finally:
        p.close()
