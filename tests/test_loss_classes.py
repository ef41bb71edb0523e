"""Keras 3's loss classes: options, reductions and sample weights against real Keras 3
(tests/losses_golden/classes_golden.json, made by make_classes_golden.py there); configs load
from Keras's form; a class in compile trains and round-trips through a file."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from kerasette import losses
from kerasette.backend.tensor import Tensor
from kerasette.layers import Dense
from kerasette.models import Sequential, load_model

G = json.loads((pathlib.Path(__file__).parent / "losses_golden" / "classes_golden.json").read_text())


@pytest.mark.parametrize("case", G["cases"], ids=lambda c: f"{c['class']}-{c['reduction']}")
def test_loss_class_matches_keras3(case):
    loss = getattr(losses, case["class"])(reduction=case["reduction"], **case["options"])
    y_true = np.asarray(G["inputs"][case["y_true"]])
    y_pred = np.asarray(G["inputs"][case["y_pred"]], "float32")
    weight = np.asarray(G["inputs"]["weights"], "float32") if case["weighted"] else None
    value = loss(Tensor(y_true.astype("float32") if case["class"] != "SparseCategoricalCrossentropy" else y_true),
                 Tensor(y_pred), sample_weight=weight)
    np.testing.assert_allclose(value.data, case["value"], rtol=2e-5, atol=1e-6)
    from_keras = losses.get({"class_name": case["class"], "config": case["config"]})  # the config Keras wrote
    assert type(from_keras).__name__ == case["class"]
    config = from_keras.get_config()
    assert {k: config[k] for k in case["config"]} == case["config"]


def test_a_loss_object_in_compile_trains_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)]
    model = Sequential([Dense(8, activation="relu", input_dim=4), Dense(3)])  # logits out
    model.compile("adam", loss=losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.05),
                  metrics=["accuracy"])
    first = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=20, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < first
    model.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5")
    assert isinstance(again.loss, losses.CategoricalCrossentropy) and again.loss.from_logits
    assert again.loss.label_smoothing == pytest.approx(0.05)
    np.testing.assert_allclose(again.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)


def test_loss_class_errors():
    with pytest.raises(ValueError, match=r"Huber: argument `reduction` must be one of sum_over_batch_size, sum, "
                                         r"mean, none, auto, mean_with_sample_weight; received reduction='avg'"):
        losses.Huber(reduction="avg")
    with pytest.raises(TypeError, match=r"Huber: unexpected keyword argument\(s\) \['delt'\]"):
        losses.Huber(delt=2.0)


@pytest.mark.parametrize("name", ["binary_focal_crossentropy", "categorical_focal_crossentropy"])
def test_focal_loss_gradients_float64(name):
    from tests.helpers import check_gradients

    rng = np.random.default_rng(4)
    y_true = np.eye(4)[rng.integers(0, 4, 5)]
    y_pred = rng.uniform(0.1, 0.9, (5, 4))
    fn = getattr(losses, name)
    check_gradients(lambda t, p: fn(t, p, gamma=2.0), [y_true, y_pred], wrt=[1])
    check_gradients(lambda t, p: fn(t, p, from_logits=True, label_smoothing=0.1), [y_true, y_pred * 4 - 2], wrt=[1])
