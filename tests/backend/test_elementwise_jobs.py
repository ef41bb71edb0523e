"""The fused elementwise passes as native jobs (`kernels.elementwise_jobs`): Add + ReLU, the ReLU
gradient (new array and in place) and the ReLU gradient of a sum give the pool path's bits and
numpy's, float32/float64, odd sizes, 2 and 3 threads; the pool's path where a job is declined."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.engine import elementwise as ew
from kerasette.backend.kernels import elementwise_jobs as jobs
from tests.backend.native_pool import engine_on, spinning_pool


@pytest.fixture(params=[2, 3])
def native_engine(request, monkeypatch):
    """The engine's passes on a pool whose workers spin for minutes (every large call a native
    job), recording the jobs run."""
    spinning = spinning_pool(monkeypatch, request.param)
    ran = []
    engine_on(monkeypatch, spinning, request.param)
    monkeypatch.setattr(jobs, "elementwise_run", lambda *args, run=jobs.elementwise_run: ran.append(args[2]) or run(*args))
    with parallel.parallel_settings(memory_bound_min=0):
        yield ran
    spinning.close()


def _passes(a, b, y):
    """Every pass on copies of its operands (the in-place ones write into theirs)."""
    return [ew.add_relu(a, b), ew.relu_grad(a, y), ew.relu_grad(a.copy(), y, in_place=True),
            ew.relu_grad_add(a.copy(), b, y)]


@pytest.mark.parametrize("size", [1, 7, 1000, 4099, 262147])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jobs_same_bits_as_the_pool_path_and_numpy(native_engine, monkeypatch, size, dtype):
    rng = np.random.default_rng(size)
    a, b = (rng.standard_normal((size,)).astype(dtype) for _ in range(2))
    y = np.maximum(rng.standard_normal(size), 0).astype(dtype)
    native = _passes(a, b, y)
    assert len(native_engine) == 4 and len(set(native_engine)) == 4  # four jobs, one C function each
    monkeypatch.setattr(ew, "NATIVE", False)
    for got, expected in zip(native, _passes(a, b, y)):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected)
    assert len(native_engine) == 4
    np.testing.assert_array_equal(native[0], np.maximum(a + b, 0))
    np.testing.assert_array_equal(native[1], np.where(y > 0, a, 0))
    np.testing.assert_array_equal(native[2], native[1])
    np.testing.assert_array_equal(native[3], np.where(y > 0, a + b, 0))


def test_jobs_write_in_place_and_keep_shapes(native_engine):
    rng = np.random.default_rng(5)
    g, h = (rng.standard_normal((3, 17, 9, 5)).astype(np.float32) for _ in range(2))
    y = np.maximum(rng.standard_normal(g.shape), 0).astype(np.float32)
    expected = np.where(y > 0, g + h, 0)
    out = ew.relu_grad_add(g, h, y)
    assert out is g
    np.testing.assert_array_equal(g, expected)
    assert ew.relu_grad(g, y, in_place=True) is g
    made = ew.add_relu(g[:, ::2], h[:, ::2])  # strided inputs: contiguous copies, a new C-contiguous output
    assert made.shape == (3, 9, 9, 5) and made.flags.c_contiguous
    np.testing.assert_array_equal(made, np.maximum(g[:, ::2] + h[:, ::2], 0))
    assert len(native_engine) == 3


def test_other_dtypes_take_the_pool_path(native_engine):
    a = np.arange(-50, 50, dtype=np.int32)
    np.testing.assert_array_equal(ew.add_relu(a, a), np.maximum(2 * a, 0))
    assert native_engine == []


def test_a_declined_job_takes_the_pool_path(native_engine, monkeypatch):
    monkeypatch.setattr(parallel, "run_native", lambda call: False)
    a = np.random.default_rng(6).standard_normal(5000).astype(np.float32)
    np.testing.assert_array_equal(ew.add_relu(a, -a[::-1]), np.maximum(a - a[::-1], 0))
    assert native_engine == []


def test_read_only_inputs(native_engine):
    rng = np.random.default_rng(7)
    a, b = (rng.standard_normal(3000).astype(np.float32) for _ in range(2))
    a.flags.writeable = b.flags.writeable = False
    np.testing.assert_array_equal(ew.add_relu(a, b), np.maximum(a + b, 0))
    np.testing.assert_array_equal(ew.relu_grad(a, b), np.where(b > 0, a, 0))
    assert len(native_engine) == 2


def test_native_jobs_from_native_min_below_the_pool_split(native_engine):
    """Passes of `NATIVE_MIN` values (below the pool path's `PASS_MIN`) are native jobs; smaller
    ones run in the calling thread (the default thresholds)."""
    assert ew.NATIVE_MIN < ew.PASS_MIN
    rng = np.random.default_rng(7)
    a, b = (rng.standard_normal(ew.NATIVE_MIN).astype(np.float32) for _ in range(2))
    with parallel.parallel_settings(memory_bound_min=1 << 20):
        np.testing.assert_array_equal(ew.add_relu(a, b), np.maximum(a + b, 0))
        assert len(native_engine) == 1
        np.testing.assert_array_equal(ew.add_relu(a[1:], b[1:]), np.maximum(a[1:] + b[1:], 0))
        assert len(native_engine) == 1


@pytest.mark.parametrize("size", [1, 1000, 4099, 262147])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_job_same_bits_as_the_pool_path(native_engine, monkeypatch, size, dtype):
    """Dropout's pass as a native job (`keep_scaled_job`): the pool path's bits and the numpy
    rule's (`reference_keep`), new array and in place."""
    from kerasette.backend.kernels import dropout as kernels

    ran = []
    monkeypatch.setattr(jobs, "dropout_run", lambda *args, run=jobs.dropout_run: ran.append(args[2]) or run(*args))
    x = np.random.default_rng(size).standard_normal(size).astype(dtype)
    k1, k2, threshold, scale = np.uint32(2654435769), np.uint32(12345), np.uint32(1 << 30), dtype(4 / 3)
    native = [ew.dropout(x, k1, k2, threshold, scale), ew.dropout(x.copy(), k1, k2, threshold, scale, in_place=True)]
    assert len(ran) == 2
    monkeypatch.setattr(ew, "NATIVE", False)
    pool_path = ew.dropout(x, k1, k2, threshold, scale)
    assert len(ran) == 2
    kept = kernels.reference_keep(np.arange(size), int(k1), int(k2), int(threshold))
    for got in native:
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, pool_path)
        np.testing.assert_array_equal(got, np.where(kept, x * scale, dtype(0)))
