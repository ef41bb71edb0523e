"""Keras 3's ``text_dataset_from_directory``: the ``.txt`` files of a folder (one subfolder per
class) as a data set of ``(texts, labels)`` batches."""

from __future__ import annotations

import numpy as np

from kerasette.utils.dataset_utils import (
    BatchDataset,
    check_validation_split_arg,
    encode_labels,
    index_directory,
    split_subset,
)

LABEL_MODES = ("int", "categorical", "binary", None)


def _read_text(path: str, max_length: int | None) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read() if max_length is None else f.read(max_length)
    return text


def text_dataset_from_directory(directory, labels="inferred", label_mode: str | None = "int", class_names=None,
                                batch_size: int | None = 32, max_length: int | None = None, shuffle: bool = True,
                                seed: int | None = None, validation_split: float | None = None,
                                subset: str | None = None, follow_links: bool = False, format: str = "tf",  # noqa: A002 - Keras's argument name
                                verbose: bool = True):
    """The ``.txt`` files under ``directory`` as a `BatchDataset` of ``(texts, labels)`` batches.

    With ``labels="inferred"`` each subfolder of ``directory`` is a class (sorted by name, or in
    the order of ``class_names``) and its files, at any depth, are its samples. The files are
    read when their batch is made: ``texts`` is a numpy object array of ``str`` (UTF-8; Keras's
    TensorFlow data set gives ``bytes``), cut to ``max_length`` characters when given.

    Args:
        directory: the folder.
        labels: ``"inferred"``; a list of int labels, one per file in the sorted order of the
            files found below ``directory``; or None (batches are texts only).
        label_mode: ``"int"`` (int32, shape (n,)), ``"categorical"`` (float32 one-hot),
            ``"binary"`` (float32, shape (n, 1), exactly two classes), or None (no labels).
        class_names: with ``"inferred"``, the subfolders to use, in label order.
        batch_size: texts per batch; None: single texts.
        max_length: the most characters kept of each text.
        shuffle: shuffle the files (the order is drawn again every epoch); without it they come in
            sorted order.
        seed: the shuffle's and the split's seed (needed with ``validation_split`` and shuffle).
        validation_split: the fraction of files kept for validation (the last ones after the
            shuffle).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (returns the two data sets).
        follow_links: visit subfolders behind symbolic links.
        format: Keras's ``"tf"`` or ``"grain"``, accepted and ignored.
        verbose: print how many files and classes were found.

    Returns:
        A `BatchDataset` with a ``class_names`` attribute (a list of two for ``subset="both"``).
    """
    where = "text_dataset_from_directory"
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple, np.ndarray)):
            raise ValueError(f"{where}: labels must be 'inferred', None, or a list of int labels (one per text file); "
                             f"received {labels!r}")
        if class_names:
            raise ValueError(f"{where}: class_names can only be given with labels='inferred'; received "
                             f"class_names={class_names!r}")
    if label_mode not in LABEL_MODES:
        raise ValueError(f"{where}: label_mode must be 'int', 'categorical', 'binary' or None; received "
                         f"{label_mode!r}")
    if format not in ("tf", "grain"):
        raise ValueError(f"{where}: format must be 'tf' or 'grain'; received {format!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    check_validation_split_arg(validation_split, subset, shuffle, seed, where)
    if seed is None:
        seed = np.random.randint(1_000_000)
    paths, file_labels, names = index_directory(directory, labels, (".txt",), class_names=class_names,
                                                shuffle=shuffle, seed=seed, follow_links=follow_links, where=where)
    if verbose:
        print(f"Found {len(paths)} files." if file_labels is None
              else f"Found {len(paths)} files belonging to {len(names)} classes.")
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f'{where}: label_mode="binary" needs exactly 2 classes; found {len(names)}: {names}')
    num_classes = len(names) if names else 0

    def make(subset_name, shuffled):
        sub_paths, sub_labels = split_subset(paths, file_labels, validation_split, subset_name)
        if not sub_paths:
            kind = f"{subset_name} " if validation_split else ""
            raise ValueError(f"{where}: no {kind}text files (.txt) found in {directory}")
        if verbose and validation_split:
            print(f"Using {len(sub_paths)} files for {subset_name}.")
        encoded = encode_labels(sub_labels, label_mode, num_classes)

        def fetch(indices):
            texts = np.empty(len(indices), dtype=object)
            for k, i in enumerate(indices):
                texts[k] = _read_text(sub_paths[i], max_length)
            return texts if encoded is None else (texts, encoded[indices])

        return BatchDataset(len(sub_paths), fetch, batch_size, shuffle=shuffled, seed=seed,
                            first_order=np.arange(len(sub_paths)), class_names=names)

    if subset == "both":
        return [make("training", shuffle), make("validation", False)]
    return make(subset, shuffle)


__all__ = ["text_dataset_from_directory"]
