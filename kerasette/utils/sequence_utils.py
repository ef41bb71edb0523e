"""Sequence preprocessing: padding ragged sequences to one length, and word2vec's skip-gram pairs.

``pad_sequences`` is also Keras 3's ``keras.utils.pad_sequences``; ``skipgrams`` and
``make_sampling_table`` are Keras 2's ``keras.preprocessing.sequence`` functions (Keras 3 dropped
them). Their outputs match Keras 2's implementation (``keras-preprocessing`` 1.1.2) exactly,
random draws included (see ``skipgrams``).
"""

from __future__ import annotations

import random

import numpy as np

EULER_GAMMA = 0.577  # the constant of Keras's Zipf estimate, as Keras writes it


def pad_sequences(sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Pads (or truncates) each sequence to the same length: a 2-D array (more, for sequences of
    vectors) of shape ``(len(sequences), maxlen) + sample_shape``.

    Sequences longer than ``maxlen`` lose values at the start (``truncating="pre"``) or the end
    (``"post"``); shorter ones are filled with ``value`` before (``padding="pre"``) or after
    (``"post"``) their values. A sequence may be a list, a tuple or an array, of numbers, strings
    or equally-shaped sub-arrays (``sample_shape`` is taken from the first non-empty sequence and
    every other must match); ``sequences`` may be a list or a numpy object array of them.

    Args:
        sequences: the sequences (any object with a length whose items have lengths).
        maxlen: the output length; None takes the longest sequence's.
        dtype: the output dtype; strings need ``object`` (any length) or a string dtype such as
            ``"<U10"`` (cut to its width, as numpy does).
        padding: ``"pre"`` or ``"post"``.
        truncating: ``"pre"`` or ``"post"``.
        value: the padding value (a string needs ``dtype=object`` or a string dtype).

    Raises:
        ValueError: ``sequences`` is not a list of sequences; a bad ``padding``/``truncating``;
            a string ``value`` with a numeric dtype; a sequence whose items' shape differs.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
        array([[2, 3],
               [0, 4]], dtype=int32)
        >>> pad_sequences([[1], [2, 3]], padding="post", value=-1)
        array([[ 1, -1],
               [ 2,  3]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: `sequences` must be a list of sequences; received a "
                         f"{type(sequences).__name__} without a length")
    if padding not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding must be 'pre' or 'post'; received {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: truncating must be 'pre' or 'post'; received {truncating!r}")
    lengths = []
    sample_shape: tuple = ()
    found_sample = False
    for position, s in enumerate(sequences):
        try:
            lengths.append(len(s))
        except TypeError as exc:
            raise ValueError(f"pad_sequences: `sequences` must be a list of sequences; the item at position "
                             f"{position} has no length: {s!r}") from exc
        if not found_sample and len(s):
            sample_shape = np.asarray(s).shape[1:]
            found_sample = True
    if maxlen is None:
        maxlen = int(max(lengths, default=0))
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be None or a non-negative integer; received {maxlen!r}")
    maxlen = int(maxlen)
    kind = np.dtype(dtype).kind
    if isinstance(value, str) and kind not in "OUS":  # object (also spelled "object"), str or bytes
        raise ValueError(f"pad_sequences: dtype {dtype} cannot hold the string padding value {value!r}; use "
                         "dtype=object for strings of any length")
    out = np.full((len(lengths), maxlen) + tuple(sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for position, s in enumerate(sequences):
        if not len(s):
            continue
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != tuple(sample_shape):
            raise ValueError(f"pad_sequences: the items of the sequence at position {position} have shape "
                             f"{kept.shape[1:]}, the first sequence's have {tuple(sample_shape)}")
        if padding == "post":
            out[position, : len(kept)] = kept
        else:
            out[position, -len(kept):] = kept
    return out


def make_sampling_table(size: int, sampling_factor: float = 1e-5) -> np.ndarray:
    """Word2vec's subsampling probabilities for word ranks ``0..size-1``.

    Entry ``i`` is the probability of keeping the ``i``-th most frequent word (index 0 counts as
    rank 1), ``min(1, sqrt(f_i))`` with ``f_i = sampling_factor * (r (ln r + gamma) + 1/2 -
    1/(12 r))``, Keras's estimate of ``1 / frequency`` under Zipf's law (``gamma`` = 0.577).
    ``skipgrams(..., sampling_table=...)`` keeps word ``i`` when a uniform draw is at most entry ``i``.

    Args:
        size: the vocabulary size.
        sampling_factor: word2vec's ``t`` (1e-5 keeps few of the most frequent words).

    Example:
        >>> make_sampling_table(4).round(6)
        array([0.003152, 0.003152, 0.005476, 0.007416])
    """
    rank = np.arange(size)
    if size:
        rank[0] = 1
    inverse_frequency = rank * (np.log(rank) + EULER_GAMMA) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inverse_frequency
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(sequence, vocabulary_size: int, window_size: int = 4, negative_samples: float = 1.0,
              shuffle: bool = True, categorical: bool = False, sampling_table=None, seed: int | None = None):
    """Word2vec's skip-gram pairs of a sequence of word indices: ``(couples, labels)``.

    Each non-zero word ``w_i`` (index 0 is skipped, as padding) is paired with every non-zero
    word within ``window_size`` positions, label 1. Then ``int(n_positive * negative_samples)``
    negative pairs, label 0: the pairs' first words shuffled, each paired with a random index in
    ``[1, vocabulary_size - 1]``. With ``categorical``, labels are ``[0, 1]`` (positive) and
    ``[1, 0]`` (negative) instead of 1 and 0.

    Randomness follows Keras 2 draw for draw: the subsampling (``sampling_table``), the
    negatives' shuffle and their random words are drawn from Python's global ``random`` module
    (so ``random.seed(n)`` before the call reproduces Keras's pairs), and the final shuffle of
    pairs and labels (the same permutation for both) is seeded by ``seed`` (drawn from ``random``
    when None). Unlike Keras, the global ``random`` state is not reseeded by ``seed``.

    Args:
        sequence: word indices (a list or 1-D array of ints).
        vocabulary_size: one more than the largest word index.
        window_size: how far a context word may be.
        negative_samples: negative pairs per positive pair (0 for none).
        shuffle: shuffle the pairs.
        categorical: two-element labels.
        sampling_table: keep-probabilities per index (see `make_sampling_table`).
        seed: the shuffle's seed.

    Returns:
        ``couples``, a list of ``[word, context]`` lists, and ``labels``, a list of ints (or of
        two-element lists).

    Example:
        >>> skipgrams([1, 2, 3], vocabulary_size=4, window_size=1, negative_samples=0, shuffle=False)
        ([[1, 2], [2, 1], [2, 3], [3, 2]], [1, 1, 1, 1])
    """
    couples: list = []
    labels: list = []
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        if sampling_table is not None and sampling_table[wi] < random.random():
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            if j == i:
                continue
            wj = sequence[j]
            if not wj:
                continue
            couples.append([wi, wj])
            labels.append([0, 1] if categorical else 1)
    if negative_samples > 0:
        count = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        random.shuffle(words)
        couples += [[words[i % len(words)], random.randint(1, vocabulary_size - 1)] for i in range(count)]
        labels += [[1, 0] if categorical else 0 for _ in range(count)]
    if shuffle:
        if seed is None:
            seed = random.randint(0, 10_000_000)
        random.Random(seed).shuffle(couples)
        random.Random(seed).shuffle(labels)
    return couples, labels


__all__ = ["make_sampling_table", "pad_sequences", "skipgrams"]
