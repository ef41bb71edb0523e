"""Text preprocessing of Keras 2 (``keras.preprocessing.text``): splitting text into words, hashing
words to indices, and the `Tokenizer` that builds a vocabulary and turns texts into index
sequences or bag-of-words matrices. (Keras 3 dropped these for its TextVectorization layer.)

The results match Keras 2's implementation (``keras-preprocessing`` 1.1.2) exactly; a
tokenizer's JSON (`Tokenizer.to_json`) is Keras 2's, readable by either library.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections import OrderedDict, defaultdict

import numpy as np

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MATRIX_MODES = ("binary", "count", "tfidf", "freq")


def text_to_word_sequence(text: str, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " ") -> list[str]:
    """The words of ``text``: lower-cased (when ``lower``), every character of ``filters``
    replaced by ``split``, split on ``split``, empty words dropped.

    Example:
        >>> text_to_word_sequence("Hello, World!  Hello.")
        ['hello', 'world', 'hello']
    """
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [word for word in text.split(split) if word]


def _md5(word: str) -> int:
    return int(hashlib.md5(word.encode()).hexdigest(), 16)


def hashing_trick(text: str, n: int, hash_function=None, filters: str = DEFAULT_FILTERS, lower: bool = True,
                  split: str = " ", analyzer=None) -> list[int]:
    """The words of ``text`` as indices in ``[1, n - 1]``: ``hash_function(word) % (n - 1) + 1``
    (0 is left for padding; different words may share an index).

    Args:
        text: the text.
        n: the index range's size.
        hash_function: a function of a string to an int, or ``"md5"`` (stable across runs);
            None is Python's ``hash``, which differs between processes unless
            ``PYTHONHASHSEED`` is set (as in Keras).
        filters, lower, split: as in `text_to_word_sequence`.
        analyzer: a function of the text to its words, replacing `text_to_word_sequence`.

    Example:
        >>> hashing_trick("the cat sat on the mat", 10, hash_function="md5")
        [6, 3, 1, 1, 6, 8]
    """
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        hash_function = _md5
    words = analyzer(text) if analyzer is not None else text_to_word_sequence(text, filters, lower, split)
    return [hash_function(word) % (n - 1) + 1 for word in words]


def one_hot(text: str, n: int, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " ",
            analyzer=None) -> list[int]:
    """Keras's ``one_hot``: `hashing_trick` with Python's ``hash`` (word indices in
    ``[1, n - 1]``, not one-hot vectors despite the name)."""
    return hashing_trick(text, n, hash_function=hash, filters=filters, lower=lower, split=split, analyzer=analyzer)


class Tokenizer:
    """A vocabulary fitted on texts, turning texts into word-index sequences or matrices.

    `fit_on_texts` counts each word's occurrences (``word_counts``, in first-seen order) and the
    documents holding it (``word_docs``), and numbers the words by decreasing count, ties in
    first-seen order, from 1 (``word_index``; ``index_word`` is its inverse). The ``oov_token``,
    when given, takes index 1. Index 0 is never a word (it is left for padding).

    When converting, only words with index below ``num_words`` are kept (the ``num_words - 1``
    most frequent), the others become the ``oov_token``'s index (or are dropped without one);
    ``word_index`` itself always holds every word seen.

    Args:
        num_words: the size of the index range used when converting; None: every word.
        filters: characters removed from texts (replaced by ``split``).
        lower: lower-case texts.
        split: the word separator.
        char_level: every character is a token.
        oov_token: a token standing for words not in the vocabulary (or beyond ``num_words``).
        analyzer: a function from a text to its tokens, replacing the filter-and-split
            (tf.keras 2's argument).
        document_count: the documents counted already (restored by `tokenizer_from_json`).
        **kwargs: Keras 1's ``nb_words`` (for ``num_words``).

    Example:
        >>> t = Tokenizer(oov_token="<unk>")
        >>> t.fit_on_texts(["the cat sat", "the dog"])
        >>> t.word_index
        {'<unk>': 1, 'the': 2, 'cat': 3, 'sat': 4, 'dog': 5}
        >>> t.texts_to_sequences(["the bird sat"])
        [[2, 1, 4]]
    """

    def __init__(self, num_words: int | None = None, filters: str = DEFAULT_FILTERS, lower: bool = True,
                 split: str = " ", char_level: bool = False, oov_token: str | None = None, analyzer=None,
                 document_count: int = 0, **kwargs):
        if "nb_words" in kwargs:
            warnings.warn("Tokenizer: `nb_words` is the Keras 1 name; use `num_words`", DeprecationWarning,
                          stacklevel=2)
            num_words = kwargs.pop("nb_words")
        if kwargs:
            raise TypeError(f"Tokenizer: unrecognized keyword arguments: {sorted(kwargs)}")
        if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, (int, np.integer))
                                      or num_words < 0):
            raise ValueError(f"Tokenizer: num_words must be None or a non-negative integer; received {num_words!r}")
        self.num_words = num_words
        self.filters, self.lower, self.split = filters, lower, split
        self.char_level, self.oov_token, self.analyzer = char_level, oov_token, analyzer
        self.document_count = document_count
        self.word_counts: OrderedDict = OrderedDict()
        self.word_docs: defaultdict = defaultdict(int)
        self.index_docs: defaultdict = defaultdict(int)
        self.word_index: dict = {}
        self.index_word: dict = {}

    def _tokens(self, text) -> list:
        """A text's tokens: a list of strings is taken as its tokens already (lower-cased when
        asked), a string is split into characters (``char_level``) or words."""
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else text.lower()
            return list(text)
        if self.analyzer is not None:
            return list(self.analyzer(text))
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts) -> None:
        """Counts the words of ``texts`` (strings, or lists of tokens) into the vocabulary and
        renumbers ``word_index``; may be called again with more texts."""
        for text in texts:
            self.document_count += 1
            tokens = self._tokens(text)
            for token in tokens:
                self.word_counts[token] = self.word_counts.get(token, 0) + 1
            for token in dict.fromkeys(tokens):
                self.word_docs[token] += 1
        ranked = sorted(self.word_counts.items(), key=lambda item: item[1], reverse=True)  # stable: ties keep order
        vocabulary = ([] if self.oov_token is None else [self.oov_token]) + [word for word, _ in ranked]
        self.word_index = {word: i for i, word in enumerate(vocabulary, start=1)}
        self.index_word = {i: word for word, i in self.word_index.items()}
        for word, count in self.word_docs.items():
            self.index_docs[self.word_index[word]] = count

    def fit_on_sequences(self, sequences) -> None:
        """Counts, for ``tfidf`` matrices of sequences, the documents holding each index (a
        tokenizer used only through `sequences_to_matrix`)."""
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] += 1

    def texts_to_sequences(self, texts) -> list[list[int]]:
        """Each text as a list of word indices (unknown words and words at or beyond
        ``num_words``: the ``oov_token``'s index, or dropped)."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        """`texts_to_sequences`, one text at a time."""
        num_words = self.num_words
        oov_index = self.word_index.get(self.oov_token)
        for text in texts:
            sequence = []
            for token in self._tokens(text):
                i = self.word_index.get(token)
                if i is not None:
                    if num_words and i >= num_words:
                        if oov_index is not None:
                            sequence.append(oov_index)
                    else:
                        sequence.append(i)
                elif self.oov_token is not None:
                    sequence.append(oov_index)
            yield sequence

    def sequences_to_texts(self, sequences) -> list[str]:
        """Each sequence of indices back to its words joined by spaces (unknown indices and
        indices at or beyond ``num_words``: the ``oov_token``, or dropped)."""
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        """`sequences_to_texts`, one sequence at a time."""
        num_words = self.num_words
        oov_index = self.word_index.get(self.oov_token)
        for sequence in sequences:
            words = []
            for i in sequence:
                word = self.index_word.get(i)
                if word is not None:
                    if num_words and i >= num_words:
                        if oov_index is not None:
                            words.append(self.index_word[oov_index])
                    else:
                        words.append(word)
                elif self.oov_token is not None:
                    words.append(self.index_word[oov_index])
            yield " ".join(words)

    def texts_to_matrix(self, texts, mode: str = "binary") -> np.ndarray:
        """`sequences_to_matrix` of the texts' sequences."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode: str = "binary") -> np.ndarray:
        """A float64 matrix (documents x ``num_words``, or ``len(word_index) + 1`` without
        ``num_words``); indices beyond the width are ignored. For an index counted ``c`` times in
        a document of ``L`` indices:

        - ``binary``: 1;
        - ``count``: ``c``;
        - ``freq``: ``c / L``;
        - ``tfidf``: ``(1 + ln c) * ln(1 + D / (1 + d))``, ``D`` the documents fitted on and
          ``d`` those holding the word.
        """
        if mode not in MATRIX_MODES:
            raise ValueError(f"Tokenizer.sequences_to_matrix: mode must be one of {MATRIX_MODES}; received {mode!r}")
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError("Tokenizer: give `num_words` or fit on some texts before making a matrix")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Tokenizer: fit on some texts (or sequences) before making a tfidf matrix")
        out = np.zeros((len(sequences), width))
        for row, sequence in enumerate(sequences):
            if not len(sequence):
                continue
            counts: dict = {}
            for j in sequence:
                if j < width:
                    counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                if mode == "count":
                    out[row, j] = c
                elif mode == "freq":
                    out[row, j] = c / len(sequence)
                elif mode == "binary":
                    out[row, j] = 1
                else:
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    out[row, j] = (1 + np.log(c)) * idf
        return out

    def get_config(self) -> dict:
        """Keras 2's config: the settings, with the counts and indices as JSON strings."""
        return {
            "num_words": self.num_words, "filters": self.filters, "lower": self.lower, "split": self.split,
            "char_level": self.char_level, "oov_token": self.oov_token, "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts), "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs), "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs) -> str:
        """The tokenizer as Keras 2's JSON (``{"class_name": "Tokenizer", "config": ...}``);
        ``kwargs`` go to ``json.dumps``. An ``analyzer`` function is not saved."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string: str) -> Tokenizer:
    """A `Tokenizer` from `Tokenizer.to_json`'s string (Keras 2's or kerasette's)."""
    config = dict(json.loads(json_string).get("config"))
    word_counts = json.loads(config.pop("word_counts"))
    word_docs = json.loads(config.pop("word_docs"))
    index_docs = {int(k): v for k, v in json.loads(config.pop("index_docs")).items()}
    index_word = {int(k): v for k, v in json.loads(config.pop("index_word")).items()}
    word_index = json.loads(config.pop("word_index"))
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = OrderedDict(word_counts)
    tokenizer.word_docs = defaultdict(int, word_docs)
    tokenizer.index_docs = defaultdict(int, index_docs)
    tokenizer.word_index = word_index
    tokenizer.index_word = index_word
    return tokenizer


__all__ = ["Tokenizer", "hashing_trick", "one_hot", "text_to_word_sequence", "tokenizer_from_json"]
