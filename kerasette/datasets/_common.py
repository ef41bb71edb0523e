"""What Keras's data set loaders share: the origin folder, Keras 1 argument names, the
shuffle-and-split of the housing data, and the word-index sequences of IMDB and Reuters."""

from __future__ import annotations

import json
import warnings

import numpy as np

from kerasette.utils.data_utils import get_file

ORIGIN_FOLDER = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def take_keras1_names(where: str, kwargs: dict, num_words):
    """``num_words`` after Keras 1's ``nb_words`` (warned); a TypeError for any other keyword."""
    if "nb_words" in kwargs:
        if num_words is not None:
            raise TypeError(f"{where}: received both `num_words` and its Keras 1 name `nb_words`; pass only "
                            "`num_words`")
        warnings.warn(f"{where}: `nb_words` is the Keras 1 name; use `num_words`", DeprecationWarning, stacklevel=3)
        num_words = kwargs.pop("nb_words")
    if kwargs:
        raise TypeError(f"{where}: unrecognized keyword arguments: {sorted(kwargs)}")
    return num_words


def check_test_split(where: str, test_split) -> None:
    if not 0 <= test_split < 1:
        raise ValueError(f"{where}: test_split must be in [0, 1); received {test_split!r}")


def shuffled_split(x: np.ndarray, y: np.ndarray, test_split: float, seed: int):
    """Keras's housing split: the samples permuted by ``np.random.RandomState(seed)``, the first
    ``int(n * (1 - test_split))`` for training, the rest for testing."""
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def shift_indices(xs, start_char, index_from) -> list[list[int]]:
    """Each sequence as a list, its word indices shifted by ``index_from`` and led by
    ``start_char`` (when not None)."""
    if start_char is not None:
        return [[start_char] + [int(w) + index_from for w in x] for x in xs]
    return [[int(w) + index_from for w in x] for x in xs]


def drop_long(maxlen, xs: list, labels) -> tuple[list, list]:
    """Keeps the sequences strictly shorter than ``maxlen`` (Keras's rule), with their labels."""
    kept = [(x, y) for x, y in zip(xs, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def limit_vocabulary(xs: list, num_words, skip_top: int, oov_char) -> list:
    """Words with index outside ``[skip_top, num_words)`` become ``oov_char``, or are dropped when
    ``oov_char`` is None. ``num_words`` None (or 0) means the largest index present, which
    itself then falls out of range (Keras's rule, kept for identical data)."""
    if not num_words:
        num_words = max((max(x) for x in xs if len(x)), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def object_array(sequences: list) -> np.ndarray:
    """A 1-D object array of lists (also when every list has the same length, where
    ``np.array(..., dtype=object)`` would make a 2-D array)."""
    out = np.empty(len(sequences), dtype=object)
    for i, s in enumerate(sequences):
        out[i] = s
    return out


def load_word_index(path: str, name: str, file_hash: str) -> dict:
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}{name}", file_hash=file_hash)
    with open(path, encoding="utf-8") as f:
        return json.load(f)
