"""Adam and its relatives: AdamW, Adamax, Nadam (bias-corrected running moments)."""

from __future__ import annotations

import warnings

import numpy as np

from kerasette import registry
from kerasette.optimizers.adaptive import epsilon_or_default
from kerasette.optimizers.base import Optimizer, number
from kerasette.optimizers.sgd import FUSED_UPDATE_MIN_SIZE


class _Moments(Optimizer):
    """Shared arguments: ``beta_1``, ``beta_2`` in [0, 1] and ``epsilon``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, decay=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, decay=decay, **kwargs)
        self.beta_1 = number(beta_1, "beta_1", self, 0.0, 1.0)
        self.beta_2 = number(beta_2, "beta_2", self, 0.0, 1.0)
        self.epsilon = epsilon_or_default(epsilon, self)

    def _moments(self, grad, m, v, kind) -> None:
        """``m += (g - m) * (1 - beta_1)``; ``v += (g**2 - v) * (1 - beta_2)`` in place."""
        m += (grad - m) * kind(1 - self.beta_1)
        v += (np.square(grad) - v) * kind(1 - self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


@registry.register("optimizer", aliases=("adam",), any_case=True)
class Adam(_Moments):
    """Adam (Kingma and Ba), Keras 3's rule, with ``t = iterations + 1``::

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        momentum = momentum + (g - momentum) * (1 - beta_1)
        velocity = velocity + (g**2 - velocity) * (1 - beta_2)
        if amsgrad:
            velocity_hat = maximum(velocity_hat, velocity)
            w = w - momentum * alpha / (sqrt(velocity_hat) + epsilon)
        else:
            w = w - momentum * alpha / (sqrt(velocity) + epsilon)

    Args:
        learning_rate: step size (Keras 1: ``lr``), default 0.001.
        beta_1, beta_2: decay rates of the first and second moments, in [0, 1].
        epsilon: fuzz factor (``None``: 1e-7).
        amsgrad: use the running maximum of the second moment (Reddi et al.).

    Example:
        >>> opt = Adam(learning_rate=0.001, amsgrad=True)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, decay=0.0,
                 **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, decay, **kwargs)
        self.amsgrad = bool(amsgrad)
        self.slot_groups = (("momentum", "velocity"),) + ((("velocity_hat",),) if self.amsgrad else ())
        self.slot_names = tuple(name for group in self.slot_groups for name in group)

    def update(self, value, grad, slots, lr):
        kind = value.dtype.type
        t, one = kind(self.iterations + 1), kind(1)  # the scalars in the weights' dtype, as Keras does
        alpha = kind(lr) * np.sqrt(one - kind(self.beta_2) ** t) / (one - kind(self.beta_1) ** t)
        m, v = slots["momentum"], slots["velocity"]
        if (not self.amsgrad and value.size >= FUSED_UPDATE_MIN_SIZE and value.dtype in (np.float32, np.float64)
                and all(a.flags.c_contiguous and a.dtype == value.dtype for a in (value, grad, m, v))):
            from kerasette.backend.engine.updates import adam  # deferred: the engine loads numba

            adam(value, grad, m, v, alpha, self.beta_1, self.beta_2, self.epsilon)  # one pass, the same bits
            return
        self._moments(grad, m, v, kind)
        if self.amsgrad:
            np.maximum(slots["velocity_hat"], v, out=slots["velocity_hat"])
            v = slots["velocity_hat"]
        denominator = np.sqrt(v)
        denominator += kind(self.epsilon)
        step = m * alpha
        step /= denominator
        value -= step

    def get_config(self):
        return {**super().get_config(), "amsgrad": self.amsgrad}


@registry.register("optimizer", aliases=("adamw",), any_case=True)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): Adam's rule after
    ``w = w - w * weight_decay * lr`` (default weight_decay 0.004, as in Keras 3).

    Example:
        >>> opt = AdamW(learning_rate=0.001, weight_decay=0.01)
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, decay=0.0, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: argument `weight_decay` must be a number >= 0; received weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, decay, weight_decay=weight_decay, **kwargs)


@registry.register("optimizer", aliases=("adamax",), any_case=True)
class Adamax(_Moments):
    """Adamax (Adam with the infinity norm), Keras 3's rule, with ``t = iterations + 1``::

        momentum = momentum + (g - momentum) * (1 - beta_1)
        norm = maximum(beta_2 * norm, abs(g))
        w = w - lr * momentum / ((1 - beta_1**t) * (norm + epsilon))

    Args:
        learning_rate: step size (Keras 1: ``lr``), default 0.001 (Keras 1/2: 0.002).
        beta_1, beta_2: decay rates, in [0, 1].
        epsilon: fuzz factor (``None``: 1e-7).

    Example:
        >>> opt = Adamax(learning_rate=0.002)
    """

    slot_names = ("momentum", "norm")

    def update(self, value, grad, slots, lr):
        kind = value.dtype.type
        t = kind(self.iterations + 1)
        m, u = slots["momentum"], slots["norm"]
        m += (grad - m) * kind(1 - self.beta_1)
        u *= kind(self.beta_2)
        np.maximum(u, np.abs(grad), out=u)
        denominator = u + kind(self.epsilon)
        denominator *= kind(1) - kind(self.beta_1) ** t
        step = m * kind(lr)
        step /= denominator
        value -= step


@registry.register("optimizer", aliases=("nadam",), any_case=True)
class Nadam(_Moments):
    """Nadam (Adam with Nesterov momentum, Dozat), Keras 3's rule, with ``t = iterations + 1``
    and ``mu(s) = beta_1 * (1 - 0.5 * 0.96**(s * schedule_decay))``::

        u_product = u_product * mu(t)              # once per step, starts at 1
        momentum = momentum + (g - momentum) * (1 - beta_1)
        velocity = velocity + (g**2 - velocity) * (1 - beta_2)
        m_hat = mu(t + 1) * momentum / (1 - u_product * mu(t + 1)) + (1 - mu(t)) * g / (1 - u_product)
        v_hat = velocity / (1 - beta_2**t)
        w = w - lr * m_hat / (sqrt(v_hat) + epsilon)

    Args:
        learning_rate: step size (Keras 1: ``lr``), default 0.001 (Keras 1/2: 0.002).
        beta_1, beta_2: decay rates, in [0, 1].
        epsilon: fuzz factor (``None``: 1e-7).
        schedule_decay: Keras 1/2's momentum-schedule rate (their default was 0.004); Keras 3's
            rule is ``schedule_decay=1``, the default here.

    Example:
        >>> opt = Nadam(learning_rate=0.002)
    """

    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, schedule_decay=1.0, decay=0.0,
                 **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, decay, **kwargs)
        if schedule_decay != 1.0:
            warnings.warn("Nadam: `schedule_decay` is the Keras 1/2 momentum schedule; Keras 3 fixes it at 1",
                          DeprecationWarning, stacklevel=2)
        self.schedule_decay = number(schedule_decay, "schedule_decay", self, 0)
        # The product of mu(s) over the steps taken, in the dtype of the first weight as Keras keeps
        # it, with the iteration count it belongs to: recomputed whenever `iterations` was set from
        # outside (a restored checkpoint, a broadcast from another rank).
        self._u_product = (0, np.float64(1.0))

    def _mu(self, step: int, kind) -> np.floating:
        return kind(self.beta_1) * (kind(1) - kind(0.5) * kind(0.96) ** kind(step * self.schedule_decay))

    def _product(self, kind) -> np.floating:
        """The product over the steps taken, step by step in ``kind`` as the steps made it."""
        steps, value = self._u_product
        if steps != self.iterations or type(value) is not kind:
            value = kind(1.0)
            for step in range(1, self.iterations + 1):
                value = value * self._mu(step, kind)
            self._u_product = (self.iterations, value)
        return value

    @property
    def u_product(self) -> np.floating:
        """The product of the momentum schedule over the steps taken (Keras 3's ``u_product``)."""
        return self._product(type(self._u_product[1]))

    def before_step(self, dtype) -> None:
        value = self._product(dtype.type) * self._mu(self.iterations + 1, dtype.type)
        self._u_product = (self.iterations + 1, value)

    def update(self, value, grad, slots, lr):
        kind = value.dtype.type
        t, one = self.iterations + 1, kind(1)
        mu_t, mu_next, u_product = self._mu(t, kind), self._mu(t + 1, kind), kind(self._u_product[1])
        m, v = slots["momentum"], slots["velocity"]
        self._moments(grad, m, v, kind)
        m_hat = m * (mu_next / (one - u_product * mu_next))
        m_hat += grad * ((one - mu_t) / (one - u_product))
        denominator = v / (one - kind(self.beta_2) ** kind(t))
        np.sqrt(denominator, out=denominator)
        denominator += kind(self.epsilon)
        m_hat *= kind(lr)
        m_hat /= denominator
        value -= m_hat

    def set_state(self, variables, iterations, arrays) -> None:
        super().set_state(variables, iterations, arrays)
        kind = np.dtype(variables[0].dtype).type if len(variables) else np.float64
        self._u_product = (-1, kind(1.0))  # recomputed in the weights' dtype on the next read

    def get_config(self):
        config = super().get_config()
        if self.schedule_decay != 1.0:
            config["schedule_decay"] = self.schedule_decay
        return config
