"""examples/imdb_lstm.py: the text classifier learns its corpus (the generated one here: small
settings, with the padding masked) and finds Keras's IMDB file where Keras keeps it."""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "imdb_lstm.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("imdb_lstm_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_learns_the_generated_corpus(example, capsys):
    accuracy = example.main(["--corpus", "generated", "--samples", "4000", "--max-features", "1000", "--maxlen", "60",
                             "--embedding", "32", "--units", "32", "--epochs", "3", "--mask-zero"])
    assert accuracy >= 0.85
    assert "generated corpus (4000 reviews): 2000 training and 2000 test reviews" in capsys.readouterr().out


def test_generated_corpus_has_imdb_form_and_planted_labels(example):
    (x_train, y_train), (x_test, y_test) = example.generated_corpus(200, 500, np.random.default_rng(1))
    assert len(x_train) == len(x_test) == 100 and set(np.unique(y_train)) == {0, 1}
    assert all(review[0] == example.START and max(review) < 500 and min(review[1:]) >= example.INDEX_FROM
               for review in x_train + x_test)
    assert all(21 + 3 <= len(review) <= 101 + 8 for review in x_train)


def test_uses_imdb_only_when_keras_file_is_cached(example, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert not example.imdb_available()
    (_, _), source = example.load("auto", 10, 100, np.random.default_rng(0))
    assert source.startswith("generated corpus")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "imdb.npz").write_bytes(b"")
    assert example.imdb_available()
