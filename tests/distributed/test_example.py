"""examples/distributed_vgg.py runs under mpiexec and, unchanged, with plain python and no mpi4py."""

from __future__ import annotations

import re
import sys

import numpy as np

from kerasette.models import load_model
from tests.distributed.conftest import REPO, needs_mpi, run, run_mpi

EXAMPLE = str(REPO / "examples" / "distributed_vgg.py")
QUICK = ["--epochs", "1", "--samples", "128", "--batch-size", "16"]


@needs_mpi
def test_example_under_mpiexec_saves_on_rank_0_a_checkpoint_that_loads(tmp_path):
    ckpt = tmp_path / "ckpt.h5"
    result = run_mpi([EXAMPLE, *QUICK, "--checkpoint", str(ckpt)], timeout=150)
    assert "2 rank(s) x 64 digits each" in result.stdout
    assert len(re.findall(r"test accuracy \d\.\d+", result.stdout)) == 1  # printed by rank 0 only
    model = load_model(str(ckpt))
    assert model.predict(np.zeros((2, 1, 32, 32), np.float32)).shape == (2, 10)


def test_example_runs_with_plain_python_without_mpi4py(no_mpi4py, tmp_path):
    result = run([sys.executable, EXAMPLE, *QUICK], timeout=150,
                 env_extra={"PYTHONPATH": f"{no_mpi4py}:{REPO}", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert "1 rank(s) x 128 digits each" in result.stdout
    assert "test accuracy" in result.stdout
