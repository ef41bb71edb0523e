"""Dense and Conv2D with regularizers and constraints: training, Keras 3 files, Keras 1 configs."""

from __future__ import annotations

import json
import os
import warnings

import h5py
import numpy as np
import pytest

from kerasette import constraints, regularizers
from kerasette.callbacks import Callback
from kerasette.layers import Conv2D, Dense, Flatten
from kerasette.models import Sequential
from kerasette.saving import CheckpointError, load_model
from tests.saving import keras1_files as k1

HERE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "golden_functions")
KERAS3 = np.load(os.path.join(HERE, "model_penalties_predictions.npz"))


def _load(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model(os.path.join(HERE, name))


class KernelWatch(Callback):
    """Records, at the end of every batch, the logged loss and the Dense kernel's column norms."""

    def __init__(self, layer):
        super().__init__()
        self.layer, self.losses, self.norms = layer, [], []

    def on_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])
        self.norms.append(np.linalg.norm(self.layer.kernel.data, axis=0))


def test_training_adds_the_penalty_and_obeys_the_constraint():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype("float32") * 3
    y = rng.standard_normal((32, 3)).astype("float32") * 5
    dense = Dense(3, kernel_regularizer=regularizers.l2(0.01), kernel_constraint=constraints.max_norm(1.0),
                  kernel_initializer="ones", input_dim=5)
    model = Sequential([dense])
    model.compile("sgd", "mse")
    # first step by hand: the logged loss is the data loss plus 0.01 * sum(kernel ** 2), from the
    # weights before the update
    kernel, bias = dense.kernel.data.copy(), dense.bias.data.copy()
    data_loss = np.mean((x[:8] @ kernel + bias - y[:8]) ** 2)
    watch = KernelWatch(dense)
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[watch])
    np.testing.assert_allclose(watch.losses[0], data_loss + 0.01 * np.sum(kernel**2), rtol=1e-5)
    assert len(watch.norms) == 12
    for norms in watch.norms:
        assert norms.max() <= 1.0 + 1e-6
    assert watch.norms[0].max() > 0.99  # the constraint is active (the kernel starts at norm sqrt(5))
    # evaluate reports the penalty too, as Keras does
    penalty = 0.01 * np.sum(dense.kernel.data.astype("float64") ** 2)
    data = np.mean((model.predict(x, verbose=0) - y) ** 2)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), data + penalty, rtol=1e-5)


def test_regularizer_gradient_reaches_the_kernel():
    dense = Dense(2, kernel_regularizer=regularizers.L1L2(0.0, 0.5), use_bias=False, kernel_initializer="ones",
                  input_dim=2)
    model = Sequential([dense])
    model.compile("sgd", "mse")
    model.train_on_batch(np.zeros((4, 2), "float32"), np.zeros((4, 2), "float32"))
    # zero data loss: the step is -lr * d(0.5 * sum(w^2))/dw = -0.01 * w
    np.testing.assert_allclose(dense.kernel.data, 0.99 * np.ones((2, 2)), rtol=1e-6)


def test_activity_regularizer_is_the_mean_over_the_batch():
    dense = Dense(2, activity_regularizer=regularizers.L1(0.1), kernel_initializer="ones", input_dim=2)
    x = np.array([[1.0, 2.0], [-3.0, 0.5], [0.0, 1.0]], "float32")
    out = dense(x).data
    (penalty,) = dense.losses
    np.testing.assert_allclose(penalty.data, 0.1 * np.abs(out).sum() / 3, rtol=1e-6)
    assert not dense.fuses(__import__("kerasette").activations.relu)


def test_conv2d_takes_the_arguments_and_writes_them():
    conv = Conv2D(2, 3, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.1),
                  activity_regularizer="l1", kernel_constraint=constraints.MaxNorm(2.0, axis=[0, 1, 2]),
                  bias_constraint="non_neg")
    conv(np.ones((2, 5, 5, 1), "float32"))
    assert len(conv.losses) == 3
    config = conv.get_config()
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert config["kernel_constraint"] == {"class_name": "MaxNorm", "config": {"max_value": 2.0, "axis": [0, 1, 2]}}
    assert config["bias_constraint"] == {"class_name": "NonNeg", "config": {}}
    again = Conv2D.from_config(config)
    assert again.get_config() == config


def test_keras3_file_loads_with_the_same_predictions_and_penalty():
    model = _load("model_penalties.h5")
    np.testing.assert_allclose(model.predict(KERAS3["x"], verbose=0), KERAS3["predictions"], atol=1e-5)
    conv, dense, out = model.get_layer("conv"), model.get_layer("dense"), model.get_layer("out")
    assert isinstance(conv.kernel_constraint, constraints.MaxNorm) and conv.kernel_constraint.axis == [0, 1, 2]
    assert isinstance(dense.bias_constraint, constraints.MinMaxNorm)
    assert isinstance(out.kernel_regularizer, regularizers.OrthogonalRegularizer)
    assert isinstance(conv.activity_regularizer, regularizers.L1L2)
    model.predict(KERAS3["x"], verbose=0)  # activity terms from this batch, as Keras computed them
    np.testing.assert_allclose(sum(float(t.data) for t in model.losses), KERAS3["penalty"], rtol=1e-5)


def test_one_training_step_matches_keras3():
    """Keras 3 logged the loss (data + weight and activity penalties) of one SGD step from the
    initial file and saved the updated, constrained weights."""
    model = _load("model_penalties_initial.h5")
    history = model.fit(KERAS3["x"], KERAS3["y"], batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], KERAS3["logged_loss"], rtol=1e-5)
    after = _load("model_penalties.h5")
    for ours, keras in zip(model.weights, after.weights, strict=True):
        np.testing.assert_allclose(ours.data, keras.data, atol=2e-6, err_msg=ours.name)


def test_kerasette_file_round_trip(tmp_path):
    model = _load("model_penalties.h5")
    path = tmp_path / "again.h5"
    model.save(path)
    again = load_model(path)
    for layer in ("conv", "dense", "out"):
        assert again.get_layer(layer).get_config() == model.get_layer(layer).get_config()
    np.testing.assert_allclose(again.predict(KERAS3["x"], verbose=0), KERAS3["predictions"], atol=1e-5)


def _keras1_penalized(monkeypatch):
    monkeypatch.setitem(k1.CONV, "W_regularizer", {"l2": 0.01, "name": "WeightRegularizer", "l1": 0.0})
    monkeypatch.setitem(k1.CONV, "W_constraint", {"name": "MaxNorm", "m": 2, "axis": 0})
    monkeypatch.setitem(k1.DENSE, "b_regularizer", {"l2": 0.0, "name": "WeightRegularizer", "l1": 0.001})
    monkeypatch.setitem(k1.DENSE, "activity_regularizer", {"l2": 0.01, "name": "ActivityRegularizer", "l1": 0.0})
    monkeypatch.setitem(k1.DENSE, "W_constraint", {"name": "NonNeg"})


def test_keras1_file_with_regularizers_and_constraints_loads(tmp_path, monkeypatch):
    _keras1_penalized(monkeypatch)
    weights = k1.random_weights()
    path = tmp_path / "keras1.h5"
    k1.write_keras1_file(path, "tf", weights, suffix=":0")
    model = load_model(path)
    conv, dense = model.layers[0], model.layers[-1]
    assert conv.kernel_regularizer.get_config() == {"l1": 0.0, "l2": 0.01}
    assert conv.kernel_constraint.get_config() == {"max_value": 2.0, "axis": 0}
    assert dense.bias_regularizer.get_config() == {"l1": 0.001, "l2": 0.0}
    assert dense.activity_regularizer.get_config() == {"l1": 0.0, "l2": 0.01}
    assert isinstance(dense.kernel_constraint, constraints.NonNeg)
    x = np.random.default_rng(1).standard_normal((2, *k1.IMAGE, 3)).astype("float32")
    model.predict(x, verbose=0)
    assert len(model.losses) == 3  # conv kernel, dense bias, dense activity


def test_keras1_constructor_names():
    with pytest.warns(DeprecationWarning, match="W_regularizer -> kernel_regularizer"):
        layer = Dense(3, W_regularizer=regularizers.l2(0.1), b_constraint="nonneg", W_constraint="maxnorm")
    assert isinstance(layer.kernel_regularizer, regularizers.L2)
    assert isinstance(layer.bias_constraint, constraints.NonNeg)
    assert layer.kernel_constraint.get_config() == {"max_value": 2.0, "axis": 0}


def test_custom_regularizer_and_constraint_through_custom_objects(tmp_path):
    def half_l2(w):
        return (w * w).sum() * 0.5

    def clip_unit(w):
        return np.clip(w, -1.0, 1.0)

    model = Sequential([Conv2D(2, 3, kernel_regularizer=half_l2, kernel_constraint=clip_unit, input_shape=(5, 5, 1)),
                        Flatten(), Dense(1)])
    model.compile("sgd", "mse")
    path = tmp_path / "custom.h5"
    model.save(path)
    with h5py.File(path, "r") as f:
        layers = json.loads(f.attrs["model_config"])["config"]["layers"]
    conv_config = next(layer["config"] for layer in layers if layer["class_name"] == "Conv2D")
    assert conv_config["kernel_regularizer"] == "half_l2" and conv_config["kernel_constraint"] == "clip_unit"
    with pytest.raises(CheckpointError, match="kernel_regularizer: unknown regularizer 'half_l2'.*custom_objects"):
        load_model(path)
    again = load_model(path, custom_objects={"half_l2": half_l2, "clip_unit": clip_unit})
    assert again.layers[0].kernel_regularizer is half_l2 and again.layers[0].kernel_constraint is clip_unit


def test_errors():
    with pytest.raises(TypeError, match="regularizer must be None, a name, a config dict or a callable; received 0.5"):
        Dense(2, kernel_regularizer=0.5)
    with pytest.raises(ValueError, match="Unknown constraint: 'max_nrm'"):
        Conv2D(2, 3, kernel_constraint="max_nrm")


KERAS_CHECK = """
import sys, keras, numpy as np
model = keras.models.load_model(sys.argv[1])
data = np.load(sys.argv[2])
print(float(np.abs(model.predict(data["x"], verbose=0) - data["y"]).max()))
conv, dense = model.get_layer("conv"), model.get_layer("dense")
print(type(conv.kernel_constraint).__name__, type(conv.activity_regularizer).__name__,
      type(dense.bias_constraint).__name__, type(model.get_layer("out").kernel_regularizer).__name__)
"""


def test_keras3_loads_kerasette_file_with_penalties(tmp_path):
    import subprocess

    from tests.saving.keras_interop_check import backend
    from tests.saving.test_keras_interop import _require_keras

    keras_python = _require_keras()
    model = _load("model_penalties.h5")
    model.save(tmp_path / "ours.h5")
    np.savez(tmp_path / "ours.npz", x=KERAS3["x"], y=model.predict(KERAS3["x"], verbose=0))
    env = {**os.environ, "KERAS_BACKEND": backend()}
    proc = subprocess.run([keras_python, "-c", KERAS_CHECK, str(tmp_path / "ours.h5"), str(tmp_path / "ours.npz")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    error, classes = proc.stdout.strip().splitlines()[-2:]
    assert float(error) < 1e-5
    assert classes.split() == ["MaxNorm", "L1L2", "MinMaxNorm", "OrthogonalRegularizer"]
