"""A recurrent layer fed by an Embedding while training gathers the embedding rows again in the
order of the steps (`kerasette.backend.ops.recurrent.embedding_of`) instead of transposing the
Embedding's output: the same outputs and the same gradients as transposing, every cell kind,
both directions, masked or not, stacked."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.backend.ops import recurrent as rops
from kerasette.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN
from kerasette.models import Sequential


def _grads(model, x, y):
    """The loss's gradient with respect to every trainable weight, and the predictions."""
    out = model(x, training=True)
    loss = K.mean(K.square(out - y))
    return [np.array(getattr(g, "data", g)) for g in K.gradients(loss, model.trainable_weights)], out.data.copy()


@pytest.mark.parametrize("body", ["lstm", "gru", "simple", "backwards", "masked", "bidirectional", "stacked"])
def test_regathered_rows_match_the_transposed_ones(body, monkeypatch):
    K.set_seed(5)
    vocab, steps, batch = 25, 6, 4
    layer = {"lstm": lambda: [LSTM(8)], "gru": lambda: [GRU(8)], "simple": lambda: [SimpleRNN(8)],
             "backwards": lambda: [LSTM(8, go_backwards=True)], "masked": lambda: [LSTM(8)],
             "bidirectional": lambda: [Bidirectional(LSTM(8))],
             "stacked": lambda: [LSTM(8, return_sequences=True), LSTM(8)]}[body]()
    model = Sequential([Embedding(vocab, 5, mask_zero=body == "masked"), *layer, Dense(1)])
    x = np.random.default_rng(1).integers(1, vocab, (batch, steps))
    if body == "masked":
        x[:, -2:] = 0
    y = np.random.default_rng(2).standard_normal((batch, 1)).astype(np.float32)
    found = []
    plain = rops.embedding_of

    def embedding_of(t):
        source = plain(t)
        found.append(source is not None)
        return source

    monkeypatch.setattr(rops, "embedding_of", embedding_of)
    grads, out = _grads(model, x, y)
    assert any(found)  # the first recurrent layer gathered the rows again
    monkeypatch.setattr(rops, "embedding_of", lambda t: None)  # transposing instead
    expected_grads, expected = _grads(model, x, y)
    np.testing.assert_array_equal(out, expected)
    for got, want in zip(grads, expected_grads):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
