"""Training on 2 ranks under mpiexec: equivalence with one process, identical weights, callbacks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasette.models import load_model
from tests.distributed.conftest import needs_mpi, run_worker

pytestmark = needs_mpi


@pytest.fixture(scope="module")
def equivalence(tmp_path_factory):
    out = tmp_path_factory.mktemp("equivalence")
    run_worker("equivalence", out)
    return [np.load(out / f"equivalence.rank{r}.npz") for r in (0, 1)]


def test_two_ranks_match_one_process_with_twice_the_batch(equivalence):
    rank0 = equivalence[0]
    assert not np.allclose(rank0["weights"], rank0["initial"])  # it did train
    np.testing.assert_allclose(rank0["weights"], rank0["reference"], rtol=0, atol=1e-5)


def test_weights_are_bit_identical_on_every_rank(equivalence):
    all_ranks = equivalence[0]["all_ranks"]
    assert all_ranks.shape[0] == 2
    assert np.array_equal(all_ranks[0], all_ranks[1])
    assert np.array_equal(equivalence[0]["weights"], equivalence[1]["weights"])


def test_metric_average_changes_the_logs_in_place_for_later_callbacks_and_history(equivalence):
    before = np.stack([e["loss_before"] for e in equivalence])
    for e in equivalence:
        np.testing.assert_allclose(e["loss_after"], before.mean(axis=0), rtol=1e-12)
        np.testing.assert_array_equal(e["loss_history"], e["loss_after"])
    assert not np.allclose(before[0], before[1])  # the shards' own losses differ


def test_broadcast_collectives_and_threads(tmp_path):
    run_worker("collectives", tmp_path)
    records = [json.loads((tmp_path / f"collectives.rank{r}.json").read_text()) for r in (0, 1)]
    for r, rec in enumerate(records):
        assert (rec["rank"], rec["size"], rec["local_rank"], rec["local_size"]) == (r, 2, r, 2)
        assert rec["average"] == [0.5, 5.0]
        assert rec["sum"] == [3, 4]
        assert rec["min"] == 3.0 and rec["max"] == 1
        assert rec["average_int"] == [0.5]
        assert rec["broadcast"] == [[1.0, 1.0], [1.0, 1.0]]
        assert rec["broadcast_object"] == {"from": 0}
        assert rec["allgather"] == [[0, 0], [1, 1], [1, 1]]
        assert rec["allgather_object"] == ["rank0", "rank1"]
        assert rec["iterations"] == 7 and rec["momentum_mean"] == 0.5  # rank 0's optimizer state
        assert rec["numba_threads"] == max(1, _cores() // 2)
        if rec["blas_threads"] is not None:
            assert rec["blas_threads"] == max(1, _cores() // 2)
    assert records[0]["weights_sum"] == records[1]["weights_sum"]
    for rec in records:  # grads averaged: [1, 2] -> 1.5; [4, missing] -> 2; missing everywhere -> untouched
        assert rec["missing_gradients"] == [[-1.5, -1.5], [-2.0, -2.0, -2.0], [1.0]]


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def test_ranks_with_unequal_data_run_the_same_steps_and_warn(tmp_path):
    run_worker("uneven", tmp_path)
    records = [json.loads((tmp_path / f"uneven.rank{r}.json").read_text()) for r in (0, 1)]
    assert records[0]["steps"] == records[1]["steps"] == [12, 12]  # ceil(93 / 8)
    assert any("another holds only 93" in w for w in records[0]["warnings"])
    assert all(r["identical"] for r in records)


def test_checkpoint_written_on_rank_0_loads_in_one_process(tmp_path):
    run_worker("checkpoint", tmp_path)
    assert (tmp_path / "ckpt.h5").exists()
    final = np.load(tmp_path / "checkpoint.rank0.npz")
    model = load_model(str(tmp_path / "ckpt.h5"))
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_array_equal(w, final[f"arr_{i}"])
    assert type(model.optimizer).__name__ == "SGD"
    x = np.random.default_rng(42).standard_normal((100, 8, 8, 1)).astype("float32")[:5]
    np.testing.assert_allclose(model.predict(x), final["predictions"], rtol=1e-6)


def test_learning_rate_warmup_rises_per_batch_from_lr_over_size(tmp_path):
    run_worker("warmup", tmp_path)
    record = json.loads((tmp_path / "warmup.rank0.json").read_text())
    lrs = [lr for lr, _ in record["seen"]]
    steps = 4  # 32 samples per rank, batch 8
    expected = [0.2 / 2 * (min(b / steps, 2.0) * (2 - 1) / 2 + 1) for b in range(3 * steps)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    # Goyal et al.'s momentum correction: momentum * lr_new / lr_old for the batch, then restored
    np.testing.assert_allclose(record["seen"][1][1], 0.9 * expected[1] / expected[0], rtol=1e-12)
    assert record["seen"][-1][1] == 0.9 and record["final"] == 0.9
