"""IMDB movie reviews: 25,000 training and 25,000 test reviews labelled positive (1) or negative
(0) (Andrew Maas et al., 2011), each a sequence of word indices.

A word's index is its rank by frequency in the whole data set (1: the most frequent word), and
`get_word_index` maps words to those ranks. `load_data` shifts every index by ``index_from``
(3), leaving 0 for padding, 1 (``start_char``) to mark a review's start and 2 (``oov_char``) for
words left out by ``num_words``/``skip_top``.

Keras's ``imdb.npz`` stores the reviews as numpy object arrays (a pickle inside the ``.npz``);
they are read with a restricted unpickler that admits only numpy arrays, never with
``np.load(allow_pickle=True)`` (see `kerasette.datasets.safe_pickle`).
"""

from __future__ import annotations

import numpy as np

from kerasette.datasets._common import (
    ORIGIN_FOLDER,
    drop_long,
    limit_vocabulary,
    load_word_index,
    object_array,
    shift_indices,
    take_keras1_names,
)
from kerasette.datasets.safe_pickle import load_npz
from kerasette.utils.data_utils import get_file

FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"


def load_data(path: str = "imdb.npz", num_words: int | None = None, skip_top: int = 0, maxlen: int | None = None,
              seed: int = 113, start_char: int | None = 1, oov_char: int | None = 2, index_from: int = 3, **kwargs):
    """Returns ``(x_train, y_train), (x_test, y_test)``.

    ``x``: 1-D object arrays of lists of int word indices (25,000 each by default); ``y``: integer
    labels 0/1 of shape (n,), of the dtype stored in the file. Keras's steps, in order: each split
    is permuted by one ``np.random.RandomState(seed)`` (training first, then test); indices are
    shifted by ``index_from`` and led by ``start_char``; with ``maxlen``, reviews of ``maxlen``
    words or more are dropped; indices outside ``[skip_top, num_words)`` become ``oov_char`` (or are
    dropped when ``oov_char`` is None).

    Args:
        path: the file's name in the cache folder ``$KERAS_HOME/datasets``.
        num_words: keep indices below ``num_words`` (after the shift: the ``num_words - index_from``
            most frequent words); None: the largest index present (which itself is then left out,
            as in Keras).
        skip_top: indices below this (the most frequent words, after the shift) become
            ``oov_char``.
        maxlen: drop sequences of this length or longer (counting ``start_char``).
        seed: the shuffle's seed.
        start_char: the index marking a sequence's start; None for no marker.
        oov_char: the index replacing words left out; None drops them.
        index_from: the shift of every word index.
        **kwargs: Keras 1's ``nb_words`` (for ``num_words``).

    Raises:
        ValueError: ``maxlen`` leaves no training or no test sequence.
    """
    num_words = take_keras1_names("imdb.load_data", kwargs, num_words)
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}imdb.npz", file_hash=FILE_HASH)
    data = load_npz(path)
    rng = np.random.RandomState(seed)
    splits = []
    for x_name, y_name in (("x_train", "y_train"), ("x_test", "y_test")):
        x, y = data[x_name], data[y_name]
        order = np.arange(len(x))
        rng.shuffle(order)
        splits.append((shift_indices(x[order], start_char, index_from), list(y[order])))
    if maxlen:
        splits = [drop_long(maxlen, x, y) for x, y in splits]
        if not splits[0][0] or not splits[1][0]:
            raise ValueError(f"imdb.load_data: no sequence is shorter than maxlen={maxlen} in the "
                             f"{'training' if not splits[0][0] else 'test'} data; increase maxlen")
    n_train = len(splits[0][0])
    xs = limit_vocabulary(splits[0][0] + splits[1][0], num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(splits[0][1], dtype=data["y_train"].dtype),
                             np.asarray(splits[1][1], dtype=data["y_test"].dtype)])
    return (object_array(xs[:n_train]), labels[:n_train]), (object_array(xs[n_train:]), labels[n_train:])


def get_word_index(path: str = "imdb_word_index.json") -> dict:
    """The dict from each word to its index (its frequency rank, 1 for the most frequent), before
    `load_data`'s shift by ``index_from``."""
    return load_word_index(path, "imdb_word_index.json", WORD_INDEX_HASH)
