"""The scaling model: how long a data-parallel step waits for its gradients' allreduce.

Plain arithmetic (no MPI), used by ``tests/benchmarks/distributed_bench.py`` to put a prediction
beside every measured wait and to estimate the efficiency at 8 to 128 nodes (the README's table).
Every input is a measured figure (`Link` holds them; the benchmark calibrates them on each link).

**One allreduce.** ``S`` bytes over ``N`` ranks; each rank sends and receives ``2 (N-1)/N * S``
and adds ``(N-1)/N * S`` into its buffer, in ``m`` messages::

    T(S) = 2 (N-1)/N * S / B  +  m * a  +  (N-1)/N * S / R

``B`` is what the link carries while both directions are busy (the exchanges send and receive
at once), ``a`` the time of one message, ``R`` the rate of the sums (bytes of the wire's dtype
per second: float32 adds, or `half.add_into` for float16). The float16 buckets go round
`kerasette.distributed.ring`, a ring: ``m = 2 (N-1)``. The float32 ones go through MPI, whose
allreduce of large messages (MPICH: Rabenseifner's reduce-scatter by recursive halving, then
allgather by recursive doubling) moves the same bytes in ``m = 2 log2 N`` messages
(``algorithm='halving'``). With 2 ranks both are 2 messages.

**Blocking.** After the backward pass each bucket is reduced in turn: ``W = sum_k T(S_k)``.

**Overlapped.** Bucket ``k`` is handed on at ``r_k`` (its last gradient final and packed,
measured in the run) in plan order; the update starts waiting at the end of the pass, ``P``. One
link carries the buckets one after the other, from ``start_k = max(r_k, done_{k-1})``::

    trip while the pass computes:  U_k = max(p * (T(S_k) - m a) + m a, h)
    trip on idle cores:            I_k = T(S_k) + m s
    done_k = start_k + U_k                                 if it ends by P
           = P + I_k * (1 - (P - start_k) / U_k)           if the pass ends during its transfer
           = P + I_k                                       if the pass ends during its hand-off
           = start_k + I_k + [idle link] * h_tail          if it starts after P
    W = max(0, done_last - P) + sum_k (l + S_k * l_byte + [idle link and r_k < P] * l_wake)

(*idle link*: the bucket was handed on after the one before it was done; *during its hand-off*:
``h > p (T(S_k) - m a) + m a``, the trip while computing is the hand-off's.)

- ``h``, the hand-off (``handoff``): while both ranks compute, each step of a bucket's
  allreduce waits for the communication threads to get a core and the interpreter's lock, which
  the passes hold. Those waits add up to ``h`` for a bucket that carries little (measured: the
  whole trip of small buckets handed on while both ranks compute). They are not added to the
  transfer: while a thread waits, the kernel goes on moving the bytes of the step under way, so
  a bucket that carries many bytes takes its transfer's time, and the trip is the longer of
  the two, not their sum. For MPI's requests (float32) one that waited in the queue was
  already started and moves along with the one before it (the progress thread tests them all
  at once), so it pays no hand-off of its own (``queued_handoff=False``); the float16 rings run
  one after the other in the thread, each paying it.
- ``p``, the pace while computing (``busy_pace``): how much longer moving and adding a
  bucket's bytes takes while both ranks compute than ``T`` says they take on idle cores
  (measured on the backward pass itself: the seed model's largest bucket's trip in its untimed
  steps, the equations above solved for ``p``). Where the wire is the bottleneck it is about 1;
  where the transfer is CPU-bound (the kernel's copies over a fast link, the float16 sums) the
  pass's compute slows it. The messages' latency ``m a`` is the wire's and does not change.
- ``s``, a ring step on idle cores (``ring_step``): the float16 ring's ``m`` steps are Python
  calls (a ``Sendrecv``, a sum) in the communication thread, each costing ``s`` beyond its
  share of ``T`` (measured: the last bucket's trip after the pass, beyond ``T``, per message);
  0 for MPI's requests, which progress inside one C call.
- Once the pass has ended the cores are free: what is left of a transfer under way (the
  fraction ``(P - start_k) / U_k`` of it went by during the pass) goes at the idle pace, and
  the buckets queued behind it follow back to back. A trip whose time while computing was its
  hand-off has its steps still waiting for the thread when the pass ends: all of them run
  then. A bucket handed on after the pass to an idle link first wakes the communication
  thread, which had gone to sleep: ``h_tail`` (``tail_handoff``, measured with a 1 KB bucket
  handed on just before the update).
- Starting a bucket costs the computing thread ``l + S_k * l_byte`` (``launch``,
  ``launch_per_byte``: MPI may copy or start sending a large buffer in the call), and
  ``l_wake`` more (``wake``) when it wakes the idle communication thread during the pass: the
  woken thread can preempt the computing one while that one holds the interpreter's lock, which
  then waits for the scheduler (milliseconds on a loaded machine). Counted in the measured wait;
  measured while both ranks compute, with the seed model's 32 MB bucket and small ones.
- The tail: the last bucket holds the first layers' gradients, final only when the pass ends,
  so it never overlaps: ``W >= T(S_last)`` however long the pass (``+ h_tail`` when the link
  is idle by then).

**Compression** halves ``S`` and sums at ``R_16``. Rounding the gradients to float16 (while
packing, during the pass) and reading them back (``values / C``, ``C`` measured) is paid on the
compute's side, outside ``W``; the benchmark counts it, with the packing, in the per-step
overhead ``c`` of the efficiency ``T_c / (T_c + W + c)``.

Example (2 ranks, 1 MB at 1 Gbit/s = 125 MB/s, 100 us a message, sums at 1 GB/s)::

    >>> link = Link(bandwidth=125e6, latency=100e-6, reduce_rate=1e9)
    >>> round(allreduce_seconds(1e6, 2, link) * 1e3, 3)  # 8 ms + 2 x 0.1 ms + 0.5 ms
    8.7
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Link:
    """What the model knows about one network, one machine and one path (SI units).

    Args:
        bandwidth: bytes per second one rank sends while it also receives.
        latency: seconds per message (half a ping-pong's round trip).
        reduce_rate: bytes per second of the sums, in the wire's dtype.
        algorithm: ``'ring'`` (``2 (N-1)`` messages: the float16 ring) or ``'halving'``
            (``2 log2 N``: MPI's allreduce of large messages).
        handoff: the shortest a bucket's trip is while the pass computes (its steps wait
            for the communication threads to be scheduled; the waits overlap the transfer).
        tail_handoff: seconds a bucket handed on to an idle link after the pass costs beyond its
            allreduce (waking the communication thread).
        busy_pace: how much longer an allreduce's bytes take to move and add while the pass
            computes than on idle cores (1 where the wire is the bottleneck).
        launch: seconds the update's thread spends starting one bucket.
        launch_per_byte: and more for each of its bytes (MPI may copy or start sending a large
            buffer in the call that starts it).
        wake: and more when it wakes the idle communication thread during the pass.
        queued_handoff: whether a bucket that waited for the one before it pays ``handoff`` too.
        ring_step: seconds each of a trip's ``m`` messages costs on idle cores beyond the wire and
            the sums (the float16 ring's steps are Python calls in the communication thread: a
            ``Sendrecv``, a sum); 0 for MPI's allreduce, which progresses inside one C call.
    """

    bandwidth: float
    latency: float
    reduce_rate: float
    algorithm: str = "ring"
    handoff: float = 0.0
    tail_handoff: float = 0.0
    launch: float = 0.0
    launch_per_byte: float = 0.0
    wake: float = 0.0
    queued_handoff: bool = True
    busy_pace: float = 1.0
    ring_step: float = 0.0

    def __post_init__(self):
        if self.algorithm not in ("ring", "halving"):
            raise ValueError(f"Link: argument `algorithm` must be 'ring' or 'halving'; "
                             f"received algorithm={self.algorithm!r}")

    def with_(self, **changes) -> Link:
        """A copy with some fields changed."""
        return replace(self, **changes)


def gbit(rate: float) -> float:
    """Bytes per second of a link of ``rate`` Gbit/s."""
    return rate * 1e9 / 8


def messages(ranks: int, algorithm: str) -> float:
    """Messages each rank sends in one allreduce: ``2 (N-1)`` for the ring, ``2 log2 N`` for halving."""
    if ranks <= 1:
        return 0.0
    return 2.0 * (ranks - 1) if algorithm == "ring" else 2.0 * math.log2(ranks)


def allreduce_seconds(nbytes: float, ranks: int, link: Link) -> float:
    """``T(S)``: one allreduce of ``nbytes`` over ``ranks`` ranks (0 for one rank)."""
    if ranks <= 1:
        return 0.0
    share = (ranks - 1) / ranks
    return (2 * share * nbytes / link.bandwidth + messages(ranks, link.algorithm) * link.latency
            + share * nbytes / link.reduce_rate)


def blocking_wait(bucket_bytes: Sequence[float], ranks: int, link: Link) -> float:
    """The blocking update's wait: every bucket's allreduce, one after the other."""
    return sum(allreduce_seconds(b, ranks, link) for b in bucket_bytes)


def trip_end(start: float, nbytes: float, pass_end: float, ranks: int, link: Link, queued: bool = False) -> float:
    """When a bucket's allreduce that starts at ``start`` ends (see the module's docstring).

    ``queued``: it was handed on while the one before it was still under way.
    """
    trip = allreduce_seconds(nbytes, ranks, link)
    steps = messages(ranks, link.algorithm)
    idle = trip + steps * link.ring_step  # the trip on idle cores
    if start >= pass_end:
        return start + idle + (0.0 if queued else link.tail_handoff)
    latency = steps * link.latency  # the wire's own, which computing does not slow
    transfer = link.busy_pace * (trip - latency) + latency
    handoff = link.handoff if link.queued_handoff or not queued else 0.0
    busy = max(transfer, handoff)
    if start + busy <= pass_end:
        return start + busy
    if handoff > transfer:  # its steps were waiting for the thread: they all run once the pass ends
        return pass_end + idle
    return pass_end + idle * (1.0 - (pass_end - start) / busy)


def overlapped_schedule(buckets: Sequence[tuple[float, float]], pass_end: float, ranks: int,
                        link: Link) -> tuple[list[tuple[float, float]], float]:
    """The link's queue: ``(start, done)`` seconds per bucket, and the buckets' start costs.

    Args:
        buckets: ``(bytes, seconds at which it was handed on)`` per bucket, in plan order.
        pass_end: seconds at which the backward pass ends and the update starts waiting.
    """
    link_free = float("-inf")
    launches = 0.0
    times = []
    for nbytes, ready in buckets:
        queued = link_free > ready
        launches += link.launch + nbytes * link.launch_per_byte + (link.wake if not queued and ready < pass_end else 0.0)
        start = max(ready, link_free)
        link_free = trip_end(start, nbytes, pass_end, ranks, link, queued)
        times.append((start, link_free))
    return times, launches


def overlapped_wait(buckets: Sequence[tuple[float, float]], pass_end: float, ranks: int, link: Link) -> float:
    """The overlapped update's wait (see the module's docstring and `overlapped_schedule`)."""
    if ranks <= 1 or not buckets:
        return 0.0
    times, launches = overlapped_schedule(buckets, pass_end, ranks, link)
    return max(0.0, times[-1][1] - pass_end) + launches


def overlapped_span(buckets: Sequence[tuple[float, float]], pass_end: float, ranks: int, link: Link) -> float:
    """The overlapped step's allreduce time: from the first bucket's start to the last one's end."""
    if ranks <= 1 or not buckets:
        return 0.0
    times, _ = overlapped_schedule(buckets, pass_end, ranks, link)
    return times[-1][1] - times[0][0]


def efficiency(compute: float, exposed: float) -> float:
    """``compute / (compute + exposed)``: the fraction of a step spent computing."""
    return compute / (compute + exposed)
