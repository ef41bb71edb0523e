"""The benchmark's calibration from the seed model's own steps (`pace_samples`, `ring_step_samples`):
profiles made with the scaling model at a known pace and ring step must give them back."""

from __future__ import annotations

import pytest

from kerasette.distributed import scaling
from tests.benchmarks import distributed_bench as bench

#: 1 Gbit/s, 5 us a message, float16 sums at 1 GB/s, hand-off 10 ms: the float16 ring's path
RING = scaling.Link(bandwidth=125e6, latency=5e-6, reduce_rate=1e9, handoff=10e-3)
BIG, SMALL = 16_000_000, 1_796


def bucket(nbytes, start, done, submitted=None):
    return {"bytes": nbytes, "ready_s": start, "submitted_s": start if submitted is None else submitted,
            "launched_s": start, "launch_s": 0.0, "done_s": done}


def step(pass_end, buckets, wait):
    return {"pass_s": pass_end, "pack_s": 0.0, "launch_s": 0.0, "wait_s": wait, "unpack_s": 0.0,
            "buckets": buckets}


def profiles_at(pace, ring_step, pass_end, start=0.02, later_rank_lag=0.0):
    """One step of 2 ranks, the big bucket from ``start`` and the small last one queued behind it at
    the pass's end, their ends as the model has them; rank 1 reaches the update last (waits less)
    and starts the big bucket ``later_rank_lag`` after rank 0."""
    link = RING.with_(busy_pace=pace, ring_step=ring_step)
    big_start = start + later_rank_lag
    big_done = scaling.trip_end(big_start, BIG, pass_end, 2, link)
    small_start = max(pass_end, big_done)
    small_done = scaling.trip_end(small_start, SMALL, pass_end, 2, link, queued=big_done > pass_end)
    ranks = []
    for rank, own_start in ((0, start), (1, big_start)):
        buckets = [bucket(BIG, own_start, big_done),
                   bucket(SMALL, small_start, small_done, submitted=pass_end - 1e-4)]
        ranks.append([step(pass_end, buckets, small_done - pass_end + (1e-3 if rank == 0 else 0.0))])
    return ranks


@pytest.mark.parametrize("pace", [0.95, 1.3, 2.4])
def test_the_pace_comes_back_from_a_trip_that_ends_during_the_pass(pace):
    # 16 MB: T = 128 ms + 10 us + 8 ms; the pass lasts long enough for the whole trip
    assert bench.pace_samples(profiles_at(pace, 0.0, pass_end=0.5), RING) == [pytest.approx(pace)]


@pytest.mark.parametrize("pace", [0.95, 1.3])
def test_the_pace_comes_back_from_a_trip_the_pass_ends_during(pace):
    # the pass ends 100 ms into the trip: the model's remainder at the idle pace, solved back
    assert bench.pace_samples(profiles_at(pace, 0.0, pass_end=0.12), RING) == [pytest.approx(pace)]


def test_the_later_ranks_start_counts():
    # the allreduce cannot move before both ranks started it: rank 1 started 3 ms later
    assert bench.pace_samples(profiles_at(1.1, 0.0, pass_end=0.5, later_rank_lag=3e-3), RING) == [
        pytest.approx(1.1)]


def test_steps_that_say_little_of_the_pace_are_left_out():
    # the pass ends 10 ms into a 136 ms trip: less than a quarter of it gone by
    assert bench.pace_samples(profiles_at(1.0, 0.0, pass_end=0.03), RING) == []
    # the big bucket starts after the pass: no transfer while computing
    assert bench.pace_samples(profiles_at(1.0, 0.0, pass_end=0.01), RING) == []
    # a bucket whose transfer the hand-off hides (a 1 MB one at 10 Gbit/s: 1.6 ms < 10 ms)
    fast = RING.with_(bandwidth=1.25e9)
    profiles = [[step(0.5, [bucket(1_000_000, 0.02, 0.03), bucket(SMALL, 0.5, 0.5001)], 1e-4)]] * 2
    assert bench.pace_samples(profiles, fast) == []


@pytest.mark.parametrize("ring_step", [0.0, 40e-6])
def test_the_ring_step_comes_back_from_the_last_bucket(ring_step):
    # the pass ends during the big bucket's trip: the small one starts after it, queued, on idle cores
    samples = bench.ring_step_samples(profiles_at(1.0, ring_step, pass_end=0.12), RING)
    assert samples == [pytest.approx(ring_step, abs=1e-12)]


def test_a_last_bucket_that_woke_the_thread_is_left_out():
    # the big bucket was done long before the pass ended: the small one finds the thread asleep
    assert bench.ring_step_samples(profiles_at(1.0, 40e-6, pass_end=0.5), RING) == []


def test_the_calibration_uses_the_seed_models_steps_and_its_median():
    cal = {"exchange_bytes_per_s": 125e6, "latency_s": 5e-6, "reduce_fp16_bytes_per_s": 1e9,
           "reduce_fp32_bytes_per_s": 1e10, "busy_trip_fp16_s": 10e-3, "tail_fp16_s": 1e-3, "launch_fp16_s": 0.0,
           "busy_launch_fp16_s": 0.0, "busy_wake_fp16_s": 0.0, "busy_launch_big_fp16_s": 0.0,
           "busy_launch_big_fp16_bytes": 1, "busy_big_trip_fp16_s": 2.0, "idle_big_trip_fp16_s": 1.0,
           "pass_launch_fp16_s": 0.0, "pass_profiles_fp16": profiles_at(1.2, 40e-6, pass_end=0.12)}
    # the calibration's run and two warm-up steps: paces 1.2, 0.9, 1.0 and ring steps all 40 us
    runs = {"1gbit": {("overlap", "fp16"): [{"warmup_profiles": profiles_at(0.9, 40e-6, pass_end=0.12)},
                                             {"warmup_profiles": profiles_at(1.0, 40e-6, pass_end=0.12)}],
                      ("overlap", "none"): [{"warmup_profiles": profiles_at(3.0, 40e-6, pass_end=0.12)}]}}
    terms = bench.seed_pass_terms({"1gbit": cal}, runs)["1gbit"]
    assert terms["pace_fp16"] == pytest.approx(1.0) and terms["ring_step_fp16"] == pytest.approx(40e-6)
    assert sorted(terms["pace_samples_fp16"]) == pytest.approx([0.9, 1.0, 1.2])
    assert "pace_fp32" not in terms  # no seed-model calibration run of the float32 path here
    link = bench.calibrated_link(terms, "fp16")
    assert link.busy_pace == pytest.approx(1.0) and link.ring_step == pytest.approx(40e-6)
    # the tail hand-off is what the 1 KB bucket took beyond its trip on idle cores (ring steps included)
    tail_trip = scaling.allreduce_seconds(257 * 2 + 4, 2, link) + 2 * 40e-6
    assert link.tail_handoff == pytest.approx(1e-3 - tail_trip)
    # the previous calibration: the synthetic pass's pace (2 / 1), no ring steps
    synthetic = bench.calibrated_link(terms, "fp16", synthetic=True)
    assert synthetic.busy_pace == pytest.approx(2.0) and synthetic.ring_step == 0.0
    # the float32 path (MPI) has no ring steps
    assert bench.calibrated_link(dict(terms, busy_trip_fp32_s=3e-3, tail_fp32_s=1e-3, launch_fp32_s=0.0,
                                      busy_launch_fp32_s=0.0, busy_wake_fp32_s=0.0, busy_launch_big_fp32_s=0.0,
                                      busy_launch_big_fp32_bytes=1, pace_fp32=1.0), "none").ring_step == 0.0
