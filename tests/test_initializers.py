"""Initializers: the distributions' statistics, fans, names and (de)serialisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kerasette import initializers
from kerasette.backend import random as krandom


@pytest.fixture(autouse=True)
def seeded():
    krandom.set_seed(123)


def test_fans():
    assert initializers.compute_fans((20, 30)) == (20, 30)
    assert initializers.compute_fans((3, 3, 16, 32)) == (144, 288)  # (rows, cols, in, out)
    assert initializers.compute_fans((7,)) == (7, 7)


@pytest.mark.parametrize("shape", [(200, 300), (3, 3, 16, 32)])
def test_glorot_uniform_limit(shape):
    fan_in, fan_out = initializers.compute_fans(shape)
    limit = math.sqrt(6 / (fan_in + fan_out))
    w = initializers.get("glorot_uniform")(shape)
    assert w.dtype == np.float32 and w.shape == shape
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.98 * limit  # it does reach the limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.03 * limit
    assert abs(w.mean()) < 0.02 * limit


def test_he_normal_std():
    shape = (3, 3, 64, 64)  # fan_in 576
    w = initializers.get("he_normal")(shape)
    std = math.sqrt(2 / 576)
    assert abs(w.std() - std) < 0.03 * std
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 + 1e-7  # truncated at two stddevs


def test_he_uniform_limit():
    w = initializers.get("he_uniform")((100, 50))
    limit = math.sqrt(6 / 100)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.98 * limit


def test_uniform_normal_zeros_ones():
    u = initializers.get("uniform")((100, 100))
    assert u.min() >= -0.05 and u.max() <= 0.05 and u.max() > 0.049
    n = initializers.get("normal")((100, 100))
    assert abs(n.std() - 0.05) < 0.002
    assert not initializers.get("zeros")((3, 2)).any()
    assert (initializers.get("ones")((3,)) == 1).all()


def test_seeded_initializer_is_reproducible():
    a = initializers.RandomNormal(seed=4)((5, 5))
    b = initializers.RandomNormal(seed=4)((5, 5))
    np.testing.assert_array_equal(a, b)


def test_global_seed_makes_runs_reproducible():
    krandom.set_seed(9)
    a = initializers.get("glorot_uniform")((4, 4))
    krandom.set_seed(9)
    np.testing.assert_array_equal(a, initializers.get("glorot_uniform")((4, 4)))


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "zeros", "uniform", "normal", "lecun_uniform"])
def test_serialize_round_trip(name):
    init = initializers.get(name)
    config = initializers.serialize(init)
    again = initializers.deserialize(config)
    assert type(again) is type(init) and initializers.serialize(again) == config


def test_keras_class_names_are_accepted():
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get({"class_name": "HeNormal", "config": {"seed": None}}), initializers.HeNormal)


def my_init(shape, dtype="float32"):
    return np.full(shape, 0.5, dtype=dtype)


def test_a_function_initializer_serializes_by_its_name():
    assert initializers.serialize(my_init) == "my_init"


def test_get_config_of_a_layer_with_a_function_initializer():
    from kerasette.layers import Dense
    from kerasette.models import Sequential, model_from_json

    model = Sequential([Dense(2, kernel_initializer=my_init, input_dim=3)])
    config = model.layers[0].get_config()
    assert config["kernel_initializer"] == "my_init"
    assert config["bias_initializer"] == {"class_name": "Zeros", "config": {}}
    # loads back through custom_objects, as in Keras 2
    again = model_from_json(model.to_json(), custom_objects={"my_init": my_init})
    np.testing.assert_array_equal(again.layers[0].get_weights()[0], np.full((3, 2), 0.5, "float32"))


def test_a_callable_without_config_or_name_cannot_be_serialized():
    class Scaled:
        def __call__(self, shape, dtype="float32"):
            return np.ones(shape, dtype)

    with pytest.raises(ValueError, match="initializers.serialize: cannot serialize the Scaled object .* it has neither "
                                         r"get_config\(\) nor a __name__"):
        initializers.serialize(Scaled())
