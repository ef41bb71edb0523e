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
link carries the buckets one after the other::

    start_k = max(r_k, done_{k-1})
    done_k  = min(start_k + T(S_k) + h,  max(start_k, P) + T(S_k) + h_tail)
    W = max(0, done_last - P) + sum_k (l + S_k * l_byte + [idle link and r_k < P] * l_wake)

- ``h``, the hand-off: what a bucket costs beyond its allreduce while the pass computes (the
  communication thread and the ranks' compute share the cores): ``handoff``, measured with
  small buckets handed on while both ranks compute. Once the pass has ended the cores are free
  and a bucket costs ``h_tail`` (``tail_handoff``, measured with a 1 KB bucket handed on just
  before the update); a trip under way when the pass ends finishes at that pace, whichever is
  sooner. For MPI's requests (float32) one that waited in the queue was already started and
  moves along with the one before it (the progress thread tests them all at once), so it pays
  no hand-off of its own (``queued_handoff=False``); the float16 rings run one after the other
  in the thread, each paying it.
- Starting a bucket costs the computing thread ``l + S_k * l_byte`` (``launch``,
  ``launch_per_byte``: MPI may copy or start sending a large buffer in the call), and
  ``l_wake`` more (``wake``) when it wakes the idle communication thread during the pass: the
  woken thread can preempt the computing one while that one holds the interpreter's lock, which
  then waits for the scheduler (milliseconds on a loaded machine). Counted in the measured wait;
  measured while both ranks compute, with the seed model's 32 MB bucket and small ones.
- The tail: the last bucket holds the first layers' gradients, final only when the pass ends,
  so it never overlaps: ``W >= T(S_last) + tail_handoff`` however long the pass.

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
        handoff: seconds a bucket costs beyond its allreduce while the pass computes.
        tail_handoff: the same once the pass has ended.
        launch: seconds the update's thread spends starting one bucket.
        launch_per_byte: and more for each of its bytes (MPI may copy or start sending a large
            buffer in the call that starts it).
        wake: and more when it wakes the idle communication thread during the pass.
        queued_handoff: whether a bucket that waited for the one before it pays ``handoff`` too.
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


def overlapped_wait(buckets: Sequence[tuple[float, float]], pass_end: float, ranks: int, link: Link) -> float:
    """The overlapped update's wait (see the module's docstring).

    Args:
        buckets: ``(bytes, seconds at which it was handed on)`` per bucket, in plan order.
        pass_end: seconds at which the backward pass ends and the update starts waiting.
    """
    if ranks <= 1 or not buckets:
        return 0.0
    link_free = float("-inf")
    launches = 0.0
    for nbytes, ready in buckets:
        queued = link_free > ready
        launches += link.launch + nbytes * link.launch_per_byte + (link.wake if not queued and ready < pass_end else 0.0)
        start = max(ready, link_free)
        trip = allreduce_seconds(nbytes, ranks, link)
        if queued and not link.queued_handoff:
            link_free = start + trip
        else:  # a trip still going when the pass ends finishes at the idle cores' pace
            link_free = min(start + trip + link.handoff, max(start, pass_end) + trip + link.tail_handoff)
    return max(0.0, link_free - pass_end) + launches


def efficiency(compute: float, exposed: float) -> float:
    """``compute / (compute + exposed)``: the fraction of a step spent computing."""
    return compute / (compute + exposed)
