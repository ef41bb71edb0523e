"""Per-coordinate step sizes from running averages of squared gradients: RMSprop, Adagrad, Adadelta."""

from __future__ import annotations

import numpy as np

from kerasette import registry
from kerasette.optimizers.base import Optimizer, number

EPSILON = 1e-7  # Keras's `epsilon()`, what Keras 1/2's `epsilon=None` means


def epsilon_or_default(value, owner) -> float:
    """Keras 1/2's ``epsilon=None`` is the backend's fuzz factor, 1e-7."""
    return EPSILON if value is None else number(value, "epsilon", owner, 0)


@registry.register("optimizer", aliases=("rmsprop",), any_case=True)
class RMSprop(Optimizer):
    """RMSprop, Keras 3's rule (epsilon inside the square root)::

        velocity = rho * velocity + (1 - rho) * g**2
        if centered:
            average_gradient = rho * average_gradient + (1 - rho) * g
            denominator = velocity - average_gradient**2 + epsilon
        else:
            denominator = velocity + epsilon
        increment = lr * g / sqrt(denominator)
        if momentum > 0:
            mom = momentum * mom + increment
            w = w - mom
        else:
            w = w - increment

    Args:
        learning_rate: step size (Keras 1: ``lr``), default 0.001.
        rho: discount of the running average, in [0, 1].
        momentum: in [0, 1]; 0 turns the momentum slot off.
        epsilon: fuzz factor (``None``: 1e-7, as in Keras 1/2).
        centered: divide by an estimate of the gradient's variance instead of its second moment.

    Example:
        >>> opt = RMSprop(learning_rate=0.01, momentum=0.9, centered=True)
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, decay=0.0,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, decay=decay, **kwargs)
        self.rho = number(rho, "rho", self, 0.0, 1.0)
        self.momentum = number(momentum, "momentum", self, 0.0, 1.0)
        self.epsilon = epsilon_or_default(epsilon, self)
        self.centered = bool(centered)
        self.slot_groups = (("velocity",),) + ((("momentum",),) if self.momentum > 0 else ()) + \
            ((("average_gradient",),) if self.centered else ())
        self.slot_names = tuple(name for group in self.slot_groups for name in group)

    def update(self, value, grad, slots, lr):
        kind = value.dtype.type
        velocity = slots["velocity"]
        velocity *= kind(self.rho)
        velocity += kind(1 - self.rho) * np.square(grad)
        if self.centered:
            average = slots["average_gradient"]
            average *= kind(self.rho)
            average += kind(1 - self.rho) * grad
            denominator = velocity - np.square(average)
        else:
            denominator = velocity.copy()
        denominator += kind(self.epsilon)
        np.sqrt(denominator, out=denominator)
        increment = kind(lr) * grad
        increment /= denominator
        if self.momentum > 0:
            mom = slots["momentum"]
            mom *= kind(self.momentum)
            mom += increment
            value -= mom
        else:
            value -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


@registry.register("optimizer", aliases=("adagrad",), any_case=True)
class Adagrad(Optimizer):
    """Adagrad, Keras 3's rule::

        accumulator = accumulator + g**2           # starts at initial_accumulator_value
        w = w - lr * g / sqrt(accumulator + epsilon)

    Args:
        learning_rate: step size (Keras 1: ``lr``), default 0.001.
        initial_accumulator_value: the accumulator's starting value, >= 0.
        epsilon: fuzz factor (``None``: 1e-7).

    Example:
        >>> opt = Adagrad(learning_rate=0.1)
    """

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, decay=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, decay=decay, **kwargs)
        self.initial_accumulator_value = number(initial_accumulator_value, "initial_accumulator_value", self, 0)
        self.epsilon = epsilon_or_default(epsilon, self)
        self.slot_initial = {"accumulator": self.initial_accumulator_value}

    def update(self, value, grad, slots, lr):
        kind = value.dtype.type
        accumulator = slots["accumulator"]
        accumulator += np.square(grad)
        denominator = accumulator + kind(self.epsilon)
        np.sqrt(denominator, out=denominator)
        step = kind(lr) * grad
        step /= denominator
        value -= step

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


@registry.register("optimizer", aliases=("adadelta",), any_case=True)
class Adadelta(Optimizer):
    """Adadelta, Keras 3's rule (with a learning rate, default 0.001; Keras 1/2 used 1.0)::

        accumulated_grad = rho * accumulated_grad + (1 - rho) * g**2
        delta = -sqrt(accumulated_delta_var + epsilon) * g / sqrt(accumulated_grad + epsilon)
        accumulated_delta_var = rho * accumulated_delta_var + (1 - rho) * delta**2
        w = w + lr * delta

    Args:
        learning_rate: step size (Keras 1: ``lr``), default 0.001.
        rho: decay of the running averages, in [0, 1].
        epsilon: fuzz factor (``None``: 1e-7).

    Example:
        >>> opt = Adadelta(learning_rate=1.0, rho=0.95)
    """

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, decay=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, decay=decay, **kwargs)
        self.rho = number(rho, "rho", self, 0.0, 1.0)
        self.epsilon = epsilon_or_default(epsilon, self)

    def update(self, value, grad, slots, lr):
        kind = value.dtype.type
        acc_grad, acc_delta = slots["accumulated_grad"], slots["accumulated_delta_var"]
        acc_grad *= kind(self.rho)
        acc_grad += kind(1 - self.rho) * np.square(grad)
        delta = np.sqrt(acc_delta + kind(self.epsilon))
        delta *= grad
        delta /= np.sqrt(acc_grad + kind(self.epsilon))
        np.negative(delta, out=delta)
        acc_delta *= kind(self.rho)
        acc_delta += kind(1 - self.rho) * np.square(delta)
        delta *= kind(lr)
        value += delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
