"""TensorBoard: event files TensorBoard reads, written with tensorboardX (the ``tensorboard`` extra)."""

from __future__ import annotations

import os

import numpy as np

from kerasette.callbacks.base import Callback

INSTALL_HINT = "pip install 'kerasette[tensorboard]'"


class TensorBoard(Callback):
    """Writes the logs as TensorBoard scalars, in Keras 3's layout: ``<log_dir>/train`` and
    ``<log_dir>/validation``, tags ``epoch_loss``, ``epoch_accuracy``, ``epoch_learning_rate``
    ... per epoch; with ``update_freq=N``, ``batch_loss`` ... every N batches (counted over the
    whole run); with ``histogram_freq=N``, a histogram of every weight every N epochs.

    Args:
        log_dir: the folder (``tensorboard --logdir`` it).
        histogram_freq: epochs between weight histograms; 0 for none.
        update_freq: ``'epoch'``, or a number of batches between batch-level scalars.
        write_graph, write_images, write_steps_per_second, profile_batch, embeddings_freq,
            embeddings_metadata: accepted for Keras scripts; kerasette writes no graph, images,
            profiles or embeddings (any value but the off one raises a ValueError).

    Example:
        >>> # model.fit(x, y, epochs=10, callbacks=[TensorBoard(log_dir='logs', histogram_freq=1)])
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None, **kwargs):
        super().__init__()
        try:
            from tensorboardX import SummaryWriter  # deferred: optional (the tensorboard extra)
        except ImportError as exc:
            raise ImportError(f"TensorBoard needs tensorboardX ({exc}); install it with {INSTALL_HINT}") from None
        for name, value, off in (("write_images", write_images, False), ("profile_batch", profile_batch, 0),
                                 ("embeddings_freq", embeddings_freq, 0)):
            if value != off:
                raise ValueError(f"TensorBoard: argument `{name}` is not supported by kerasette; received "
                                 f"{name}={value!r} (only {off!r})")
        kwargs.pop("batch_size", None)  # Keras 2
        kwargs.pop("write_grads", None)
        if kwargs:
            raise TypeError(f"TensorBoard: unexpected keyword argument(s) {sorted(kwargs)}")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                       or update_freq < 1):
            raise ValueError(f"TensorBoard: argument `update_freq` must be 'epoch', 'batch' or a positive int; "
                             f"received update_freq={update_freq!r}")
        self.log_dir, self.histogram_freq, self.update_freq = os.fspath(log_dir), int(histogram_freq), update_freq
        self._writer_type = SummaryWriter
        self._writers: dict = {}
        self._batches = 0

    def _writer(self, which: str):
        if which not in self._writers:
            self._writers[which] = self._writer_type(logdir=os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self.update_freq == "epoch" or self._batches % self.update_freq:
            return
        for key, value in (logs or {}).items():
            if key not in ("batch", "size") and np.isscalar(value):
                self._writer("train").add_scalar(f"batch_{key}", float(value), self._batches)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        optimizer = getattr(self.model, "optimizer", None)
        rate = getattr(optimizer, "learning_rate", None)
        if "learning_rate" not in logs and isinstance(rate, (int, float)):
            logs["learning_rate"] = rate
        for key, value in logs.items():
            if not np.isscalar(value):
                continue
            which, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(which).add_scalar(f"epoch_{name}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for var in self.model.weights:
                self._writer("train").add_histogram(var.name, np.asarray(var.data, dtype=np.float64), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
