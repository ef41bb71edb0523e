"""The fixed small problem the golden optimizer numbers are made on: shared by the generator (run
with real Keras 3) and the test (run with kerasette), so both see the same gradients.

Two weights, a 3x2 kernel and a bias, of a linear regression on four fixed samples; the gradient
of the mean squared error is computed in float64 from the current weights and cast to the
weights' dtype.
"""

from __future__ import annotations

import numpy as np

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-1.0, 0.75, 0.5], [0.2, -0.3, 1.0]])
Y = np.array([[1.0, -1.0], [0.5, 2.0], [-1.5, 0.25], [0.75, 0.5]])
W0 = np.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.25]])
B0 = np.array([0.05, -0.1])
STEPS = 10


def gradients(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d/dW and d/db of mean((X @ W + b - Y)**2) * 2 / 2, in the dtype of ``w``."""
    w64, b64 = np.asarray(w, np.float64), np.asarray(b, np.float64)
    residual = X @ w64 + b64 - Y
    return ((X.T @ residual) / len(X)).astype(w.dtype), residual.mean(axis=0).astype(w.dtype)


# name -> (class name, kerasette keyword arguments, Keras 3 keyword arguments when they differ).
# A Keras 3 schedule is written as ("ScheduleClass", {config}); Keras 1/2's `decay` is Keras 3's
# InverseTimeDecay(learning_rate, 1, decay).
CASES = {
    "sgd": ("SGD", {"learning_rate": 0.1}, None),
    "sgd_momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}, None),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}, None),
    "sgd_decay": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "decay": 0.25},
                  {"learning_rate": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 1,
                                                          "decay_rate": 0.25}), "momentum": 0.9}),
    "sgd_weight_decay": ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.2}, None),
    "sgd_clipnorm": ("SGD", {"learning_rate": 0.1, "clipnorm": 0.5}, None),
    "sgd_clipvalue": ("SGD", {"learning_rate": 0.1, "clipvalue": 0.3}, None),
    "sgd_global_clipnorm": ("SGD", {"learning_rate": 0.1, "global_clipnorm": 0.6}, None),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01}, None),
    "rmsprop_momentum_centered": ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.5,
                                              "centered": True}, None),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}, None),
    "adadelta": ("Adadelta", {"learning_rate": 1.0, "rho": 0.9}, None),
    "adam": ("Adam", {"learning_rate": 0.05}, None),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.05, "beta_2": 0.9, "amsgrad": True}, None),
    "adam_decay": ("Adam", {"learning_rate": 0.05, "decay": 0.1},
                   {"learning_rate": ("InverseTimeDecay", {"initial_learning_rate": 0.05, "decay_steps": 1,
                                                           "decay_rate": 0.1})}),
    "adam_cosine_warmup": ("Adam", {"learning_rate": ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 6,
                                                                      "warmup_target": 0.05, "warmup_steps": 3})},
                           None),
    "adamw": ("AdamW", {"learning_rate": 0.05, "weight_decay": 0.1}, None),
    "adamax": ("Adamax", {"learning_rate": 0.05}, None),
    "nadam": ("Nadam", {"learning_rate": 0.05}, None),
    "ftrl": ("Ftrl", {"learning_rate": 0.1}, None),
    "ftrl_regularized": ("Ftrl", {"learning_rate": 0.1, "learning_rate_power": -0.7, "l1_regularization_strength": 0.01,
                                  "l2_regularization_strength": 0.02, "l2_shrinkage_regularization_strength": 0.05,
                                  "beta": 0.1}, None),
    "lion": ("Lion", {"learning_rate": 0.01}, None),
    "lion_weight_decay": ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "weight_decay": 0.5}, None),
}

# Schedules evaluated at steps 0..SCHEDULE_STEPS-1: name -> (class name, config).
SCHEDULE_STEPS = 40
SCHEDULES = {
    "exponential": ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5}),
    "exponential_staircase": ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7,
                                                   "decay_rate": 0.5, "staircase": True}),
    "piecewise": ("PiecewiseConstantDecay", {"boundaries": [5, 12, 30], "values": [1.0, 0.5, 0.1, 0.01]}),
    "inverse_time": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5}),
    "inverse_time_staircase": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 3,
                                                    "decay_rate": 0.5, "staircase": True}),
    "polynomial": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 25, "end_learning_rate": 0.01,
                                       "power": 2.0}),
    "polynomial_cycle": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 9, "end_learning_rate": 0.01,
                                             "power": 0.5, "cycle": True}),
    "cosine": ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 25, "alpha": 0.1}),
    "cosine_warmup": ("CosineDecay", {"initial_learning_rate": 0.01, "decay_steps": 20, "alpha": 0.05,
                                      "warmup_target": 0.2, "warmup_steps": 8}),
    "cosine_restarts": ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 5, "t_mul": 2.0,
                                                "m_mul": 0.5, "alpha": 0.1}),
    "cosine_restarts_even": ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 6,
                                                     "t_mul": 1.0, "m_mul": 0.8}),
}

# Keras 3's exponential moving average of the weights (use_ema): name -> (case of CASES whose
# optimizer it extends, the EMA options). Every optimizer is covered; SGD and Adam also with
# overwrites of the weights by their average every few steps.
EMA_CASES = {
    "sgd_ema": ("sgd", {"use_ema": True, "ema_momentum": 0.9}),
    "sgd_momentum_ema_overwrite": ("sgd_momentum", {"use_ema": True, "ema_momentum": 0.8,
                                                    "ema_overwrite_frequency": 3}),
    "sgd_nesterov_ema_default": ("sgd_nesterov", {"use_ema": True}),
    "adam_ema": ("adam", {"use_ema": True}),
    "adam_ema_overwrite": ("adam", {"use_ema": True, "ema_momentum": 0.7, "ema_overwrite_frequency": 4}),
    "adam_amsgrad_ema": ("adam_amsgrad", {"use_ema": True, "ema_momentum": 0.9}),
    "adam_cosine_warmup_ema": ("adam_cosine_warmup", {"use_ema": True, "ema_momentum": 0.9}),
    "rmsprop_momentum_centered_ema": ("rmsprop_momentum_centered", {"use_ema": True, "ema_momentum": 0.9,
                                                                   "ema_overwrite_frequency": 5}),
    "adagrad_ema": ("adagrad", {"use_ema": True, "ema_momentum": 0.9}),
    "adadelta_ema": ("adadelta", {"use_ema": True, "ema_momentum": 0.9}),
    "adamw_ema": ("adamw", {"use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 2}),
    "adamax_ema": ("adamax", {"use_ema": True, "ema_momentum": 0.9}),
    "nadam_ema": ("nadam", {"use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 5}),
    "ftrl_regularized_ema": ("ftrl_regularized", {"use_ema": True, "ema_momentum": 0.9}),
    "lion_ema": ("lion", {"use_ema": True, "ema_momentum": 0.5}),
}


def ema_case(name: str) -> tuple[str, dict, dict | None]:
    """(class name, kerasette keyword arguments, Keras 3 keyword arguments or None) of an EMA case."""
    base, ema = EMA_CASES[name]
    class_name, kwargs, keras_kwargs = CASES[base]
    return class_name, {**kwargs, **ema}, (None if keras_kwargs is None else {**keras_kwargs, **ema})
