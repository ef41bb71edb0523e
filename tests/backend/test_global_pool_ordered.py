"""Global average pooling's ordered forward kernel (`kerasette.backend.kernels.global_pool`):
run at once in several threads it gives the bits of the plain kernels (segment sums, then the
means in segment order) against a float64 reference, whatever the threads' timing (late, none,
a reserve); the calling thread computes the means only once every segment is summed, and gives
up (the engine then computes them) when the others do not leave in time."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kerasette.backend.engine import pooling as engine
from kerasette.backend.kernels import global_pool as ordered
from kerasette.backend.kernels import pool as kernels
from kerasette.backend.parallel import parallel_settings

#: ticks: long enough for any thread here to leave, and a grace of a few microseconds
WAIT, GRACE = 10**10, 10**4


def plain(x: np.ndarray, k: int, rows: int) -> np.ndarray:
    """The plain kernels' means over all segments in one call."""
    sums = np.empty((x.shape[0] * k, x.shape[2]))
    kernels.global_avgpool_sums(x, k, rows, 0, x.shape[0] * k, sums)
    y = np.empty((x.shape[0], x.shape[2]), x.dtype)
    kernels.global_avgpool_mean(sums, k, x.shape[1], y)
    return y


def run(x, k, rows, parts, reserve=1, late=False, wait=WAIT, backward=False):
    """The kernel in ``parts`` threads at once (the calling thread's part in the main thread,
    after the others started, or, ``late``, before they start), each taking its own segments
    last one first when ``backward``; returns ``(y, state)``."""
    sums = np.full((x.shape[0] * k, x.shape[2]), np.nan)
    y = np.full((x.shape[0], x.shape[2]), np.nan, x.dtype)
    claims, state = np.zeros(parts, np.int64), np.zeros(ordered.STATE_CELLS, np.int64)

    def part(me):
        ordered.global_avgpool_ordered(x, k, rows, claims, state, me, reserve, wait, GRACE, backward, sums, y)

    others = [threading.Thread(target=part, args=(me,)) for me in range(1, parts)]
    if late:
        part(0)
    for t in others:
        t.start()
    if not late:
        part(0)
    for t in others:
        t.join()
    return y, state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parts", [1, 2, 3])
@pytest.mark.parametrize("reserve", [0, 1, 5])
@pytest.mark.parametrize("backward", [False, True])
def test_same_bits_as_the_plain_kernels_from_several_threads(dtype, parts, reserve, backward):
    """Either order of taking segments: the same bits (each segment is summed front to back
    into its own row, the rows added in segment order)."""
    rng = np.random.default_rng(parts + 10 * reserve)
    k, rows = 3, 5
    x = (rng.standard_normal((20, 13, 4)) * 3 + 2).astype(dtype)
    run(x[:1], k, rows, 1)  # compiled
    for _ in range(5):
        y, state = run(x, k, rows, parts, reserve, backward=backward)
        np.testing.assert_array_equal(y, plain(x, k, rows))
        assert state[ordered.MEANS] == 1 and state[ordered.SUMMED] == 20 * k
        assert state[ordered.LEFT] == state[ordered.STARTED]
    expected = x.astype(np.float64).mean(axis=1)
    tolerance = {"rtol": 1e-6, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-13, "atol": 1e-14}
    np.testing.assert_allclose(y, expected, **tolerance)


def test_the_calling_thread_alone_and_late_threads_that_find_nothing():
    x = np.random.default_rng(3).standard_normal((6, 10, 3)).astype(np.float32)
    for backward in (False, True):
        y, state = run(x, 2, 5, 3, late=True, backward=backward)  # the others start once the caller returned
        np.testing.assert_array_equal(y, plain(x, 2, 5))
        assert state[ordered.MEANS] == 1


def test_the_calling_thread_gives_up_on_a_thread_that_does_not_leave():
    """A pool thread counted as started that never leaves: the calling thread sums every
    segment, waits ``wait`` ticks and returns without the means (``state[MEANS]`` stays 0)."""
    x = np.random.default_rng(4).standard_normal((4, 6, 2))
    sums, y = np.empty((4, 2)), np.full((4, 2), np.nan)
    claims, state = np.zeros(2, np.int64), np.zeros(ordered.STATE_CELLS, np.int64)
    state[ordered.STARTED] = 1
    ordered.global_avgpool_ordered(x, 1, 6, claims, state, 0, 0, 1000, GRACE, False, sums, y)
    assert state[ordered.MEANS] == 0 and np.isnan(y).all()
    assert state[ordered.SUMMED] == 4  # its own segments and the silent thread's


def test_engine_computes_the_means_when_the_kernel_gave_up(monkeypatch):
    """The engine's fallback: a kernel that sums but leaves the means to the caller."""

    def sums_only(x, k, rows, claims, state, me, reserve, wait, grace, backward, sums, y):
        kernels.global_avgpool_sums_shared(x, k, rows, claims, me, sums)

    x = np.random.default_rng(5).standard_normal((5, 4, 6, 3)).astype(np.float32)
    expected = engine.global_avgpool2d_forward(x)
    monkeypatch.setattr(engine, "NATIVE", False)  # the pool's path (the native job's: test_native_jobs)
    monkeypatch.setattr(ordered, "global_avgpool_ordered", sums_only)
    with parallel_settings(memory_bound_min=0):
        np.testing.assert_array_equal(engine.global_avgpool2d_forward(x), expected)


def test_engine_reads_a_new_array_backward_and_the_same_array_the_other_way_each_call(monkeypatch):
    """`engine._read_backward`: backward for an array the last call did not read (a new object,
    even a new view of the same memory), then alternating while the same array is read again;
    the means the same bits in either order."""
    seen = []
    kernel = ordered.global_avgpool_ordered

    def spy(x, k, rows, claims, state, me, reserve, wait, grace, backward, sums, y):
        seen.append(backward)
        kernel(x, k, rows, claims, state, me, reserve, wait, grace, backward, sums, y)

    monkeypatch.setattr(ordered, "global_avgpool_ordered", spy)
    monkeypatch.setattr(engine, "NATIVE", False)  # the pool's path (the native job's: test_native_jobs)
    x = np.random.default_rng(6).standard_normal((6, 9, 10, 5)).astype(np.float32)
    expected = plain(x.reshape(6, 90, 5), 1, 90)
    with parallel_settings(memory_bound_min=0):
        outputs = [engine.global_avgpool2d_forward(x) for _ in range(3)]
        outputs.append(engine.global_avgpool2d_forward(x[:]))
        outputs.append(engine.global_avgpool2d_forward(x))
    threads = len(seen) // 5  # kernel calls per engine call: one per thread
    assert len(seen) == 5 * threads
    per_call = [seen[i:i + threads] for i in range(0, len(seen), threads)]
    assert [set(call) for call in per_call] == [{True}, {False}, {True}, {True}, {True}]  # both threads agree
    for y in outputs:
        np.testing.assert_array_equal(y, expected)
