"""An exception on one rank ends the whole MPI job with that rank's message, never a hang."""

from __future__ import annotations

from tests.distributed.conftest import needs_mpi, run_worker

pytestmark = needs_mpi


def test_error_on_one_rank_aborts_the_job_with_its_message(tmp_path):
    result = run_worker("fault", tmp_path, timeout=60, check=False)
    assert result.returncode != 0
    assert "ValueError: boom from rank 1 at batch 3" in result.stderr
    assert "uncaught ValueError on rank 1 of 2" in result.stderr
    assert not list(tmp_path.glob("fault.rank*"))  # rank 0 did not carry on alone
