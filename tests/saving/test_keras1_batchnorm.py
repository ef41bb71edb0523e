"""A Keras 1.2 file with BatchNormalization (mode=0; weights gamma, beta, running_mean and
running_std, the last holding the variance as Keras 1 stored it) loads and predicts."""

from __future__ import annotations

import json

import h5py
import numpy as np

from kerasette.models import load_model
from tests.saving.keras1_files import _set_names

DENSE = {"name": "dense_1", "trainable": True, "output_dim": 3, "init": "glorot_uniform", "activation": "linear",
         "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
         "b_constraint": None, "bias": True, "input_dim": 4, "batch_input_shape": [None, 4]}
BN = {"name": "batchnormalization_1", "trainable": True, "epsilon": 0.001, "mode": 0, "axis": -1,
      "momentum": 0.99, "gamma_regularizer": None, "beta_regularizer": None}


def test_keras1_batch_normalization_file(tmp_path):
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((4, 3)).astype("float32"), rng.standard_normal(3).astype("float32")
    gamma, beta, mean = (rng.standard_normal(3).astype("float32") for _ in range(3))
    var = rng.uniform(0.5, 2, 3).astype("float32")
    path = tmp_path / "keras1_bn.h5"
    weights = {"dense_1": [("dense_1_W", w), ("dense_1_b", b)],
               "batchnormalization_1": [("batchnormalization_1_gamma", gamma), ("batchnormalization_1_beta", beta),
                                        ("batchnormalization_1_running_mean", mean),
                                        ("batchnormalization_1_running_std", var)]}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": [
            {"class_name": "Dense", "config": DENSE},
            {"class_name": "BatchNormalization", "config": BN}]}).encode("utf8")
        group = f.create_group("model_weights")
        _set_names(group, "layer_names", list(weights))
        for layer, items in weights.items():
            g = group.create_group(layer)
            _set_names(g, "weight_names", [name for name, _ in items])
            for name, value in items:
                g.create_dataset(name, data=value)
    model = load_model(path, compile=False)
    x = rng.standard_normal((5, 4)).astype("float32")
    expected = ((x @ w + b) - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    bn = model.layers[-1]
    assert bn.momentum == 0.99 and [v.name.split("/")[-1] for v in bn.non_trainable_weights] == [
        "moving_mean", "moving_variance"]
