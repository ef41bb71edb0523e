"""CSVLogger: one row per epoch, written and flushed as each epoch ends."""

from __future__ import annotations

import csv
import os

import numpy as np

from kerasette.callbacks.base import Callback


class CSVLogger(Callback):
    """Writes the epoch logs to a CSV file: a header (``epoch`` then the sorted log keys), one row
    per epoch (epochs counted from 0, as Keras writes them).

    Args:
        filename: the file.
        separator: the field separator.
        append: add to an existing file (a resumed run continues its log, without a second header).

    Example:
        >>> logger = CSVLogger('training.log', append=True)
        >>> # model.fit(x, y, epochs=10, callbacks=[logger])
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: argument `separator` must be one character; received separator={separator!r}")
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self._file = None
        self._writer = None
        self._keys: list[str] | None = None

    def on_train_begin(self, logs=None):
        existing = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._keys = _header(self.filename, self.sep) if existing else None
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: v for k, v in (logs or {}).items() if k not in ("batch", "size")}
        if self._writer is None:
            keys = self._keys[1:] if self._keys else sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *keys], delimiter=self.sep,
                                          extrasaction="ignore", restval="NA")
            if not self._keys:
                self._writer.writeheader()
        row = {"epoch": epoch, **{k: _cell(v) for k, v in logs.items()}}
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None


def _header(filename: str, sep: str) -> list[str] | None:
    with open(filename, newline="", encoding="utf-8") as f:
        first = next(csv.reader(f, delimiter=sep), None)
    return first if first and first[0] == "epoch" else None


def _cell(value):
    if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) > 0:
        return "[" + ", ".join(str(v) for v in np.ravel(value)) + "]"
    return value
