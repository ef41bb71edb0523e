"""BatchNormalization and LayerNormalization: statistics, moving averages, modes, errors."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import layers
from kerasette.models import Sequential
from kerasette.optimizers import SGD


def _batch(shape, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + 1).astype("float32")


def test_training_normalizes_with_batch_statistics_and_moves_the_averages():
    bn = layers.BatchNormalization(momentum=0.8, epsilon=1e-3)
    x = _batch((6, 3, 3, 4))
    y = bn(x, training=True).data
    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))  # the biased variance, as Keras 3 (checked)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.data, 0.2 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.data, 0.8 + 0.2 * var, rtol=1e-5)


def test_inference_uses_the_moving_statistics():
    bn = layers.BatchNormalization(epsilon=1e-3)
    x = _batch((5, 4))
    bn.build_for((None, 4))
    gamma, beta, mm, mv = (np.arange(1, 5, dtype="float32") * k for k in (1.0, 0.5, 0.1, 2.0))
    bn.set_weights([gamma, beta, mm, mv])
    np.testing.assert_allclose(bn(x).data, (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta, rtol=1e-5)
    np.testing.assert_array_equal(bn.moving_mean.data, mm)  # untouched


@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 2, 16)])  # rows, and rows widened for 16 channels
def test_an_inference_call_is_one_recorded_op_whose_gradients_are_the_formulas(shape):
    """An eager inference call records one op on x, gamma and beta (the scale and shift are inside
    it), and its gradients are those of ``(x - mean) / sqrt(var + eps) * gamma + beta``."""
    from kerasette.backend.tensor import Tensor

    chans = shape[-1]
    bn = layers.BatchNormalization(epsilon=1e-3, dtype="float64")
    bn.build_for((None,) + shape[1:])
    rng = np.random.default_rng(1)
    mm, mv = rng.standard_normal(chans), rng.uniform(0.5, 2, chans)
    bn.set_weights([rng.uniform(0.5, 2, chans), rng.standard_normal(chans), mm, mv])
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    y = bn(x)
    assert y._op.name == "batch_normalization_inference"
    assert [t._op for t in y._inputs] == [None] * 5  # x, gamma, beta and the two statistics: leaves
    dy = rng.standard_normal(shape)
    (y * Tensor(dy)).sum().backward()
    axes = tuple(range(len(shape) - 1))
    inv = 1 / np.sqrt(mv + 1e-3)
    np.testing.assert_allclose(x.grad, dy * bn.gamma.data * inv, rtol=1e-12)
    np.testing.assert_allclose(bn.gamma.grad, (dy * (x.data - mm) * inv).sum(axes), rtol=1e-10)
    np.testing.assert_allclose(bn.beta.grad, dy.sum(axes), rtol=1e-10)
    assert bn.moving_mean.grad is None and bn.moving_variance.grad is None


def test_the_moving_statistics_update_in_train_on_batch_only():
    bn = layers.BatchNormalization(input_shape=(3,))
    model = Sequential([bn, layers.Dense(1)])
    model.compile(SGD(learning_rate=0.01), "mse")
    x, y = _batch((8, 3)), _batch((8, 1), seed=1)
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.data, 0)
    model.train_on_batch(x, y)
    np.testing.assert_allclose(bn.moving_mean.data, 0.01 * x.mean(0), rtol=1e-5)
    assert [w.name.split("/")[-1] for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]


def test_a_frozen_layer_runs_in_inference_mode():
    bn = layers.BatchNormalization(trainable=False)
    x = _batch((6, 2))
    y = bn(x, training=True).data
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(bn.moving_mean.data, 0)


def test_channels_first_equals_channels_last_in_a_model():
    x = _batch((4, 5, 5, 3))
    last = Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 3)), layers.BatchNormalization()])
    first = Sequential([layers.Conv2D(2, 3, input_shape=(3, 5, 5), data_format="channels_first"),
                        layers.BatchNormalization(axis=1)])
    weights = last.get_weights()
    weights[2:] = [np.array([1.5, 0.5], "float32"), np.array([0.1, -0.2], "float32"),
                   np.array([0.3, 0.4], "float32"), np.array([2.0, 0.5], "float32")]
    last.set_weights(weights)
    first.set_weights(weights)
    y_last = last.predict(x, verbose=0)
    y_first = first.predict(x.transpose(0, 3, 1, 2), verbose=0)
    np.testing.assert_allclose(y_first.transpose(0, 2, 3, 1), y_last, rtol=1e-5, atol=1e-5)
    for model in (last, first):
        model.compile(SGD(learning_rate=0.01), "mse")
    last.train_on_batch(x, y_last * 0)
    first.train_on_batch(x.transpose(0, 3, 1, 2), y_first * 0)
    np.testing.assert_allclose(first.layers[1].moving_variance.data, last.layers[1].moving_variance.data,
                               rtol=1e-5)


def test_keras1_arguments():
    with pytest.warns(DeprecationWarning, match="beta_init -> beta_initializer"):
        bn = layers.BatchNormalization(mode=0, beta_init="ones", axis=1)
    assert bn.get_config()["beta_initializer"] == layers.BatchNormalization(beta_initializer="ones").get_config()[
        "beta_initializer"]
    with pytest.raises(ValueError, match=r"BatchNormalization '.*': only Keras 1's mode=0 .* received mode=2"):
        layers.BatchNormalization(mode=2)


@pytest.mark.parametrize("kwargs,message", [
    ({"momentum": 1.5}, r"`momentum` must be a number in \[0, 1\); received momentum=1.5"),
    ({"epsilon": 0}, r"`epsilon` must be a number > 0; received epsilon=0"),
    ({"axis": "x"}, r"`axis` must be an int or a list of ints; received axis='x'"),
    ({"virtual_batch_size": 4}, r"argument `virtual_batch_size` is not supported yet; received virtual_batch_size=4"),
    ({"renorm": True}, r"batch renormalization is not supported; received renorm=True"),
])
def test_batch_normalization_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=r"BatchNormalization '[a-z_0-9]+': " + message):
        layers.BatchNormalization(**kwargs)


def test_an_axis_the_input_does_not_have():
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': axis 3 must be a non-batch axis of known size "
                                         r"of the input; received input shape \(None, 4\)"):
        layers.BatchNormalization(axis=3, name="bn").build_for((None, 4))
    with pytest.raises(ValueError, match=r"LayerNormalization 'ln': axis 0 must be a non-batch axis"):
        layers.LayerNormalization(axis=0, name="ln").build_for((None, 4))


def test_a_wrong_channel_count_after_build():
    bn = layers.BatchNormalization(name="bn")
    bn(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': .*normalized axis"):
        bn(np.zeros((2, 5), "float32"))


def test_layer_normalization_epsilon_error():
    with pytest.raises(ValueError, match=r"LayerNormalization '.*': `epsilon` must be a number >= 0; "
                                         r"received epsilon=-1"):
        layers.LayerNormalization(epsilon=-1)


def test_keras1_module_path():
    from kerasette.layers.normalization import BatchNormalization

    assert BatchNormalization is layers.BatchNormalization


def test_keras1_and_keras2_configs_load():
    keras1 = layers.deserialize({"class_name": "BatchNormalization", "config": {
        "name": "bn", "trainable": True, "mode": 0, "axis": 1, "momentum": 0.9, "epsilon": 1e-5,
        "gamma_regularizer": None, "beta_regularizer": None}})
    assert keras1.axis == [1] and keras1.momentum == 0.9 and keras1.get_config()["axis"] == 1
    keras2 = layers.deserialize({"class_name": "BatchNormalization", "config": {
        "name": "bn2", "trainable": True, "dtype": "float32", "axis": [3], "momentum": 0.99, "epsilon": 1e-3,
        "center": True, "scale": False, "beta_initializer": {"class_name": "Zeros", "config": {}},
        "gamma_initializer": {"class_name": "Ones", "config": {}}, "fused": None, "renorm": False}})
    keras2.build_for((None, 4, 4, 2))
    assert [w.name.split("/")[-1] for w in keras2.weights] == ["beta", "moving_mean", "moving_variance"]


def test_regularizers_and_constraints_of_gamma_and_beta():
    bn = layers.BatchNormalization(gamma_regularizer="l2", beta_regularizer={"class_name": "L1", "config": {"l1": 0.5}},
                                   gamma_constraint="non_neg", input_shape=(3,))
    model = Sequential([bn, layers.Dense(1)])
    model.compile(SGD(learning_rate=0.5), "mse")
    bn.set_weights([np.array([1.0, -2.0, 3.0], "float32"), np.array([1.0, 1.0, -1.0], "float32"),
                    np.zeros(3, "float32"), np.ones(3, "float32")])
    penalties = [float(np.asarray(t.data)) for t in bn.losses]
    np.testing.assert_allclose(penalties, [0.01 * 14, 0.5 * 3], rtol=1e-6)
    model.train_on_batch(_batch((8, 3)), _batch((8, 1), seed=1))
    assert (bn.gamma.data >= 0).all()  # the constraint ran after the update
    config = bn.get_config()
    assert config["gamma_constraint"]["class_name"] == "NonNeg"
    assert layers.BatchNormalization.from_config(config).get_config() == config
    ln = layers.LayerNormalization(gamma_regularizer="l2", beta_constraint="max_norm")
    ln.build_for((None, 4))
    assert len(ln.losses) == 1 and ln.beta.constraint is not None
