"""Optimizers: SGD against numbers worked out by hand, Adam and RMSprop one-step formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kerasette import optimizers
from kerasette.backend.tensor import Variable
from kerasette.optimizers import SGD, Adam, RMSprop

# Three steps on w = [1, -2] with these gradients, learning_rate 0.1, momentum 0.9, decay 1.5:
# lr_t = 0.1 / (1 + 1.5 * t) is 0.1, 0.04, 0.025 for t = 0, 1, 2.
GRADS = [np.array([0.5, -1.0]), np.array([0.25, 0.5]), np.array([-1.0, 2.0])]

# Keras's rule, by hand. Velocity v = 0.9 v - lr_t g:
#   w[0]: v = -0.05;   0.9 * -0.05 - 0.04 * 0.25 = -0.055;    0.9 * -0.055 + 0.025 = -0.0245
#   w[1]: v = 0.1;     0.9 * 0.1 - 0.04 * 0.5 = 0.07;          0.9 * 0.07 - 0.025 * 2 = 0.013
VELOCITY = [[-0.05, 0.1], [-0.055, 0.07], [-0.0245, 0.013]]
# nesterov=False, w += v:
#   w[0]: 1 - 0.05 = 0.95;  0.95 - 0.055 = 0.895;  0.895 - 0.0245 = 0.8705
#   w[1]: -2 + 0.1 = -1.9;  -1.9 + 0.07 = -1.83;   -1.83 + 0.013 = -1.817
PLAIN = [[0.95, -1.9], [0.895, -1.83], [0.8705, -1.817]]
# nesterov=True, w += 0.9 v - lr_t g:
#   w[0]: 1 - 0.045 - 0.05 = 0.905;  0.905 - 0.0495 - 0.01 = 0.8455;  0.8455 - 0.02205 + 0.025 = 0.84845
#   w[1]: -2 + 0.09 + 0.1 = -1.81;   -1.81 + 0.063 - 0.02 = -1.767;   -1.767 + 0.0117 - 0.05 = -1.8053
NESTEROV = [[0.905, -1.81], [0.8455, -1.767], [0.84845, -1.8053]]


@pytest.mark.parametrize("nesterov,expected", [(False, PLAIN), (True, NESTEROV)], ids=["plain", "nesterov"])
def test_sgd_golden(nesterov, expected):
    w = Variable(np.array([1.0, -2.0]), dtype="float64")
    opt = SGD(learning_rate=0.1, momentum=0.9, decay=1.5, nesterov=nesterov)
    for step, (g, want, velocity) in enumerate(zip(GRADS, expected, VELOCITY, strict=True)):
        assert opt.current_learning_rate() == pytest.approx([0.1, 0.04, 0.025][step])
        opt.apply_gradients([(g, w)])
        assert w.dtype == np.float64
        np.testing.assert_allclose(w.data, want, rtol=0, atol=1e-12, err_msg=f"after step {step + 1}")
        np.testing.assert_allclose(opt.slots_for(w)["momentum"], velocity, rtol=0, atol=1e-12)
    assert opt.iterations == 3


def test_sgd_is_not_pytorchs_rule_once_the_rate_decays():
    # PyTorch: buf = 0.9 buf + g; w -= lr_t buf gives 1 - 0.05 = 0.95, then 0.95 - 0.04 * 0.7 = 0.922
    w = Variable(np.array([1.0]), dtype="float64")
    opt = SGD(learning_rate=0.1, momentum=0.9, decay=1.5)
    opt.apply_gradients([(np.array([0.5]), w)])
    opt.apply_gradients([(np.array([0.25]), w)])
    assert w.data[0] == pytest.approx(0.895, abs=1e-12) and w.data[0] != pytest.approx(0.922)


def test_sgd_without_momentum():
    w = Variable(np.array([1.0, 2.0]), dtype="float64")
    opt = SGD(learning_rate=0.5, decay=1.0)
    opt.apply_gradients([(np.array([1.0, -1.0]), w)])  # lr 0.5
    opt.apply_gradients([(np.array([1.0, -1.0]), w)])  # lr 0.25
    np.testing.assert_allclose(w.data, [0.25, 2.75], atol=1e-12)


def test_lr_is_the_keras1_name_of_learning_rate():
    with pytest.warns(DeprecationWarning, match="`lr` is the Keras 1 name; use `learning_rate`"):
        opt = SGD(lr=0.3, momentum=0.5)
    assert opt.learning_rate == 0.3 and opt.lr == 0.3
    opt.lr = 0.2
    assert opt.learning_rate == 0.2
    assert SGD(0.05).learning_rate == 0.05
    assert SGD().learning_rate == 0.01
    assert opt.get_config()["learning_rate"] == 0.2


def test_adam_two_steps():
    w0, g = np.array([1.0, -1.0]), np.array([0.2, -0.4])
    w = Variable(w0, dtype="float64")
    opt = Adam(learning_rate=0.01)
    opt.apply_gradients([(g, w)])
    # t = 1: m = 0.1 g, u = 0.001 g^2; w -= 0.01 * sqrt(0.001) / 0.1 * m / (sqrt(u) + 1e-7)
    m, u = 0.1 * g, 0.001 * g**2
    w1 = w0 - 0.01 * math.sqrt(1 - 0.999) / (1 - 0.9) * m / (np.sqrt(u) + 1e-7)
    np.testing.assert_allclose(w.data, w1, rtol=1e-12)
    np.testing.assert_allclose(w.data, w0 - 0.01 * np.sign(g), rtol=1e-5)  # Adam's first step is ~lr
    opt.apply_gradients([(g, w)])
    m, u = 0.9 * m + 0.1 * g, 0.999 * u + 0.001 * g**2
    w2 = w1 - 0.01 * math.sqrt(1 - 0.999**2) / (1 - 0.9**2) * m / (np.sqrt(u) + 1e-7)
    np.testing.assert_allclose(w.data, w2, rtol=1e-12)


def test_rmsprop_one_step():
    w0, g = np.array([1.0, -1.0]), np.array([0.2, -0.4])
    w = Variable(w0, dtype="float64")
    RMSprop(learning_rate=0.01).apply_gradients([(g, w)])
    # a = 0.1 g^2; w -= 0.01 g / (sqrt(a) + 1e-7)
    np.testing.assert_allclose(w.data, w0 - 0.01 * g / (np.sqrt(0.1 * g**2) + 1e-7), rtol=1e-12)


def test_clipnorm_and_clipvalue():
    w = Variable(np.zeros(2), dtype="float64")
    SGD(learning_rate=1.0, clipnorm=1.0).apply_gradients([(np.array([3.0, 4.0]), w)])
    np.testing.assert_allclose(w.data, [-0.6, -0.8])
    w = Variable(np.zeros(2), dtype="float64")
    SGD(learning_rate=1.0, clipvalue=0.5).apply_gradients([(np.array([3.0, -0.25]), w)])
    np.testing.assert_allclose(w.data, [-0.5, 0.25])


def test_missing_gradient_leaves_the_variable_alone():
    w = Variable(np.ones(2), dtype="float64")
    opt = SGD(learning_rate=0.1, momentum=0.9)
    opt.apply_gradients([(None, w)])
    np.testing.assert_array_equal(w.data, [1.0, 1.0])
    assert opt.iterations == 1


def test_float32_variables_stay_float32():
    w = Variable(np.ones(3, np.float32))
    SGD(learning_rate=0.1, momentum=0.9, nesterov=True).apply_gradients([(np.ones(3), w)])
    assert w.dtype == np.float32


@pytest.mark.parametrize("opt", [SGD(0.1, momentum=0.9, nesterov=True, decay=0.01), Adam(0.002), RMSprop(rho=0.8)],
                         ids=["sgd", "adam", "rmsprop"])
def test_config_round_trip(opt):
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == opt.get_config()


def test_state_round_trip():
    w = Variable(np.ones(2), dtype="float64")
    opt = Adam()
    opt.apply_gradients([(np.array([0.1, 0.2]), w)])
    iterations, state = opt.get_state([w])
    other = Adam()
    other.set_state([w], iterations, [a for _, a in state])
    assert other.iterations == 1
    np.testing.assert_array_equal(other.slots_for(w)["m"], opt.slots_for(w)["m"])


def test_get_by_name():
    assert isinstance(optimizers.get("sgd"), SGD)
    assert isinstance(optimizers.get("Adam"), Adam)
    opt = RMSprop()
    assert optimizers.get(opt) is opt


KERAS3_ADAM_CONFIG = {  # what Keras 3 writes for Adam(), options turned off included
    "name": "adam", "learning_rate": 0.001, "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
    "clipvalue": None, "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
    "loss_scale_factor": None, "gradient_accumulation_steps": None, "beta_1": 0.9, "beta_2": 0.999,
    "epsilon": 1e-07, "amsgrad": False,
}


def test_keras3_config_with_options_turned_off_loads():
    opt = optimizers.deserialize({"class_name": "Adam", "config": KERAS3_ADAM_CONFIG})
    assert isinstance(opt, Adam) and opt.learning_rate == 0.001


@pytest.mark.parametrize("value", [None, False, 0, 0.0, np.float64(0.0)])
@pytest.mark.parametrize("option", ["weight_decay", "global_clipnorm", "use_ema", "loss_scale_factor",
                                    "gradient_accumulation_steps"])
def test_options_that_are_turned_off_are_accepted(option, value):
    SGD(learning_rate=0.1, **{option: value})


@pytest.mark.parametrize("option, value", [
    ("weight_decay", 0.004), ("global_clipnorm", 1.0), ("use_ema", True), ("loss_scale_factor", 128.0),
    ("gradient_accumulation_steps", 4),
])
@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop])
def test_options_that_would_change_training_are_refused(cls, option, value):
    # silently dropping them would train differently from what the user asked for
    with pytest.raises(ValueError, match=rf"{cls.__name__}: argument `{option}` is not supported by kerasette; "
                                         rf"received {option}={value!r} \(only None, False or 0"):
        cls(**{option: value})


def test_a_keras3_config_that_uses_weight_decay_is_refused():
    config = dict(KERAS3_ADAM_CONFIG, weight_decay=0.01)
    with pytest.raises(ValueError, match=r"Adam: argument `weight_decay` is not supported by kerasette; "
                                         r"received weight_decay=0.01"):
        optimizers.deserialize({"class_name": "Adam", "config": config})


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_sgd_update_matches_the_numpy_rule(nesterov, dtype):
    from kerasette.backend.engine.updates import sgd_momentum

    rng = np.random.default_rng(0)
    w, g, v = (rng.normal(size=(300, 257)).astype(dtype) for _ in range(3))
    w_ref, v_ref = w.copy(), v.copy()
    v_ref = 0.9 * v_ref - 0.05 * g
    w_ref = w_ref + (0.9 * v_ref - 0.05 * g if nesterov else v_ref)
    sgd_momentum(w, g, v, 0.05, 0.9, nesterov)
    tol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(v, v_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(w, w_ref, rtol=tol, atol=tol)
