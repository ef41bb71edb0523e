"""An LSTM fed by an Embedding reads its input projections from a table folded across
inference calls (`kerasette.backend.ops.recurrent.FoldedProjections`): the same predictions as
projecting the gathered embeddings, through training steps, weight writes and every layout."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.backend.ops import recurrent as rops
from kerasette.layers import LSTM, Bidirectional, Dense, Embedding
from kerasette.models import Sequential


def _unfolded(model, x, monkeypatch):
    """Predictions with folding off (every step's projections computed from the gathered rows)."""
    with monkeypatch.context() as patch:
        patch.setattr(rops.FoldedProjections, "MAX_BYTES", 0)
        for layer in model.layers:
            for cell in _cells(layer):
                cell.__dict__.pop("_folded_projections", None)
        return model.predict_on_batch(x)


def _cells(layer):
    if isinstance(layer, Bidirectional):
        return [layer.forward_layer.cell, layer.backward_layer.cell]
    return [layer.cell] if hasattr(layer, "cell") else []


@pytest.mark.parametrize("body", ["plain", "backwards", "masked", "bidirectional", "sequences", "stateful-like"])
def test_folded_predictions_match_the_projected_ones(body, monkeypatch):
    K.set_seed(1)
    vocab, steps, batch = 30, 7, 5
    layer = {"plain": lambda: LSTM(16), "backwards": lambda: LSTM(16, go_backwards=True),
             "masked": lambda: LSTM(16), "bidirectional": lambda: Bidirectional(LSTM(16)),
             "sequences": lambda: LSTM(16, return_sequences=True),
             "stateful-like": lambda: LSTM(16, return_state=False, unit_forget_bias=False, use_bias=False)}[body]()
    model = Sequential([Embedding(vocab, 8, mask_zero=body == "masked"), layer, Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    xs = [rng.integers(0 if body == "masked" else 1, vocab, (batch, steps)) for _ in range(4)]
    if body == "masked":
        xs = [np.where(np.arange(steps) < steps - 2, x, 0) for x in xs]
    for x in xs:  # from the second call on, the projections come from the folded table
        folded = model.predict_on_batch(x)
        np.testing.assert_allclose(folded, _unfolded(model, x, monkeypatch), rtol=1e-6, atol=1e-6)
        model.predict_on_batch(x)
    cells = [c for layer in model.layers for c in _cells(layer)]
    assert all(c._folded_projections.table is not None for c in cells)
    y = rng.standard_normal((batch, 1) if body != "sequences" else (batch, steps, 1)).astype(np.float32)
    model.train_on_batch(xs[0], y)  # training changes every weight: the next predictions see it
    assert all(c.__dict__.get("_folded_projections") is None for c in cells)
    for x in xs[:2] * 2:
        np.testing.assert_allclose(model.predict_on_batch(x), _unfolded(model, x, monkeypatch), rtol=1e-6, atol=1e-6)


def test_folded_predictions_follow_weights_written_between_calls(monkeypatch):
    K.set_seed(2)
    model = Sequential([Embedding(20, 4), LSTM(16), Dense(1)])
    x = np.random.default_rng(1).integers(0, 20, (3, 6))
    for _ in range(2):
        model.predict_on_batch(x)
    embeddings, kernel = model.layers[0].embeddings, model.layers[1].cell.kernel
    embeddings.data[x[0, 0]] += 0.25  # a row in place
    np.testing.assert_allclose(model.predict_on_batch(x), _unfolded(model, x, monkeypatch), rtol=1e-6, atol=1e-6)
    model.predict_on_batch(x)
    kernel.assign(kernel.data * 0.5)
    model.predict_on_batch(x)
    np.testing.assert_allclose(model.predict_on_batch(x), _unfolded(model, x, monkeypatch), rtol=1e-6, atol=1e-6)
    weights = model.get_weights()
    weights[0] = weights[0] + 1
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict_on_batch(x), _unfolded(model, x, monkeypatch), rtol=1e-6, atol=1e-6)


def test_copies_of_a_folded_model_start_with_an_empty_table():
    K.set_seed(3)
    model = Sequential([Embedding(20, 4), LSTM(16), Dense(1)])
    x = np.random.default_rng(2).integers(0, 20, (3, 6))
    for _ in range(2):
        expected = model.predict_on_batch(x)
    folded = model.layers[1].cell._folded_projections
    assert folded.table is not None
    for fresh in (copy.deepcopy(folded), pickle.loads(pickle.dumps(folded))):
        assert fresh.table is None and fresh.kernel is None
        assert fresh.rows_for(x, model.layers[0].embeddings.data, folded.kernel, folded.bias) is None
    clone = copy.deepcopy(model)
    for _ in range(2):
        np.testing.assert_allclose(clone.predict_on_batch(x), expected, rtol=1e-6, atol=1e-6)


def test_the_folded_lstm_never_gathers_the_embedding_rows(monkeypatch):
    """With the projections folded, nothing reads the Embedding's output: its rows are never
    gathered (`rops.GatheredRows` gathers only when read); without folding they are, once."""
    K.set_seed(4)
    model = Sequential([Embedding(20, 4), LSTM(16), Dense(1)])
    x = np.random.default_rng(3).integers(0, 20, (3, 6))
    gathers = []
    plain = rops.GatheredRows._values_now
    monkeypatch.setattr(rops.GatheredRows, "_values_now", lambda self: gathers.append(1) or plain(self))
    model.predict_on_batch(x)  # the first call with these weights projects the gathered rows
    assert len(gathers) == 1
    for _ in range(2):
        model.predict_on_batch(x)
    assert len(gathers) == 1


def test_embedding_for_inference_gathers_when_read():
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    idx = np.array([[5, 0, 2], [1, 1, 4]])
    with K.no_grad():
        out = rops.embedding(idx, table)
    assert isinstance(out, rops.GatheredRows) and out._values is None
    assert out.shape == (2, 3, 2) and out.dtype == np.float32 and out.ndim == 3 and out.size == 12
    assert rops.gathered_rows(out)[0] is table
    np.testing.assert_array_equal(out.data, table[idx])
    np.testing.assert_array_equal(np.asarray(out), table[idx])

