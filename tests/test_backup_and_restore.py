"""BackupAndRestore: a training process killed with SIGKILL in the middle of an epoch and started
again with the same script ends with the same weights as a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kerasette.callbacks import BackupAndRestore

SCRIPT = r"""
import sys, time, numpy as np
import kerasette.backend as K
from kerasette.callbacks import BackupAndRestore, LambdaCallback
from kerasette.layers import Dense, Dropout
from kerasette.models import Sequential
from kerasette.optimizers import SGD
backup_dir, progress = sys.argv[1], sys.argv[2]
K.set_seed(0)
data = np.random.default_rng(1)
x = data.normal(size=(256, 6)).astype("float32")
y = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)]
model = Sequential([Dense(16, activation="relu", input_dim=6), Dropout(0.2), Dense(3, activation="softmax")])
model.compile(SGD(learning_rate=0.05, momentum=0.9, nesterov=True), "categorical_crossentropy")
slow = LambdaCallback(on_batch_end=lambda b, logs: time.sleep(0.01),
                      on_epoch_end=lambda e, logs: open(progress, "a").write(f"{e}\n"))
model.fit(x, y, batch_size=16, epochs=6, verbose=0, callbacks=[BackupAndRestore(backup_dir), slow])
np.save(sys.argv[3], np.concatenate([w.ravel() for w in model.get_weights()]))
"""


def _start(tmp_path, name):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    args = [sys.executable, str(script), str(tmp_path / f"{name}-backup"), str(tmp_path / f"{name}-progress"),
            str(tmp_path / f"{name}-weights.npy")]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _epochs_done(tmp_path, name) -> int:
    path = tmp_path / f"{name}-progress"
    return len(path.read_text().split()) if path.exists() else 0


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_killed_mid_epoch_and_restarted_ends_like_an_uninterrupted_run(tmp_path):
    reference = _start(tmp_path, "reference")
    assert reference.wait(120) == 0, reference.stderr.read().decode()
    child = _start(tmp_path, "killed")
    deadline = time.time() + 120
    while _epochs_done(tmp_path, "killed") < 3 and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.08)  # into the fourth epoch (16 batches of 10 ms)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(30)
    assert not (tmp_path / "killed-weights.npy").exists()  # it did not finish
    backups = os.listdir(tmp_path / "killed-backup")
    assert backups == ["backup-epoch000003.h5"] or backups == ["backup-epoch000004.h5"]
    again = _start(tmp_path, "killed")
    assert again.wait(120) == 0, again.stderr.read().decode()
    np.testing.assert_array_equal(np.load(tmp_path / "killed-weights.npy"), np.load(tmp_path / "reference-weights.npy"))
    assert os.listdir(tmp_path / "killed-backup") == []  # a completed run deletes its backups
    assert _epochs_done(tmp_path, "killed") < 3 + 6  # the restarted run skipped the epochs it had


def test_only_epoch_backups():
    with pytest.raises(ValueError, match=r"BackupAndRestore: only save_freq='epoch' is supported; received "
                                         r"save_freq=100"):
        BackupAndRestore("/tmp/x", save_freq=100)
