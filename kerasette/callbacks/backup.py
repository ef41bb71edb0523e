"""BackupAndRestore: a run that was killed continues from its last backup when started again."""

from __future__ import annotations

import contextlib
import os
import re

from kerasette.callbacks.base import Callback

_NAME = re.compile(r"^backup-epoch(\d+)\.h5$")


class BackupAndRestore(Callback):
    """Saves the model, its optimizer state and the random state to ``backup_dir`` at the end of
    every epoch; when training starts and a backup is there (the last run was killed), restores it
    and continues with the next epoch, ending with the same weights as a run never interrupted.

    Each backup is written atomically under the number of epochs done
    (``backup-epoch000003.h5``) and the older ones are deleted after it, so a kill at any moment
    leaves a complete backup. A completed run deletes its backups (``delete_checkpoint``).

    Args:
        backup_dir: the folder (made when missing); one per training job.
        save_freq: ``'epoch'`` (backups at epoch ends, the only frequency supported).
        delete_checkpoint: delete the backups when training ends normally.

    Example:
        >>> backup = BackupAndRestore('/scratch/job42/backup')
        >>> # model.fit(x, y, epochs=100, callbacks=[backup])  # run again after a kill: it resumes
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint: bool = True):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError(f"BackupAndRestore: only save_freq='epoch' is supported; received save_freq={save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = bool(delete_checkpoint)

    def _backups(self) -> list[tuple[int, str]]:
        if not os.path.isdir(self.backup_dir):
            return []
        found = [(int(m.group(1)), os.path.join(self.backup_dir, name))
                 for name in os.listdir(self.backup_dir) if (m := _NAME.match(name))]
        return sorted(found)

    def on_train_begin(self, logs=None):
        backups = self._backups()
        if backups:
            epochs_done, path = backups[-1]
            self.model.load_training_state(path)
            self.params["initial_epoch"] = epochs_done

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        self.model.save(os.path.join(self.backup_dir, f"backup-epoch{epoch + 1:06d}.h5"))
        for done, path in self._backups():
            if done < epoch + 1:
                with contextlib.suppress(OSError):
                    os.remove(path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:  # a killed run never gets here: its backups stay
            for _, path in self._backups():
                with contextlib.suppress(OSError):
                    os.remove(path)
