"""Overlapped, fused, compressed and accumulated gradient reductions; Horovod's other collectives; join;
whole-job evaluation. Under ``mpiexec`` (2 ranks; 4 for the summation-order check)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.distributed.conftest import needs_mpi, run_worker

pytestmark = needs_mpi

#: Overlapped vs blocking: the buckets hold the same numbers, but MPI may add the ranks' values
#: in another order for another message size; float32 sums then differ in the last bits. Over
#: the 24 steps of these runs the weights must agree to this tolerance (with MPICH they are in
#: fact bit-identical at 2 and at 4 ranks, which the 2-rank test also asserts).
OVERLAP_RTOL, OVERLAP_ATOL = 1e-6, 1e-7
#: float16 gradients vs float32 ones (and float16 summed in another order), after the same 24
#: steps: float16 keeps 11 significant bits, so each gradient is off by up to 2**-11 of itself.
FP16_ATOL = 5e-3


@pytest.fixture(scope="module", params=[2, 4], ids=["2ranks", "4ranks"])
def overlap(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"overlap{request.param}")
    run_worker("overlap", out, n=request.param, timeout=180)
    return request.param, [np.load(out / f"overlap.rank{r}.npz") for r in range(request.param)]


MODES = ["blocking", "overlap_small_buckets", "overlap_default", "overlap_threshold_0", "blocking_fp16",
         "overlap_fp16"]


def test_every_mode_keeps_the_ranks_bit_identical(overlap):
    size, ranks = overlap
    for mode in MODES:
        all_ranks = ranks[0][mode + "_all_ranks"]
        assert all_ranks.shape[0] == size
        for r in range(1, size):
            assert np.array_equal(all_ranks[0], all_ranks[r]), mode


def test_overlapped_equals_blocking_up_to_summation_order(overlap):
    size, ranks = overlap
    blocking = ranks[0]["blocking"]
    for mode in ("overlap_small_buckets", "overlap_default", "overlap_threshold_0"):
        np.testing.assert_allclose(ranks[0][mode], blocking, rtol=OVERLAP_RTOL, atol=OVERLAP_ATOL, err_msg=mode)
        if size == 2:  # a + b is the same whatever the buckets
            assert np.array_equal(ranks[0][mode], blocking), mode
    # float16: each partial sum of the ring is rounded to float16, so the order of the additions
    # (which depends on where the bucket's chunks fall) shows at float16's precision from 3 ranks on;
    # with 2 ranks each element is one commutative addition, the same whatever the buckets
    if size == 2:
        assert np.array_equal(ranks[0]["overlap_fp16"], ranks[0]["blocking_fp16"])
    np.testing.assert_allclose(ranks[0]["overlap_fp16"], ranks[0]["blocking_fp16"], rtol=0, atol=FP16_ATOL)


def test_buckets_follow_the_threshold_and_start_during_the_backward_pass(overlap):
    _, ranks = overlap
    rank0 = ranks[0]
    assert rank0["blocking_buckets"] == 1 and rank0["blocking_launched_during_pass"] == 0
    assert rank0["overlap_default_buckets"] == 1  # 64 MB holds the whole model
    assert rank0["overlap_threshold_0_buckets"] == 6  # one per variable
    assert rank0["overlap_small_buckets_buckets"] > 1
    for mode in ("overlap_small_buckets", "overlap_threshold_0", "overlap_default", "overlap_fp16"):
        # every bucket was on its way before the update started waiting
        assert rank0[mode + "_launched_during_pass"] == rank0[mode + "_buckets"], mode


def test_fp16_sends_half_the_bytes_and_stays_close(overlap):
    _, ranks = overlap
    rank0 = ranks[0]
    assert rank0["blocking_fp16_wire_bytes"] * 2 == rank0["blocking_wire_bytes"]
    assert rank0["overlap_fp16_wire_bytes"] * 2 == rank0["blocking_wire_bytes"]
    difference = np.abs(rank0["blocking_fp16"] - rank0["blocking"])
    assert 0 < difference.max() < FP16_ATOL  # float16 rounding, not another computation


def test_accumulated_passes_match_one_process_with_the_whole_batch(tmp_path):
    run_worker("accumulation", tmp_path)
    ranks = [np.load(tmp_path / f"accumulation.rank{r}.npz") for r in (0, 1)]
    for average in (True, False):
        np.testing.assert_allclose(ranks[0][f"weights_{average}"], ranks[0][f"reference_{average}"], rtol=0,
                                   atol=1e-5)
        assert np.array_equal(ranks[0][f"weights_{average}"], ranks[1][f"weights_{average}"])
        assert ranks[0][f"iterations_{average}"] == 12  # 48 samples per rank, 4 per pass, 2 passes per update


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    run_worker("api", out)
    return [json.loads((out / f"api.rank{r}.json").read_text()) for r in (0, 1)]


def test_allreduce_scale_factors_product_and_fp16(api):
    for rec in api:
        assert rec["is_initialized"]
        assert rec["scaled"] == [3.0, 6.0]  # 0.5 * (2 * [1, 2] + 2 * [2, 4])
        assert rec["scaled_average_int"] == [4.5]  # 3 * mean(1, 2)
        assert rec["product"] == [6.0]
        assert rec["fp16"] == [np.float32(np.float16(1 / 3) * 2), 2001.0]  # float16 values, cast back


def test_grouped_allreduce_reducescatter_alltoall(api):
    for rec in api:
        assert rec["grouped"] == [[3.0, 3.0], [1], [[10.0, 10.0]]]
    # sum of rank 0's and rank 1's 5x2 arrays = 3 * arange(10); rank 0 gets rows 0-2, rank 1 rows 3-4
    assert api[0]["reducescatter"] == [[0.0, 3.0], [6.0, 9.0], [12.0, 15.0]]
    assert api[1]["reducescatter"] == [[18.0, 21.0], [24.0, 27.0]]
    assert api[0]["reducescatter_average"] == [0.5, 1.5] and api[1]["reducescatter_average"] == [2.5, 3.5]
    # rank 0 sends [0] to itself and [1, 2] to rank 1; rank 1 sends [10, 11] to rank 0 and [12] to itself
    assert api[0]["alltoall"] == [0, 10, 11] and api[0]["alltoall_counts"] == [1, 2]
    assert api[1]["alltoall"] == [1, 2, 12] and api[1]["alltoall_counts"] == [2, 1]
    for rec in api:
        assert rec["unshard"] == [0, 10, 20, 30, 40, 50, 60]


def test_join_lets_the_rank_with_more_data_finish_and_keeps_the_weights_identical(api):
    for rec in api:
        assert rec["last_joined"] == 0  # rank 0 had two more batches
        assert rec["iterations"] == 5  # rank 1 applied rank 0's last two updates too
        assert rec["identical_after_join"]
        assert rec["after_join_allreduce"] == 1.0  # the ranks are in step afterwards


def test_fp16_training_reaches_the_digits_threshold_with_whole_job_evaluation(tmp_path):
    run_worker("digits_training", tmp_path, "1", timeout=240)
    recs = [json.loads((tmp_path / f"digits_training.rank{r}.json").read_text()) for r in (0, 1)]
    assert recs[0]["accuracy"] >= 0.9, recs[0]  # the threshold of tests/test_integration.py
    assert recs[0]["loss"] == recs[1]["loss"] and recs[0]["accuracy"] == recs[1]["accuracy"]
    own_loss, own_accuracy = recs[0]["own"]  # one process on the whole (even) test set
    assert recs[0]["accuracy"] == pytest.approx(own_accuracy, rel=1e-6)
    assert recs[0]["loss"] == pytest.approx(own_loss, rel=1e-5)
    assert recs[0]["predictions_match"] < 1e-6  # gathered in the original order
    # shards of unequal sizes: the whole job's figures are the sample-weighted ones (an unweighted
    # mean of the ranks' figures would differ), the same on every rank
    assert len(set(recs[0]["uneven_sizes"])) == 2, recs[0]["uneven_sizes"]
    assert recs[0]["uneven"] == recs[1]["uneven"]
    assert recs[0]["uneven"] == pytest.approx(recs[0]["own"], rel=1e-5)


@pytest.mark.parametrize("ranks", [2, 3, 4])
def test_float16_ring_sums_and_gives_every_rank_the_same_bits(tmp_path, ranks):
    run_worker("ring", tmp_path, n=ranks)
    rank0 = np.load(tmp_path / "ring.rank0.npz")
    for size in (1, 3, 4, 1000, 40_001):
        all_ranks = rank0[f"all_ranks_{size}"]
        assert all(np.array_equal(all_ranks[0], all_ranks[r]) for r in range(ranks)), size
        # each of the ranks - 1 additions rounds to float16 (11 significant bits)
        reference = rank0[f"reference_{size}"]
        np.testing.assert_allclose(rank0[f"sum_{size}"], reference, rtol=0,
                                   atol=(ranks - 1) * 2.0 ** -11 * (np.abs(reference).max() + 1), err_msg=str(size))
