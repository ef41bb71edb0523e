"""The regression, hinge and divergence losses against real Keras 3's values (tests/losses_golden/,
made by make_golden.py there), with float64 gradient checks; every loss works as a metric."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from kerasette import losses, metrics
from kerasette.backend.tensor import Tensor
from kerasette.layers import Dense
from kerasette.models import Sequential
from tests.helpers import check_gradients

GOLDEN = json.loads((pathlib.Path(__file__).parent / "losses_golden" / "golden.json").read_text())
SHORT_NAMES = {"mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
               "kld": "kl_divergence", "logcosh": "log_cosh"}


@pytest.mark.parametrize("case", sorted(GOLDEN["losses"]))
def test_loss_matches_keras3(case):
    spec = GOLDEN["losses"][case]
    y_true = np.asarray(GOLDEN["inputs"][spec["y_true"]], "float32")
    y_pred = np.asarray(GOLDEN["inputs"][spec["y_pred"]], "float32")
    fn = losses.get(case.replace("_binary_labels", ""))
    ours = fn(Tensor(y_true), Tensor(y_pred)).data
    np.testing.assert_allclose(ours, spec["value"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("short,name", sorted(SHORT_NAMES.items()))
def test_short_names(short, name):
    assert losses.get(short) is getattr(losses, name)


@pytest.mark.parametrize("case", sorted(c for c in GOLDEN["losses"] if "binary_labels" not in c))
def test_loss_gradients_float64(case):
    spec = GOLDEN["losses"][case]
    y_true = np.asarray(GOLDEN["inputs"][spec["y_true"]])
    y_pred = np.asarray(GOLDEN["inputs"][spec["y_pred"]])
    fn = losses.get(case)
    check_gradients(lambda t, p: fn(t, p), [y_true, y_pred], wrt=[1])


def test_every_loss_is_a_metric_too():
    name, fn = metrics.get("msle")
    y_true, y_pred = np.full((3, 2), 0.5, "float32"), np.full((3, 2), 0.25, "float32")
    assert name == "msle" and fn(y_true, y_pred).shape == (3,)
    np.testing.assert_allclose(fn(y_true, y_pred), losses.get("msle")(Tensor(y_true), Tensor(y_pred)).data)
    model = Sequential([Dense(2, input_dim=2)])
    model.compile("sgd", "mse", metrics=["huber", "mape"])
    loss, huber, mape = model.evaluate(y_true, y_pred, verbose=0)
    assert model.metrics_names == ["loss", "huber", "mape"] and huber >= 0 and mape >= 0
