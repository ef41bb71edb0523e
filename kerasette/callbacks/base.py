"""The callback protocol: `Callback` with Keras's hooks, `CallbackList`, `History`, and the
helpers that read a monitored value from the logs.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Keras 1/2 log 'acc' where Keras 2.3+/3 log 'accuracy'; a callback monitoring one finds the other.
_ALIASES = {"acc": "accuracy", "accuracy": "acc", "val_acc": "val_accuracy", "val_accuracy": "val_acc"}


class Callback:
    """Base class. ``self.model`` and ``self.params`` are set before training starts.

    Hooks: ``on_train_begin/end(logs)``, ``on_epoch_begin/end(epoch, logs)``,
    ``on_batch_begin/end(batch, logs)`` (``on_train_batch_*`` are the Keras 2 aliases), and for
    `evaluate` (and fit's validation) and `predict`: ``on_test_begin/end(logs)``,
    ``on_test_batch_begin/end(batch, logs)``, ``on_predict_begin/end(logs)``,
    ``on_predict_batch_begin/end(batch, logs)`` (``logs['outputs']`` at a prediction batch's end).
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

    def on_test_begin(self, logs=None): ...

    def on_test_end(self, logs=None): ...

    def on_test_batch_begin(self, batch, logs=None): ...

    def on_test_batch_end(self, batch, logs=None): ...

    def on_predict_begin(self, logs=None): ...

    def on_predict_end(self, logs=None): ...

    def on_predict_batch_begin(self, batch, logs=None): ...

    def on_predict_batch_end(self, batch, logs=None): ...


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


def resolve_mode(mode: str, monitor: str, owner: str) -> str:
    """'min' or 'max' for 'auto' from the monitored quantity's name, as Keras decides."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: argument `mode` must be 'auto', 'min' or 'max'; received mode={mode!r}")
    if mode != "auto":
        return mode
    return "max" if ("acc" in monitor or monitor.startswith("fmeasure")) else "min"


def better(mode: str, current: float, best: float, min_delta: float = 0.0) -> bool:
    """Whether ``current`` improves on ``best`` by more than ``min_delta`` in ``mode``."""
    return current < best - min_delta if mode == "min" else current > best + min_delta


def worst(mode: str) -> float:
    return np.inf if mode == "min" else -np.inf


class Monitor:
    """Reads ``monitor`` from epoch logs for ``owner``; finds ``acc``/``accuracy`` (and their
    ``val_`` forms) under either name, warning once, and warns once when it finds neither."""

    def __init__(self, owner: str, monitor: str):
        self.owner, self.monitor = owner, monitor
        self._warned = False

    def value(self, logs: dict | None):
        logs = logs or {}
        if self.monitor in logs:
            return logs[self.monitor]
        alias = _ALIASES.get(self.monitor)
        if alias is not None and alias in logs:
            self._warn_once(f"{self.owner}: monitoring {self.monitor!r}, which the logs call {alias!r} "
                            f"(metrics=['{alias.removeprefix('val_')}'] logs that name); using {alias!r}")
            return logs[alias]
        self._warn_once(f"{self.owner}: the monitored quantity {self.monitor!r} is not in the logs; "
                        f"available: {sorted(k for k in logs if k not in ('batch', 'size'))}")
        return None

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(message, stacklevel=4)
