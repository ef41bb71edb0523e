"""An exception on one rank ends the whole MPI job with that rank's message, never a hang."""

from __future__ import annotations

import pytest

from tests.distributed.conftest import needs_mpi, run_worker

pytestmark = needs_mpi


@pytest.mark.parametrize("failing_rank", [1, 0])
def test_error_on_one_rank_aborts_the_job_with_its_message(tmp_path, failing_rank):
    result = run_worker("fault", tmp_path, str(failing_rank), timeout=60, check=False)
    assert result.returncode != 0
    assert f"ValueError: boom from rank {failing_rank} at batch 3" in result.stderr
    assert f"uncaught ValueError on rank {failing_rank} of 2" in result.stderr
    assert not list(tmp_path.glob("fault.rank*"))  # the other rank did not carry on alone


def test_ranks_logging_different_metrics_are_told_so_instead_of_hanging(tmp_path):
    result = run_worker("mismatched_logs", tmp_path, timeout=60, check=False)
    assert result.returncode != 0
    assert "MetricAverageCallback: the ranks logged different figures at the end of epoch 1" in result.stderr
