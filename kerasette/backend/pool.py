"""The batch threads: workers that wait for work spinning, then sleeping.

`kerasette.backend.parallel` splits an op's work between the calling thread and ``n - 1``
workers of this pool. A hand-off through a sleeping thread (a queue and a condition, as in
``concurrent.futures``) costs a wake-up at the start and another at the join: 50-70 us each on
a 2-core virtual machine whose idle cores halt, which is a fifth of a 32x32x64 batch
normalization's time, and which a ResNet's hundred dispatches a step pay every step. So a
worker, having finished, first watches its slot for the next task in native code without the
GIL (`kerasette.backend.kernels.spin`) for ``KERASETTE_POOL_SPIN_US`` microseconds (default
2000; 0: sleep at once), and only then sleeps; the caller joins the same way. OpenMP's threads,
PyTorch's, wait like this.

The GIL is handed over without sleeps too: the caller publishes a task from native code (the GIL
already released) and watches for the worker's acknowledgement, which the worker writes as soon
as it has the GIL; the caller then lets the worker run its few microseconds of Python into its
kernel (``settle``) before it takes the GIL back. The worker publishes "finished" from native
code as well, after it has let the GIL go. Where a wait runs out (a busy machine), the thread
sleeps on a semaphore as before: the protocol below is correct with any timing; spinning only
makes the usual case fast.

A worker spinning for its next task also runs *native jobs* where it is (`run_native`,
`kerasette.backend.kernels.native_jobs`): a C function the caller's kernel posts in every slot,
run without the GIL and without returning to Python, for a memory-bound pass of one kernel call
per thread (batch normalization's inference map, global average pooling), where a task's two
GIL hand-overs cost about a tenth of the pass.

One caller at a time: `run` takes the pool's lock without waiting, and a second caller (another
thread of the user's, or a worker's task that splits again) runs its work inline instead.

A slot's cells (int64), written as the comments in `_Worker` say::

    SEQ      the task number the caller published (the worker watches it)
    PENDING  the task number the caller promised, written under the lock before SEQ
    ACK      the task number the worker took (under the lock)
    DONE     the task number the worker finished (under the lock)
    FREE     the task number the worker finished, written after it released the GIL
    JOB ...  a native job's state, C function and arguments (`kernels.spin.JOB`)
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

SEQ, PENDING, ACK, DONE, FREE = range(5)
#: cells of a worker's slot (after the five above, a native job's: `kernels.spin.JOB` ...)
SLOT_CELLS = 16

#: Microseconds a worker spins for its next task, and the caller for a worker to finish, before
#: they sleep (``KERASETTE_POOL_SPIN_US``).
SPIN_US = 2000
#: Microseconds the caller waits for a spinning worker to take a task; after that it goes on
#: with its own part (the worker may not be getting a core).
ACK_US = 200
#: Microseconds the caller waits after the worker took the task (its Python until its kernel
#: releases the GIL) before it takes the GIL back. At 8 us a worker often still ran Python when the
#: caller took the GIL, blocked on it and slept (about one voluntary switch per hand-off in a
#: ResNet-20 prediction); at 30 us: ResNet-20 predict 13.5 -> 12.0 ms, training 58.2 -> 57.5 ms,
#: cifar32 12.4 -> 12.1 ms, predict100 unchanged (medians of 3-6 alternating runs).
SETTLE_US = 30
#: `SETTLE_US` for tasks prepared in the calling thread (`kerasette.backend.parallel.map_prepared`:
#: the worker only calls a kernel, its arguments made): from the acknowledgement to the kernel's
#: release of the GIL took 21 us for a Winograd chunk's own Python (18.6 of them in the engine,
#: with the caches of the worker's core cold after its last pass), 3-5 us for a prepared call.
#: ResNet-20 predict, batch 32, its 16 Winograd passes prepared (a prototype), in-process
#: alternating blocks (180 calls each, load 10): settle 30 unprepared 11.10 ms; prepared, settle
#: 8: 11.00, 12: 10.89, 16: 10.91, 20: 10.94; at load 3-5, unprepared vs prepared at 12 us
#: differed by -0.12 to +0.25 ms (noise). The seed convnet's prediction (its elementwise passes
#: prepared), settle 6, 12, 20, 30 us: 35.2, 35.1, 34.8, 34.9 ms (noise).
PREPARED_SETTLE_US = 12


def spin_budget_us() -> int:
    """``KERASETTE_POOL_SPIN_US`` when it is a non-negative integer, else `SPIN_US`."""
    value = os.environ.get("KERASETTE_POOL_SPIN_US", "").strip()
    return int(value) if value.isdigit() else SPIN_US


class _Worker:
    """One worker thread and its slot."""

    def __init__(self, pool: Pool, index: int, start: bool = True, cells: np.ndarray | None = None):
        self.pool = pool
        self.index = index
        self.cells = np.zeros(SLOT_CELLS, np.int64) if cells is None else cells
        self.lock = threading.Lock()
        self.wake = threading.Semaphore(0)  # released by the caller when `sleeping`
        self.joined = threading.Semaphore(0)  # released by the worker when `joiner_waiting`
        self.sleeping = False
        self.joiner_waiting = False
        self.cancelled = 0
        self.seq = 0  # the caller's last task number
        self.tid: int | None = None
        self.task = None
        self.result = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name=f"kerasette-{index}", daemon=True)
        if start:
            self.thread.start()

    # -- the worker's side ----------------------------------------------------------------------
    def _loop(self) -> None:
        self.tid = threading.get_native_id()
        cells, pool = self.cells, self.pool
        watch = pool.watch
        seen = 0
        while not pool.closed:
            seq = watch(cells, FREE, seen, SEQ, seen, pool.spins, 0, self.index)  # serving native jobs
            if pool.closed:
                return
            if seq == seen:
                with self.lock:  # nothing new: sleep, unless the caller has promised a task
                    sleep = self.sleeping = cells[PENDING] == seen
                if sleep:
                    self.wake.acquire()
                continue
            seq, task = self._take(seen)
            if task is None:
                seen = seq
                continue
            try:
                self.result, self.error = task(), None
            except BaseException as error:  # raised in the caller after the join
                self.result, self.error = None, error
            task = None  # the closure's arrays are not kept until the next task
            with self.lock:
                cells[DONE] = seen = seq
                if self.joiner_waiting:
                    self.joiner_waiting = False
                    self.joined.release()

    def _take(self, seen: int):
        """``(number, task)`` of the task to run now, after SEQ moved past ``seen``: the latest
        promised (PENDING), not the SEQ the worker saw, since a worker held up for a while (a
        busy machine) may have seen SEQ at a task the caller has since taken back and replaced.
        The task is None (and marked done) when the caller took it back or there is none."""
        cells = self.cells
        with self.lock:
            seq = int(cells[PENDING])
            if self.cancelled == seq or seq == seen:
                cells[DONE] = seq
                return seq, None
            cells[ACK] = seq
            task, self.task = self.task, None
            return seq, task

    # -- the caller's side ----------------------------------------------------------------------
    def submit(self, task, settle_spins: int | None = None) -> None:
        """Gives the worker ``task`` (a callable without arguments); when the worker is spinning,
        waits ``settle_spins`` turns (default: `SETTLE_US`'s) after it took the task before
        taking the GIL back."""
        cells, pool = self.cells, self.pool
        if settle_spins is None:
            settle_spins = pool.settle_spins[False]
        self.seq += 1
        seq = self.seq
        self.task = task
        acked = int(cells[ACK])
        with self.lock:
            cells[PENDING] = seq
            asleep = self.sleeping
            if asleep:
                self.sleeping = False
                cells[SEQ] = seq
                self.wake.release()
        if not asleep:  # spinning: publish without the GIL, and let the worker take it
            pool.watch(cells, SEQ, seq, ACK, acked, pool.ack_spins, settle_spins, 0)

    def cancel_if_waiting(self) -> bool:
        """Takes the last task back when the worker has not started it; True when it did."""
        with self.lock:
            if self.cells[ACK] == self.seq or self.cells[DONE] == self.seq:
                return False
            self.cancelled = self.seq
            self.task = None
            return True

    def join(self):
        """Waits for the last task; returns its result or raises its error."""
        cells, seq = self.cells, self.seq
        seen = int(cells[FREE])
        while seen != seq:
            changed = self.pool.watch(cells, -1, 0, FREE, seen, self.pool.spins, 0, 0)
            if changed == seen:  # the wait ran out: sleep until the worker is done
                with self.lock:
                    self.joiner_waiting = cells[DONE] != seq
                    waiting = self.joiner_waiting
                if waiting:
                    self.joined.acquire()
                break
            seen = changed
        error, self.error = self.error, None
        result, self.result = self.result, None
        if error is not None:
            raise error
        return result


class Pool:
    """``threads - 1`` workers (the caller is the other thread)."""

    def __init__(self, threads: int):
        from kerasette.backend.kernels.spin import publish_and_watch  # deferred: numba, not at import

        #: the native wait every thread of the pool uses (imported once, not at each hand-off)
        self.watch = publish_and_watch
        self.closed = False
        self.lock = threading.Lock()
        spin_us = spin_budget_us()
        per_spin = _spin_seconds()
        self._budgets = (int(spin_us * 1e-6 / per_spin), int(min(ACK_US, spin_us) * 1e-6 / per_spin))
        #: the caller's settle (turns) after a worker took a task, by `run`'s ``prepared``
        self.settle_spins = {False: int(SETTLE_US * 1e-6 / per_spin) if spin_us else 0,
                             True: int(PREPARED_SETTLE_US * 1e-6 / per_spin) if spin_us else 0}
        self.spins, self.ack_spins = self._budgets
        self.contention = Contention() if spin_us else None
        self._tids: tuple = ()
        #: the workers' slots, one row each (`native_jobs` posts to all at once), a row's cells
        #: in cache lines of their own
        self.slots = _aligned_rows(max(0, threads - 1), SLOT_CELLS)
        self.workers = [_Worker(self, i + 1, cells=self.slots[i]) for i in range(max(0, threads - 1))]

    def _worker_tids(self) -> tuple:
        """The workers' thread ids, kept once every worker has said its own (`_Worker._loop`)."""
        tids = tuple(w.tid for w in self.workers)
        if all(tids):
            self._tids = tids
        return tids

    def _adapt(self) -> None:
        """Spins only while the pool's threads get their cores (see `Contention`)."""
        spinning = self.contention.spinning(self._tids or self._worker_tids())
        self.spins, self.ack_spins = self._budgets if spinning else (0, 0)

    def run(self, tasks, own, cancel_waiting: bool = False, prepared: bool = False) -> tuple[list, object]:
        """Runs ``tasks[k]()`` on worker ``k`` and ``own()`` in the calling thread; returns
        ``(results of tasks, result of own)`` once every started task has finished (a task's
        error, or ``own``'s, raised after that).

        With ``cancel_waiting``, tasks that no worker has started when ``own`` returns are
        taken back (their result None): for work that ``own`` may finish on its own.
        ``prepared``: each task runs little Python before its kernel releases the GIL (a call
        whose arguments the caller made), so the caller takes the GIL back sooner after a worker
        took its task (`PREPARED_SETTLE_US` instead of `SETTLE_US`).

        When another thread is using the pool, every task runs here, one after the other.
        """
        if type(tasks) is not list:
            tasks = list(tasks)
        if len(tasks) > len(self.workers):
            raise ValueError(f"Pool.run: {len(tasks)} tasks for {len(self.workers)} workers")
        if not self.lock.acquire(blocking=False):
            mine = own()
            return [task() for task in tasks], mine
        try:
            if self.contention is not None:
                self._adapt()
            workers = self.workers[:len(tasks)]
            settle = self.settle_spins[bool(prepared)]
            for worker, task in zip(workers, tasks):
                worker.submit(task, settle)
            try:
                mine = own()
            finally:
                joined = [not (cancel_waiting and worker.cancel_if_waiting()) for worker in workers]
                results, errors = [], []
                for worker, join in zip(workers, joined):
                    try:
                        results.append(worker.join() if join else None)
                    except BaseException as error:  # every worker joined before any error is raised
                        results.append(None)
                        errors.append(error)
            if errors:
                raise errors[0]
            return results, mine
        finally:
            self.lock.release()

    def run_native(self, call) -> bool:
        """Calls ``call(slots, spins)`` (a kernel that runs a native job with every worker:
        `kerasette.backend.kernels.native_jobs`) when every worker is spinning, and returns True;
        False without calling it when a worker sleeps or spinning is off (a busy machine: then
        only `run` wakes them), another thread is using the pool, or there are no workers."""
        if self.closed or not self.workers or not self.lock.acquire(blocking=False):
            return False
        try:
            if self.contention is not None:
                self._adapt()
            if not self.spins or any(worker.sleeping for worker in self.workers):
                return False
            call(self.slots, self.spins)
            return True
        finally:
            self.lock.release()

    def close(self) -> None:
        """Lets the workers end (they finish their spin or wake, and return)."""
        self.closed = True
        if self.contention is not None:
            self.contention.close()
        for worker in self.workers:
            with worker.lock:
                worker.cells[PENDING] = worker.cells[SEQ] = worker.seq + 1
                if worker.sleeping:
                    worker.sleeping = False
                    worker.wake.release()


class Contention:
    """Whether the pool's threads should spin: not while other work wants their cores.

    A spinning thread is only cheap on a core nobody else wants. When other programs (or more
    kerasette threads than cores) share the cores, a spinning worker takes the time slices the
    calling thread needs, and a 2-core machine at load 10 trained 2-3x slower with spinning than
    with sleeping threads.

    What is measured: the time the pool's threads (the caller and the workers) were runnable but
    kept off a core by the scheduler (``run_delay``, the second field of Linux's
    ``/proc/.../schedstat``), as a share of their wall time, every `PERIOD` seconds while they
    spin. That delay has two sources:

    * a thread preempted while it wanted to run (an *involuntary* context switch) waits for
      another task's time slice: milliseconds under contention;
    * a thread that went to sleep (the pool's semaphores after an idle spell, the GIL,
      ``time.sleep``, I/O) waits, once woken, for a core: for the core to wake up, 50-150 us on
      a virtual machine whose idle cores halt, with no other program anywhere (a pass of a few
      hundred microseconds after a pause reads as "half its time waiting" though nobody wanted
      the core), or, under contention, for another task's time slice to end.

    So a thread's delay counts as lost to contention in the proportion of its switches that were
    involuntary, or as far as it exceeds `WAKE` per voluntary switch, whichever is more (the
    ``nonvoluntary_ctxt_switches`` and ``voluntary_ctxt_switches`` of ``/proc/.../status``):
    above `OFF` of the threads' time, they stop spinning (they sleep at once, as a plain thread
    pool). While they sleep every hand-off is a wake-up, so the delay then says nothing about
    contention; instead the pool tries spinning again after `RETRY` seconds and keeps it while
    the same measure stays under `OFF`. A try that ends within `SETTLED` seconds doubles the wait
    before the next (up to `RETRY_MAX`: under steady contention the tries cost about one
    `PERIOD` of spinning every 2 s); a spell of spinning longer than that resets it, so that
    short bursts of contention now and then (another program's time slice, real-time throttling
    under ``chrt``: 50 ms a second) cost `RETRY` of sleeping threads each. Where the OS
    does not say (no ``/proc/thread-self/schedstat``), the threads do not spin.

    Args:
        reader: ``reader(tids)`` -> one ``(run_delay_ns, voluntary, involuntary)`` per thread id
            (the caller's first), or None when a reading failed; default `ThreadStats` (Linux's
            /proc), None where there is none. Tests pass fake readings.
        clock: seconds, monotonic (default ``time.perf_counter``).
    """

    PERIOD = 0.02
    OFF = 0.05
    WAKE = 200e-6
    RETRY = 0.02
    RETRY_MAX = 2.0
    SETTLED = 0.25

    def __init__(self, reader=None, clock=time.perf_counter) -> None:
        if reader is None and ThreadStats.available():
            reader = ThreadStats()
        self.reader = reader
        self.clock = clock
        self.on = reader is not None
        self.retry = self.RETRY
        self._next = 0.0
        self._since = -float("inf")  # the first spell of spinning is not a try
        self._last: tuple[float, tuple, list] | None = None

    def spinning(self, tids) -> bool:
        """Whether to spin now (``tids``: the workers' thread ids; the caller is the current
        thread)."""
        now = self.clock()
        if self.reader is None or now < self._next:
            return self.on
        if not self.on:  # a try: spin again, and let the next readings decide
            self.on, self._since, self._last = True, now, None
        threads = (threading.get_native_id(), *(tid for tid in tids if tid))
        reading = self.reader(threads)
        self._next = now + self.PERIOD
        if reading is None:
            self._last = None
            return self.on
        last, self._last = self._last, (now, threads, reading)
        if last is not None and last[1] == threads and self.lost_share(last[2], reading, now - last[0]) > self.OFF:
            self.on, self._last = False, None
            self.retry = min(2 * self.retry, self.RETRY_MAX) if now - self._since < self.SETTLED else self.RETRY
            self._next = now + self.retry
        return self.on

    @classmethod
    def lost_share(cls, before, after, seconds: float) -> float:
        """The share of ``seconds`` the threads lost to contention between two readings: for
        each thread, the larger of its new ``run_delay`` times the share of its new switches
        that were involuntary and its new ``run_delay`` beyond `WAKE` per new voluntary switch;
        summed, over ``seconds`` times the number of threads."""
        lost = 0.0
        for (delay0, vol0, invol0), (delay1, vol1, invol1) in zip(before, after):
            delay, voluntary, involuntary = (delay1 - delay0) * 1e-9, vol1 - vol0, invol1 - invol0
            preempted = delay * involuntary / (voluntary + involuntary) if involuntary > 0 else 0.0
            lost += max(preempted, delay - voluntary * cls.WAKE)
        return lost / (max(seconds, 1e-9) * max(len(after), 1))

    def close(self) -> None:
        """Lets go of the reader's open files."""
        if hasattr(self.reader, "close"):
            self.reader.close()


class ThreadStats:
    """Reads threads' scheduler statistics from Linux's /proc: ``self(tids)`` -> one
    ``(run_delay_ns, voluntary switches, involuntary switches)`` per thread id, or None when a
    thread is gone or a file does not parse. The files of the threads read last stay open (a
    ``pread`` of an open /proc file takes about 0.5 us for schedstat, 2.5 us for status, where
    opening them took 6-9 us); the others are closed."""

    def __init__(self) -> None:
        self._files: dict[int, tuple[int, int]] = {}

    @staticmethod
    def available() -> bool:
        return os.path.exists("/proc/thread-self/schedstat") and hasattr(os, "pread")

    def __call__(self, tids):
        try:
            for tid in [tid for tid in self._files if tid not in tids]:
                self._close(tid)
            out = []
            for tid in tids:
                if tid not in self._files:
                    task = f"/proc/self/task/{tid}"
                    self._files[tid] = (os.open(f"{task}/schedstat", os.O_RDONLY), os.open(f"{task}/status", os.O_RDONLY))
                schedstat, status = self._files[tid]
                delay = int(os.pread(schedstat, 128, 0).split()[1])
                text = os.pread(status, 8192, 0)
                out.append((delay, _status_field(text, b"\nvoluntary_ctxt_switches:"),
                            _status_field(text, b"\nnonvoluntary_ctxt_switches:")))
            return out
        except (OSError, ValueError, IndexError):
            for tid in list(self._files):
                self._close(tid)
            return None

    def _close(self, tid: int) -> None:
        for fd in self._files.pop(tid):
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self) -> None:
        for tid in list(self._files):
            self._close(tid)


def _aligned_rows(rows: int, cells: int) -> np.ndarray:
    """(rows, cells) int64 zeros starting at a multiple of 64 bytes (a cache line)."""
    raw = np.zeros(rows * cells + 8, np.int64)
    start = (-raw.ctypes.data % 64) // 8
    return raw[start:start + rows * cells].reshape(rows, cells)


def _status_field(text: bytes, key: bytes) -> int:
    """The integer after ``key`` in a /proc status text (ValueError when absent)."""
    at = text.index(key) + len(key)
    return int(text[at:text.index(b"\n", at)])


def _spin_seconds() -> float:
    """Seconds one turn of `publish_and_watch` takes on this machine (measured once)."""
    global _SPIN_SECONDS
    if _SPIN_SECONDS is None:
        from kerasette.backend.kernels.spin import publish_and_watch  # deferred: see `Pool.__init__`

        cells = np.zeros(8, np.int64)
        publish_and_watch(cells, -1, 0, SEQ, 0, 10, 0, 0)
        turns = 20000
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            publish_and_watch(cells, -1, 0, SEQ, 0, turns, 0, 0)
            best = min(best, time.perf_counter() - start)
        _SPIN_SECONDS = max(best / turns, 1e-9)
    return _SPIN_SECONDS


_SPIN_SECONDS: float | None = None
