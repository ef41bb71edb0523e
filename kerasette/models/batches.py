"""Every kind of training data, turned once into batches that fit, evaluate and predict share.

`batches_for` looks at what it was given and returns one of three sources, each with ``steps``
(batches per epoch, None when unknown until the data ends) and ``epoch()``, an iterator of
``(xs, ys, sample_weight)`` batches (``ys`` None for prediction):

- `ArrayBatches`: numpy arrays, sliced (shuffled per epoch when asked);
- `IterableBatches`: a Python generator or any iterable of batches ``(x, y)``/``(x, y, sw)``;
- `SequenceBatches`: a `kerasette.utils.Sequence` (Keras 3: ``PyDataset``), its batches made
  ahead by worker threads or processes, in order, each exactly once per epoch.

The training loop only asks for the next batch. An exception in a worker reaches the caller with
the worker's traceback; no worker outlives the epoch, also when the loop stops early (a callback,
an error, Ctrl-C). Worker processes ignore SIGINT (Ctrl-C reaches every process of a terminal's
job): the KeyboardInterrupt is the training process's, which shuts its workers down.
"""

from __future__ import annotations

import collections
import concurrent.futures as futures
import signal
from collections.abc import Callable, Iterator

import numpy as np

from kerasette.backend import random as krandom
from kerasette.utils.sequence import Sequence

Batch = tuple[list, list | None, np.ndarray | None]


class ArrayBatches:
    """Slices of in-memory arrays; ``slices`` are the epoch's batches, as positions in the
    (possibly shuffled) order."""

    def __init__(self, xs: list, ys: list | None, sample_weight, slices: list[slice], shuffle: bool):
        self.xs, self.ys, self.sample_weight = xs, ys, sample_weight
        self.slices, self.shuffle = slices, shuffle
        self.samples = len(xs[0])
        self.steps = len(slices)

    def epoch(self) -> Iterator[Batch]:
        order = krandom.generator().permutation(self.samples) if self.shuffle else None
        for sl in self.slices:
            idx = order[sl] if order is not None else sl
            yield ([a[idx] for a in self.xs], None if self.ys is None else [a[idx] for a in self.ys],
                   None if self.sample_weight is None else self.sample_weight[idx])


class IterableBatches:
    """Batches from a generator or iterable. A re-iterable source starts again every epoch; an
    iterator (a generator) goes on where the last epoch stopped, so give it ``steps``."""

    def __init__(self, source, steps: int | None, prepare: Callable, what: str, samples: int | None = None):
        self.prepare, self.steps, self.what, self.samples_per_epoch = prepare, steps, what, samples
        self._source = source
        self._iterator = source if iter(source) is source else None

    def epoch(self) -> Iterator[Batch]:
        it = self._iterator if self._iterator is not None else iter(self._source)
        produced = seen = 0
        while self.steps is None or produced < self.steps:
            if self.samples_per_epoch is not None and seen >= self.samples_per_epoch:
                break
            try:
                batch = next(it)
            except StopIteration:
                break
            prepared = self.prepare(batch)
            produced += 1
            seen += len(prepared[0][0])
            yield prepared
        if produced == 0:
            raise ValueError(f"{self.what}: the data ran out before the epoch's first batch; a generator is used up "
                             "after one pass: make it loop forever and give steps_per_epoch (or use a Sequence)")


class SequenceBatches:
    """A `Sequence`'s batches, in order (shuffled per epoch when asked), made ahead by
    ``workers`` threads or processes (``workers <= 1``: by the caller, when asked)."""

    def __init__(self, sequence, steps: int | None, shuffle: bool, prepare: Callable, workers: int = 1,
                 use_multiprocessing: bool = False, max_queue_size: int = 10):
        self.sequence, self.shuffle, self.prepare = sequence, shuffle, prepare
        self.workers = max(1, int(workers))
        self.use_multiprocessing, self.max_queue_size = bool(use_multiprocessing), max(1, int(max_queue_size))
        length = len(sequence)
        self.steps = length if steps is None else min(int(steps), length)

    def epoch(self) -> Iterator[Batch]:
        order = np.arange(len(self.sequence))
        if self.shuffle:
            order = krandom.generator().permutation(order)
        order = order[: self.steps]
        if self.workers == 1 and not self.use_multiprocessing:
            for i in order:
                yield self.prepare(self.sequence[int(i)])
        else:
            yield from self._ahead(order)
        self.sequence.on_epoch_end()

    def _ahead(self, order) -> Iterator[Batch]:
        if self.use_multiprocessing:
            pool = futures.ProcessPoolExecutor(max_workers=self.workers, initializer=_leave_interrupts_to_the_caller)
        else:
            pool = futures.ThreadPoolExecutor(max_workers=self.workers)
        pending: collections.deque = collections.deque()
        position = 0
        try:
            while position < len(order) or pending:
                while position < len(order) and len(pending) < self.max_queue_size:
                    index = int(order[position])
                    pending.append((index, pool.submit(_get_item, self.sequence, index)))
                    position += 1
                index, job = pending.popleft()
                try:
                    batch = job.result()
                except Exception as exc:
                    if hasattr(exc, "add_note"):
                        exc.add_note(f"(raised by a data worker making batch {index} of "
                                     f"{type(self.sequence).__name__})")
                    raise
                yield self.prepare(batch)
        finally:
            for _, job in pending:
                job.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


class SampleLimited:
    """Keras 1's sample counts: each pass over ``source`` stops once ``samples`` samples were
    given (a pass goes on where the last stopped, for a generator)."""

    def __init__(self, source, samples: int):
        self._iterator = iter(source)
        self.samples = samples

    def __iter__(self):
        seen = 0
        while seen < self.samples:
            try:
                batch = next(self._iterator)
            except StopIteration:
                return
            seen += len(batch[0][0] if isinstance(batch[0], list) else batch[0])
            yield batch


def _leave_interrupts_to_the_caller() -> None:
    """Run in each worker process: Ctrl-C in a terminal sends SIGINT to every process of the job;
    the training process stops the workers itself (shutting the pool down), so a worker ignores it
    rather than dying mid-batch with a traceback of its own and breaking the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _get_item(sequence, index: int):
    return sequence[index]


def is_batch_source(x) -> bool:
    """Whether ``x`` is a source of batches (a Sequence, generator or iterable) rather than arrays."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict)) or hasattr(x, "shape"):
        return False
    return isinstance(x, Sequence) or hasattr(x, "__next__") or hasattr(x, "__iter__")


def batches_for(x, what: str, prepare: Callable, steps: int | None = None, shuffle: bool = False,
                workers: int | None = None, use_multiprocessing: bool | None = None,
                max_queue_size: int | None = None, samples: int | None = None):
    """The batch source for a generator, iterable or Sequence ``x`` (see the module docstring).

    Worker settings default to a ``PyDataset``'s own, else one worker in the caller.
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"{what}: steps must be a positive integer; received {steps!r}")
    if isinstance(x, Sequence):
        return SequenceBatches(
            x, steps, shuffle, prepare,
            workers if workers is not None else getattr(x, "workers", 1),
            use_multiprocessing if use_multiprocessing is not None else getattr(x, "use_multiprocessing", False),
            max_queue_size if max_queue_size is not None else getattr(x, "max_queue_size", 10))
    return IterableBatches(x, steps, prepare, what, samples)


def split_batch(batch, what: str, with_targets: bool) -> tuple:
    """``(x, y, sample_weight)`` from a batch a generator gave (``x`` alone for prediction)."""
    if not with_targets:  # x, or a tuple (x,), (x, y), (x, y, sw) whose x is predicted
        return (batch[0] if isinstance(batch, tuple) and len(batch) in (1, 2, 3) else batch), None, None
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise ValueError(f"{what}: each batch must be a tuple (x, y) or (x, y, sample_weight); received "
                         f"{type(batch).__name__}{_length(batch)}")
    return batch[0], batch[1], batch[2] if len(batch) == 3 else None


def _length(batch) -> str:
    return f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""
