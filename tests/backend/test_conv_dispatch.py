"""The engine splits a batch into one chunk of images per thread: any split gives the same
results as computing the whole batch in one thread."""

import re

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.engine import conv, conv_settings, parallel_settings, pooling


def _all_passes(x, w, strides, padding):
    y = conv.conv2d_forward(x, w, strides=strides, padding=padding, relu=True)
    dx = conv.conv2d_backward_input(np.ones_like(y), w, x.shape, strides, padding)
    dw = conv.conv2d_backward_weight(np.ones_like(y), x, w.shape, strides, padding)
    full = conv.conv2d_backward(np.ones_like(y), x, w, y, True, False, strides, padding)
    p, arg = pooling.maxpool2d_forward(x, (2, 2), strides, padding)
    dp = pooling.maxpool2d_backward(np.ones_like(p), arg, x.shape)
    return (y, dx, dw, *full[:2], p, dp)


@pytest.mark.parametrize("strides, padding, cin", [((1, 1), "valid", 3), ((1, 1), "same", 16), ((2, 2), "same", 3)])
@pytest.mark.parametrize("threads", [2, 3])
def test_thread_split_matches_one_thread(strides, padding, cin, threads):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 9, 8, cin))
    w = rng.normal(size=(3, 3, cin, 4))
    previous = parallel.num_threads()
    try:
        with conv_settings(parallel_min_elements=0), parallel_settings(memory_bound_min=0):  # pooling too
            parallel.set_num_threads(1)
            one = _all_passes(x, w, strides, padding)
            parallel.set_num_threads(threads)
            split = _all_passes(x, w, strides, padding)
    finally:
        parallel.set_num_threads(previous)
    for a, b in zip(one, split):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_chunks_cover_the_range_evenly():
    assert parallel.chunks(5, 2) == [(0, 3), (3, 5)]
    assert parallel.chunks(2, 4) == [(0, 1), (1, 2)]
    assert parallel.chunks(7, 3) == [(0, 3), (3, 5), (5, 7)]


def test_set_num_threads_rejects_bad_values():
    with pytest.raises(ValueError, match="set_num_threads: expected a positive integer; received 0"):
        parallel.set_num_threads(0)


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_output_pass_backward_matches_numpy(relu, dtype):
    rng = np.random.default_rng(3)
    dy = rng.normal(size=(4, 5, 6, 7)).astype(dtype)
    out = np.maximum(rng.normal(size=dy.shape), 0).astype(dtype)
    dz, db = conv.output_pass_backward(dy, out if relu else None, relu)
    expected = dy * (out > 0) if relu else dy
    np.testing.assert_allclose(dz, expected)
    np.testing.assert_allclose(db, expected.sum(axis=(0, 1, 2)), rtol=1e-5 if dtype == "float32" else 1e-12)
    assert dz.dtype == dtype and db.dtype == dtype


def test_parallel_matmul_splits_columns_correctly():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(5, 9))
    previous = parallel.num_threads()
    try:
        parallel.set_num_threads(2)
        with parallel_settings(matmul_min_work=0):
            np.testing.assert_allclose(parallel.matmul(a, b), a @ b, rtol=1e-12)
            np.testing.assert_allclose(parallel.matmul(a.T.copy().T, b.T.copy().T), a @ b, rtol=1e-12)
    finally:
        parallel.set_num_threads(previous)


def test_parallel_settings_change_the_thresholds_for_a_block():
    before = (parallel.matmul_min_work(), parallel.memory_bound_min())
    with parallel_settings(matmul_min_work=5, memory_bound_min=0):
        assert (parallel.matmul_min_work(), parallel.memory_bound_min()) == (5, 0)
    assert (parallel.matmul_min_work(), parallel.memory_bound_min()) == before == (1 << 24, 1 << 20)


@pytest.mark.parametrize("kwargs, message", [
    ({"matmul_min_work": -1}, "parallel_settings: argument `matmul_min_work` must be a non-negative integer; "
                              "received matmul_min_work=-1"),
    ({"memory_bound_min": 1.5}, "parallel_settings: argument `memory_bound_min` must be a non-negative integer; "
                                "received memory_bound_min=1.5"),
])
def test_parallel_settings_refuse_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        with parallel_settings(**kwargs):
            pass


def test_blas_is_taken_over_and_can_be_given_back():
    parallel.restore_blas_threads()
    before = parallel.blas_threads()
    parallel.map_chunks(lambda i, j: None, 4)
    assert parallel.blas_threads() in (None, 1)
    parallel.restore_blas_threads()
    assert parallel.blas_threads() == before
