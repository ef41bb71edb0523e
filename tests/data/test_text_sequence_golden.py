"""Tokenizer, text functions, pad_sequences, skipgrams, make_sampling_table and TimeseriesGenerator
against Keras 2's own outputs (keras2_golden.json, written by make_keras2_golden.py with
keras-preprocessing 1.1.2)."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest

from kerasette.preprocessing import sequence, text

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "keras2_golden.json")) as _f:
    GOLDEN = json.load(_f)
CORPUS, QUERIES = GOLDEN["corpus"], GOLDEN["queries"]


def fitted(options: dict) -> text.Tokenizer:
    t = text.Tokenizer(**options)
    t.fit_on_texts(CORPUS)
    t.fit_on_texts(["more text about the cat"])
    return t


@pytest.mark.parametrize("name", sorted(GOLDEN["tokenizers"]))
def test_tokenizer_matches_keras2(name):
    case = GOLDEN["tokenizers"][name]
    t = fitted(case["options"])
    assert t.word_index == case["word_index"]
    assert list(t.word_counts.items()) == [tuple(p) for p in case["word_counts"]]
    assert dict(t.word_docs) == case["word_docs"]
    assert {str(k): v for k, v in t.index_docs.items()} == case["index_docs"]
    assert t.document_count == case["document_count"]
    sequences = t.texts_to_sequences(QUERIES)
    assert sequences == case["sequences"]
    assert t.sequences_to_texts(sequences + [[1, 2, 3, 99], [0, 4]]) == case["texts"]
    for mode, matrix in case["matrices"].items():
        np.testing.assert_allclose(t.texts_to_matrix(QUERIES, mode=mode), matrix, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", sorted(GOLDEN["tokenizers"]))
def test_tokenizer_json_is_keras2s(name):
    case = GOLDEN["tokenizers"][name]
    ours = json.loads(fitted(case["options"]).to_json())
    theirs = json.loads(case["json"])
    assert ours["class_name"] == theirs["class_name"] == "Tokenizer"
    for key, value in theirs["config"].items():
        mine = ours["config"][key]
        if isinstance(value, str) and key in ("word_counts", "word_docs", "index_docs", "index_word", "word_index"):
            assert json.loads(mine) == json.loads(value), key
        else:
            assert mine == value, key
    assert set(ours["config"]) == set(theirs["config"])
    # Keras 2's JSON read back gives the same conversions
    restored = text.tokenizer_from_json(case["json"])
    assert restored.texts_to_sequences(QUERIES) == case["sequences"]
    np.testing.assert_allclose(restored.texts_to_matrix(QUERIES, mode="tfidf"), case["matrices"]["tfidf"], rtol=1e-12)
    assert restored.sequences_to_texts(case["sequences"]) == case["texts"][: len(QUERIES)]


def test_token_lists_and_fit_on_sequences():
    t = text.Tokenizer()
    t.fit_on_texts([["Alpha", "beta"], ["beta", "Gamma", "beta"]])
    assert t.word_index == GOLDEN["token_lists"]["word_index"]
    assert t.texts_to_sequences([["beta", "alpha", "x"]]) == GOLDEN["token_lists"]["sequences"]
    t = text.Tokenizer(num_words=6)
    t.fit_on_sequences([[1, 2, 2], [3, 5, 1], [4]])
    np.testing.assert_allclose(t.sequences_to_matrix([[1, 2, 2, 7], [5]], mode="tfidf"),
                               GOLDEN["fit_on_sequences"]["matrix"], rtol=1e-12)


def test_word_functions_match_keras2():
    for source, words in GOLDEN["text_to_word_sequence"]:
        assert text.text_to_word_sequence(source) == words
    assert text.text_to_word_sequence("A-B C-d", filters="-", lower=False, split=" ") == GOLDEN[
        "text_to_word_sequence_options"]
    for source, indices in GOLDEN["hashing_trick_md5"]:
        assert text.hashing_trick(source, 17, hash_function="md5") == indices


@pytest.mark.parametrize("name", sorted(GOLDEN["pad_sequences"]))
def test_pad_sequences_matches_keras2(name):
    case = GOLDEN["pad_sequences"][name]
    options = dict(case["options"])
    if options.get("dtype") == "object":
        options["dtype"] = object
    out = sequence.pad_sequences(case["sequences"], **options)
    assert str(out.dtype) == case["dtype"]
    assert list(out.shape) == case["shape"]
    assert out.tolist() == case["output"]


def test_make_sampling_table_matches_keras2():
    for size, factor, table in GOLDEN["sampling_tables"]:
        np.testing.assert_allclose(sequence.make_sampling_table(size, factor), table, rtol=1e-14)


@pytest.mark.parametrize("index", range(len(GOLDEN["skipgrams"])))
def test_skipgrams_match_keras2_draw_for_draw(index):
    case = GOLDEN["skipgrams"][index]
    words = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 0, 8, 9, 7]
    options = dict(case["options"])
    state = random.getstate()
    try:
        random.seed(case["global_seed"])
        couples, labels = sequence.skipgrams(words, 10, seed=case["seed"], **options)
    finally:
        random.setstate(state)
    assert couples == case["couples"]
    assert labels == case["labels"]


@pytest.mark.parametrize("index", range(len(GOLDEN["timeseries"])))
def test_timeseries_generator_matches_keras2(index):
    case = GOLDEN["timeseries"][index]
    data = np.arange(50).reshape(25, 2)
    targets = np.arange(100, 125)
    state = np.random.get_state()
    try:
        np.random.seed(5)
        g = sequence.TimeseriesGenerator(data, targets, **case["options"])
        batches = [[x.tolist(), y.tolist()] for x, y in (g[i] for i in range(len(g)))]
    finally:
        np.random.set_state(state)
    assert len(g) == case["length"]
    assert batches == case["batches"]
    if case["json"] is not None:
        assert json.loads(g.to_json()) == json.loads(case["json"])
