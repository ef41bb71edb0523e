"""Optimizers: a small base class and the update rules, applied in place.

Each optimizer keeps its state per variable (created on first use) and an ``iterations``
counter; `get_config` / `from_config` round-trip the hyperparameters, and `get_state` /
`set_state` the state (for checkpoints).
"""

from __future__ import annotations

import warnings

import numpy as np

from kerasette import registry

_KERAS1_NAMES = {"lr": "learning_rate"}

#: Weights at least this large are updated by one fused, batch-parallel kernel pass instead of
#: several numpy passes (the seed model's 30976x256 dense kernel is 7.9 million values).
FUSED_UPDATE_MIN_SIZE = 1 << 16
# Keras 3 / tf.keras options that would change training: accepted only when turned off (their
# configs carry them as None, False or 0), refused otherwise rather than silently dropped.
_UNSUPPORTED_OPTIONS = ("weight_decay", "global_clipnorm", "use_ema", "loss_scale_factor",
                        "gradient_accumulation_steps")
# Options without effect on the updates: the EMA settings matter only with use_ema=True.
_INERT_OPTIONS = ("ema_momentum", "ema_overwrite_frequency", "is_legacy_optimizer", "jit_compile")


def _is_off(value) -> bool:
    """Whether an option's value means "not used": None, False or 0."""
    return value is None or value is False or (isinstance(value, (int, float, np.number)) and value == 0)


class Optimizer:
    """Base class. Subclasses implement ``update(var, grad, slots, lr)`` and ``slot_names``.

    Args:
        learning_rate: the step size (Keras 1: ``lr``).
        decay: time-based decay, ``lr_t = learning_rate / (1 + decay * iterations)``.
        clipnorm: if set, each gradient is rescaled to at most this L2 norm.
        clipvalue: if set, each gradient is clipped to [-clipvalue, clipvalue].
    """

    slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate=0.01, decay=0.0, clipnorm=None, clipvalue=None, name=None, **kwargs):
        for old, new in _KERAS1_NAMES.items():
            if old in kwargs:
                warnings.warn(f"{type(self).__name__}: `{old}` is the Keras 1 name; use `{new}`",
                              DeprecationWarning, stacklevel=3)
                learning_rate = kwargs.pop(old)
        for option in _UNSUPPORTED_OPTIONS:
            if option in kwargs:
                value = kwargs.pop(option)
                if not _is_off(value):
                    raise ValueError(
                        f"{type(self).__name__}: argument `{option}` is not supported by kerasette; received "
                        f"{option}={value!r} (only None, False or 0, which turn it off, are accepted)"
                    )
        for inert in _INERT_OPTIONS:  # no effect here, or only with an option refused above
            kwargs.pop(inert, None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.learning_rate = _non_negative(learning_rate, "learning_rate", self)
        self.decay = _non_negative(decay, "decay", self)
        self.clipnorm, self.clipvalue = clipnorm, clipvalue
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._slots: dict[int, dict[str, np.ndarray]] = {}

    @property
    def lr(self) -> float:
        """Keras 1 name of ``learning_rate``."""
        return self.learning_rate

    @lr.setter
    def lr(self, value: float) -> None:
        self.learning_rate = float(value)

    def current_learning_rate(self) -> float:
        """The decayed learning rate used by the next update."""
        return self.learning_rate / (1.0 + self.decay * self.iterations)

    def slots_for(self, var) -> dict[str, np.ndarray]:
        """The state arrays of ``var``, created (zeros) on first use."""
        slots = self._slots.get(id(var))
        if slots is None:
            slots = {name: np.zeros_like(var.data) for name in self.slot_names}
            self._slots[id(var)] = slots
        return slots

    def apply_gradients(self, grads_and_vars) -> None:
        """Updates each variable in place from its gradient, then counts one iteration."""
        lr = self.current_learning_rate()
        for grad, var in grads_and_vars:
            if grad is None:
                continue
            grad = self._clip(grad)
            self.update(var.data, grad.astype(var.dtype, copy=False), self.slots_for(var), lr)
            constraint = getattr(var, "constraint", None)  # add_weight(constraint=...), applied after the step
            if constraint is not None:
                var.assign(np.asarray(constraint(var.data), dtype=var.dtype))
        self.iterations += 1

    def _clip(self, grad: np.ndarray) -> np.ndarray:
        if self.clipnorm is not None:
            norm = float(np.sqrt(np.sum(np.square(grad, dtype=np.float64))))
            if norm > self.clipnorm:
                grad = grad * (self.clipnorm / norm)
        if self.clipvalue is not None:
            grad = np.clip(grad, -self.clipvalue, self.clipvalue)
        return grad

    def update(self, value: np.ndarray, grad: np.ndarray, slots: dict, lr: float) -> None:
        raise NotImplementedError

    # -- (de)serialisation ------------------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name, "learning_rate": self.learning_rate, "decay": self.decay}
        if self.clipnorm is not None:
            config["clipnorm"] = self.clipnorm
        if self.clipvalue is not None:
            config["clipvalue"] = self.clipvalue
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def get_state(self, variables) -> tuple[int, list[tuple[str, np.ndarray]]]:
        """(iterations, [(slot name, array) for each variable, each slot]) in ``variables`` order."""
        state = []
        for var in variables:
            slots = self.slots_for(var)
            state.extend((f"{var.name}/{name}", slots[name]) for name in self.slot_names)
        return self.iterations, state

    def set_state(self, variables, iterations: int, arrays) -> None:
        """Restores what `get_state` returned (arrays in the same order)."""
        arrays = list(arrays)
        expected = len(variables) * len(self.slot_names)
        if len(arrays) != expected:
            raise ValueError(
                f"{type(self).__name__}: expected {expected} state arrays for {len(variables)} "
                f"variables, received {len(arrays)}"
            )
        it = iter(arrays)
        for var in variables:
            slots = self.slots_for(var)
            for name in self.slot_names:
                value = np.asarray(next(it))
                if value.shape != var.shape:
                    raise ValueError(f"{type(self).__name__}: state '{name}' of '{var.name}' has "
                                     f"shape {value.shape}, expected {var.shape}")
                slots[name][...] = value
        self.iterations = int(iterations)


@registry.register("optimizer", aliases=("sgd",), any_case=True)
class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Keras's rule.

    With ``lr_t = learning_rate / (1 + decay * iterations)``, for each weight ``w`` with
    gradient ``g`` and velocity ``v`` (initially 0)::

        v = momentum * v - lr_t * g
        w = w + v                                  # nesterov=False
        w = w + momentum * v - lr_t * g            # nesterov=True

    (PyTorch's SGD scales the velocity differently: ``v = momentum * v + g; w -= lr * v``; the two
    agree while the learning rate is constant and differ once it decays.)

    Args:
        learning_rate: step size (Keras 1: ``lr``), default 0.01.
        momentum: in [0, 1).
        decay: time-based learning-rate decay (Keras 1/2).
        nesterov: whether to apply Nesterov momentum.

    Example:
        >>> opt = SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, decay=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, decay=decay, **kwargs)
        self.momentum = float(momentum)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"SGD: argument `momentum` must be in [0, 1]; received momentum={momentum!r}")
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum > 0 else ()

    def update(self, value, grad, slots, lr):
        if self.momentum == 0:
            value -= value.dtype.type(lr) * grad
            return
        v = slots["momentum"]
        if value.size >= FUSED_UPDATE_MIN_SIZE and value.flags.c_contiguous and grad.flags.c_contiguous:
            from kerasette.backend.engine.updates import sgd_momentum  # deferred: the engine loads numba

            sgd_momentum(value, grad, v, lr, self.momentum, self.nesterov)
            return
        step = value.dtype.type(lr) * grad
        v *= value.dtype.type(self.momentum)
        v -= step
        if self.nesterov:
            value += value.dtype.type(self.momentum) * v
            value -= step
        else:
            value += v

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


@registry.register("optimizer", aliases=("rmsprop",), any_case=True)
class RMSprop(Optimizer):
    """RMSprop: ``a = rho * a + (1 - rho) * g**2; w -= lr_t * g / (sqrt(a) + epsilon)``."""

    slot_names = ("rms",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, decay=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, decay=decay, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def update(self, value, grad, slots, lr):
        a = slots["rms"]
        a *= self.rho
        a += (1 - self.rho) * grad * grad
        value -= (lr * grad / (np.sqrt(a) + self.epsilon)).astype(value.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


@registry.register("optimizer", aliases=("adam",), any_case=True)
class Adam(Optimizer):
    """Adam (Kingma and Ba), Keras's form with bias correction folded into the step size::

        t = iterations + 1
        m = beta_1 * m + (1 - beta_1) * g;  u = beta_2 * u + (1 - beta_2) * g**2
        w -= lr_t * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(u) + epsilon)
    """

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, decay=0.0,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, decay=decay, **kwargs)
        if amsgrad:
            raise ValueError("Adam: amsgrad=True is not supported")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def update(self, value, grad, slots, lr):
        t = self.iterations + 1
        m, u = slots["m"], slots["v"]
        m *= self.beta_1
        m += (1 - self.beta_1) * grad
        u *= self.beta_2
        u += (1 - self.beta_2) * grad * grad
        step = lr * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        value -= (step * m / (np.sqrt(u) + self.epsilon)).astype(value.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": False}


def _non_negative(value, name: str, owner) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{type(owner).__name__}: argument `{name}` must be a number; received {value!r}") from None
    if value < 0:
        raise ValueError(f"{type(owner).__name__}: argument `{name}` must be >= 0; received {name}={value!r}")
    return value


def get(identifier) -> Optimizer:
    """An optimizer from a name (default settings), a config dict or an instance."""
    if isinstance(identifier, Optimizer) or hasattr(identifier, "apply_gradients"):
        return identifier
    if isinstance(identifier, str):
        return registry.get("optimizer", identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(f"optimizer must be a name or an Optimizer; received {identifier!r}")


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """An optimizer from ``{'class_name', 'config'}`` (Keras 1, 2 or 3 hyperparameter names)."""
    return registry.deserialize("optimizer", {"class_name": config.get("class_name"),
                                              "config": config.get("config") or {}}, custom_objects)


def serialize(optimizer: Optimizer) -> dict:
    """``{'class_name', 'config'}`` as Keras writes it."""
    return registry.serialize("optimizer", optimizer)
