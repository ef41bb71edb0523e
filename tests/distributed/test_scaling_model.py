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
    # bucket 0 (1 MB) at 0 ms: the pass computes, max(8.7, 1 hand-off) -> 8.7 ms
    # bucket 1 (1 MB) at 2 ms waits for it: 8.7 + max(8.7, 1) -> 17.4 ms
    # bucket 2 (empty) at 20 ms, when the pass ends, to an idle link: 20 + 0.2 + 0.5 (tail) -> 20.7 ms
    # wait: 0.7 ms after the pass + 3 launches of 0.1 ms = 1.0 ms; the allreduce time: 0 to 20.7 ms
    buckets = [(1e6, 0.0), (1e6, 0.002), (0.0, 0.020)]
    assert scaling.overlapped_wait(buckets, 0.020, 2, OVERLAP) == pytest.approx(1.0e-3)
    assert scaling.overlapped_span(buckets, 0.020, 2, OVERLAP) == pytest.approx(20.7e-3)
    times, launches = scaling.overlapped_schedule(buckets, 0.020, 2, OVERLAP)
    assert sum(times, ()) == pytest.approx((0.0, 8.7e-3, 8.7e-3, 17.4e-3, 20e-3, 20.7e-3))
    assert launches == pytest.approx(0.3e-3)


def test_a_trip_while_computing_is_the_longer_of_its_transfer_and_the_handoff():
    # hand-off 5 ms: the 1 MB bucket takes its 8.7 ms (the waits overlap the transfer), not 13.7;
    # the empty one queued behind it takes the hand-off, 5 ms (0.2 ms on the wire): 8.7 -> 13.7 ms
    link = GIGABIT.with_(handoff=5e-3)
    times, _ = scaling.overlapped_schedule([(1e6, 0.0), (0.0, 0.001)], 0.030, 2, link)
    assert sum(times, ()) == pytest.approx((0.0, 8.7e-3, 8.7e-3, 13.7e-3))
    # MPI's requests: the queued one moves along with the one before it, 0.2 ms -> 8.9 ms
    times, _ = scaling.overlapped_schedule([(1e6, 0.0), (0.0, 0.001)], 0.030, 2, link.with_(queued_handoff=False))
    assert sum(times, ()) == pytest.approx((0.0, 8.7e-3, 8.7e-3, 8.9e-3))


def test_after_the_pass_the_queue_runs_back_to_back():
    # the pass ends at 15 ms. Hand-off 1 ms: bucket 0 0 -> 8.7 ms, bucket 1 8.7 -> 17.4 ms (at the
    # pace 1 the pass's end changes nothing), bucket 2 (empty, at 15 ms) queued behind it: no wake,
    # 17.4 + 0.2 = 17.6 ms -> wait 2.6 + 3 launches 0.3 = 2.9 ms
    buckets = [(1e6, 0.0), (1e6, 0.002), (0.0, 0.015)]
    assert scaling.overlapped_wait(buckets, 0.015, 2, OVERLAP) == pytest.approx(2.9e-3)
    # hand-off 10 ms (the float16 rings: each pays it): bucket 0 0 -> 10 ms; bucket 1 from 10 ms,
    # its hand-off (10 ms) longer than its transfer (8.7 ms): when the pass ends at 15 ms its
    # steps still wait for the thread, all of its 8.7 ms run then: 23.7 ms; bucket 2
    # 23.7 + 0.2 = 23.9 ms -> wait 8.9 + 0.3 = 9.2 ms
    slow = OVERLAP.with_(handoff=10e-3)
    assert scaling.overlapped_wait(buckets, 0.015, 2, slow) == pytest.approx(9.2e-3)
    # MPI's requests: bucket 1 pays no hand-off, its transfer 10 -> 18.7 ms, 5 of its 8.7 ms gone by
    # at 15 ms, the rest at the idle pace: 18.7 ms; bucket 2 18.9 ms -> 3.9 + 0.3 = 4.2 ms
    assert scaling.overlapped_wait(buckets, 0.015, 2, slow.with_(queued_handoff=False)) == pytest.approx(4.2e-3)


def test_the_pace_while_computing():
    # pace 2 doubles the 8.5 ms of moving and adding the 1 MB, not the two messages' 0.2 ms: 17.2 ms
    # while the pass computes. The pass ends at 8.6 ms, half of it gone by; the other half of its
    # 8.7 ms at the idle pace: 4.35 ms after the pass
    link = GIGABIT.with_(busy_pace=2.0)
    assert scaling.trip_end(0.0, 1e6, 1.0, 2, link) == pytest.approx(17.2e-3)
    assert scaling.overlapped_wait([(1e6, 0.0)], 8.6e-3, 2, link) == pytest.approx(4.35e-3)
    # the pass ends at 20 ms: done at 17.2 ms, nothing left to wait for
    assert scaling.overlapped_wait([(1e6, 0.0)], 0.020, 2, link) == 0.0


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
    # an empty bucket handed on 1 ms before the pass ends, hand-off 10 ms while computing: its
    # trip is its hand-off (its steps wait for the thread), so none of it is assumed done at 20 ms:
    # all of its 0.2 ms after the pass (no wake: it was handed on during the pass)
    link = GIGABIT.with_(handoff=10e-3, tail_handoff=0.5e-3)
    assert scaling.overlapped_wait([(0.0, 0.019)], 0.020, 2, link) == pytest.approx(0.2e-3)
    # with ring steps of 50 us on idle cores: 0.2 + 2 x 0.05 = 0.3 ms
    assert scaling.overlapped_wait([(0.0, 0.019)], 0.020, 2, link.with_(ring_step=50e-6)) == pytest.approx(0.3e-3)
    # handed on 15 ms before: 5 + 10 = 15 ms, done before the pass ends
    assert scaling.overlapped_wait([(0.0, 0.005)], 0.020, 2, link) == 0.0
    # a transfer under way (1 MB, 8.7 ms, from 15 ms; no hand-off): 5 of it gone by at 20 ms, the
    # rest of its trip on idle cores, 8.7 + 2 x 0.05 = 8.8 ms, after: 8.8 x (1 - 5 / 8.7) ms
    stepped = GIGABIT.with_(ring_step=50e-6)
    assert scaling.overlapped_wait([(1e6, 0.015)], 0.020, 2, stepped) == pytest.approx(8.8e-3 * (1 - 5 / 8.7))


def test_ring_steps_on_idle_cores():
    # the ring's 2 (N-1) steps each cost 40 us on idle cores; at 8 ranks 14 steps = 0.56 ms. A 1 MB
    # bucket handed on as the pass ends (1 ms) to an idle link: T(1 MB) at 8 ranks, 2 x 7/8 x 8 ms
    # + 14 x 10 us + 7/8 x 1 ms = 15.015 ms, + 0.56 ms, + 0.5 ms waking the thread: 1 -> 17.075 ms;
    # an empty one queued behind it (no wake): 14 x 10 us + 0.56 ms -> 17.775 ms
    link = GIGABIT.with_(latency=10e-6, ring_step=40e-6, tail_handoff=0.5e-3)
    times, _ = scaling.overlapped_schedule([(1e6, 0.001), (0.0, 0.001)], 0.001, 8, link)
    assert sum(times, ()) == pytest.approx((1e-3, 17.075e-3, 17.075e-3, 17.775e-3))
    # the same empty bucket alone, to an idle link: it wakes the thread, + 0.5 ms
    times, _ = scaling.overlapped_schedule([(0.0, 0.001)], 0.001, 8, link)
    assert times[0][1] - times[0][0] == pytest.approx(0.14e-3 + 0.56e-3 + 0.5e-3)
    # MPI's halving (ring_step 0 there): 6 messages, nothing more
    assert scaling.trip_end(0.0, 0.0, 0.0, 8, link.with_(algorithm="halving", ring_step=0.0, tail_handoff=0.0)) == \
        pytest.approx(60e-6)


def test_launch_costs_per_bucket_per_byte_and_for_waking_the_thread():
    # 1 MB at 0 ms (idle link: wakes the thread), 1 MB at 2 ms (queued behind it), empty at the
    # pass's end (20 ms; after the pass, no wake charged): 3 x 0.1 ms + 2 MB x 1 ns + 1 x 2 ms
    link = GIGABIT.with_(launch=0.1e-3, launch_per_byte=1e-9, wake=2e-3)
    buckets = [(1e6, 0.0), (1e6, 0.002), (0.0, 0.030)]
    # the link: 8.7, 17.4, then the empty one at 30 ms (no tail hand-off here): 30.2 ms -> 0.2 ms
    assert scaling.overlapped_wait(buckets, 0.030, 2, link) == pytest.approx(0.2e-3 + 0.3e-3 + 2e-3 + 2e-3)
