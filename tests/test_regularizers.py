"""Regularizers: Keras 3's penalties (golden values), names, configs of every Keras version."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from kerasette import regularizers
from kerasette.backend.tensor import Variable
from tests.helpers import check_gradients

GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "golden_functions", "functions.npz"))
W = GOLDEN["w"]

OBJECTS = {
    "l1": regularizers.L1(0.03), "l2": regularizers.L2(0.01), "l1_l2": regularizers.L1L2(0.02, 0.05),
    "orthogonal_rows": regularizers.OrthogonalRegularizer(0.1, "rows"),
    "orthogonal_columns": regularizers.OrthogonalRegularizer(0.1, "columns"),
}


def _orthogonal_reference(w, factor, axis):
    unit = w / np.linalg.norm(w, axis=axis, keepdims=True)
    gram = unit @ unit.T if axis == 1 else unit.T @ unit
    n = gram.shape[0]
    return factor * 0.5 * np.abs(gram - np.diag(np.diag(gram))).sum() / (n * (n - 1) / 2)


REFERENCES = {
    "l1": 0.03 * np.abs(W).sum(), "l2": 0.01 * np.square(W).sum(),
    "l1_l2": 0.02 * np.abs(W).sum() + 0.05 * np.square(W).sum(),
    "orthogonal_rows": _orthogonal_reference(W, 0.1, 1), "orthogonal_columns": _orthogonal_reference(W, 0.1, 0),
}


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_penalty_matches_numpy_and_keras3(name):
    value = OBJECTS[name](Variable(W, dtype="float64"))
    np.testing.assert_allclose(value.data, REFERENCES[name], rtol=1e-12)
    np.testing.assert_allclose(value.data, GOLDEN[f"regularizer/{name}"], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_penalty_gradient(name):
    check_gradients(OBJECTS[name], [W.copy()])


def test_names_give_keras3_defaults():
    keras = json.loads(str(GOLDEN["regularizer_default_configs"]))
    for name in ("l1", "l2", "orthogonal_regularizer"):
        np.testing.assert_allclose(list(regularizers.get(name).get_config().values())[0],
                                   list(keras[name].values())[0], rtol=1e-6)
    assert regularizers.get("l1_l2").get_config() == keras["l1l2"] == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get("orthogonal_regularizer").mode == "rows"
    assert regularizers.l2(0.01).get_config() == {"l2": 0.01}


def test_configs_of_every_keras_version():
    keras1 = regularizers.get({"name": "WeightRegularizer", "l1": 0.0, "l2": 0.01})
    assert isinstance(keras1, regularizers.L1L2) and keras1.get_config() == {"l1": 0.0, "l2": 0.01}
    activity = regularizers.get({"name": "ActivityRegularizer", "l1": 0.1, "l2": 0.0})
    assert activity.get_config() == {"l1": 0.1, "l2": 0.0}
    keras2 = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}})
    assert keras2.get_config() == {"l1": 0.0, "l2": 0.01}
    keras3 = regularizers.get({"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.02},
                               "registered_name": None})
    assert isinstance(keras3, regularizers.L2) and keras3.l2 == 0.02
    for reg in OBJECTS.values():
        again = regularizers.deserialize(regularizers.serialize(reg))
        assert type(again) is type(reg) and again.get_config() == reg.get_config()
    assert regularizers.get(None) is None and regularizers.serialize(None) is None


def test_custom_callables_and_custom_objects():
    def my_penalty(w):
        return (w * w).sum() * 0.5

    assert regularizers.get(my_penalty) is my_penalty
    assert regularizers.serialize(my_penalty) == "my_penalty"
    assert regularizers.get("my_penalty", custom_objects={"my_penalty": my_penalty}) is my_penalty


def test_errors():
    with pytest.raises(ValueError, match="Unknown regularizer: 'l3'"):
        regularizers.get("l3")
    with pytest.raises(TypeError, match="regularizer must be None, a name, a config dict or a callable"):
        regularizers.get(0.01)
    with pytest.raises(ValueError, match=r"L2: `l2` must be a finite number; received l2='a'"):
        regularizers.L2("a")
    with pytest.raises(ValueError, match=r"`mode` must be 'rows' or 'columns'; received mode='diagonal'"):
        regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ValueError, match=r"OrthogonalRegularizer: the weight must be 2-D; received shape \(2, 2, 2\)"):
        regularizers.OrthogonalRegularizer()(np.ones((2, 2, 2)))


def test_keras1_helpers():
    assert regularizers.l1l2().get_config() == {"l1": 0.01, "l2": 0.01}
    assert regularizers.activity_l2(0.1).get_config() == {"l2": 0.1}
    assert regularizers.activity_l1().get_config() == {"l1": 0.01}
    assert regularizers.activity_l1l2(0.0, 0.2).get_config() == {"l1": 0.0, "l2": 0.2}
