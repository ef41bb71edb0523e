"""ProgbarLogger: a tqdm bar per epoch in a terminal or notebook, one line per epoch elsewhere."""

from __future__ import annotations

import sys
import time

import numpy as np

from kerasette.callbacks.base import Callback


def format_value(value) -> str:
    """A logged value as Keras prints it: 4 decimals (each element for a metric giving several)."""
    if np.ndim(value) == 0:
        return f"{float(value):.4f}"
    return "[" + " ".join(f"{float(v):.4f}" for v in np.ravel(value)) + "]"


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {format_value(v)}" for k, v in logs.items() if k not in ("batch", "size"))


def _interactive() -> bool:
    """True in a terminal or a notebook, where a live bar can redraw itself."""
    if "ipykernel" in sys.modules:
        return True
    return bool(getattr(sys.stdout, "isatty", lambda: False)())


class ProgbarLogger(Callback):
    """Shows training progress.

    ``verbose=1``: a tqdm bar per epoch with the running loss and metrics when the output is a
    terminal or a notebook; a single line per epoch otherwise (no carriage returns in log files).
    ``verbose=2``: one line per epoch.
    """

    def __init__(self, verbose: int = 1):
        super().__init__()
        self.verbose = verbose
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._start = epoch, time.perf_counter()
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        if self.verbose == 1 and _interactive():
            from tqdm.auto import tqdm  # deferred: tqdm.auto (0.05 s) only when a bar is shown

            self._bar = tqdm(total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch",
                             leave=True, file=sys.stdout, dynamic_ncols=True)

    def on_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            shown = {k: format_value(v) for k, v in (logs or {}).items() if k not in ("batch", "size")}
            self._bar.set_postfix(shown, refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._bar is not None:
            self._bar.set_postfix({k: format_value(v) for k, v in logs.items()}, refresh=True)
            self._bar.close()
            self._bar = None
            return
        if self.verbose in (1, 2):
            took = time.perf_counter() - self._start
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {took:.1f}s - {_format_logs(logs)}",
                  file=sys.stdout, flush=True)
