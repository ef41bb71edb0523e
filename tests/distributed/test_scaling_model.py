"""The scaling model's arithmetic (`kerasette.distributed.scaling`) against numbers worked by hand."""

from __future__ import annotations

import pytest

from kerasette.distributed import scaling
from kerasette.distributed.scaling import Link

#: 1 Gbit/s (125 MB/s), 100 us a message, sums at 1 GB/s: one 1 MB allreduce over 2 ranks is
#: 1 MB / 125 MB/s = 8 ms on the wire, 2 messages = 0.2 ms, 0.5 MB added = 0.5 ms: 8.7 ms.
GIGABIT = Link(bandwidth=125e6, latency=100e-6, reduce_rate=1e9)


def test_one_allreduce_over_two_ranks():
    assert scaling.allreduce_seconds(1e6, 2, GIGABIT) == pytest.approx(8.7e-3)
    assert scaling.allreduce_seconds(0, 2, GIGABIT) == pytest.approx(0.2e-3)  # the two messages
    assert scaling.allreduce_seconds(1e6, 1, GIGABIT) == 0.0


def test_ring_and_halving_at_eight_ranks():
    # 8 MB at 1 GB/s, 10 us, sums at 2 GB/s: wire 2 x 7/8 x 8 ms = 14 ms, sums 7/8 x 4 ms = 3.5 ms;
    # the ring sends 2 x 7 = 14 messages (0.14 ms), halving 2 x log2(8) = 6 (0.06 ms)
    ring = Link(bandwidth=1e9, latency=10e-6, reduce_rate=2e9)
    assert scaling.messages(8, "ring") == 14 and scaling.messages(8, "halving") == 6
    assert scaling.allreduce_seconds(8e6, 8, ring) == pytest.approx(17.64e-3)
    assert scaling.allreduce_seconds(8e6, 8, ring.with_(algorithm="halving")) == pytest.approx(17.56e-3)
    # the same at 2 ranks: both are two messages
    assert scaling.allreduce_seconds(8e6, 2, ring) == scaling.allreduce_seconds(8e6, 2, ring.with_(algorithm="halving"))


def test_blocking_wait_adds_the_buckets():
    assert scaling.blocking_wait([1e6, 1e6], 2, GIGABIT) == pytest.approx(17.4e-3)


OVERLAP = GIGABIT.with_(handoff=1e-3, tail_handoff=0.5e-3, launch=0.1e-3)


def test_overlapped_wait_queues_the_buckets_and_pays_the_tail():
    # bucket 0 (1 MB) at 0 ms: 0 + 8.7 + 1 (hand-off, the pass computes) -> 9.7 ms
    # bucket 1 (1 MB) at 2 ms waits for it: 9.7 + 8.7 + 1 -> 19.4 ms
    # bucket 2 (empty) at 20 ms, when the pass ends: 20 + 0.2 + 0.5 (tail hand-off) -> 20.7 ms
    # wait: 0.7 ms after the pass + 3 launches of 0.1 ms = 1.0 ms
    buckets = [(1e6, 0.0), (1e6, 0.002), (0.0, 0.020)]
    assert scaling.overlapped_wait(buckets, 0.020, 2, OVERLAP) == pytest.approx(1.0e-3)


def test_queued_requests_skip_the_handoff_when_moved_together():
    # the pass ends at 15 ms: bucket 1 done at 19.4 ms (hand-off paid, the float16 rings), then
    # bucket 2, queued, after the pass: 19.4 + 0.2 + 0.5 = 20.1 ms -> wait 5.1 + 0.3 = 5.4 ms.
    # MPI's requests (queued_handoff=False): bucket 1 done at 9.7 + 8.7 = 18.4 ms, bucket 2 at
    # 18.4 + 0.2 = 18.6 ms -> wait 3.6 + 0.3 = 3.9 ms
    buckets = [(1e6, 0.0), (1e6, 0.002), (0.0, 0.015)]
    assert scaling.overlapped_wait(buckets, 0.015, 2, OVERLAP) == pytest.approx(5.4e-3)
    assert scaling.overlapped_wait(buckets, 0.015, 2, OVERLAP.with_(queued_handoff=False)) == pytest.approx(3.9e-3)


def test_the_last_bucket_never_overlaps():
    # however long the pass, the first layers' bucket starts when it ends: 1 KB -> 8 us + 0.2 ms + 0.5 us
    buckets = [(1e6, 0.0), (1000.0, 1.0)]
    assert scaling.overlapped_wait(buckets, 1.0, 2, GIGABIT) == pytest.approx(0.2085e-3)
    assert scaling.overlapped_wait(buckets, 1.0, 1, GIGABIT) == 0.0


def test_efficiency_and_units():
    assert scaling.efficiency(0.14, 0.01) == pytest.approx(0.14 / 0.15)
    assert scaling.gbit(25) == 3.125e9


def test_unknown_algorithm_is_refused():
    with pytest.raises(ValueError, match=r"Link: argument `algorithm` must be 'ring' or 'halving'; "
                                         r"received algorithm='tree'"):
        Link(bandwidth=1e9, latency=1e-5, reduce_rate=1e9, algorithm="tree")


def test_a_trip_running_when_the_pass_ends_finishes_at_the_idle_pace():
    # an empty bucket handed on 1 ms before the pass ends, hand-off 10 ms while computing,
    # 0.5 ms after: min(19 + 0.2 + 10, 20 + 0.2 + 0.5) = 20.7 ms -> 0.7 ms after the pass
    link = GIGABIT.with_(handoff=10e-3, tail_handoff=0.5e-3)
    assert scaling.overlapped_wait([(0.0, 0.019)], 0.020, 2, link) == pytest.approx(0.7e-3)
    # handed on 15 ms before: 5 + 0.2 + 10 = 15.2 ms, done before the pass ends
    assert scaling.overlapped_wait([(0.0, 0.005)], 0.020, 2, link) == 0.0


def test_launch_costs_per_bucket_per_byte_and_for_waking_the_thread():
    # 1 MB at 0 ms (idle link: wakes the thread), 1 MB at 2 ms (queued behind it), empty at the
    # pass's end (20 ms; after the pass, no wake charged): 3 x 0.1 ms + 2 MB x 1 ns + 1 x 2 ms
    link = GIGABIT.with_(launch=0.1e-3, launch_per_byte=1e-9, wake=2e-3)
    buckets = [(1e6, 0.0), (1e6, 0.002), (0.0, 0.030)]
    # the link: 8.7, 17.4, then the empty one at 30 ms: 30.2 ms -> 0.2 ms after the pass at 30 ms
    assert scaling.overlapped_wait(buckets, 0.030, 2, link) == pytest.approx(0.2e-3 + 0.3e-3 + 2e-3 + 2e-3)
