"""Ranks on emulated hosts: each in its own network namespace, MPI over TCP across shaped veth links.

Skipped, with the reason, only where namespaces cannot be made (not root, no ``ip``); under CI
(the ``CI`` variable set) that is a failure instead, so that CI always runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import numpy as np
import pytest

from tests.distributed import netns
from tests.distributed.conftest import REPO, WORKER, find_mpiexec, needs_mpi

pytestmark = needs_mpi


@pytest.fixture(scope="module")
def network():
    reason = netns.unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the multi-host test must run in CI, but network namespaces cannot be made: {reason}")
        pytest.skip(f"network namespaces cannot be made: {reason}")
    with netns.Network(2, rate="1gbit") as net:
        yield net


def _start(net: netns.Network, scenario: str, out) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = net.mpiexec_command(find_mpiexec(), [str(WORKER), scenario, str(out)])
    return subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the job did not finish within {timeout} s (a hang)\nstdout:\n{out}\nstderr:\n{err}")


def test_digits_convnet_trains_across_namespaces_to_the_single_process_weights(network, tmp_path):
    sent_before = [network.bytes_sent(r) for r in range(2)]
    proc = _start(network, "digits_equivalence", tmp_path)
    out, err = _finish(proc, timeout=240)
    assert proc.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    ranks = [np.load(tmp_path / f"digits_equivalence.rank{r}.npz") for r in range(2)]
    rank0 = ranks[0]
    assert not np.allclose(rank0["weights"], rank0["initial"])  # it trained
    np.testing.assert_allclose(rank0["weights"], rank0["reference"], rtol=0, atol=1e-5)
    assert np.array_equal(rank0["all_ranks"][0], rank0["all_ranks"][1])
    assert np.array_equal(ranks[1]["weights"], rank0["weights"])
    # the gradients crossed the network: each rank sends at least its 2,730 float32 gradients' worth
    # per step (either half twice, in a ring, or all once), 32 steps
    for r in range(2):
        assert network.bytes_sent(r) - sent_before[r] > 0.9 * 32 * 2730 * 4


def test_a_rank_killed_in_its_namespace_ends_the_job(network, tmp_path):
    proc = _start(network, "endless", tmp_path)
    pid_file = tmp_path / "endless.rank1.pid"
    deadline = time.monotonic() + 120
    while not pid_file.exists() or not pid_file.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = _finish(proc, timeout=5)
            pytest.fail(f"the job did not start training\nstdout:\n{out}\nstderr:\n{err}")
        time.sleep(0.2)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    _, err = _finish(proc, timeout=60)
    assert proc.returncode != 0
    rank0_pid = int((tmp_path / "endless.rank0.pid").read_text())
    with pytest.raises(ProcessLookupError):  # the surviving rank did not go on alone
        os.kill(rank0_pid, 0)
