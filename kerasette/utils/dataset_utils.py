"""Data sets of numpy batches that ``fit``, ``evaluate`` and ``predict`` take directly, and the
folder indexing that Keras's ``*_dataset_from_directory`` functions share.

Keras 3 returns ``tf.data.Dataset`` objects from ``timeseries_dataset_from_array`` and
``text_dataset_from_directory``; kerasette returns a `BatchDataset`: a `Sequence` (so ``fit`` reads
it with worker threads, each batch once per epoch) that also iterates as numpy batches
(``for x, y in dataset``), has a length (batches per epoch), and reshuffles its samples every
epoch when made with ``shuffle=True``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from kerasette.utils.sequence import Sequence


class BatchDataset(Sequence):
    """Samples ``0..size-1`` in batches, each made by ``fetch(indices)`` (an array, or a tuple of
    arrays, with the batch along axis 0).

    Args:
        size: the number of samples.
        fetch: makes the batch of the given sample indices (a 1-D int array).
        batch_size: samples per batch (the last may be smaller); None: single samples, without a
            batch axis (as a Keras data set made with ``batch_size=None``).
        shuffle: visit the samples in a random order, a new one every epoch.
        seed: the seed of that order.
        first_order: the first epoch's order (default: ``np.random.RandomState(seed)``'s
            permutation when shuffling, else ``0..size-1``).
        class_names: the label names, when the data set has them (Keras's ``class_names``).
    """

    def __init__(self, size: int, fetch: Callable, batch_size: int | None = 32, shuffle: bool = False,
                 seed: int | None = None, first_order=None, class_names=None):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be None or a positive integer; received {batch_size!r}")
        self.size, self.fetch, self.batch_size, self.shuffle = int(size), fetch, batch_size, shuffle
        self.class_names = class_names
        self._rng = np.random.RandomState(seed if seed is not None else np.random.randint(1_000_000))
        drawn = self._rng.permutation(self.size) if shuffle else np.arange(self.size)  # also when replaced below,
        self._order = drawn if first_order is None else np.asarray(first_order, dtype=np.int64)  # so epoch 2 differs

    def __len__(self) -> int:
        if self.batch_size is None:
            return self.size
        return -(-self.size // self.batch_size)

    def __getitem__(self, index: int):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a data set of {len(self)} batches")
        if self.batch_size is None:
            batch = self.fetch(self._order[index: index + 1])
            return tuple(part[0] for part in batch) if isinstance(batch, tuple) else batch[0]
        return self.fetch(self._order[index * self.batch_size: (index + 1) * self.batch_size])

    def on_epoch_end(self) -> None:
        """Draws the next epoch's order (when shuffling)."""
        if self.shuffle:
            self._order = self._rng.permutation(self.size)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]
        self.on_epoch_end()

    def as_numpy_iterator(self):
        """An iterator of the batches (tf.data's name, for scripts that call it)."""
        return iter(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.size} samples in {len(self)} batches of {self.batch_size}>"


def check_validation_split_arg(validation_split, subset, shuffle: bool, seed, where: str) -> None:
    """Keras's rules for ``validation_split`` and ``subset``."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"{where}: validation_split must be between 0 and 1; received {validation_split!r}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(f"{where}: give both `subset` and `validation_split`, or neither; received "
                         f"subset={subset!r}, validation_split={validation_split!r}")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"{where}: subset must be 'training', 'validation' or 'both'; received {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError(f"{where}: with validation_split and shuffle, give a `seed`, so that the training and "
                         "validation subsets do not overlap")


def split_subset(samples: list, labels, validation_split, subset: str):
    """Keras's split: the last ``int(validation_split * n)`` samples for validation, the rest for
    training."""
    if not validation_split:
        return samples, labels
    n_val = int(validation_split * len(samples))
    if subset == "training":
        cut = slice(0, len(samples) - n_val)
    elif subset == "validation":
        cut = slice(len(samples) - n_val, len(samples))
    else:
        raise ValueError(f"subset must be 'training' or 'validation'; received {subset!r}")
    return samples[cut], None if labels is None else labels[cut]


def index_directory(directory: str, labels, formats: tuple[str, ...], class_names=None, shuffle: bool = True,
                    seed: int | None = None, follow_links: bool = False, where: str = "index_directory"):
    """The files of ``directory`` with one of the extensions ``formats``, as Keras lists them.

    ``labels="inferred"``: one class per subfolder (sorted by name, hidden ones skipped, or those
    of ``class_names``, in that order), the files found anywhere below it labelled with its
    position; ``labels`` a list: the files below ``directory`` in sorted order, labelled by the
    list (class names: its sorted distinct values as strings); None: no labels. With
    ``shuffle``, paths and labels are permuted together by ``np.random.RandomState(seed)``.

    Returns:
        ``(file_paths, labels, class_names)``; ``labels`` an int32 array (or the given list, or
        None), ``class_names`` None without labels.
    """
    if not os.path.isdir(directory):
        raise ValueError(f"{where}: directory {directory!r} is not a folder")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError(f"{where}: class_names {list(class_names)} are not among the subfolders of "
                                 f"{directory}: {subdirs}")
            subdirs = list(class_names)
    else:
        if class_names is not None:
            raise ValueError(f"{where}: class_names can only be given with labels='inferred' (received "
                             f"labels={'None' if labels is None else 'a list'})")
        subdirs = [""]
    paths: list[str] = []
    found: list[int] = []
    suffixes = tuple(f.lower() for f in formats)
    for label, subdir in enumerate(subdirs):
        top = os.path.join(directory, subdir) if subdir else directory
        for root, _, files in sorted(os.walk(top, followlinks=follow_links), key=lambda entry: entry[0]):
            for name in sorted(files):
                if name.lower().endswith(suffixes):
                    paths.append(os.path.join(root, name))
                    found.append(label)
    if labels == "inferred":
        labels = np.asarray(found, dtype=np.int32)
        names = subdirs
    elif labels is None:
        names = None
    else:
        if len(labels) != len(paths):
            raise ValueError(f"{where}: {len(labels)} labels were given for the {len(paths)} files found in "
                             f"{directory}")
        names = [str(label) for label in sorted(set(labels))]
        labels = np.asarray(labels)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1_000_000)
        order = np.arange(len(paths))
        np.random.RandomState(seed).shuffle(order)  # Keras shuffles paths and labels with the same seed
        paths = [paths[i] for i in order]
        if labels is not None:
            labels = labels[order]
    return paths, labels, names


def encode_labels(labels: np.ndarray, label_mode: str | None, num_classes: int) -> np.ndarray | None:
    """Labels as Keras gives them: ``"int"`` int32 of shape (n,), ``"binary"`` float32 of shape
    (n, 1), ``"categorical"`` float32 one-hot of shape (n, num_classes)."""
    if label_mode is None or labels is None:
        return None
    labels = np.asarray(labels)
    if label_mode == "int":
        return labels.astype(np.int32)
    if label_mode == "binary":
        return labels.astype(np.float32).reshape(-1, 1)
    out = np.zeros((len(labels), num_classes), dtype=np.float32)
    out[np.arange(len(labels)), labels.astype(np.int64)] = 1.0
    return out


__all__ = ["BatchDataset", "check_validation_split_arg", "encode_labels", "index_directory", "split_subset"]
