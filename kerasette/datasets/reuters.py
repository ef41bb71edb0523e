"""Reuters newswires: 11,228 newswires labelled with one of 46 topics (the Reuters-21578
collection), each a sequence of word indices, indexed as in `kerasette.datasets.imdb`.

Keras's ``reuters.npz`` stores the newswires as numpy object arrays (a pickle inside the
``.npz``); they are read with a restricted unpickler that admits only numpy arrays (see
`kerasette.datasets.safe_pickle`).
"""

from __future__ import annotations

import numpy as np

from kerasette.datasets._common import (
    ORIGIN_FOLDER,
    check_test_split,
    drop_long,
    limit_vocabulary,
    load_word_index,
    object_array,
    shift_indices,
    take_keras1_names,
)
from kerasette.datasets.safe_pickle import load_npz
from kerasette.utils.data_utils import get_file

FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"
LABEL_NAMES = ("cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee",
               "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx",
               "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock",
               "retail", "ipi", "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
               "dlr", "gas", "silver", "wpi", "hog", "lead")


def load_data(path: str = "reuters.npz", num_words: int | None = None, skip_top: int = 0, maxlen: int | None = None,
              test_split: float = 0.2, seed: int = 113, start_char: int | None = 1, oov_char: int | None = 2,
              index_from: int = 3, **kwargs):
    """Returns ``(x_train, y_train), (x_test, y_test)``.

    ``x``: 1-D object arrays of lists of int word indices; ``y``: integer topic labels 0..45 of
    shape (n,), of the stored dtype. Keras's steps: the newswires are permuted by
    ``np.random.RandomState(seed)``; indices are shifted by ``index_from`` and led by
    ``start_char``; with ``maxlen``, sequences of ``maxlen`` or more are dropped; indices outside
    ``[skip_top, num_words)`` become ``oov_char`` (dropped when it is None); the first ``int(n * (1
    - test_split))`` are for training.

    Args:
        path: the file's name in the cache folder ``$KERAS_HOME/datasets``.
        num_words: keep indices below this (after the shift); None: the largest index present
            (which itself is then left out, as in Keras).
        skip_top: indices below this become ``oov_char``.
        maxlen: drop sequences of this length or longer.
        test_split: the fraction kept for testing, in [0, 1).
        seed: the shuffle's seed.
        start_char: the index marking a sequence's start; None for no marker.
        oov_char: the index replacing words left out; None drops them.
        index_from: the shift of every word index.
        **kwargs: Keras 1's ``nb_words`` (for ``num_words``).
    """
    num_words = take_keras1_names("reuters.load_data", kwargs, num_words)
    check_test_split("reuters.load_data", test_split)
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}reuters.npz", file_hash=FILE_HASH)
    data = load_npz(path)
    xs, labels = data["x"], data["y"]
    order = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(order)
    xs, labels = shift_indices(xs[order], start_char, index_from), labels[order]
    if maxlen:
        xs, kept = drop_long(maxlen, xs, labels)
        labels = np.asarray(kept, dtype=labels.dtype)
    xs = limit_vocabulary(xs, num_words, skip_top, oov_char)
    cut = int(len(xs) * (1 - test_split))
    return (object_array(xs[:cut]), np.array(labels[:cut])), (object_array(xs[cut:]), np.array(labels[cut:]))


def get_word_index(path: str = "reuters_word_index.json") -> dict:
    """The dict from each word to its index (its frequency rank), before `load_data`'s shift."""
    return load_word_index(path, "reuters_word_index.json", WORD_INDEX_HASH)


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, in label order (a Keras 3 function)."""
    return LABEL_NAMES
