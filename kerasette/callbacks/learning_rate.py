"""Callbacks that set the optimizer's learning rate: ReduceLROnPlateau and LearningRateScheduler."""

from __future__ import annotations

import inspect
import numbers

from kerasette.callbacks.base import Callback, Monitor, better, resolve_mode, worst


def _learning_rate(model, owner: str) -> float:
    value = getattr(model.optimizer, "learning_rate", None)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: the optimizer's learning_rate must be a number to be changed by a callback; "
                        f"received {type(value).__name__} (a schedule sets the rate itself)")
    return float(value)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` stops improving.

    After ``patience`` epochs without an improvement larger than ``min_delta``, the rate becomes
    ``max(lr * factor, min_lr)``; then ``cooldown`` epochs pass before it watches again. The
    rate is logged as ``learning_rate`` (Keras 3's key).

    Args:
        monitor: the logged quantity.
        factor: in (0, 1).
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: ``'min'``, ``'max'`` or ``'auto'``.
        min_delta: the smallest change that counts (Keras 1/2: ``epsilon``).
        cooldown: epochs to wait after a reduction.
        min_lr: the rate is never set lower.

    Example:
        >>> reduce = ReduceLROnPlateau(monitor='val_loss', factor=0.2, patience=5, min_lr=0.001)
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if "epsilon" in kwargs:  # Keras 1/2
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected keyword argument(s) {sorted(kwargs)}")
        if not 0.0 < float(factor) < 1.0:
            raise ValueError(f"ReduceLROnPlateau: argument `factor` must be in (0, 1); received factor={factor!r}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), int(patience), verbose
        self.min_delta, self.cooldown, self.min_lr = float(min_delta), int(cooldown), float(min_lr)
        self.mode = resolve_mode(mode, monitor, "ReduceLROnPlateau")
        self._monitor = Monitor("ReduceLROnPlateau", monitor)
        self.best, self.wait, self.cooldown_counter = worst(self.mode), 0, 0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = worst(self.mode), 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        lr = _learning_rate(self.model, "ReduceLROnPlateau")
        logs["learning_rate"] = lr
        current = self._monitor.value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if better(self.mode, current, self.best, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and lr > self.min_lr:
                new_lr = max(lr * self.factor, self.min_lr)
                self.model.optimizer.learning_rate = new_lr
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.", flush=True)
                self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (or Keras
    1/2's ``schedule(epoch)``), epochs counted from 0; logs it as ``learning_rate``.

    Example:
        >>> halve = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.5)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: `schedule` must be a callable; received {schedule!r}")
        self.schedule, self.verbose = schedule, verbose
        self._takes_lr = _positional_count(schedule) >= 2

    def on_epoch_begin(self, epoch, logs=None):
        lr = _learning_rate(self.model, "LearningRateScheduler")
        new_lr = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        if isinstance(new_lr, bool) or not isinstance(new_lr, numbers.Real):
            raise ValueError(f"LearningRateScheduler: the schedule must return a number; for epoch {epoch} it "
                             f"returned {new_lr!r}")
        self.model.optimizer.learning_rate = float(new_lr)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new_lr)}.", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _learning_rate(self.model, "LearningRateScheduler")


def _positional_count(fn) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
