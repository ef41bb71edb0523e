"""Tensor fusion and overlap: the gradients' allreduces in buckets, started during the backward pass.

The backward pass produces the gradients last layer first. A `GradientReducer` groups them into
buckets (Horovod's "tensor fusion") and, in overlapped mode, starts each bucket's allreduce
(non-blocking ``MPI_Iallreduce``) as soon as all of its gradients are final, while the pass goes
on computing the earlier layers' gradients. The update then waits only for what is still in
flight. In blocking mode every bucket is reduced after the pass, one blocking call each.

Bucket plan. Buckets hold gradients of one dtype, at most ``fusion threshold`` bytes each
(``HOROVOD_FUSION_THRESHOLD``, default 64 MB; 0 makes one bucket per gradient; one gradient
larger than the threshold gets a bucket of its own). The first overlapped step uses the
variables in reverse order (about the order the pass produces them) and the threshold only.
During that step rank 0 notes when each gradient became final; at its end the ranks adopt rank
0's order, cut into buckets where the threshold is reached or where a gradient became final
more than the cycle time (``HOROVOD_CYCLE_TIME``, milliseconds, default 1) after the bucket's
first one: gradients finished together travel together, the others go as soon as they are
ready. Every rank uses the same plan, so MPI matches the buckets' collectives in order; a
bucket starts only after every bucket before it in the plan has started.

Each bucket's buffer ends with one presence count per gradient (a gradient missing on some
ranks counts as zeros there, and stays None only where it is missing on every rank) and, in the
first bucket, the number of ranks still training (`join` contributes zeros and 0). Compression
(`Compression.fp16`) sets the buffer's dtype: gradients are rounded into it when packed and
read back in their own dtype after the reduction.

Progress. MPI moves a non-blocking collective forward only inside MPI calls. A daemon thread
tests the requests in flight every `PROGRESS_INTERVAL` seconds (sleeping, not spinning, between
tests: the ranks share the cores with the backward pass); it needs MPI's THREAD_MULTIPLE level
(mpi4py asks for it), and without it the requests progress only when the update waits.
float16 buckets (`Compression.fp16`) are reduced by `kerasette.distributed.ring` instead of
``MPI_Iallreduce`` (MPI has no fast float16 sum); the same thread runs those rings, bucket after
bucket, in the order they were started.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import numpy as np

from kerasette.distributed import collectives, runtime

#: Horovod's default fusion threshold (bytes) and cycle time (milliseconds).
DEFAULT_FUSION_THRESHOLD = 64 * 1024 * 1024
DEFAULT_CYCLE_TIME_MS = 1.0
#: Seconds the progress thread sleeps between two tests of the requests in flight.
PROGRESS_INTERVAL = 0.0005


def fusion_threshold(value: int | None = None) -> int:
    """The fusion threshold in bytes: ``value``, else ``HOROVOD_FUSION_THRESHOLD``, else 64 MB."""
    if value is None:
        value = int(os.environ.get("HOROVOD_FUSION_THRESHOLD", DEFAULT_FUSION_THRESHOLD))
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"DistributedOptimizer: argument `fusion_threshold` must be a number of bytes >= 0; "
                         f"received fusion_threshold={value!r}")
    return int(value)


def cycle_time_ms(value: float | None = None) -> float:
    """The cycle time in milliseconds: ``value``, else ``HOROVOD_CYCLE_TIME``, else 1."""
    if value is None:
        value = float(os.environ.get("HOROVOD_CYCLE_TIME", DEFAULT_CYCLE_TIME_MS))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"DistributedOptimizer: argument `cycle_time_ms` must be >= 0; received "
                         f"cycle_time_ms={value!r}")
    return float(value)


def plan_buckets(order: Sequence[int], nbytes: Sequence[int], dtypes: Sequence, threshold: int,
                 ready_times: Sequence[float] | None = None, cycle_time_s: float = 0.0) -> list[list[int]]:
    """Cuts ``order`` (indices of gradients, in the order they are produced) into buckets.

    A new bucket starts at a change of dtype, where adding the gradient would pass
    ``threshold`` bytes (every gradient is its own bucket with a threshold of 0), and, given
    ``ready_times``, where the gradient became final more than ``cycle_time_s`` after the
    bucket's first one.

    Example:
        >>> plan_buckets([2, 1, 0], [4, 4, 4], ['f4'] * 3, threshold=8)
        [[2, 1], [0]]
    """
    buckets: list[list[int]] = []
    used = 0
    for i in order:
        current = buckets[-1] if buckets else None
        if (current is None or threshold == 0 or dtypes[current[0]] != dtypes[i]
                or used + nbytes[i] > threshold
                or (ready_times is not None and ready_times[i] - ready_times[current[0]] > cycle_time_s)):
            buckets.append([i])
            used = nbytes[i]
        else:
            current.append(i)
            used += nbytes[i]
    return buckets


def _half():
    """The float16 kernels (numba is imported only once float16 travels)."""
    from kerasette.distributed import half  # deferred: imports numba, which `import kerasette` must not

    return half


class _Bucket:
    """One fused buffer: its gradients' elements, a presence count each, and (bucket 0) the flag."""

    def __init__(self, members: list[int], variables: Sequence, wire: np.dtype, with_flag: bool):
        self.members = members
        self.offsets = []
        offset = 0
        for i in members:
            self.offsets.append(offset)
            offset += variables[i].size
        self.elements = offset
        self.buffer = np.zeros(offset + len(members) + int(with_flag), wire)
        self.counts = self.buffer[offset: offset + len(members)]
        self.flag = self.buffer[-1:] if with_flag else None
        self.filled = 0
        self.request = None
        #: perf_counter times of this step: packed and handed on, the allreduce started, seen complete
        self.submitted_at: float | None = None
        self.launched_at: float | None = None
        self.done_at: float | None = None
        self.launch_seconds = 0.0  # the update's time spent starting it


class _Job:
    """One ring allreduce for the communication thread; `wait` returns when it is done."""

    def __init__(self, buffer: np.ndarray, bucket: _Bucket | None = None):
        self.buffer = buffer
        self.bucket = bucket
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        if self.bucket is not None:
            self.bucket.launched_at = time.perf_counter()  # when the ring really starts
        try:
            _ring().sum_half(self.buffer)
        except BaseException as exc:  # handed to the waiting thread
            self.error = exc
        if self.bucket is not None:
            self.bucket.done_at = time.perf_counter()
        self.done.set()

    def wait(self) -> None:
        self.done.wait()
        if self.error is not None:
            raise self.error


class _CommThread:
    """The daemon thread that moves the allreduces forward while the backward pass runs.

    It runs the float16 buckets' ring allreduces in the order they were submitted, and between
    them tests the non-blocking requests in flight (MPI progresses them only inside MPI calls),
    sleeping `PROGRESS_INTERVAL` between tests rather than spinning.
    """

    def __init__(self, mpi) -> None:
        self.mpi = mpi
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.requests: list = []
        self.buckets: list = []  # the bucket of each request (its ``done_at`` is set when seen complete)
        self.jobs: list[_Job] = []
        self.thread = threading.Thread(target=self._run, name="kerasette-allreduce", daemon=True)
        self.thread.start()

    def add(self, request, bucket: _Bucket | None = None) -> None:
        with self.lock:
            self.requests.append(request)
            self.buckets.append(bucket)
            asleep = not self.wake.is_set()
        if asleep:
            self.wake.set()

    def submit(self, job: _Job) -> _Job:
        with self.lock:
            self.jobs.append(job)
            asleep = not self.wake.is_set()
        if asleep:  # (it clears `wake` only under the lock, with nothing left to do)
            self.wake.set()
        return job

    def take(self) -> list:
        """The requests in flight, which this thread stops testing (the caller waits for them)."""
        with self.lock:
            requests, self.requests, self.buckets = self.requests, [], []
            if not self.jobs:
                self.wake.clear()
        return requests

    def _run(self) -> None:
        while True:
            self.wake.wait()
            job = None
            with self.lock:
                if self.jobs:
                    job = self.jobs.pop(0)
                elif self.requests:
                    done = self.mpi.Request.Testsome(self.requests)
                    if done:
                        now = time.perf_counter()
                        for k in done:
                            if self.buckets[k] is not None:
                                self.buckets[k].done_at = now
                    if all(r == self.mpi.REQUEST_NULL for r in self.requests):
                        self.requests, self.buckets = [], []
                if not self.jobs and not self.requests:
                    self.wake.clear()
            if job is not None:
                job.run()
            else:
                time.sleep(PROGRESS_INTERVAL)


_comm_thread: _CommThread | None = None


def _progress_thread(world) -> _CommThread | None:
    """The communication thread (started on first use), or None without MPI's THREAD_MULTIPLE."""
    global _comm_thread
    if _comm_thread is None and world.mpi.Query_thread() == world.mpi.THREAD_MULTIPLE:
        _comm_thread = _CommThread(world.mpi)
    return _comm_thread


def _ring():
    from kerasette.distributed import ring  # deferred: imports numba (the float16 kernels)

    return ring


class GradientReducer:
    """Averages (or sums) one list of variables' gradients over the ranks, bucket by bucket.

    One reducer serves one optimizer and one list of variables (rebuilt when the list changes).
    Per step: `begin`, then `ready` for each gradient as the backward pass finishes it (only in
    overlapped mode), then `finish`, which packs whatever was not packed yet, waits, and returns
    the reduced gradients.

    Args:
        variables: the variables, in the training step's order.
        op: ``collectives.Average`` or ``collectives.Sum``.
        compression: a `Compression` (its ``wire_dtype`` picks the buffers' dtype).
        threshold: the fusion threshold in bytes.
        cycle_time_s: the cycle time in seconds (see the module's docstring).
        overlap: start buckets during the backward pass (else reduce them after it, blocking).
        timer: a `collectives.Timer` that counts the time the step waits for the allreduces.
    """

    def __init__(self, variables: Sequence, op: str, compression, threshold: int, cycle_time_s: float,
                 overlap: bool, timer: collectives.Timer):
        self.variables = list(variables)
        self.index = {id(v): i for i, v in enumerate(self.variables)}
        self.op, self.compression, self.threshold = op, compression, threshold
        self.cycle_time_s, self.overlap, self.timer = cycle_time_s, overlap, timer
        self.dtypes = [np.dtype(v.dtype) for v in self.variables]
        self.wire = [np.dtype(compression.wire_dtype(d)) if d.kind == "f" else np.dtype(np.float64)
                     for d in self.dtypes]
        nbytes = [v.size * w.itemsize for v, w in zip(self.variables, self.wire)]
        self._nbytes = nbytes
        self._build(plan_buckets(range(len(self.variables))[::-1], nbytes, self.wire, threshold))
        if any(w == np.float16 for w in self.wire):
            _ring().prepare()  # a collective: every rank builds its reducer at the same step
        self.profiling = overlap  # the first overlapped step's timings make the final plan
        self._times: list[float | None] = []
        self.accumulated: list[np.ndarray | None] | None = None
        self.open = False
        self.launched_during_pass = 0
        #: After each overlapped step: (seconds into the step at which each gradient was final,
        #: None if never; seconds until the update started waiting). For the scaling model.
        self.profile: tuple[list, float] | None = None
        #: After each step, where its time went (seconds from `begin`; for the benchmark and the
        #: scaling model): ``pass_s`` the backward pass's end (the update's start), ``pack_s``
        #: packing (and float16 rounding), ``launch_s`` starting the buckets, ``wait_s`` waiting
        #: for them after the pass, ``unpack_s`` reading them back, and per bucket its wire
        #: ``bytes``, ``ready_s`` (its last gradient final), ``submitted_s`` (packed and handed to
        #: MPI or the communication thread), ``launched_s`` (its allreduce or ring started; both
        #: None in blocking mode) and ``done_s`` (seen complete).
        self.step_profile: dict | None = None

    def _build(self, plan: list[list[int]]) -> None:
        self.plan = plan
        self.buckets = [_Bucket(members, self.variables, self.wire[members[0]], k == 0)
                        for k, members in enumerate(plan)]
        if not self.buckets:  # no variables: still one bucket, for the flag
            self.buckets = [_Bucket([], self.variables, np.dtype(np.float32), True)]
        self.bucket_of = {}
        for k, bucket in enumerate(self.buckets):
            for slot, i in enumerate(bucket.members):
                self.bucket_of[i] = (k, slot)

    def matches(self, variables: Sequence) -> bool:
        return len(variables) == len(self.variables) and all(a is b for a, b in zip(variables, self.variables))

    # -- one step ---------------------------------------------------------------------------
    def begin(self, accumulated: list | None = None, training: bool = True) -> None:
        """Starts a step: nothing packed, nothing in flight (``training=False``: a joined rank)."""
        self.accumulated = accumulated
        self.packed = [False] * len(self.variables)
        for bucket in self.buckets:
            bucket.filled = 0
            bucket.request = None
            bucket.submitted_at = bucket.launched_at = bucket.done_at = None
            bucket.launch_seconds = 0.0
            if bucket.flag is not None:
                bucket.flag[0] = 1 if training else 0
        self.next_launch = 0
        self.launch_seconds = 0.0
        self.pack_seconds = 0.0
        self.open = True
        self._start = time.perf_counter()
        self._times = [None] * len(self.variables)

    def ready(self, tensor, grad: np.ndarray) -> None:
        """The backward pass's callback: ``tensor``'s gradient is final; pack it, maybe launch."""
        i = self.index.get(id(tensor))
        if i is None or self.packed[i]:
            return
        now = time.perf_counter()
        self._times[i] = now - self._start
        self._pack(i, grad)
        self.pack_seconds += time.perf_counter() - now
        self._launch_ready()

    def _pack(self, i: int, grad: np.ndarray | None) -> None:
        k, slot = self.bucket_of[i]
        bucket = self.buckets[k]
        view = bucket.buffer[bucket.offsets[slot]: bucket.offsets[slot] + self.variables[i].size]
        extra = None if self.accumulated is None else self.accumulated[i]
        if grad is None and extra is None:
            view[...] = 0
            bucket.counts[slot] = 0
        else:
            value = extra if grad is None else (np.asarray(grad).reshape(-1) if extra is None
                                                 else np.asarray(grad).reshape(-1) + extra)
            if view.dtype == np.float16:
                _half().to_half(value, view)
            else:
                view[...] = np.asarray(value).reshape(-1)
            bucket.counts[slot] = 1
        self.packed[i] = True
        bucket.filled += 1

    def _launch_ready(self) -> None:
        world = runtime.world()
        while self.next_launch < len(self.buckets):
            bucket = self.buckets[self.next_launch]
            if bucket.filled < len(bucket.members):
                return
            progress = _progress_thread(world)
            start = bucket.submitted_at = time.perf_counter()
            if bucket.buffer.dtype == np.float16:  # the ring, in the communication thread
                bucket.request = _Job(bucket.buffer, bucket)
                if progress is not None:
                    progress.submit(bucket.request)
            else:
                bucket.launched_at = start
                bucket.request = world.comm.Iallreduce(world.mpi.IN_PLACE, bucket.buffer, op=world.mpi.SUM)
                if progress is not None:
                    progress.add(bucket.request, bucket)
            took = bucket.launch_seconds = time.perf_counter() - start
            self.timer.seconds += took
            self.launch_seconds += took
            self.next_launch += 1

    def finish(self, grads: Sequence, training: bool = True) -> tuple[list, int]:
        """Packs what is not packed yet, completes every bucket's reduction, and returns the
        reduced gradients (None where missing on every rank) and the number of ranks training."""
        world = runtime.world()
        if not self.open:
            self.begin(self.accumulated, training)
        pack_start = time.perf_counter()
        for i, packed in enumerate(self.packed):
            if not packed:
                self._pack(i, grads[i] if training else None)
        start = time.perf_counter()
        self.pack_seconds += start - pack_start
        self.launched_during_pass = self.next_launch  # buckets already on their way when the pass ended
        if self.overlap:
            self.profile = (list(self._times), start - self._start)
            self._launch_ready()
            for bucket in self.buckets:  # the ring jobs: done by the thread, or here, in order
                if isinstance(bucket.request, _Job):
                    if _comm_thread is None:
                        bucket.request.run()
                    bucket.request.wait()
            requests = _comm_thread.take() if _comm_thread is not None else [
                b.request for b in self.buckets if not isinstance(b.request, _Job)]
            world.mpi.Request.Waitall([r for r in requests if r is not None])
        else:
            for bucket in self.buckets:
                if bucket.buffer.dtype == np.float16:
                    _ring().sum_half(bucket.buffer)
                else:
                    world.comm.Allreduce(world.mpi.IN_PLACE, bucket.buffer, op=world.mpi.SUM)
        waited = time.perf_counter()
        self.timer.seconds += waited - start
        self.timer.calls += len(self.buckets)
        self.timer.bytes += sum(b.buffer.nbytes for b in self.buckets)
        self.open = False
        active = int(round(float(self.buckets[0].flag[0])))
        out: list = [None] * len(self.variables)
        scale = 1.0 / max(active, 1) if self.op == collectives.Average else 1.0
        for bucket in self.buckets:
            for slot, i in enumerate(bucket.members):
                if bucket.counts[slot] <= 0:
                    continue
                var = self.variables[i]
                view = bucket.buffer[bucket.offsets[slot]: bucket.offsets[slot] + var.size]
                if view.dtype == np.float16:
                    view = _half().to_float(view).astype(self.dtypes[i], copy=False)
                elif view.dtype != self.dtypes[i]:
                    view = view.astype(self.dtypes[i])
                if scale != 1.0:
                    view *= view.dtype.type(scale)
                out[i] = view.reshape(var.shape)
        self.step_profile = {
            "pass_s": pack_start - self._start, "pack_s": self.pack_seconds, "launch_s": self.launch_seconds,
            "wait_s": waited - start, "unpack_s": time.perf_counter() - waited,
            "buckets": [{"bytes": int(b.buffer.nbytes),
                         "ready_s": max((self._times[i] or 0.0) for i in b.members) if b.members else 0.0,
                         "submitted_s": None if b.submitted_at is None else b.submitted_at - self._start,
                         "launched_s": None if b.launched_at is None else b.launched_at - self._start,
                         "launch_s": b.launch_seconds,
                         "done_s": (waited if b.done_at is None else b.done_at) - self._start}
                        for b in self.buckets]}
        if self.profiling:
            self._replan()
        return out, active

    def _replan(self) -> None:
        """After the first overlapped step: every rank takes rank 0's order and cycle-time cuts."""
        self.profiling = False
        times = self._times if runtime.rank() == 0 else None
        if runtime.rank() == 0 and any(t is not None for t in times):
            seen = sorted((t, i) for i, t in enumerate(times) if t is not None)
            order = [i for _, i in seen] + [i for i in range(len(times))[::-1] if times[i] is None]
            last = max(t for t in times if t is not None)
            filled = [last if t is None else t for t in times]
            plan = plan_buckets(order, self._nbytes, self.wire, self.threshold, filled, self.cycle_time_s)
        else:
            plan = None
        plan = collectives.broadcast_object(plan, 0)
        if plan is not None and plan != self.plan:
            self._build(plan)
