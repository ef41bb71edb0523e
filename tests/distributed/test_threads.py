"""Thread budgets of a rank: BLAS threads go through the backend's one implementation."""

from __future__ import annotations

import pytest

from kerasette.backend import parallel
from kerasette.distributed import threads


def test_blas_thread_control_is_the_backends():
    assert threads.set_blas_threads is parallel.set_blas_threads
    assert threads.blas_threads is parallel.blas_threads


def test_set_blas_threads_says_how():
    before = parallel.blas_threads()
    if before is None:
        pytest.skip("no BLAS whose threads can be read")
    try:
        assert parallel.set_blas_threads(2) in ("openblas", "threadpoolctl")
        assert parallel.blas_threads() == 2
    finally:
        parallel.set_blas_threads(before)
    assert parallel.blas_threads() == before


def test_set_threads_sets_the_pool_and_blas():
    previous, blas_before = parallel.num_threads(), parallel.blas_threads()
    try:
        assert threads.set_threads(1) == 1
        assert parallel.num_threads() == 1
        assert parallel.blas_threads() in (None, 1)
    finally:
        parallel.set_num_threads(previous)
        if blas_before:
            parallel.set_blas_threads(blas_before)
