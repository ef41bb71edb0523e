"""Learning-rate schedules: the learning rate as a function of the iteration count.

Pass one as an optimizer's ``learning_rate``; the optimizer calls it with its iteration count
before each step, and its config is saved with the optimizer's. Your own schedule subclasses
`LearningRateSchedule` (``__call__(step)`` and ``get_config()``) and is loaded by name through
``custom_objects`` or `kerasette.registry.register_keras_serializable`.

Example:
    >>> from kerasette.optimizers import SGD, schedules
    >>> lr = schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
    >>> round(lr(200), 6)
    0.025
    >>> opt = SGD(learning_rate=lr)
"""

from __future__ import annotations

import math

from kerasette import registry


def _positive(value, name: str, owner) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{type(owner).__name__}: argument `{name}` must be > 0; received {name}={value!r}")
    return value


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step) -> float`` and ``get_config()``."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__}: a learning-rate schedule must override __call__(step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__}: a learning-rate schedule must override get_config() "
                                  "to be saved")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


@registry.register("schedule")
class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored when
    ``staircase``).

    Example:
        >>> ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5, staircase=True)(19)
        0.5
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        self.initial_learning_rate, self.decay_rate = initial_learning_rate, decay_rate
        self.decay_steps = _positive(decay_steps, "decay_steps", self)
        self.staircase, self.name = bool(staircase), name

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


@registry.register("schedule")
class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the quotient floored
    when ``staircase``); Keras 1/2's ``decay`` is ``InverseTimeDecay(lr, 1, decay)``.

    Example:
        >>> InverseTimeDecay(1.0, decay_steps=1, decay_rate=0.5)(2)
        0.5
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        self.initial_learning_rate, self.decay_rate = initial_learning_rate, decay_rate
        self.decay_steps = _positive(decay_steps, "decay_steps", self)
        self.staircase, self.name = bool(staircase), name

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate / (1 + self.decay_rate * (math.floor(p) if self.staircase else p))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


@registry.register("schedule", aliases=("PiecewiseConstant",))
class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while ``boundaries[i-1] < step
    <= boundaries[i]``, ``values[-1]`` after the last boundary.

    Example:
        >>> schedule = PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
        >>> schedule(10), schedule(11), schedule(21)
        (1.0, 0.5, 0.1)
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"PiecewiseConstantDecay: `boundaries` must have one element fewer than `values`; "
                             f"received {len(boundaries)} boundaries {boundaries} and {len(values)} values {values}")
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


@registry.register("schedule")
class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` in ``decay_steps`` steps along
    ``(1 - step / decay_steps) ** power``, then constant; with ``cycle`` the decay restarts with
    ``decay_steps`` multiplied by ``ceil(step / decay_steps)``.

    Example:
        >>> PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0)(5)
        0.5
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        self.initial_learning_rate, self.end_learning_rate = initial_learning_rate, end_learning_rate
        self.decay_steps = _positive(decay_steps, "decay_steps", self)
        self.power, self.cycle, self.name = power, bool(cycle), name

    def __call__(self, step):
        steps = self.decay_steps
        if self.cycle:
            steps = steps * (1.0 if step == 0 else math.ceil(step / steps))
        else:
            step = min(step, steps)
        fraction = (1 - step / steps) ** self.power
        return (self.initial_learning_rate - self.end_learning_rate) * fraction + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


@registry.register("schedule")
class CosineDecay(LearningRateSchedule):
    """An optional linear warmup from ``initial_learning_rate`` to ``warmup_target`` over
    ``warmup_steps``, then a cosine decay from there to ``alpha`` times it over ``decay_steps``::

        decayed(s) = peak * ((1 - alpha) * 0.5 * (1 + cos(pi * min(s, decay_steps) / decay_steps)) + alpha)

    Example:
        >>> CosineDecay(1.0, decay_steps=10)(5)
        0.5
        >>> CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=4)(2)
        0.5
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate, self.alpha, self.name = initial_learning_rate, alpha, name
        self.decay_steps = _positive(decay_steps, "decay_steps", self)
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def _decayed(self, step, peak):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return peak * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decayed(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            start = self.initial_learning_rate
            return (self.warmup_target - start) * (step / self.warmup_steps) + start
        return self._decayed(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


@registry.register("schedule", aliases=("SGDRDecay",))
class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov and Hutter): the i-th period lasts
    ``first_decay_steps * t_mul**i`` steps and starts from ``initial_learning_rate * m_mul**i``.

    Example:
        >>> schedule = CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=1.0)
        >>> schedule(5), schedule(10)
        (0.5, 1.0)
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = _positive(first_decay_steps, "first_decay_steps", self)
        self.t_mul, self.m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

    def __call__(self, step):
        fraction = step / self.first_decay_steps
        if self.t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:
            restart = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            done = (1.0 - self.t_mul**restart) / (1.0 - self.t_mul)
            fraction = (fraction - done) / self.t_mul**restart
        cosine = 0.5 * self.m_mul**restart * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{'class_name', 'config'}`` as Keras writes it; a built-in schedule also names Keras 3's
    ``module``, which Keras 3 needs to find the class when it loads the file."""
    spec = registry.serialize("schedule", schedule)
    if registry.lookup("schedule", spec["class_name"]) is type(schedule) and "registered_name" not in spec:
        spec = {"module": "keras.optimizers.schedules", **spec, "registered_name": None}
    return spec


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """A schedule from ``{'class_name', 'config'}`` (Keras 3's ``module`` key is ignored)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise TypeError(f"schedules.deserialize: expected a dict with 'class_name'; received {config!r:.100}")
    return registry.deserialize("schedule", {k: v for k, v in config.items() if k != "module"}, custom_objects)


def get(identifier, custom_objects: dict | None = None) -> LearningRateSchedule:
    """A schedule from an instance or a config dict."""
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    return deserialize(identifier, custom_objects)
