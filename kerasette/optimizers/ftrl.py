"""Follow-the-regularized-leader (McMahan et al.), Keras 3's rule."""

from __future__ import annotations

import numpy as np

from kerasette import registry
from kerasette.optimizers.base import Optimizer, number


@registry.register("optimizer", aliases=("ftrl",), any_case=True)
class Ftrl(Optimizer):
    """FTRL-proximal with L1, L2 and shrinkage-L2 regularisation, Keras 3's rule
    (``p = learning_rate_power``, ``l2 = l2_regularization_strength + beta / (2 * lr)``)::

        g_shrunk = g + 2 * l2_shrinkage_regularization_strength * w
        new_accumulator = accumulator + g**2
        linear = linear + g_shrunk - (new_accumulator**(-p) - accumulator**(-p)) / lr * w
        quadratic = new_accumulator**(-p) / lr + 2 * l2
        w = (clip(linear, -l1, l1) - linear) / quadratic
        accumulator = new_accumulator

    Args:
        learning_rate: step size (Keras 1: ``lr``), default 0.001.
        learning_rate_power: <= 0 (-0.5 is Adagrad-like).
        initial_accumulator_value: >= 0.
        l1_regularization_strength, l2_regularization_strength,
        l2_shrinkage_regularization_strength: >= 0.
        beta: >= 0, added to the L2 strength as ``beta / (2 * lr)``.

    Example:
        >>> opt = Ftrl(learning_rate=0.1, l1_regularization_strength=0.01)
    """

    slot_names = ("accumulator", "linear")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, decay=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, decay=decay, **kwargs)
        self.learning_rate_power = number(learning_rate_power, "learning_rate_power", self, high=0.0)
        self.initial_accumulator_value = number(initial_accumulator_value, "initial_accumulator_value", self, 0)
        self.l1_regularization_strength = number(l1_regularization_strength, "l1_regularization_strength", self, 0)
        self.l2_regularization_strength = number(l2_regularization_strength, "l2_regularization_strength", self, 0)
        self.l2_shrinkage_regularization_strength = number(
            l2_shrinkage_regularization_strength, "l2_shrinkage_regularization_strength", self, 0)
        self.beta = number(beta, "beta", self, 0)
        self.slot_initial = {"accumulator": self.initial_accumulator_value}

    def update(self, value, grad, slots, lr):
        kind = value.dtype.type
        accumulator, linear = slots["accumulator"], slots["linear"]
        power = kind(-self.learning_rate_power)
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        new_accumulator = accumulator + np.square(grad)
        new_power, old_power = np.power(new_accumulator, power), np.power(accumulator, power)
        linear += grad + kind(2 * self.l2_shrinkage_regularization_strength) * value
        linear -= (new_power - old_power) / kind(lr) * value
        quadratic = new_power / kind(lr) + kind(2 * l2)
        l1 = self.l1_regularization_strength
        np.subtract(np.clip(linear, -l1, l1), linear, out=value)
        value /= quadratic
        accumulator[...] = new_accumulator

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
