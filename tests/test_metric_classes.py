"""Keras 3's stateful metrics against real Keras 3 over two batches (tests/metrics_golden/, made
by make_golden.py there), and in compile: reset each epoch, the epoch's value logged."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from kerasette import metrics
from kerasette.layers import Dense
from kerasette.models import Sequential

G = json.loads((pathlib.Path(__file__).parent / "metrics_golden" / "golden.json").read_text())


@pytest.mark.parametrize("case", G["cases"], ids=lambda c: f"{c['class']}-{sorted(c['options'].items())}")
def test_metric_matches_keras3(case):
    metric = getattr(metrics, case["class"])(**case["options"])
    for b in range(2):
        weight = np.asarray(G["inputs"]["weights"][b]) if case["weighted"] else None
        metric.update_state(np.asarray(G["inputs"][case["y_true"]][b]), np.asarray(G["inputs"][case["y_pred"]][b]),
                            sample_weight=weight)
    np.testing.assert_allclose(metric.result(), case["result"], rtol=1e-5, atol=1e-6)
    metric.reset_state()
    assert np.all(np.asarray(metric.result()) == 0)


def test_metric_names_in_compile_and_epoch_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = Sequential([Dense(1, activation="sigmoid", input_dim=4)])
    model.compile("sgd", "binary_crossentropy", metrics=["auc", metrics.Precision(name="prec"), "recall"])
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert model.metrics_names == ["loss", "auc", "prec", "recall"]
    scores = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    whole = metrics.AUC()
    whole.update_state(y, model.predict(x))
    assert scores["auc"] == pytest.approx(whole.result(), rel=1e-6)  # over the whole set, not a mean of batches
    assert len(history.history["prec"]) == 2


def test_metric_errors():
    with pytest.raises(ValueError, match=r"AUC: argument `curve` must be 'ROC' or 'PR'; received curve='roc'"):
        metrics.AUC(curve="roc")
    with pytest.raises(ValueError, match=r"F1Score: argument `average` must be None, 'micro', 'macro' or "
                                         r"'weighted'; received average='mean'"):
        metrics.F1Score(average="mean")


def test_metric_objects_round_trip_through_a_file(tmp_path):
    from kerasette.models import load_model

    model = Sequential([Dense(1, activation="sigmoid", input_dim=4)])
    model.compile("sgd", "binary_crossentropy", metrics=[metrics.Precision(thresholds=0.3, name="p30"), "auc"])
    model.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5")
    assert again.metrics_names == ["loss", "p30", "auc"]
    assert isinstance(again._trainer._metrics[0][2], metrics.Precision)
    assert again._trainer._metrics[0][2].get_config()["thresholds"] == 0.3
