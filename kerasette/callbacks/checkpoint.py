"""ModelCheckpoint: saves the model or its weights during training, atomically."""

from __future__ import annotations

from kerasette.callbacks.base import Callback, Monitor, resolve_mode, worst


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
        self._monitor = Monitor("ModelCheckpoint", monitor)
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
            self.best = threshold if threshold is not None else worst(self.mode)

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
            current = self._monitor.value(logs)
            if current is None:  # Monitor warned (once) that it is missing: nothing to compare
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
