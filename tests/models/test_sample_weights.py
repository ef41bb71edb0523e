"""sample_weight and class_weight in fit, evaluate and the *_on_batch methods, against real
Keras 3's numbers (tests/models/sample_weight_golden/, made by make_golden.py there)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from kerasette.layers import Dense
from kerasette.models import Sequential
from kerasette.optimizers import SGD

G = json.loads((pathlib.Path(__file__).parent / "sample_weight_golden" / "golden.json").read_text())
X, Y = np.asarray(G["x"], "float32"), np.asarray(G["y"], "float32")
SW = np.asarray(G["sample_weight"], "float32")
CLASS_WEIGHT = {int(k): v for k, v in G["class_weight"].items()}


def _model():
    model = Sequential([Dense(3, activation="softmax", input_dim=4)])
    model.set_weights([np.asarray(G["kernel"], "float32"), np.asarray(G["bias"], "float32")])
    model.compile(optimizer=SGD(learning_rate=0.1), loss="categorical_crossentropy")
    return model


def test_weighted_evaluate_matches_keras3():
    assert _model().evaluate(X, Y, sample_weight=SW, batch_size=4, verbose=0) == pytest.approx(G["evaluate_loss"],
                                                                                                rel=1e-5)
    assert _model().evaluate(X, Y, sample_weight=np.ones(10), verbose=0) == pytest.approx(
        _model().evaluate(X, Y, verbose=0), rel=1e-6)


def test_weighted_step_matches_keras3():
    model = _model()
    assert model.train_on_batch(X, Y, sample_weight=SW) == pytest.approx(G["train_on_batch_loss"], rel=1e-5)
    for ours, theirs in zip(model.get_weights(), G["after_sample_weight_step"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_class_weight_epoch_matches_keras3():
    model = _model()
    history = model.fit(X, Y, batch_size=10, epochs=1, shuffle=False, class_weight=CLASS_WEIGHT, verbose=0)
    assert history.history["loss"][0] == pytest.approx(G["class_weight_fit_loss"], rel=1e-5)
    for ours, theirs in zip(model.get_weights(), G["after_class_weight_epoch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_sample_weights_follow_validation_split_and_validation_data():
    model = _model()
    history = model.fit(X, Y, sample_weight=SW, validation_split=0.3, epochs=1, verbose=0)
    held = slice(7, 10)
    expected = model.evaluate(X[held], Y[held], sample_weight=SW[held], verbose=0)  # the trained model
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-5)
    history = _model().fit(X, Y, validation_data=(X, Y, SW), epochs=1, verbose=0)
    assert "val_loss" in history.history


def test_sample_weight_errors():
    model = _model()
    with pytest.raises(ValueError, match=r"sample_weight must hold one weight per sample, shape \(10,\); received "
                                         r"shape \(9,\)"):
        model.fit(X, Y, sample_weight=SW[:9], verbose=0)
    with pytest.raises(TypeError, match=r"class_weight must be a dict \{class: weight\}; received list"):
        model.fit(X, Y, class_weight=[1.0, 2.0, 3.0], verbose=0)
    with pytest.raises(TypeError, match=r"evaluate: unexpected keyword argument\(s\) \['class_weight'\]"):
        model.evaluate(X, Y, class_weight=CLASS_WEIGHT, verbose=0)


def test_weighted_metrics_use_the_sample_weights_and_round_trip(tmp_path):
    from kerasette import metrics
    from kerasette.models import load_model

    model = _model()
    model.compile(optimizer=SGD(learning_rate=0.1), loss="categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", "mse"])
    logs = model.evaluate(X, Y, sample_weight=SW, batch_size=4, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "accuracy", "weighted_accuracy", "mse"]
    hits = metrics.categorical_accuracy(Y, model.predict(X))
    assert logs["accuracy"] == pytest.approx(hits.mean())
    assert logs["weighted_accuracy"] == pytest.approx(float((hits * SW).sum() / SW.sum()))
    model.save(tmp_path / "w.h5")
    again = load_model(tmp_path / "w.h5")
    assert again.metrics_names == model.metrics_names
