"""Crash safety: a process killed at any moment while saving leaves a loadable checkpoint.

A child process (forked, so it starts at once) saves a ~54 MB model over and over, each version
with every weight, momentum slot and the iteration count set to one number. The parent kills it
with SIGKILL at random moments, at least 20 times in the middle of a save (a temporary file
left beside the checkpoint shows it), and after each kill the file on disk must load, whole and
consistent: one version, never a mix of two.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kerasette.layers import Dense
from kerasette.models import Sequential, load_model
from kerasette.optimizers import SGD
from kerasette.saving.atomic import atomic_write, remove_stale_temporaries

MIN_MID_SAVE_KILLS = 20
MAX_ROUNDS = 60


def _large_model() -> Sequential:
    model = Sequential([Dense(1500, input_dim=1500), Dense(1500), Dense(1500), Dense(10)])
    model.compile(SGD(learning_rate=0.01, momentum=0.9), "mse")
    model.optimizer.get_state(model.trainable_weights)  # creates the momentum slots
    return model


def _set_version(model, value: int) -> None:
    for var in model.weights:
        var.data.fill(value)
    for _, slot in model.optimizer.get_state(model.trainable_weights)[1]:
        slot.fill(value)
    model.optimizer.iterations = value


def _save_forever(model, path: str, first_version: int, started) -> None:
    version = first_version
    started.set()
    while True:
        _set_version(model, version)
        model.save(path)
        version += 1


def _check_consistent(path: str) -> int:
    model = load_model(path)
    values = {float(v) for var in model.weights for v in (var.data.min(), var.data.max())}
    values |= {float(v) for _, s in model.optimizer.get_state(model.trainable_weights)[1] for v in (s.min(), s.max())}
    values.add(float(model.optimizer.iterations))
    assert len(values) == 1, f"{path}: weights, slots and iterations of different versions: {sorted(values)[:5]}"
    return int(values.pop())


def _leftovers(folder: str) -> list[str]:
    return [name for name in os.listdir(folder) if name.endswith(".tmp")]


@pytest.mark.skipif(sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs fork and SIGKILL")
def test_killed_mid_save_leaves_a_loadable_checkpoint(tmp_path):
    path = str(tmp_path / "model.h5")
    model = _large_model()
    _set_version(model, 1)
    start = time.perf_counter()
    model.save(path)
    # kill within a few saves' time: on a busy machine a save takes longer, and the file must still
    # move on between kills (at least 0.8 s, a handful of saves on an idle machine)
    longest_sleep = max(0.8, 4 * (time.perf_counter() - start))
    context = multiprocessing.get_context("fork")
    rng = np.random.default_rng(2024)
    mid_save_kills, versions = 0, set()
    for round_index in range(MAX_ROUNDS):
        started = context.Event()
        child = context.Process(target=_save_forever, args=(model, path, (round_index + 1) * 1000, started))
        child.start()
        assert started.wait(30), "the saving process did not start"
        time.sleep(rng.uniform(0.05, longest_sleep))
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        leftovers = _leftovers(str(tmp_path))
        mid_save_kills += bool(leftovers)
        # what a killed save leaves behind (the checkpoint is untouched by it) is what the next save
        # to the same path removes: the writer is gone
        assert sorted(os.path.basename(p) for p in remove_stale_temporaries(path)) == sorted(leftovers)
        versions.add(_check_consistent(path))
        if mid_save_kills >= MIN_MID_SAVE_KILLS:
            break
    assert mid_save_kills >= MIN_MID_SAVE_KILLS, f"only {mid_save_kills} of {round_index + 1} kills hit a save"
    assert len(versions) > 5  # the file kept moving on between kills


def test_an_exception_during_a_save_keeps_the_old_file(tmp_path):
    target = tmp_path / "m.h5"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"new, half written")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and _leftovers(str(tmp_path)) == []


def test_the_next_save_removes_dead_processes_temporaries_only(tmp_path):
    from kerasette.saving.atomic import _host

    target = tmp_path / "m.h5"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".m.h5.{_host()}.{dead.pid}.abc123.tmp"
        busy = tmp_path / f".m.h5.{_host()}.{live.pid}.def456.tmp"
        other_host = tmp_path / f".m.h5.some_other_host.{dead.pid}.ghi789.tmp"
        for path in (stale, busy, other_host):
            path.write_bytes(b"partial")
        with atomic_write(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"new")
        assert target.read_bytes() == b"new"
        assert not stale.exists() and busy.exists() and other_host.exists()
    finally:
        live.kill()
        live.wait()
