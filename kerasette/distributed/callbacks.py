"""Callbacks for data-parallel training: start from the same weights, average the metrics, warm up.

Put them first in the ``callbacks`` list, in this order, so that later callbacks (checkpoints,
early stopping, learning-rate schedules) see the averaged figures::

    callbacks = [hvd.callbacks.BroadcastGlobalVariablesCallback(0),
                 hvd.callbacks.MetricAverageCallback(),
                 hvd.callbacks.LearningRateWarmupCallback(warmup_epochs=1)]
"""

from __future__ import annotations

import sys

import numpy as np

from kerasette.callbacks import Callback
from kerasette.distributed import collectives, runtime


class BroadcastGlobalVariablesCallback(Callback):
    """At the start of training, gives every rank rank ``root_rank``'s weights and optimizer state.

    Ranks initialise their weights with different random draws (and a run resumed from a
    checkpoint that only rank 0 loaded differs too); this makes them start identical. It sends
    all of the model's weights (trainable or not), and the optimizer's ``iterations`` and state
    (momenta etc.), at ``on_train_begin``, before the first update.

    Args:
        root_rank: the rank whose values everyone takes (usually 0).

    Example:
        >>> import kerasette.distributed as hvd
        >>> callback = hvd.callbacks.BroadcastGlobalVariablesCallback(0)
    """

    def __init__(self, root_rank: int = 0):
        super().__init__()
        self.root_rank = root_rank

    def on_train_begin(self, logs=None):
        broadcast_model(self.model, self.root_rank)


def broadcast_model(model, root_rank: int = 0) -> None:
    """Makes every rank's weights and optimizer state equal to those of ``root_rank``."""
    collectives.broadcast_variables(model.weights, root_rank)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "get_state"):
        return
    variables = model.trainable_weights
    iterations, state = optimizer.get_state(variables)  # creates missing state (zeros) on each rank
    collectives.broadcast_variables([array for _, array in state], root_rank)
    optimizer.iterations = int(collectives.broadcast_object(int(iterations), root_rank))


class MetricAverageCallback(Callback):
    """At the end of each epoch, replaces each figure in the epoch's logs by its mean over the ranks.

    Each rank's loss and metrics come from its own shard; averaged, they describe the whole
    epoch (exactly, when the shards are equal in size). The logs dict is changed in place, so
    every callback after this one (and ``model.history``) sees the averages. Keys are reduced
    in sorted order, so ranks with the same keys always match their allreduces.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or runtime.size() == 1:
            return
        keys = sorted(k for k, v in logs.items() if isinstance(v, (int, float, np.number)) and
                      not isinstance(v, bool))
        every_rank = collectives.allgather_object(keys)
        if any(other != keys for other in every_rank):
            raise ValueError(f"MetricAverageCallback: the ranks logged different figures at the end of epoch "
                             f"{epoch + 1}: {dict(enumerate(every_rank))}; give every rank the same metrics "
                             "and validation data settings")
        if not keys:
            return
        values = np.array([float(logs[k]) for k in keys], dtype=np.float64)
        values = collectives.allreduce(values, op=collectives.Average)
        for key, value in zip(keys, values):
            logs[key] = float(value)


class LearningRateWarmupCallback(Callback):
    """Raises the learning rate gradually over the first epochs (Goyal et al., 2017).

    Training on N ranks with the learning rate scaled by N diverges when the large rate is used
    from the first step. This starts at ``initial_lr / size`` and rises linearly, batch by batch,
    to ``initial_lr`` at the end of ``warmup_epochs``::

        epoch_float = epoch + batch / steps_per_epoch
        lr = initial_lr / size * (epoch_float * (size - 1) / warmup_epochs + 1)

    With ``momentum_correction`` (Goyal et al., section 2.1), for each batch in which the rate
    changes the optimizer's momentum is multiplied by ``lr_new / lr_old``, since Keras's
    velocity ``v = momentum * v - lr * g`` carries the previous rate.

    Args:
        warmup_epochs: epochs over which the rate rises (at least 1; fractions allowed).
        momentum_correction: apply the momentum correction (optimizers with ``momentum``).
        steps_per_epoch: batches per epoch; default: the number ``fit`` runs.
        verbose: print a line on rank 0 when the warm-up ends.
        initial_lr: the target rate; default: the optimizer's learning rate when training starts.

    Example:
        >>> import kerasette.distributed as hvd
        >>> callback = hvd.callbacks.LearningRateWarmupCallback(warmup_epochs=1)
    """

    def __init__(self, warmup_epochs: float = 5, momentum_correction: bool = True,
                 steps_per_epoch: int | None = None, verbose: int = 0, initial_lr: float | None = None):
        super().__init__()
        if not warmup_epochs > 0:
            raise ValueError(f"LearningRateWarmupCallback: argument `warmup_epochs` must be > 0; "
                             f"received warmup_epochs={warmup_epochs!r}")
        self.warmup_epochs = float(warmup_epochs)
        self.momentum_correction = momentum_correction
        self.steps_per_epoch = steps_per_epoch
        self.verbose = verbose
        self.initial_lr = initial_lr
        self._epoch = 0
        self._restore_momentum: float | None = None

    def on_train_begin(self, logs=None):
        if self.initial_lr is None:
            self.initial_lr = float(self.model.optimizer.learning_rate)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def multiplier(self, epoch: int, batch: int) -> float:
        """The factor applied to ``initial_lr`` at this batch (1 after the warm-up)."""
        steps = self.steps_per_epoch or self.params.get("steps") or 1
        progress = epoch + batch / steps
        if progress >= self.warmup_epochs:
            return 1.0
        size = runtime.size()
        return 1.0 / size * (progress * (size - 1) / self.warmup_epochs + 1.0)

    def on_batch_begin(self, batch, logs=None):
        if self._epoch > self.warmup_epochs:
            return
        optimizer = self.model.optimizer
        old_lr = float(optimizer.learning_rate)
        new_lr = self.initial_lr * self.multiplier(self._epoch, batch)
        if new_lr == old_lr:
            return
        optimizer.learning_rate = new_lr
        momentum = getattr(optimizer, "momentum", None)
        if self.momentum_correction and momentum and old_lr > 0:
            self._restore_momentum = momentum
            optimizer.momentum = momentum * new_lr / old_lr
        if new_lr == self.initial_lr and self.verbose and runtime.rank() == 0:
            print(f"\nEpoch {self._epoch + 1}: finished gradual learning rate warmup to {new_lr:g}.",
                  file=sys.stdout, flush=True)

    def on_batch_end(self, batch, logs=None):
        if self._restore_momentum is not None:
            self.model.optimizer.momentum = self._restore_momentum
            self._restore_momentum = None


class LearningRateScheduleCallback(Callback):
    """Sets the learning rate to ``initial_lr * multiplier`` between two epochs (Horovod's schedule).

    Between ``start_epoch`` (included) and ``end_epoch`` (excluded; None: to the end) the rate
    is ``initial_lr * multiplier``, where ``multiplier`` is a number or a function of the
    epoch. With ``staircase`` (the default) it is set once at the start of each epoch, from the
    epoch's number; without it, at every batch, from the fractional epoch
    ``epoch + batch / steps_per_epoch``. Outside the range the rate is left alone. Several of
    these callbacks make a piecewise schedule (e.g. x1 for epochs 0-30, x0.1 for 30-60, ...).
    With ``momentum_correction`` the momentum is scaled by ``lr_new / lr_old`` for the batch in
    which the rate changes, as in `LearningRateWarmupCallback`.

    Args:
        initial_lr: the base rate; default: the optimizer's rate when training starts.
        multiplier: a number, or a function ``epoch -> factor``.
        start_epoch: the first epoch (from 0) the schedule applies to.
        end_epoch: the first epoch it no longer applies to (None: never ends).
        staircase: change the rate per epoch (True) or per batch (False).
        momentum_correction: apply the momentum correction (optimizers with ``momentum``).
        steps_per_epoch: batches per epoch; default: the number ``fit`` runs.

    Example:
        >>> import kerasette.distributed as hvd
        >>> callbacks = [hvd.callbacks.LearningRateScheduleCallback(multiplier=1.0, end_epoch=30),
        ...              hvd.callbacks.LearningRateScheduleCallback(multiplier=0.1, start_epoch=30)]
    """

    def __init__(self, initial_lr: float | None = None, multiplier=1.0, start_epoch: int = 0,
                 end_epoch: int | None = None, staircase: bool = True, momentum_correction: bool = True,
                 steps_per_epoch: int | None = None):
        super().__init__()
        if not callable(multiplier) and not isinstance(multiplier, (int, float)):
            raise ValueError(f"LearningRateScheduleCallback: argument `multiplier` must be a number or a function "
                             f"of the epoch; received multiplier={multiplier!r}")
        if end_epoch is not None and end_epoch <= start_epoch:
            raise ValueError(f"LearningRateScheduleCallback: argument `end_epoch` must be after `start_epoch`; "
                             f"received start_epoch={start_epoch!r}, end_epoch={end_epoch!r}")
        self.initial_lr = initial_lr
        self.multiplier = multiplier if callable(multiplier) else (lambda epoch, value=float(multiplier): value)
        self.start_epoch, self.end_epoch = start_epoch, end_epoch
        self.staircase = staircase
        self.momentum_correction = momentum_correction
        self.steps_per_epoch = steps_per_epoch
        self._epoch = 0
        self._restore_momentum: float | None = None

    def on_train_begin(self, logs=None):
        if self.initial_lr is None:
            self.initial_lr = float(self.model.optimizer.learning_rate)

    def _in_range(self, epoch: float) -> bool:
        return self.start_epoch <= epoch and (self.end_epoch is None or epoch < self.end_epoch)

    def _set(self, epoch: float) -> None:
        optimizer = self.model.optimizer
        old_lr = float(optimizer.learning_rate)
        new_lr = self.initial_lr * float(self.multiplier(epoch))
        if new_lr == old_lr:
            return
        optimizer.learning_rate = new_lr
        momentum = getattr(optimizer, "momentum", None)
        if self.momentum_correction and momentum and old_lr > 0:
            self._restore_momentum = momentum
            optimizer.momentum = momentum * new_lr / old_lr

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.staircase and self._in_range(epoch):
            self._set(epoch)

    def on_batch_begin(self, batch, logs=None):
        if self.staircase or not self._in_range(self._epoch):
            return
        steps = self.steps_per_epoch or self.params.get("steps") or 1
        self._set(self._epoch + batch / steps)

    def on_batch_end(self, batch, logs=None):
        if self._restore_momentum is not None:
            self.model.optimizer.momentum = self._restore_momentum
            self._restore_momentum = None
