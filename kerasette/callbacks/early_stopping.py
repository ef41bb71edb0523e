"""EarlyStopping: ends training when a monitored quantity stops improving."""

from __future__ import annotations

from kerasette.callbacks.base import Callback, Monitor, better, resolve_mode, worst


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs (Keras 3's rule).

    Args:
        monitor: the logged quantity (``'val_loss'``; ``'val_acc'`` and ``'val_accuracy'`` find
            each other, with a warning).
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement after which training stops.
        verbose: 1 prints when it stops and when it restores weights.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (max for accuracies).
        baseline: training stops unless the monitored value beats this within ``patience`` epochs.
        restore_best_weights: at the end of training (stopped early or not), set the weights of the
            best epoch.
        start_from_epoch: epochs to wait before watching (a warm-up).

    Example:
        >>> stopper = EarlyStopping(monitor='val_loss', patience=3, restore_best_weights=True)
        >>> # model.fit(x, y, validation_split=0.1, epochs=100, callbacks=[stopper])
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: argument `patience` must be an int >= 0; received patience={patience!r}")
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.min_delta = abs(float(min_delta))
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.mode = resolve_mode(mode, monitor, "EarlyStopping")
        self._monitor = Monitor("EarlyStopping", monitor)

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best_weights = None
        self.best = worst(self.mode)

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor.value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # no improvement ever: the first epoch's
        self.wait += 1
        if better(self.mode, current, self.best, self.min_delta):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or better(self.mode, current, self.baseline, self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.", flush=True)
            self.model.set_weights(self.best_weights)
