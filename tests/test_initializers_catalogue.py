"""The initializer catalogue against Keras 3: statistics of the random ones, exact values of the
deterministic ones, orthogonality, names (Keras 1 included) and configs."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from kerasette import initializers

GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "golden_functions", "functions.npz"))
KERAS_STATS = json.loads(str(GOLDEN["initializer_stats"]))
SHAPE = (3, 3, 32, 64)  # fan_in 288, fan_out 576

# name -> the theoretical bound of |value| (uniform limit or two truncated standard deviations)
def _bound(scale, n, distribution):
    if distribution == "uniform":
        return math.sqrt(3 * scale / n)
    return 2 * math.sqrt(scale / n) / 0.87962566103423978 if distribution == "truncated_normal" else None


BUILTIN = {
    "glorot_uniform": (1.0, 432, "uniform"), "glorot_normal": (1.0, 432, "truncated_normal"),
    "he_uniform": (2.0, 288, "uniform"), "he_normal": (2.0, 288, "truncated_normal"),
    "lecun_uniform": (1.0, 288, "uniform"), "lecun_normal": (1.0, 288, "truncated_normal"),
}


@pytest.mark.parametrize("name", sorted(BUILTIN) + ["truncated_normal", "random_uniform", "random_normal"])
def test_statistics_match_keras3(name):
    values = initializers.get(name)(SHAPE, dtype="float64")
    keras = KERAS_STATS[name]
    assert values.shape == SHAPE
    assert abs(values.std() - keras["std"]) < 0.03 * keras["std"]
    if name in BUILTIN:
        bound = _bound(*BUILTIN[name])
        assert np.abs(values).max() <= bound and max(abs(keras["min"]), keras["max"]) <= bound * (1 + 1e-6)
    if name == "truncated_normal":
        assert np.abs(values).max() <= 0.1 and keras["max"] <= 0.1


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling_every_mode_and_distribution(mode, distribution):
    init = initializers.VarianceScaling(scale=3.0, mode=mode, distribution=distribution, seed=1)
    values = init(SHAPE, dtype="float64")
    keras = KERAS_STATS[f"variance_scaling/{mode}/{distribution}"]
    n = {"fan_in": 288, "fan_out": 576, "fan_avg": 432}[mode]
    assert abs(values.std() - math.sqrt(3.0 / n)) < 0.03 * math.sqrt(3.0 / n)
    assert abs(values.std() - keras["std"]) < 0.04 * keras["std"]
    bound = _bound(3.0, n, distribution)
    if bound is not None:
        assert np.abs(values).max() <= bound
    np.testing.assert_array_equal(values, init(SHAPE, dtype="float64"))  # seeded


@pytest.mark.parametrize("shape", [(5, 5), (8, 3), (3, 8), (3, 3, 4, 6)])
def test_orthogonal(shape):
    values = initializers.Orthogonal(gain=1.5, seed=4)(shape, dtype="float64")
    flat = values.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, 1.5**2 * np.eye(gram.shape[0]), atol=1e-12)


def test_identity_and_constant_are_exact():
    np.testing.assert_array_equal(initializers.Identity(gain=2.5)((3, 5)), GOLDEN["initializer/identity"])
    np.testing.assert_array_equal(initializers.get("identity")((4, 4)), np.eye(4, dtype="float32"))
    np.testing.assert_array_equal(initializers.Constant(0.7)((2, 3)), GOLDEN["initializer/constant"])


KERAS1_AND_2_NAMES = {
    "uniform": "RandomUniform", "normal": "RandomNormal", "zero": "Zeros", "one": "Ones", "zeros": "Zeros",
    "ones": "Ones", "orthogonal": "Orthogonal", "Orthogonal": "Orthogonal", "OrthogonalInitializer": "Orthogonal",
    "identity": "Identity", "Identity": "Identity", "truncated_normal": "TruncatedNormal",
    "TruncatedNormal": "TruncatedNormal", "variance_scaling": "VarianceScaling", "constant": "Constant",
    "glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform",
    "he_normal": "HeNormal", "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal",
}


@pytest.mark.parametrize("name", sorted(KERAS1_AND_2_NAMES))
def test_names(name):
    init = initializers.get(name)
    assert type(init).__name__ == KERAS1_AND_2_NAMES[name]
    again = initializers.deserialize(initializers.serialize(init))
    assert type(again) is type(init) and again.get_config() == init.get_config()


def test_keras3_configs_load_and_match():
    for name, keras in json.loads(str(GOLDEN["initializer_configs"])).items():
        init = initializers.get(keras)  # Keras 3 writes module, registered_name, input_axes, ...
        ours = initializers.serialize(initializers.get(name))
        assert ours["class_name"] == keras["class_name"] == type(init).__name__
        for key, value in ours["config"].items():
            assert keras["config"].get(key, value) == value, (name, key)


def test_errors():
    with pytest.raises(ValueError, match=r"Orthogonal initializer: the weight must be at least 2-D; "
                                         r"received shape \(4,\) of rank 1"):
        initializers.Orthogonal()((4,))
    with pytest.raises(ValueError, match=r"Identity initializer: the weight must be 2-D; received shape "
                                         r"\(2, 2, 2\) of rank 3"):
        initializers.Identity()((2, 2, 2))
    with pytest.raises(ValueError, match="VarianceScaling: `scale` must be a positive number; received scale=0"):
        initializers.VarianceScaling(scale=0)
