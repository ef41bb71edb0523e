"""Lion (evolved sign momentum, Chen et al.), Keras 3's rule."""

from __future__ import annotations

import numpy as np

from kerasette import registry
from kerasette.optimizers.base import Optimizer, number


@registry.register("optimizer", aliases=("lion",), any_case=True)
class Lion(Optimizer):
    """Lion: every coordinate moves by exactly ``lr`` per step, in the direction of an
    interpolated momentum's sign::

        w = w - lr * sign(beta_1 * momentum + (1 - beta_1) * g)
        momentum = beta_2 * momentum + (1 - beta_2) * g

    Args:
        learning_rate: step size (Keras 1: ``lr``), default 0.001 (use 3-10 times smaller than Adam's).
        beta_1: in (0, 1] (0 would be plain sign descent).
        beta_2: in [0, 1].

    Example:
        >>> opt = Lion(learning_rate=1e-4)
    """

    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, decay=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, decay=decay, **kwargs)
        self.beta_1 = number(beta_1, "beta_1", self, 0.0, 1.0, low_open=True)
        self.beta_2 = number(beta_2, "beta_2", self, 0.0, 1.0)

    def update(self, value, grad, slots, lr):
        kind = value.dtype.type
        m = slots["momentum"]
        direction = m * kind(self.beta_1)
        direction += grad * kind(1 - self.beta_1)
        np.sign(direction, out=direction)
        direction *= kind(lr)
        value -= direction
        m *= kind(self.beta_2)
        m += grad * kind(1 - self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
