"""`parallel.map_prepared`: chunks whose calls the calling thread makes ready before any runs,
handed to the pool with the shorter settle of prepared tasks (`pool.PREPARED_SETTLE_US`)."""

from __future__ import annotations

import functools
import threading
import time

import numpy as np
import pytest

from kerasette.backend import parallel, pool


@pytest.fixture
def threads():
    """Sets the thread count for a test (``threads(n)``), restoring it afterwards."""
    saved = parallel.num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(saved)


def _record(log, lock):
    """A chunk's call: records (chunk, start, stop, the thread running it); returns start."""
    def call(k, start, stop):
        with lock:
            log.append((k, start, stop, threading.get_ident()))
        return start
    return call


@pytest.mark.parametrize("count", [1, 2, 3])
def test_every_chunk_is_prepared_in_the_caller_then_runs_once_on_its_thread(threads, count):
    threads(count)
    prepared, ran, lock = [], [], threading.Lock()
    run = _record(ran, lock)

    def prepare(k, start, stop):
        prepared.append((k, start, stop, threading.get_ident()))
        return functools.partial(run, k, start, stop)

    parts = parallel.chunks(10, count)
    assert parallel.map_prepared(prepare, 10) == [start for start, _ in parts]
    me = threading.get_ident()
    assert prepared == [(k, a, b, me) for k, (a, b) in enumerate(parts)]
    assert sorted(r[:3] for r in ran) == [(k, a, b) for k, (a, b) in enumerate(parts)]
    by_chunk = {k: tid for k, _, _, tid in ran}
    assert by_chunk[0] == me  # chunk 0 in the caller, the others each in a worker
    assert len(set(by_chunk.values())) == count


def test_small_work_is_one_chunk_prepared_and_run_in_the_caller(threads):
    threads(2)
    prepared = []

    def prepare(k, start, stop):
        prepared.append((k, start, stop))
        return lambda: threading.get_ident()

    assert parallel.map_prepared(prepare, 8, min_work=100, work_per_item=10) == [threading.get_ident()]
    assert prepared == [(0, 0, 8)]
    assert parallel.map_prepared(prepare, 1) == [threading.get_ident()]  # one item: one chunk


def test_a_chunks_error_is_raised_after_every_chunk_finished(threads):
    threads(2)
    finished = []

    def prepare(k, start, stop):
        def call():
            if k == 0:
                raise ValueError("chunk 0 failed")
            time.sleep(0.05)
            finished.append(k)
        return call

    with pytest.raises(ValueError, match="chunk 0 failed"):
        parallel.map_prepared(prepare, 4)
    assert finished == [1]
    assert parallel.map_prepared(lambda k, a, b: lambda: b - a, 4) == [2, 2]  # the pool still works


def test_prepared_tasks_get_the_shorter_settle(monkeypatch):
    """The caller publishes a task (``publish == SEQ``) and waits `SETTLE_US`'s turns after the
    worker took it, `PREPARED_SETTLE_US`'s for prepared tasks; a pool that sleeps settles none."""
    monkeypatch.setenv("KERASETTE_POOL_SPIN_US", "2000")
    p = pool.Pool(2)
    p.contention.close()  # keep spinning: on a busy machine (CI) the contention check may turn it off
    p.contention = None
    try:
        settles = []
        watch = p.watch

        def recording(cells, publish, value, watched, old, spins, settle, serve=0):
            if publish == pool.SEQ:
                settles.append(settle)
            return watch(cells, publish, value, watched, old, spins, settle, serve)

        p.watch = recording
        turn = pool._spin_seconds()
        assert p.settle_spins == {False: int(pool.SETTLE_US * 1e-6 / turn), True: int(pool.PREPARED_SETTLE_US * 1e-6 / turn)}
        assert pool.PREPARED_SETTLE_US < pool.SETTLE_US
        for prepared in (False, True, False):
            settles.clear()
            for _ in range(50):  # a sleeping worker is woken instead (no settle): one spinning at least once
                assert p.run([lambda: 1], lambda: 2, prepared=prepared) == ([1], 2)
            assert settles and set(settles) == {p.settle_spins[prepared]}
    finally:
        p.close()
    monkeypatch.setenv("KERASETTE_POOL_SPIN_US", "0")
    sleeping = pool.Pool(2)
    try:
        assert sleeping.settle_spins == {False: 0, True: 0}
        assert sleeping.run([lambda: np.int64(3)], lambda: 4, prepared=True) == ([3], 4)
    finally:
        sleeping.close()


def test_chunks_are_kept_per_size_and_handed_out_as_new_lists():
    """`parallel.chunks` reads its ranges from a cache kept per size (a dispatch's 1 us): each
    call still gets a list of its own, so a caller that changes it changes no later answer."""
    first = parallel.chunks(37, 2)
    assert first == [(0, 19), (19, 37)]
    first.append((99, 100))
    assert parallel.chunks(37, 2) == [(0, 19), (19, 37)]
    assert parallel.chunks(37, 2) is not parallel.chunks(37, 2)


def test_the_contention_check_reads_the_workers_thread_ids_once_they_are_known(monkeypatch):
    """`Pool._adapt` hands `Contention.spinning` the workers' thread ids, kept from the first
    time every worker has said its own (not a new list at each hand-off)."""
    monkeypatch.setenv("KERASETTE_POOL_SPIN_US", "2000")
    p = pool.Pool(2)
    try:
        seen = []
        p.contention.spinning = lambda tids: seen.append(tids) or True
        for _ in range(200):  # the worker's loop says its id as it starts
            if p.workers[0].tid:
                break
            time.sleep(0.005)
        assert p.run([lambda: 1], lambda: 2) == ([1], 2)
        assert p.run([lambda: 3], lambda: 4, prepared=True) == ([3], 4)
        assert seen == [(p.workers[0].tid,)] * 2
        assert seen[0] is seen[1]
    finally:
        p.close()
