"""Ctrl-C during ``fit`` on a `Sequence` prepared by worker processes (or threads), with a real
SIGINT: the training process ends with KeyboardInterrupt and no worker outlives it.

Each case runs a small training in a child process (its own process group, as a shell runs a
job), waits until a few batches were trained, then sends SIGINT either to the whole group (what
Ctrl-C in a terminal does: the workers get it too) or to the training process alone. The child
lists the live children and threads it still has when the KeyboardInterrupt reaches its top
level; the parent checks the exit status and that every worker process that ever made a batch is
gone.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")

CHILD = textwrap.dedent("""
    import multiprocessing, os, pathlib, signal, sys, threading, time
    # Ctrl-C as in a terminal even when this test runs in a background job, whose processes
    # inherit SIGINT ignored (a shell without job control starts `cmd &` so; Python then
    # installs no KeyboardInterrupt handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    from kerasette.callbacks import Callback
    from kerasette.layers import Dense
    from kerasette.models import Sequential
    from kerasette.utils import Sequence

    OUT = pathlib.Path(sys.argv[1])
    PROCESSES = sys.argv[2] == "processes"


    class Slow(Sequence):
        '''Batches that take a while to make; each maker writes down its process id.'''

        def __len__(self):
            return 10_000

        def __getitem__(self, i):
            (OUT / f"maker-{os.getpid()}").touch()
            time.sleep(0.02)
            rng = np.random.default_rng(i)
            return rng.normal(size=(16, 8)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")


    class Started(Callback):
        '''Slow training steps (the workers fill the queue and wait); says when batch 3 is done.'''

        def on_batch_end(self, batch, logs=None):
            time.sleep(0.05)
            if batch == 3:
                (OUT / "started").touch()


    model = Sequential([Dense(4, activation="relu", input_dim=8), Dense(1)])
    model.compile("sgd", "mse")
    try:
        model.fit(Slow(), epochs=2, workers=2, use_multiprocessing=PROCESSES, max_queue_size=4,
                  callbacks=[Started()], verbose=0)
    except KeyboardInterrupt:
        children = [p.pid for p in multiprocessing.active_children()]
        threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        print(f"children={children} threads={threads}", flush=True)
        raise
    print("finished without interruption", flush=True)
""")


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting to be reaped counts as gone)."""
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = next((line.split()[1] for line in status.splitlines() if line.startswith("State:")), "")
    return state not in ("Z", "X")


def _wait_for(path: pathlib.Path, child: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if child.poll() is not None:
            out, err = child.communicate()
            pytest.fail(f"the child ended before training started:\n{out}\n{err}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("the child did not start training in time")
        time.sleep(0.05)


@pytest.mark.parametrize("target", ["group", "process"])
@pytest.mark.parametrize("workers", ["processes", "threads"])
def test_sigint_mid_epoch_stops_fit_and_every_worker(tmp_path, workers, target):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pathlib.Path(__file__).parents[2]),
                                                        os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, str(script), str(tmp_path), workers], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        _wait_for(tmp_path / "started", child, 120)
        if target == "group":  # what Ctrl-C in a terminal does: every process of the job gets SIGINT
            os.killpg(child.pid, signal.SIGINT)
        else:
            os.kill(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        pytest.fail(f"the child did not end within 60 s of SIGINT:\n{out}\n{err}")
    # Python ends a process whose KeyboardInterrupt was not caught by re-sending itself SIGINT
    assert child.returncode == -signal.SIGINT, (child.returncode, out, err)
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert "children=[] threads=[]" in out, out
    makers = [int(p.name.split("-")[1]) for p in tmp_path.glob("maker-*")]
    if workers == "processes":
        assert makers and child.pid not in makers  # the batches were made in worker processes
    else:
        assert makers == [child.pid]
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in makers if pid != child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in makers if pid != child.pid and _alive(pid)], "a worker process outlived fit"
    # the workers took no part in the interruption: no traceback of theirs in the output
    assert err.count("Traceback") == 1, err
