"""Optimizers: SGD against numbers worked out by hand, one-step formulas, arguments, errors, configs.

The ten-step comparisons with real Keras 3 are in test_optimizer_golden.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kerasette import optimizers
from kerasette.backend.tensor import Variable
from kerasette.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Ftrl,
    Lion,
    Nadam,
    RMSprop,
    schedules,
)

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
    # Keras 3: velocity = 0.1 g^2; w -= 0.01 g / sqrt(velocity + 1e-7) (epsilon inside the root)
    np.testing.assert_allclose(w.data, w0 - 0.01 * g / np.sqrt(0.1 * g**2 + 1e-7), rtol=1e-12)
    assert abs(w.data[0] - (w0[0] - 0.01 * g[0] / (np.sqrt(0.1 * g[0] ** 2) + 1e-7))) > 1e-9  # Keras 2's form


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
    np.testing.assert_array_equal(other.slots_for(w)["momentum"], opt.slots_for(w)["momentum"])
    assert [name for name, _ in state] == [f"{w.name}/momentum", f"{w.name}/velocity"]


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
@pytest.mark.parametrize("option", ["use_ema", "loss_scale_factor", "gradient_accumulation_steps"])
def test_options_that_are_turned_off_are_accepted(option, value):
    SGD(learning_rate=0.1, **{option: value})


@pytest.mark.parametrize("option, value", [("loss_scale_factor", 128.0), ("gradient_accumulation_steps", 4)])
@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop, Lion])
def test_options_that_would_change_training_are_refused(cls, option, value):
    # silently dropping them would train differently from what the user asked for
    with pytest.raises(ValueError, match=rf"{cls.__name__}: argument `{option}` is not supported by kerasette; "
                                         rf"received {option}={value!r} \(only None, False or 0"):
        cls(**{option: value})


def test_a_keras3_config_with_weight_decay_and_global_clipnorm_loads():
    config = dict(KERAS3_ADAM_CONFIG, weight_decay=0.01, global_clipnorm=2.0)
    opt = optimizers.deserialize({"class_name": "Adam", "config": config})
    assert (opt.weight_decay, opt.global_clipnorm) == (0.01, 2.0)
    assert opt.get_config()["weight_decay"] == 0.01


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


ALL = [SGD, RMSprop, Adagrad, Adadelta, Adam, AdamW, Adamax, Nadam, Ftrl, Lion]
NON_DEFAULT = {  # every hyperparameter away from its default, for the config round trip
    SGD: dict(learning_rate=0.3, momentum=0.5, nesterov=True, clipnorm=2.0),
    RMSprop: dict(learning_rate=0.02, rho=0.8, momentum=0.3, epsilon=1e-6, centered=True, clipvalue=0.5),
    Adagrad: dict(learning_rate=0.2, initial_accumulator_value=0.5, epsilon=1e-5, global_clipnorm=3.0),
    Adadelta: dict(learning_rate=1.0, rho=0.9, epsilon=1e-6, weight_decay=0.01),
    Adam: dict(learning_rate=0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-6, amsgrad=True, decay=0.01),
    AdamW: dict(learning_rate=0.02, weight_decay=0.05, amsgrad=True),
    Adamax: dict(learning_rate=0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-6),
    Nadam: dict(learning_rate=0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-6),
    Ftrl: dict(learning_rate=0.2, learning_rate_power=-0.7, initial_accumulator_value=0.2,
               l1_regularization_strength=0.1, l2_regularization_strength=0.2,
               l2_shrinkage_regularization_strength=0.3, beta=0.4),
    Lion: dict(learning_rate=0.002, beta_1=0.8, beta_2=0.95, name="my_lion"),
}


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_optimizer_round_trips_its_config(cls):
    opt = cls(**NON_DEFAULT[cls])
    config = opt.get_config()
    for key, value in NON_DEFAULT[cls].items():
        assert config[key] == value, key
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is cls and again.get_config() == config
    assert optimizers.get(cls.__name__.lower()).__class__ is cls


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_keras1_lr_and_epsilon_none(cls):
    with pytest.warns(DeprecationWarning, match=f"{cls.__name__}: `lr` is the Keras 1 name"):
        opt = cls(lr=0.25)
    assert opt.learning_rate == 0.25
    if "epsilon" in opt.get_config():
        assert cls(epsilon=None).epsilon == 1e-7  # Keras 1/2: the backend's epsilon()


def test_nadam_schedule_decay_is_keras2s_momentum_schedule():
    w_keras3, w_keras2 = Variable(np.ones(2), dtype="float64"), Variable(np.ones(2), dtype="float64")
    with pytest.warns(DeprecationWarning, match="Nadam: `schedule_decay` is the Keras 1/2 momentum schedule"):
        keras2 = Nadam(learning_rate=0.1, schedule_decay=0.004)
    keras3 = Nadam(learning_rate=0.1)
    for _ in range(3):
        keras3.apply_gradients([(np.array([0.5, -0.2]), w_keras3)])
        keras2.apply_gradients([(np.array([0.5, -0.2]), w_keras2)])
    assert np.abs(w_keras2.data - w_keras3.data).max() > 1e-4
    assert keras2.get_config()["schedule_decay"] == 0.004 and "schedule_decay" not in keras3.get_config()


def test_weight_decay_is_decoupled_and_can_exclude_variables():
    # weight_decay shrinks w by w * wd * lr before the update; a zero gradient isolates it
    kernel, bias = Variable(np.full(2, 2.0), dtype="float64", name="kernel"), Variable(np.full(2, 2.0),
                                                                                        dtype="float64", name="bias")
    opt = Adam(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply_gradients([(np.zeros(2), kernel), (np.zeros(2), bias)])
    np.testing.assert_allclose(kernel.data, 2.0 - 2.0 * 0.5 * 0.1)
    np.testing.assert_array_equal(bias.data, 2.0)
    opt.exclude_from_weight_decay(var_list=[kernel])
    opt.apply_gradients([(np.zeros(2), kernel), (np.zeros(2), bias)])
    np.testing.assert_allclose(kernel.data, 1.9)
    np.testing.assert_allclose(bias.data, 2.0 - 2.0 * 0.5 * 0.1)


def test_global_clipnorm_scales_all_gradients_together():
    a, b = Variable(np.zeros(1), dtype="float64"), Variable(np.zeros(1), dtype="float64")
    SGD(learning_rate=1.0, global_clipnorm=1.0).apply_gradients([(np.array([3.0]), a), (np.array([4.0]), b)])
    np.testing.assert_allclose([a.data[0], b.data[0]], [-0.6, -0.8])


def test_adagrad_and_ftrl_accumulators_start_at_their_initial_value():
    w = Variable(np.ones(2), dtype="float64")
    assert np.all(Adagrad(initial_accumulator_value=0.3).slots_for(w)["accumulator"] == 0.3)
    assert np.all(Ftrl(initial_accumulator_value=0.2).slots_for(w)["accumulator"] == 0.2)
    assert np.all(Ftrl().slots_for(w)["linear"] == 0.0)


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(clipnorm=1.0, clipvalue=0.5), r"SGD: only one of `clipnorm`, `clipvalue` and `global_clipnorm` "
                                               r"can be set; received clipnorm=1.0, clipvalue=0.5, global_clipnorm=None"),
    (lambda: SGD(momentum=1.5), r"SGD: argument `momentum` must be in \[0, 1\]; received momentum=1.5"),
    (lambda: RMSprop(rho=-0.1), r"RMSprop: argument `rho` must be in \[0, 1\]; received rho=-0.1"),
    (lambda: Adam(beta_1=2), r"Adam: argument `beta_1` must be in \[0, 1\]; received beta_1=2.0"),
    (lambda: Lion(beta_1=0.0), r"Lion: argument `beta_1` must be in \(0, 1\]; received beta_1=0.0"),
    (lambda: Ftrl(learning_rate_power=0.5), r"Ftrl: argument `learning_rate_power` must be <= 0; "
                                            r"received learning_rate_power=0.5"),
    (lambda: Ftrl(l1_regularization_strength=-1), r"Ftrl: argument `l1_regularization_strength` must be >= 0; "
                                                  r"received l1_regularization_strength=-1.0"),
    (lambda: Adagrad(initial_accumulator_value=-0.1), r"Adagrad: argument `initial_accumulator_value` must be "
                                                      r">= 0; received initial_accumulator_value=-0.1"),
    (lambda: Adam(learning_rate=-1.0), r"Adam: argument `learning_rate` must be >= 0; received learning_rate=-1.0"),
    (lambda: SGD(clipnorm=-1.0), r"SGD: argument `clipnorm` must be > 0; received clipnorm=-1.0"),
    (lambda: Adam(weight_decay=-0.1), r"Adam: argument `weight_decay` must be >= 0; received weight_decay=-0.1"),
    (lambda: AdamW(weight_decay=None), r"AdamW: argument `weight_decay` must be a number >= 0; "
                                       r"received weight_decay=None"),
    (lambda: SGD(decay=-0.5), r"SGD: argument `decay` must be >= 0; received decay=-0.5"),
    (lambda: Adam(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.5), decay=0.1),
     r"Adam: argument `decay` applies to a constant learning rate; received decay=0.1 with learning_rate="),
])
def test_invalid_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_type_errors_name_the_argument():
    with pytest.raises(TypeError, match=r"Adam: argument `learning_rate` must be a number; received "
                                        r"learning_rate='fast'"):
        Adam(learning_rate="fast")
    with pytest.raises(TypeError, match=r"Lion: unexpected keyword argument\(s\) \['momentum'\]"):
        Lion(momentum=0.9)


def test_a_schedule_is_called_with_the_iteration_count():
    schedule = schedules.PiecewiseConstantDecay([1], [0.5, 0.1])
    w = Variable(np.zeros(1), dtype="float64")
    opt = SGD(learning_rate=schedule)
    for _ in range(3):  # steps 0 and 1 use 0.5, step 2 uses 0.1
        opt.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.data, [-1.1])
    assert opt.learning_rate == 0.1  # Keras 3: the schedule's value now
    with pytest.raises(TypeError, match=r"SGD: the learning rate is the schedule PiecewiseConstantDecay and cannot "
                                        r"be set to a number; received learning_rate=0.3"):
        opt.learning_rate = 0.3
    config = optimizers.serialize(opt)["config"]["learning_rate"]
    assert config == {"module": "keras.optimizers.schedules", "class_name": "PiecewiseConstantDecay",
                      "config": {"boundaries": [1], "values": [0.5, 0.1], "name": "PiecewiseConstant"},
                      "registered_name": None}  # as Keras 3 writes it (it needs the module to load it)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert isinstance(again._learning_rate, schedules.PiecewiseConstantDecay) and again.current_learning_rate() == 0.5


def test_a_callable_learning_rate_is_called_each_step():
    rates = iter([0.5, 0.25])
    w = Variable(np.zeros(1), dtype="float64")
    opt = SGD(learning_rate=lambda: next(rates))
    opt.apply_gradients([(np.ones(1), w)])
    opt.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.data, [-0.75])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nadam_momentum_product_follows_an_iteration_count_set_from_outside(dtype):
    """A broadcast from another rank sets only ``iterations``: the next step is the same as on a
    rank that took the steps (Nadam's product of the momentum schedule is recomputed)."""
    grads = [np.array([0.5, -0.2], dtype), np.array([0.1, 0.3], dtype), np.array([-0.4, 0.2], dtype)]
    w_ran, w_set = Variable(np.ones(2, dtype), dtype=dtype), Variable(np.ones(2, dtype), dtype=dtype)
    ran, told = Nadam(learning_rate=0.1), Nadam(learning_rate=0.1)
    for g in grads[:2]:
        ran.apply_gradients([(g, w_ran)])
    told.iterations = 2  # what BroadcastGlobalVariablesCallback does, after copying the slots
    told.slots_for(w_set)["momentum"][...] = ran.slots_for(w_ran)["momentum"]
    told.slots_for(w_set)["velocity"][...] = ran.slots_for(w_ran)["velocity"]
    w_set.data[...] = w_ran.data
    ran.apply_gradients([(grads[2], w_ran)])
    told.apply_gradients([(grads[2], w_set)])
    np.testing.assert_array_equal(w_set.data, w_ran.data)
    assert ran.u_product == told.u_product and type(ran.u_product) is np.dtype(dtype).type


def test_set_state_errors_name_the_state():
    w = Variable(np.ones(2), dtype="float64", name="w")
    opt = Adam()
    with pytest.raises(ValueError, match=r"Adam: expected 2 state arrays for 1 variables, received 1"):
        opt.set_state([w], 3, [np.zeros(2)])
    with pytest.raises(ValueError, match=r"Adam: state 'velocity' of 'w' has shape \(3,\), expected \(2,\)"):
        opt.set_state([w], 3, [np.zeros(2), np.zeros(3)])


@pytest.mark.parametrize("module", ["__init__", "sgd", "adaptive", "adam", "ftrl", "lion", "schedules"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    name = "kerasette.optimizers" if module == "__init__" else f"kerasette.optimizers.{module}"
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


def test_keras2_set_value_on_the_learning_rate():
    """Keras 1/2 scripts and callbacks change the rate with K.set_value(model.optimizer.lr, x)."""
    import kerasette.backend as K
    from kerasette.optimizers import SGD as KSGD

    opt = KSGD(learning_rate=0.1)
    assert float(K.get_value(opt.lr)) == pytest.approx(0.1) and opt.lr * 2 == pytest.approx(0.2)
    K.set_value(opt.lr, 0.01)
    assert opt.learning_rate == pytest.approx(0.01) and opt.current_learning_rate() == pytest.approx(0.01)


def test_build_makes_state_only_for_variables_without_it():
    """`Optimizer.build` (each training step calls it) keeps a variable's state arrays and
    makes them for a new variable, at their initial value."""
    opt = Adagrad(learning_rate=0.1, initial_accumulator_value=0.5)
    w = Variable(np.ones((2, 3)), dtype="float32")
    opt.build([w])
    first = opt.slots_for(w)
    first["accumulator"] += 1.0
    v = Variable(np.zeros(4), dtype="float64")
    opt.build([w, v])
    assert opt.slots_for(w) is first and first["accumulator"][0, 0] == 1.5
    assert opt.slots_for(v)["accumulator"].dtype == np.float64
    np.testing.assert_array_equal(opt.slots_for(v)["accumulator"], np.full(4, 0.5))
