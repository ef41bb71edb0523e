"""pad_sequences, skipgrams, Tokenizer and the text functions: inputs Keras takes, errors, and the
Keras 2 / Keras 3 import paths."""

from __future__ import annotations

import random

import numpy as np
import pytest

import kerasette.preprocessing as preprocessing
import kerasette.utils as utils
from kerasette.preprocessing import sequence, text


def test_import_paths():
    assert utils.pad_sequences is sequence.pad_sequences is preprocessing.sequence.pad_sequences
    assert utils.timeseries_dataset_from_array is sequence.timeseries_dataset_from_array
    assert utils.timeseries_dataset_from_array is preprocessing.timeseries_dataset_from_array
    assert utils.text_dataset_from_directory is preprocessing.text_dataset_from_directory
    assert utils.text_dataset_from_directory is text.text_dataset_from_directory
    assert preprocessing.image_dataset_from_directory is utils.image_dataset_from_directory  # Keras 3's path too
    from kerasette.preprocessing.sequence import TimeseriesGenerator, make_sampling_table, skipgrams  # noqa: F401
    from kerasette.preprocessing.text import (  # noqa: F401
        Tokenizer,
        hashing_trick,
        one_hot,
        text_to_word_sequence,
        tokenizer_from_json,
    )
    from kerasette.utils.data_utils import get_file  # Keras 2's keras.utils.data_utils.get_file
    assert get_file is utils.get_file
    assert issubclass(TimeseriesGenerator, utils.Sequence)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        preprocessing.nothing  # noqa: B018


# ----- pad_sequences -----

def test_pad_sequences_takes_object_arrays_arrays_and_tuples():
    ragged = np.empty(3, dtype=object)
    ragged[0], ragged[1], ragged[2] = [1, 2, 3], [4], []
    expected = np.array([[1, 2, 3], [0, 0, 4], [0, 0, 0]], dtype="int32")
    np.testing.assert_array_equal(sequence.pad_sequences(ragged), expected)
    np.testing.assert_array_equal(sequence.pad_sequences([np.array([1, 2, 3]), (4,), np.array([], int)]), expected)
    square = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(sequence.pad_sequences(square, maxlen=2, truncating="post"), [[0, 1], [3, 4]])


def test_pad_sequences_strings_and_dtypes():
    out = sequence.pad_sequences([["a", "bb"], ["ccc"]], dtype=object, value="")
    assert out.dtype == object and out.tolist() == [["a", "bb"], ["", "ccc"]]
    out = sequence.pad_sequences([["a", "bb"], ["ccc"]], dtype="object", value="")
    assert out.tolist() == [["a", "bb"], ["", "ccc"]]
    out = sequence.pad_sequences([[b"x"], []], dtype="S2", value=b"-", maxlen=2)
    assert out.tolist() == [[b"-", b"x"], [b"-", b"-"]]
    out = sequence.pad_sequences([[0.25, 0.5]], maxlen=3, dtype="float64", value=np.nan)
    assert np.isnan(out[0, 0]) and out[0, 1:].tolist() == [0.25, 0.5]
    assert sequence.pad_sequences([[1.9]]).tolist() == [[1]]  # int32 by default: values cut as numpy casts


def test_pad_sequences_edges():
    assert sequence.pad_sequences([]).shape == (0, 0)
    assert sequence.pad_sequences([[], []]).shape == (2, 0)
    assert sequence.pad_sequences([[1, 2], [3]], maxlen=0).shape == (2, 0)
    out = sequence.pad_sequences([[[1, 2]], [[3, 4], [5, 6]]], padding="post")
    assert out.shape == (2, 2, 2) and out.tolist() == [[[1, 2], [0, 0]], [[3, 4], [5, 6]]]


@pytest.mark.parametrize("call, message", [
    (lambda: sequence.pad_sequences(5), r"`sequences` must be a list of sequences; received a int without a length"),
    (lambda: sequence.pad_sequences([[1], 2]), r"`sequences` must be a list of sequences; the item at position 1 "
                                                 r"has no length: 2"),
    (lambda: sequence.pad_sequences([[1]], padding="middle"), r"padding must be 'pre' or 'post'; received 'middle'"),
    (lambda: sequence.pad_sequences([[1]], truncating="mid"), r"truncating must be 'pre' or 'post'; received 'mid'"),
    (lambda: sequence.pad_sequences([["a"]], value="x"), r"dtype int32 cannot hold the string padding value 'x'"),
    (lambda: sequence.pad_sequences([[[1, 2]], [[1, 2, 3]]]),
     r"the items of the sequence at position 1 have shape \(3,\), the first sequence's have \(2,\)"),
    (lambda: sequence.pad_sequences([[1]], maxlen=-1), r"maxlen must be None or a non-negative integer; received -1"),
])
def test_pad_sequences_errors(call, message):
    with pytest.raises(ValueError, match=r"pad_sequences: " + message):
        call()


# ----- skipgrams -----

def test_skipgrams_pairs_and_labels():
    couples, labels = sequence.skipgrams([1, 2, 0, 3], 4, window_size=1, negative_samples=0, shuffle=False,
                                         categorical=True)
    assert couples == [[1, 2], [2, 1]]  # 0 is padding: never a word nor a context
    assert labels == [[0, 1], [0, 1]]
    couples, labels = sequence.skipgrams([1, 2, 3, 4], 50, window_size=3, negative_samples=2.0, seed=3)
    assert labels.count(1) == 12 and labels.count(0) == 24
    positives = {tuple(c) for c, label in zip(couples, labels) if label == 1}
    assert positives == {(a, b) for a in range(1, 5) for b in range(1, 5) if a != b}
    assert all(1 <= c[1] <= 49 for c, label in zip(couples, labels) if label == 0)


def test_skipgrams_shuffle_keeps_pairs_with_labels_and_leaves_global_random_alone():
    words = list(range(1, 12))
    plain, plain_labels = sequence.skipgrams(words, 12, negative_samples=0, shuffle=False)
    random.seed(0)
    mixed, mixed_labels = sequence.skipgrams(words, 12, negative_samples=0, seed=42)
    after = random.random()
    random.seed(0)
    assert after == random.random()  # the seeded shuffle drew nothing from the global generator
    assert mixed != plain and sorted(mixed) == sorted(plain) and mixed_labels == plain_labels
    again, _ = sequence.skipgrams(words, 12, negative_samples=0, seed=42)
    assert again == mixed


def test_skipgrams_sampling_table():
    keep_all = np.ones(10)
    assert len(sequence.skipgrams([1, 2, 3], 10, negative_samples=0, sampling_table=keep_all)[0]) == 6
    assert sequence.skipgrams([1, 2, 3], 10, negative_samples=0, sampling_table=np.zeros(10) - 1) == ([], [])


def test_make_sampling_table_shape_and_bounds():
    table = sequence.make_sampling_table(1000)
    assert table.shape == (1000,) and table.max() <= 1 and np.all(np.diff(table[1:]) >= 0)
    assert sequence.make_sampling_table(0).shape == (0,)


# ----- Tokenizer and text functions -----

def test_tokenizer_basics_and_oov():
    t = text.Tokenizer(num_words=3, oov_token="?")
    t.fit_on_texts(["b b a", "a b c"])
    assert t.word_index == {"?": 1, "b": 2, "a": 3, "c": 4}
    assert t.texts_to_sequences(["a b c d"]) == [[1, 2, 1, 1]]
    assert t.sequences_to_texts([[2, 3, 9]]) == ["b ? ?"]
    assert t.document_count == 2 and dict(t.word_counts) == {"b": 3, "a": 2, "c": 1}
    assert t.texts_to_matrix(["b b a"], mode="count").tolist() == [[0, 1, 2]]  # a (index 3) beyond num_words: oov
    assert list(t.texts_to_sequences_generator(["c"])) == [[1]]


def test_tokenizer_analyzer_char_level_and_json_roundtrip():
    t = text.Tokenizer(analyzer=lambda s: s.split("|"))
    t.fit_on_texts(["x|y|x", "y|z"])
    assert t.texts_to_sequences(["z|x"]) == [[3, 1]]
    c = text.Tokenizer(char_level=True, lower=False)
    c.fit_on_texts(["abA"])
    assert set(c.word_index) == {"a", "b", "A"}
    back = text.tokenizer_from_json(c.to_json())
    assert back.word_index == c.word_index and back.index_word == c.index_word and back.char_level
    assert back.texts_to_matrix(["ab"], mode="tfidf").tolist() == c.texts_to_matrix(["ab"], mode="tfidf").tolist()


def test_tokenizer_arguments_and_errors():
    with pytest.warns(DeprecationWarning, match="`nb_words` is the Keras 1 name"):
        assert text.Tokenizer(nb_words=7).num_words == 7
    with pytest.raises(TypeError, match=r"Tokenizer: unrecognized keyword arguments: \['colour'\]"):
        text.Tokenizer(colour=1)
    with pytest.raises(ValueError, match="Tokenizer: num_words must be None or a non-negative integer; received -2"):
        text.Tokenizer(num_words=-2)
    t = text.Tokenizer()
    with pytest.raises(ValueError, match="give `num_words` or fit on some texts before making a matrix"):
        t.texts_to_matrix(["a"])
    with pytest.raises(ValueError, match="fit on some texts .* before making a tfidf matrix"):
        text.Tokenizer(num_words=4).sequences_to_matrix([[1]], mode="tfidf")
    t.fit_on_texts(["a"])
    with pytest.raises(ValueError, match=r"mode must be one of \('binary', 'count', 'tfidf', 'freq'\); "
                                         r"received 'idf'"):
        t.texts_to_matrix(["a"], mode="idf")


def test_one_hot_and_hashing_trick():
    indices = text.one_hot("the cat sat on the mat", 5)
    assert len(indices) == 6 and all(1 <= i <= 4 for i in indices) and indices[0] == indices[4]
    assert text.hashing_trick("a b", 10, hash_function=len) == [2, 2]
    assert text.hashing_trick("A-b", 10, hash_function=len, analyzer=lambda s: [s]) == [4]
    assert text.hashing_trick("the cat sat on the mat", 10, hash_function="md5") == [6, 3, 1, 1, 6, 8]  # Keras 2 gives these


@pytest.mark.parametrize("name", ["kerasette.utils.text", "kerasette.utils.sequence_utils", "kerasette.utils.timeseries",
                                  "kerasette.utils.data_utils", "kerasette.utils.dataset_utils"])
def test_docstring_examples_run(name):
    import doctest  # deferred: only this test needs it
    import importlib  # deferred: only this test needs it

    result = doctest.testmod(importlib.import_module(name), extraglobs={"np": np})
    assert result.failed == 0
