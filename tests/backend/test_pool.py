"""The batch thread pool (`kerasette.backend.pool`) and its native wait (`kernels.spin`)."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time

import numpy as np
import pytest

from kerasette.backend import parallel, pool
from kerasette.backend.kernels.spin import publish_and_watch


@pytest.fixture(params=["spinning", "sleeping"])
def make_pool(request, monkeypatch):
    """Pools that wait spinning (the default) and pools whose threads sleep at once
    (``KERASETTE_POOL_SPIN_US=0``): the protocol must be right with either timing."""
    monkeypatch.setenv("KERASETTE_POOL_SPIN_US", "2000" if request.param == "spinning" else "0")
    made = []

    def make(threads):
        made.append(pool.Pool(threads))
        return made[-1]

    yield make
    for p in made:
        p.close()


# -- the native wait ------------------------------------------------------------------------------
def test_publish_and_watch_publishes_then_returns_old_when_nothing_changes():
    cells = np.zeros(8, np.int64)
    assert publish_and_watch(cells, 2, 7, 0, 0, 100, 0) == 0
    assert cells.tolist() == [0, 0, 7, 0, 0, 0, 0, 0]


def test_publish_and_watch_sees_a_change_at_once_and_with_no_turns():
    cells = np.zeros(8, np.int64)
    cells[1] = 5
    assert publish_and_watch(cells, -1, 0, 1, 4, 0, 0) == 5  # one look even with 0 turns
    assert publish_and_watch(cells, -1, 0, 1, 5, 0, 0) == 5  # unchanged: returns old


def test_publish_and_watch_sees_another_threads_write_while_spinning():
    cells = np.zeros(8, np.int64)
    timer = threading.Timer(0.02, lambda: cells.__setitem__(3, 9))
    timer.start()
    start = time.perf_counter()
    seen = publish_and_watch(cells, -1, 0, 3, 0, 10**10, 0)  # would spin for minutes unseen
    timer.join()
    assert seen == 9
    assert time.perf_counter() - start < 5


# -- the pool -------------------------------------------------------------------------------------
def test_run_returns_results_in_order_from_the_workers_threads(make_pool):
    p = make_pool(3)
    names = []

    def task(k):
        def run():
            names.append(threading.current_thread().name)
            return k * 10
        return run

    results, mine = p.run([task(1), task(2)], lambda: "caller")
    assert (results, mine) == ([10, 20], "caller")
    assert sorted(names) == ["kerasette-1", "kerasette-2"]


def test_many_runs_with_uneven_work_neither_lose_nor_repeat_a_task(make_pool):
    p = make_pool(2)
    rng = random.Random(0)
    counts = [0, 0]

    def work(k, seconds):
        def run():
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                pass
            counts[k] += 1
            return k
        return run

    for _ in range(400):
        worker_s, own_s = rng.choice([0, 1e-5, 3e-4]), rng.choice([0, 1e-5, 3e-4])
        if rng.random() < 0.05:
            time.sleep(0.004)  # past the spin: the worker sleeps and is woken
        assert p.run([work(1, worker_s)], work(0, own_s)) == ([1], 0)
    assert counts == [400, 400]


def test_an_error_is_raised_after_every_task_has_finished(make_pool):
    p = make_pool(3)
    finished = []

    def slow():
        time.sleep(0.05)
        finished.append("slow")

    def failing():
        raise ValueError("task failed")

    with pytest.raises(ValueError, match="task failed"):
        p.run([failing, slow], lambda: None)
    assert finished == ["slow"]
    with pytest.raises(KeyError, match="own failed"):  # the caller's own error, workers joined first
        p.run([slow], lambda: (_ for _ in ()).throw(KeyError("own failed")))
    assert finished == ["slow", "slow"]
    assert p.run([lambda: 1], lambda: 2) == ([1], 2)  # still usable


def test_a_task_not_started_is_taken_back_with_cancel_waiting(make_pool):
    p = make_pool(2)
    release = threading.Event()
    holder = threading.Thread(target=p.run, args=([lambda: release.wait(10)], lambda: release.wait(10)))
    holder.start()  # another caller holds the pool: this one runs its tasks inline
    try:
        time.sleep(0.01)
        ran = []
        assert p.run([lambda: ran.append("task")], lambda: ran.append("own")) == ([None], None)
        assert ran == ["own", "task"]
    finally:
        release.set()
        holder.join()
    worker = p.workers[0]
    worker.submit(lambda: "never")  # a task published while the worker cannot have taken it yet...
    taken_back = worker.cancel_if_waiting()
    if not taken_back:
        assert worker.join() == "never"
    assert p.run([lambda: "next"], lambda: None) == (["next"], None)  # ...the next one still runs


def test_a_task_that_splits_again_runs_its_split_inline(make_pool):
    p = make_pool(2)
    inner = []
    results, _ = p.run([lambda: p.run([lambda: inner.append(threading.current_thread().name) or 1],
                                       lambda: 2)], lambda: None)
    assert results == [([1], 2)]
    assert inner == ["kerasette-1"]


def test_set_num_threads_replaces_the_pool():
    from kerasette.backend import state

    before = state.threads.count()
    try:
        parallel.set_num_threads(3)
        names = set()
        parallel.map_chunks(lambda i, j: names.add(threading.current_thread().name), 3)
        assert len(names) == 3
        parallel.set_num_threads(2)
        names.clear()
        parallel.map_chunks(lambda i, j: names.add(threading.current_thread().name), 3)
        assert len(names) == 2
    finally:
        state.threads.set_count(before)


def _split_in_child(queue):
    queue.put(parallel.map_chunks(lambda i, j: j - i, 10))


def test_a_forked_child_makes_its_own_pool():
    from kerasette.backend import state

    before = state.threads.count()
    try:
        parallel.set_num_threads(2)
        parallel.map_chunks(lambda i, j: j - i, 10)  # the parent's pool exists
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_split_in_child, args=(queue,))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert queue.get(timeout=5) == [5, 5]
    finally:
        state.threads.set_count(before)


def test_run_refuses_more_tasks_than_workers(make_pool):
    with pytest.raises(ValueError, match="Pool.run: 2 tasks for 1 workers"):
        make_pool(2).run([lambda: 1, lambda: 2], lambda: 0)


def test_tasks_taken_back_while_the_worker_lags_never_run_and_never_break_it(make_pool):
    """The caller does not wait for the worker to take a task (no acknowledgement wait), does the
    work itself in Python (holding the GIL the worker needs), and takes the task back: the worker
    arrives late at task numbers already taken back and replaced, and must neither run a task
    taken back nor fail; every task it did take ran exactly once."""
    p = make_pool(2)
    p._budgets = (p._budgets[0], 0)
    ran = []
    for k in range(3000):
        p.ack_spins = 0
        results, _ = p.run([lambda k=k: ran.append(k) or k], lambda: sum(range(200)), cancel_waiting=True)
        assert results in ([None], [k])
        if results == [k]:
            assert ran[-1] == k
    assert len(ran) == len(set(ran))
    assert p.run([lambda: "after"], lambda: None) == (["after"], None)


def test_a_late_worker_takes_the_latest_task_not_one_taken_back(make_pool):
    """The worker's view after the caller took two tasks back (the worker having seen neither in
    time) and published a third: it takes the third; with the third taken back too, nothing."""
    p = make_pool(1)
    p.ack_spins = 0
    worker = pool._Worker(p, 1, start=False)  # its loop not running: the test plays it
    for _ in range(2):
        worker.submit(lambda: "taken back")
        assert worker.cancel_if_waiting()
    worker.submit(lambda: "third")
    seq, task = worker._take(seen=0)
    assert (seq, task()) == (3, "third")
    worker.submit(lambda: "fourth")
    assert worker.cancel_if_waiting()
    assert worker._take(seen=3) == (4, None)
    assert worker.cells[pool.DONE] == 4


def test_fetch_add_hands_out_each_number_once_to_concurrent_threads():
    """`spin.fetch_add` from several threads at once (each in its own native loop without the
    GIL): every number below the end is taken exactly once."""
    import numba

    from kerasette.backend.kernels.spin import fetch_add

    @numba.njit(nogil=True)
    def take_all(counter, end, taken):
        while True:
            n = fetch_add(counter, 0, 1)
            if n >= end:
                return
            taken[n] += 1

    end = 200_000
    counter, taken = np.zeros(1, np.int64), np.zeros(end, np.int64)
    take_all(np.zeros(1, np.int64), 0, taken)  # compiled before the threads start
    threads = [threading.Thread(target=take_all, args=(counter, end, taken)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (taken == 1).all()


# -- the spinning decision ------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeStats:
    """Readings ``(run_delay_ns, voluntary, involuntary)`` per thread that the test moves on by
    hand, as /proc would between two periods."""

    def __init__(self, threads=2):
        self.rows = [[0, 0, 0] for _ in range(threads)]
        self.fail = False
        self.calls = 0

    def __call__(self, tids):
        self.calls += 1
        return None if self.fail else [tuple(row) for row in self.rows[:len(tids)]]

    def advance(self, delay_ms, voluntary, involuntary):
        """Every thread waited ``delay_ms`` over ``voluntary`` and ``involuntary`` switches."""
        for row in self.rows:
            row[0] += int(delay_ms * 1e6)
            row[1] += voluntary
            row[2] += involuntary


def _contention():
    stats, clock = FakeStats(), FakeClock()
    return pool.Contention(reader=stats, clock=clock), stats, clock


def _period(check, stats, clock, delay_ms, voluntary, involuntary):
    """One `Contention.PERIOD` in which each thread waited ``delay_ms`` over the given switches;
    returns the decision at its end."""
    stats.advance(delay_ms, voluntary, involuntary)
    clock.now += check.PERIOD
    return check.spinning([1234])


def test_waiting_after_sleeps_alone_keeps_the_threads_spinning():
    """Nearly half of every period spent waking from sleeps (voluntary switches only: pauses,
    the GIL), 180 us each (an idle core waking up), is not contention."""
    check, stats, clock = _contention()
    assert check.spinning([1234])
    for _ in range(20):
        assert _period(check, stats, clock, delay_ms=9, voluntary=50, involuntary=0)


def test_long_waits_after_sleeps_switch_spinning_off():
    """Wake-ups that each wait a millisecond (another task's time slice) are contention."""
    check, stats, clock = _contention()
    check.spinning([1234])
    assert not _period(check, stats, clock, delay_ms=10, voluntary=10, involuntary=0)


def test_waiting_after_preemption_switches_spinning_off():
    check, stats, clock = _contention()
    check.spinning([1234])
    assert _period(check, stats, clock, delay_ms=0.1, voluntary=2, involuntary=0)
    assert not _period(check, stats, clock, delay_ms=8, voluntary=1, involuntary=5)  # 40% lost
    # off: no readings until the retry
    calls = stats.calls
    clock.now += check.RETRY / 2
    assert not check.spinning([1234])
    assert stats.calls == calls


def test_a_few_preemptions_among_many_wake_ups_count_by_their_share():
    """Each thread's delay counts in the share of its switches that were involuntary: one
    preemption among 99 wake-ups over 6 ms of delay is 0.06 ms, not contention; the same
    delay over mostly preemptions is."""
    check, stats, clock = _contention()
    check.spinning([1234])
    assert _period(check, stats, clock, delay_ms=6, voluntary=99, involuntary=1)
    assert not _period(check, stats, clock, delay_ms=6, voluntary=1, involuntary=9)


def test_lost_share_takes_the_larger_of_the_preempted_share_and_the_excess_over_wake_ups():
    wake = pool.Contention.WAKE
    before = [(0, 0, 0), (0, 0, 0)]
    # 4 ms over 30 wake-ups and 10 preemptions: a quarter, 1 ms, after preemption; 4 ms - 30 WAKE
    after = [(4_000_000, 30, 10), (0, 5, 0)]
    expected = max(1e-3, 4e-3 - 30 * wake)
    assert pool.Contention.lost_share(before, after, 0.01) == pytest.approx(expected / (0.01 * 2))
    after = [(4_000_000, 3, 1), (0, 5, 0)]  # 4 ms over 3 wake-ups and a preemption
    assert pool.Contention.lost_share(before, after, 0.01) == pytest.approx((4e-3 - 3 * wake) / (0.01 * 2))


def test_off_retries_after_retry_seconds_and_stays_on_while_quiet():
    check, stats, clock = _contention()
    check.spinning([1234])
    assert not _period(check, stats, clock, delay_ms=10, voluntary=0, involuntary=10)
    clock.now += check.RETRY + 1e-9
    assert check.spinning([1234])  # the try; its first period decides
    for _ in range(100):  # wake-ups from sleeps while it spins again do not switch it off
        assert _period(check, stats, clock, delay_ms=5, voluntary=40, involuntary=0)


def test_failed_tries_back_off_doubling_up_to_the_cap_and_a_long_spell_resets():
    check, stats, clock = _contention()
    check.spinning([1234])
    assert not _period(check, stats, clock, delay_ms=10, voluntary=0, involuntary=10)
    waits = []
    for _ in range(8):  # steady contention: each try fails in its first period
        wait = check.retry
        clock.now += wait / 2
        assert not check.spinning([1234])  # not yet
        clock.now += wait / 2 + 1e-9
        assert check.spinning([1234])
        assert not _period(check, stats, clock, delay_ms=10, voluntary=0, involuntary=10)
        waits.append(wait)
    assert waits[:4] == pytest.approx([check.RETRY * 2 ** k for k in range(4)])
    assert max(waits) == check.RETRY_MAX == waits[-1]
    clock.now += check.retry + 1e-9
    assert check.spinning([1234])
    for _ in range(int(check.SETTLED / check.PERIOD) + 1):  # the contention went away
        assert _period(check, stats, clock, delay_ms=0, voluntary=5, involuntary=0)
    assert not _period(check, stats, clock, delay_ms=10, voluntary=0, involuntary=10)
    assert check.retry == check.RETRY  # after a long spell on, the first wait again


def test_failed_readings_and_new_threads_decide_nothing():
    check, stats, clock = _contention()
    check.spinning([1234])
    stats.fail = True
    assert _period(check, stats, clock, delay_ms=10, voluntary=0, involuntary=10)
    stats.fail = False
    # the readings before and after a failure are not compared
    assert _period(check, stats, clock, delay_ms=0, voluntary=0, involuntary=0)
    stats.advance(10, 0, 10)
    clock.now += check.PERIOD
    assert check.spinning([1234, 99])  # another set of threads: a new baseline
    assert _period(check, stats, clock, delay_ms=0, voluntary=1, involuntary=0)


def test_no_scheduler_statistics_means_no_spinning(monkeypatch):
    monkeypatch.setattr(pool.ThreadStats, "available", staticmethod(lambda: False))
    check = pool.Contention()
    assert check.reader is None and not check.spinning([1])


@pytest.mark.skipif(not pool.ThreadStats.available(), reason="Linux /proc only")
def test_thread_stats_reads_this_and_another_thread():
    import threading as _threading

    stats = pool.ThreadStats()
    ready, done = _threading.Event(), _threading.Event()
    other = _threading.Thread(target=lambda: (ready.set(), done.wait(10)))
    other.start()
    ready.wait(10)
    try:
        first = stats([_threading.get_native_id(), other.native_id])
        time.sleep(0.01)  # a voluntary switch of this thread
        second = stats([_threading.get_native_id(), other.native_id])
        assert len(first) == len(second) == 2
        assert all(len(row) == 3 and min(row) >= 0 for row in first)
        assert second[0][1] > first[0][1]  # the file is read anew at each call
    finally:
        done.set()
        other.join()
    assert stats([_threading.get_native_id(), 0]) is None  # a thread id with no /proc entry
    assert len(stats([_threading.get_native_id()])) == 1  # and reads again afterwards
    stats.close()
