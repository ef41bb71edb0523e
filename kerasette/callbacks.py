"""Callbacks: hooks into training with Keras's names and ``logs`` dicts."""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np


class Callback:
    """Base class. ``self.model`` and ``self.params`` are set before training starts.

    Hooks: ``on_train_begin/end(logs)``, ``on_epoch_begin/end(epoch, logs)``,
    ``on_batch_begin/end(batch, logs)`` (``on_train_batch_*`` are the Keras 2 aliases).
    """

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...

    def on_train_end(self, logs=None): ...

    def on_epoch_begin(self, epoch, logs=None): ...

    def on_epoch_end(self, epoch, logs=None): ...

    def on_batch_begin(self, batch, logs=None):
        self.on_train_batch_begin(batch, logs)

    def on_batch_end(self, batch, logs=None):
        self.on_train_batch_end(batch, logs)

    def on_train_batch_begin(self, batch, logs=None): ...

    def on_train_batch_end(self, batch, logs=None): ...


class CallbackList:
    """Calls each hook on every callback, in order."""

    def __init__(self, callbacks, model, params: dict):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)

        return call


class History(Callback):
    """Records the epoch logs: ``history.history['loss']`` etc., and ``history.epoch``."""

    def on_train_begin(self, logs=None):
        self.epoch: list[int] = getattr(self, "epoch", [])
        self.history: dict[str, list] = getattr(self, "history", {})

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if isinstance(v, (float, np.floating, int)))


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
            shown = {k: f"{v:.4f}" for k, v in (logs or {}).items() if k not in ("batch", "size")}
            self._bar.set_postfix(shown, refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=True)
            self._bar.close()
            self._bar = None
            return
        if self.verbose in (1, 2):
            took = time.perf_counter() - self._start
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {took:.1f}s - {_format_logs(logs)}",
                  file=sys.stdout, flush=True)


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 restore_best_weights=False):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.mode = resolve_mode(mode, monitor, "EarlyStopping")

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights = 0, 0, None
        self.best = np.inf if self.mode == "min" else -np.inf

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            return
        better = current < self.best - self.min_delta if self.mode == "min" else current > self.best + self.min_delta
        if better:
            self.best, self.wait = current, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)


def resolve_mode(mode: str, monitor: str, owner: str) -> str:
    """'min' or 'max' for 'auto' from the monitored quantity's name, as Keras decides."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: argument `mode` must be 'auto', 'min' or 'max'; received mode={mode!r}")
    if mode != "auto":
        return mode
    return "max" if ("acc" in monitor or monitor.startswith("fmeasure")) else "min"


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) after every epoch, or every ``period`` epochs.

    Args:
        filepath: where to save; formatted with ``epoch`` (1-based) and the epoch's logs, e.g.
            ``'ckpt/weights.{epoch:02d}-{val_loss:.2f}.h5'``. Each save is atomic.
        monitor: the logged quantity that ``save_best_only`` compares.
        verbose: 1 prints a line for each save (and each skipped save).
        save_best_only: save only when ``monitor`` improved on the best value seen so far.
        save_weights_only: save with ``model.save_weights`` instead of ``model.save``.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (max for accuracies, min otherwise).
        period: save every ``period`` epochs (Keras 1/2's name).
        save_freq: ``'epoch'``, or an int to save every that many batches instead.

    Example:
        >>> cb = ModelCheckpoint('ckpt/weights.{epoch:02d}-{val_loss:.2f}.h5',
        ...                      monitor='val_loss', save_best_only=True)
        >>> # model.fit(x, y, validation_split=0.1, callbacks=[cb])
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", period: int = 1, save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        self.filepath = str(filepath)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        self.mode = resolve_mode(mode, monitor, "ModelCheckpoint")
        if isinstance(period, bool) or not isinstance(period, int) or period < 1:
            raise ValueError(f"ModelCheckpoint: argument `period` must be a positive int; received period={period!r}")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError("ModelCheckpoint: argument `save_freq` must be 'epoch' or a positive int; "
                             f"received save_freq={save_freq!r}")
        self.period, self.save_freq = period, save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best = None
        self._batches_seen = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        if self.best is None:
            threshold = self.initial_value_threshold
            self.best = threshold if threshold is not None else (np.inf if self.mode == "min" else -np.inf)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save(self._epoch, dict(logs or {}, batch=batch))

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch" and (epoch + 1) % self.period == 0:
            self._save(epoch, dict(logs or {}))

    def format_filepath(self, epoch: int, logs: dict) -> str:
        """``filepath`` with ``{epoch}`` (1-based) and the logs filled in."""
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as exc:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} names {exc.args[0]!r}, which is not "
                           f"in the logs of epoch {epoch + 1} (available: {sorted(logs)})") from None

    def _improved(self, current) -> bool:
        return current < self.best if self.mode == "min" else current > self.best

    def _save(self, epoch: int, logs: dict) -> None:
        path = self.format_filepath(epoch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save the best model only with {self.monitor!r} in the logs "
                              f"(available: {sorted(logs)}); skipping", stacklevel=2)
                return
            if not self._improved(current):
                if self.verbose:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}", flush=True)
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {path}", flush=True)
            self.best = current
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}", flush=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)
