"""Sequence (Keras 2) and PyDataset (Keras 3): data sets of batches that ``fit`` can read with
worker threads or processes, in any order, each batch exactly once per epoch.

Example:
    >>> import numpy as np
    >>> class Batches(Sequence):
    ...     def __init__(self, x, y, batch_size):
    ...         self.x, self.y, self.batch_size = x, y, batch_size
    ...     def __len__(self):
    ...         return -(-len(self.x) // self.batch_size)
    ...     def __getitem__(self, i):
    ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
    ...         return self.x[s], self.y[s]
    >>> len(Batches(np.zeros((10, 2)), np.zeros(10), 4))
    3
"""

from __future__ import annotations


class Sequence:
    """Base class: define ``__len__`` (batches per epoch) and ``__getitem__(index)`` (returns
    ``(x, y)`` or ``(x, y, sample_weight)``; ``x`` alone for ``predict``); ``on_epoch_end`` runs
    after every epoch (to reshuffle, say). Batches may be made in worker threads or processes at
    the same time, so ``__getitem__`` must not depend on the order it is called in."""

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of batches)")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning a batch")

    def on_epoch_end(self) -> None:
        """Called after each epoch."""

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


class PyDataset(Sequence):
    """Keras 3's name for `Sequence`, whose constructor holds the worker settings.

    Args:
        workers: threads (or processes) preparing batches ahead; 1 prepares them in the caller.
        use_multiprocessing: processes instead of threads (the data set must be picklable).
        max_queue_size: batches prepared ahead at most.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size
