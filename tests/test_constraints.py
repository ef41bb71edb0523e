"""Constraints: Keras 3's projections (golden values), names and configs."""

from __future__ import annotations

import os

import numpy as np
import pytest

from kerasette import constraints
from kerasette.backend.tensor import Tensor

GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "golden_functions", "functions.npz"))
W, W4 = GOLDEN["w"], GOLDEN["w4"]

CASES = {
    "max_norm": (constraints.MaxNorm(1.5), W), "max_norm_axes": (constraints.MaxNorm(2.0, axis=[0, 1, 2]), W4),
    "min_max_norm": (constraints.MinMaxNorm(0.5, 1.2, rate=0.7), W),
    "min_max_norm_axis1": (constraints.MinMaxNorm(2.5, 3.0, axis=1), W),
    "unit_norm": (constraints.UnitNorm(), W), "unit_norm_axis1": (constraints.UnitNorm(axis=1), W),
    "non_neg": (constraints.NonNeg(), W),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_projection_matches_keras3(name):
    constraint, value = CASES[name]
    out = constraint(value.copy())
    assert isinstance(out, np.ndarray) and out.shape == value.shape
    np.testing.assert_allclose(out, GOLDEN[f"constraint/{name}"], rtol=1e-6, atol=1e-12)
    as_tensor = constraint(Tensor(value.copy()))
    assert isinstance(as_tensor, Tensor)
    np.testing.assert_allclose(as_tensor.data, out)


def test_projections_obey_their_rule():
    norms = np.linalg.norm(constraints.MaxNorm(1.5)(W), axis=0)
    assert norms.max() <= 1.5 + 1e-9
    np.testing.assert_allclose(np.linalg.norm(constraints.UnitNorm()(W), axis=0), 1.0, rtol=1e-6)
    assert constraints.NonNeg()(W).min() == 0.0
    float32 = constraints.MaxNorm(1.0)(W.astype(np.float32))
    assert float32.dtype == np.float32


def test_names_and_keras1_names():
    for name, cls in (("max_norm", constraints.MaxNorm), ("maxnorm", constraints.MaxNorm),
                      ("MaxNorm", constraints.MaxNorm), ("min_max_norm", constraints.MinMaxNorm),
                      ("non_neg", constraints.NonNeg), ("nonneg", constraints.NonNeg),
                      ("unit_norm", constraints.UnitNorm), ("unitnorm", constraints.UnitNorm)):
        assert type(constraints.get(name)) is cls
    assert constraints.max_norm(3.0).max_value == 3.0


def test_configs_of_every_keras_version():
    keras1 = constraints.get({"name": "MaxNorm", "m": 3, "axis": 0})
    assert keras1.get_config() == {"max_value": 3.0, "axis": 0}
    assert type(constraints.get({"name": "NonNeg"})) is constraints.NonNeg
    keras2 = constraints.get({"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}})
    assert keras2.max_value == 2.0
    keras3 = constraints.get({"module": "keras.constraints", "class_name": "UnitNorm", "config": {"axis": 1},
                              "registered_name": None})
    assert keras3.axis == 1
    for constraint, _ in CASES.values():
        again = constraints.deserialize(constraints.serialize(constraint))
        assert type(again) is type(constraint) and again.get_config() == constraint.get_config()


def test_custom_callables():
    def clip_to_one(w):
        return np.clip(w, -1, 1)

    assert constraints.get(clip_to_one) is clip_to_one
    assert constraints.get("clip_to_one", custom_objects={"clip_to_one": clip_to_one}) is clip_to_one


def test_errors():
    with pytest.raises(ValueError, match="Unknown constraint: 'max_nrm'"):
        constraints.get("max_nrm")
    with pytest.raises(TypeError, match="constraint must be None, a name, a config dict or a callable"):
        constraints.get(3)
    with pytest.raises(ValueError, match=r"MinMaxNorm: `min_value` must not exceed `max_value`; "
                                         r"received min_value=2.0, max_value=1.0"):
        constraints.MinMaxNorm(2.0, 1.0)


def test_keras1_module_names():
    from kerasette.constraints import maxnorm, nonneg, unitnorm

    assert maxnorm(m=3).max_value == 3.0 and nonneg is constraints.NonNeg and unitnorm is constraints.UnitNorm
