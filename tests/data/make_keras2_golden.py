"""Writes keras2_golden.json: outputs of Keras 2's text and sequence preprocessing
(keras-preprocessing 1.1.2, the implementation tf.keras 2 shipped) for the cases that
test_keras2_golden.py replays in kerasette.

Run in a side environment, never in kerasette's:

    python3 -m venv /work/k2env && /work/k2env/bin/pip install keras-preprocessing "numpy<2" six  # it uses np.unicode_
    /work/k2env/bin/python tests/data/make_keras2_golden.py
"""

import json
import os
import random

import numpy as np
from keras_preprocessing import sequence, text

HERE = os.path.dirname(os.path.abspath(__file__))

CORPUS = [
    "The cat sat on the mat.",
    "The dog ate my homework!",
    "A cat, a dog: friends?  Maybe...",
    "THE END of the story; the cat wins",
    "tabs\tand\nnewlines split words",
    "",
]
QUERIES = ["the cat ate the story", "unknown words here", "Dog dog DOG", "", "mat, mat and more mat"]

TOKENIZERS = {
    "default": {},
    "num_words": {"num_words": 6},
    "oov": {"oov_token": "<OOV>"},
    "num_words_oov": {"num_words": 5, "oov_token": "<OOV>"},
    "no_lower": {"lower": False},
    "char_level": {"char_level": True},
    "char_level_oov": {"char_level": True, "oov_token": "?", "num_words": 8},
    "comma_split": {"split": ",", "filters": ""},
    "no_filters": {"filters": ""},
}

PADDING = {
    "default": ([[1, 2, 3], [4, 5], [6], []], {}),
    "maxlen_pre": ([[1, 2, 3, 4], [5, 6], [7]], {"maxlen": 2}),
    "maxlen_post": ([[1, 2, 3, 4], [5, 6], [7]], {"maxlen": 2, "truncating": "post", "padding": "post"}),
    "pad_post_trunc_pre": ([[1, 2, 3, 4], [5, 6], [7]], {"maxlen": 3, "padding": "post"}),
    "value": ([[1, 2], [3]], {"value": -1}),
    "float": ([[0.5, 1.5], [2.5]], {"dtype": "float32", "value": 9.0}),
    "long_maxlen": ([[1], [2, 3]], {"maxlen": 5}),
    "vectors": ([[[1, 2], [3, 4]], [[5, 6]]], {"maxlen": 3}),
    "strings_object": ([["a", "b"], ["c"]], {"dtype": "object", "value": "<pad>"}),
    "strings_unicode": ([["ab", "cd"], ["ef"]], {"dtype": "<U2", "value": "--", "padding": "post"}),
    "float_to_int": ([[1.7, 2.2], [3.9]], {}),
}


def tokenizer_case(options):
    t = text.Tokenizer(**options)
    t.fit_on_texts(CORPUS)
    t.fit_on_texts(["more text about the cat"])
    sequences = t.texts_to_sequences(QUERIES)
    return {
        "options": options,
        "word_index": t.word_index,
        "word_counts": list(t.word_counts.items()),
        "word_docs": dict(t.word_docs),
        "index_docs": {str(k): v for k, v in t.index_docs.items()},
        "document_count": t.document_count,
        "sequences": sequences,
        "texts": t.sequences_to_texts(sequences + [[1, 2, 3, 99], [0, 4]]),
        "matrices": {mode: t.texts_to_matrix(QUERIES, mode=mode).tolist() for mode in ("binary", "count", "tfidf",
                                                                                       "freq")},
        "json": t.to_json(),
    }


def main():
    golden = {"corpus": CORPUS, "queries": QUERIES}
    golden["tokenizers"] = {name: tokenizer_case(options) for name, options in TOKENIZERS.items()}
    # a tokenizer fitted on lists of tokens and one used through fit_on_sequences
    t = text.Tokenizer()
    t.fit_on_texts([["Alpha", "beta"], ["beta", "Gamma", "beta"]])
    golden["token_lists"] = {"word_index": t.word_index, "sequences": t.texts_to_sequences([["beta", "alpha", "x"]])}
    t = text.Tokenizer(num_words=6)
    t.fit_on_sequences([[1, 2, 2], [3, 5, 1], [4]])
    golden["fit_on_sequences"] = {"matrix": t.sequences_to_matrix([[1, 2, 2, 7], [5]], mode="tfidf").tolist()}

    golden["text_to_word_sequence"] = [
        [s, text.text_to_word_sequence(s)] for s in CORPUS + ["Hello, World!  Hello.", "a--b..c"]]
    golden["text_to_word_sequence_options"] = text.text_to_word_sequence("A-B C-d", filters="-", lower=False,
                                                                        split=" ")
    golden["hashing_trick_md5"] = [[s, text.hashing_trick(s, 17, hash_function="md5")] for s in QUERIES]

    golden["pad_sequences"] = {}
    for name, (seqs, options) in PADDING.items():
        call = dict(options, dtype=object) if options.get("dtype") == "object" else options  # Keras needs the type
        out = sequence.pad_sequences(seqs, **call)
        golden["pad_sequences"][name] = {"sequences": seqs, "options": options, "dtype": str(out.dtype),
                                         "shape": list(out.shape), "output": out.tolist()}

    golden["sampling_tables"] = [[size, factor, sequence.make_sampling_table(size, factor).tolist()]
                                 for size, factor in ((10, 1e-5), (50, 1e-3), (5, 0.5))]

    words = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 0, 8, 9, 7]
    golden["skipgrams"] = []
    table = sequence.make_sampling_table(10, 0.05).tolist()
    for options in ({"window_size": 2}, {"window_size": 1, "negative_samples": 0.0, "shuffle": False},
                    {"window_size": 3, "negative_samples": 2.0, "categorical": True},
                    {"window_size": 2, "sampling_table": table},
                    {"window_size": 2, "negative_samples": 0.5, "shuffle": True}):
        for global_seed, seed in ((0, 7), (1, 123)):
            random.seed(global_seed)
            couples, labels = sequence.skipgrams(words, 10, seed=seed, **options)
            golden["skipgrams"].append({"options": options, "global_seed": global_seed, "seed": seed,
                                        "couples": couples, "labels": labels})

    data = np.arange(50).reshape(25, 2)
    targets = np.arange(100, 125)
    golden["timeseries"] = []
    for options in ({"length": 3}, {"length": 4, "batch_size": 5}, {"length": 5, "sampling_rate": 2, "batch_size": 3},
                    {"length": 2, "stride": 3, "batch_size": 2}, {"length": 3, "start_index": 4, "end_index": 20,
                                                                  "batch_size": 4},
                    {"length": 4, "reverse": True, "batch_size": 6}, {"length": 3, "shuffle": True, "batch_size": 4}):
        np.random.seed(5)
        g = sequence.TimeseriesGenerator(data, targets, **options)
        batches = [[x.tolist(), y.tolist()] for x, y in (g[i] for i in range(len(g)))]
        golden["timeseries"].append({"options": options, "length": len(g), "batches": batches,
                                     "json": g.to_json() if not options.get("shuffle") else None})

    with open(os.path.join(HERE, "keras2_golden.json"), "w") as f:
        json.dump(golden, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
