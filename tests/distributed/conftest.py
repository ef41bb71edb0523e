"""Shared pieces of the distributed tests: launching ``mpiexec -n 2`` with a timeout, a world of one.

The tests that need MPI are skipped, with the reason, only where mpi4py is not installed
(``pip install 'kerasette[mpi]'`` installs it, and CI does).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kerasette.distributed import runtime

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "mpi_worker.py"
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI4PY, reason="mpi4py is not installed; "
                               "pip install 'kerasette[mpi]' to run the MPI tests")


def find_mpiexec() -> str:
    """The mpiexec beside this Python (a venv's, from the mpich wheel), else the one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.fail("mpi4py is installed but no mpiexec was found beside the Python or on PATH; "
                    "pip install mpich (or: pip install 'kerasette[mpi]')")
    return found


def run(command: list[str], timeout: float, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """Runs ``command`` in its own process group; on timeout kills the whole group and fails."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.update(env_extra or {})
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(command)} did not finish within {timeout} s (a hang)\n"
                    f"stdout:\n{out}\nstderr:\n{err}")
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def run_mpi(args: list[str], n: int = 2, timeout: float = 90, check: bool = True) -> subprocess.CompletedProcess:
    """``mpiexec -n N python ARGS`` from the repository root."""
    result = run([find_mpiexec(), "-n", str(n), sys.executable, *args], timeout)
    if check and result.returncode != 0:
        pytest.fail(f"mpiexec exited with {result.returncode}\nstdout:\n{result.stdout}\n"
                    f"stderr:\n{result.stderr}")
    return result


def run_worker(scenario: str, out: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Runs one scenario of ``mpi_worker.py`` on 2 ranks."""
    return run_mpi([str(WORKER), scenario, str(out), *args], **kwargs)


@pytest.fixture
def no_mpi4py(tmp_path, monkeypatch):
    """A folder that, first on PYTHONPATH, makes ``import mpi4py`` fail as if it were not installed."""
    stub = tmp_path / "hide_mpi4py" / "mpi4py"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('mpi4py is hidden for this test')\n")
    return stub.parent


@pytest.fixture
def single_world(monkeypatch):
    """`init` in this process as a world of one without MPI (mpi4py's import blocked)."""
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    for name in runtime.LAUNCHER_SIZE_VARS:
        monkeypatch.delenv(name, raising=False)
    runtime.shutdown()
    runtime.init()
    yield runtime.world()
    runtime.shutdown()
