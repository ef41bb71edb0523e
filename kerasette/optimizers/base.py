"""The optimizer base class: learning rate (a number or a schedule), clipping, decoupled weight
decay, per-variable state created on first use, and the iteration count.

A subclass names its state arrays (``slot_names``, Keras 3's names) and writes one in-place
``update(value, grad, slots, lr)``; everything else (clipping, weight decay, the moving average
of the weights, constraints, counting, (de)serialisation, checkpoint state) lives here, applied
in Keras 3's order: clip the gradients, decay the weights, update, average (and maybe overwrite
the weights with their averages), apply the constraints, count the step.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from kerasette.optimizers.group_members import GroupMembers
from kerasette.optimizers.schedules import LearningRateSchedule
from kerasette.optimizers.schedules import deserialize as _deserialize_schedule
from kerasette.optimizers.schedules import serialize as _serialize_schedule
from kerasette.optimizers.streamed_step import StreamedStep

# Keras 1/2 argument names, translated at the constructor with a DeprecationWarning.
_KERAS1_NAMES = {"lr": "learning_rate"}
# Keras 3 options that would change training and that kerasette does not implement: accepted only
# when turned off (None, False or 0), refused otherwise rather than silently dropped.
_UNSUPPORTED_OPTIONS = ("loss_scale_factor", "gradient_accumulation_steps")
# Options without effect on the updates.
_INERT_OPTIONS = ("is_legacy_optimizer", "jit_compile")
#: The slot holding a weight's moving average when ``use_ema`` (Keras 3's name: ``w_average``).
AVERAGE = "average"


def _is_off(value) -> bool:
    """Whether an option's value means "not used": None, False or 0."""
    return value is None or value is False or (isinstance(value, (int, float, np.number)) and value == 0)


def number(value, name: str, owner, low=None, high=None, low_open=False) -> float:
    """``value`` as a float, checked against ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    kind = type(owner).__name__
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{kind}: argument `{name}` must be a number; received {name}={value!r}") from None
    below = low is not None and (value <= low if low_open else value < low)
    if below or (high is not None and value > high) or np.isnan(value):
        if low is not None and high is not None:
            rule = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        elif low is not None:
            rule = f"{'>' if low_open else '>='} {low:g}"
        else:
            rule = f"<= {high:g}"
        raise ValueError(f"{kind}: argument `{name}` must be {rule}; received {name}={value!r}")
    return value


class LearningRateHandle(float):
    """An optimizer's learning rate as a float, with ``assign`` (what ``K.set_value`` calls)."""

    def __new__(cls, optimizer):
        handle = super().__new__(cls, float(optimizer.learning_rate))
        handle.optimizer = optimizer
        return handle

    def assign(self, value) -> None:
        self.optimizer.learning_rate = float(np.asarray(value))


class Optimizer:
    """Base class. Subclasses set ``slot_names`` and implement ``update(value, grad, slots, lr)``.

    Args:
        learning_rate: the step size: a number, a `LearningRateSchedule` (called with the
            iteration count before each step) or a callable of no arguments (Keras 1: ``lr``).
        decay: Keras 1/2 time-based decay, ``lr_t = learning_rate / (1 + decay * iterations)``
            (what Keras 3 writes as ``InverseTimeDecay(learning_rate, 1, decay)``).
        clipnorm: each gradient is rescaled to at most this L2 norm.
        clipvalue: each gradient is clipped to ``[-clipvalue, clipvalue]``.
        global_clipnorm: all gradients together are rescaled to at most this L2 norm.
        weight_decay: decoupled weight decay, ``w -= w * weight_decay * lr_t`` before each update
            (see `exclude_from_weight_decay`).
        use_ema: keep an exponential moving average of each weight, Keras 3's rule: after each
            step's update (before the constraints), ``average = m * average + (1 - m) * w`` with
            ``m = ema_momentum``, except on the first step (``iterations == 0``), where ``m = 0``
            and the average starts as the updated weight. ``fit`` replaces the weights by their
            averages when it ends (`finalize_variable_values`). The averages are checkpoint
            state (``w_average`` in Keras's files), before every other slot.
        ema_momentum: ``m`` above, in [0, 1] (default 0.99).
        ema_overwrite_frequency: with ``use_ema``, every this many steps (when ``iterations + 1``
            is a multiple of it) the weights are also replaced by their averages during training;
            None (the default): only at the end of ``fit``.
        name: the optimizer's name (default: the class name in lower case).
    """

    slot_names: tuple[str, ...] = ()
    #: Keras 3 creates some state kinds in separate passes over the variables: each group is written
    #: variable by variable, one group after another (Adam: one group (momentum, velocity)).
    slot_groups: tuple[tuple[str, ...], ...] | None = None
    #: Initial value of each slot (zeros when not listed).
    slot_initial: dict[str, float] = {}

    def __init__(self, learning_rate=0.01, decay=0.0, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 weight_decay=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, name=None,
                 **kwargs):
        kind = type(self).__name__
        for old, new in _KERAS1_NAMES.items():
            if old in kwargs:
                warnings.warn(f"{kind}: `{old}` is the Keras 1 name; use `{new}`", DeprecationWarning, stacklevel=3)
                learning_rate = kwargs.pop(old)
        for option in _UNSUPPORTED_OPTIONS:
            if option in kwargs:
                value = kwargs.pop(option)
                if not _is_off(value):
                    raise ValueError(
                        f"{kind}: argument `{option}` is not supported by kerasette; received "
                        f"{option}={value!r} (only None, False or 0, which turn it off, are accepted)")
        for inert in _INERT_OPTIONS:
            kwargs.pop(inert, None)
        if kwargs:
            raise TypeError(f"{kind}: unexpected keyword argument(s) {sorted(kwargs)}")
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        clips = {k: (None if _is_off(v) else number(v, k, self, 0, low_open=True)) for k, v in clips.items()}
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(f"{kind}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set; "
                             f"received {', '.join(f'{k}={v!r}' for k, v in clips.items())}")
        self.clipnorm, self.clipvalue, self.global_clipnorm = (clips[k] for k in ("clipnorm", "clipvalue",
                                                                                 "global_clipnorm"))
        self.weight_decay = None if weight_decay is None else number(weight_decay, "weight_decay", self, 0)
        self.decay = number(decay, "decay", self, 0)
        self._set_ema(use_ema, ema_momentum, ema_overwrite_frequency)
        self._learning_rate = None
        self.learning_rate = learning_rate
        if self.decay and not isinstance(self._learning_rate, float):
            raise ValueError(f"{kind}: argument `decay` applies to a constant learning rate; received "
                             f"decay={decay!r} with learning_rate={learning_rate!r} (put the decay in the schedule)")
        self.name = name or kind.lower()
        self.iterations = 0
        self._slots: dict[int, dict[str, np.ndarray]] = {}
        self._no_weight_decay: tuple[set[int], re.Pattern | None] = (set(), None)

    def _set_ema(self, use_ema, momentum, frequency) -> None:
        """Checks the moving-average options as Keras 3 does (only when ``use_ema``)."""
        kind = type(self).__name__
        self.use_ema = bool(use_ema)
        if self.use_ema:
            momentum = number(momentum, "ema_momentum", self, 0.0, 1.0)
            # Keras accepts 0 (any false value) as "never", like None
            if frequency and (isinstance(frequency, bool) or not isinstance(frequency, (int, np.integer))
                              or frequency < 1):
                raise ValueError(f"{kind}: argument `ema_overwrite_frequency` must be an integer >= 1 or None; "
                                 f"received ema_overwrite_frequency={frequency!r}")
            frequency = None if frequency is None else int(frequency)
        self.ema_momentum, self.ema_overwrite_frequency = momentum, frequency

    # -- learning rate ------------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The learning rate: the number given, or a schedule's value at the current iteration
        (as Keras 3 reads it). `get_config` keeps the schedule itself."""
        if isinstance(self._learning_rate, float):
            return self._learning_rate
        return self.current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, LearningRateSchedule) or (callable(value) and not isinstance(value, np.number)):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(f"{type(self).__name__}: the learning rate is the schedule "
                            f"{type(self._learning_rate).__name__} and cannot be set to a number; received "
                            f"learning_rate={value!r} (create the optimizer with a number to change it)")
        self._learning_rate = number(value, "learning_rate", self, 0)

    @property
    def lr(self):
        """Keras 1/2's name of ``learning_rate``: the rate as a number that ``K.set_value`` can
        also assign, as Keras 1/2 scripts do (``K.set_value(model.optimizer.lr, 0.01)``)."""
        return LearningRateHandle(self)

    @lr.setter
    def lr(self, value) -> None:
        self.learning_rate = value

    def current_learning_rate(self) -> float:
        """The learning rate of the next update (a schedule's value, or the decayed rate)."""
        rate = self._learning_rate
        if isinstance(rate, LearningRateSchedule):
            return float(rate(self.iterations))
        if callable(rate):
            return float(rate())
        return rate / (1.0 + self.decay * self.iterations)

    # -- the step -----------------------------------------------------------------------------
    def slots_for(self, var) -> dict[str, np.ndarray]:
        """The state arrays of ``var``, created on first use (zeros unless ``slot_initial`` says;
        with ``use_ema``, also its moving average under ``'average'``)."""
        slots = self._slots.get(id(var))
        if slots is None:
            slots = {}
            for name in (*self.slot_names, *((AVERAGE,) if self.use_ema else ())):
                slots[name] = np.full_like(var.data, self.slot_initial.get(name, 0.0))
            self._slots[id(var)] = slots
        return slots

    def build(self, variables) -> None:
        """Creates the state of each of ``variables`` that has none yet, as Keras 3 builds an
        optimizer's variables before its first step.

        The trainer calls this before each step's forward pass, so that the state arrays (after
        the weights, a model's largest arrays: 32 MB of momentum for the 100 x 100 benchmark
        convnet's dense kernel) are allocated before the step's temporaries rather than among
        them, where they would split the memory the next steps reuse (see
        `kerasette.backend.memory`)."""
        made = self._slots
        for var in variables:
            if id(var) not in made:  # (each step asks again: a look-up, not a call, for each variable)
                self.slots_for(var)

    def apply_gradients(self, grads_and_vars) -> None:
        """Updates each variable in place from its gradient, then counts one iteration.

        With ``use_ema``, every variable given (also one whose gradient is None) has its moving
        average updated, as Keras 3 averages every variable the optimizer was built with."""
        grads_and_vars = list(grads_and_vars)
        pairs = [(np.asarray(g).astype(v.dtype, copy=False), v) for g, v in grads_and_vars if g is not None]
        grads = self._clip([g for g, _ in pairs])
        lr = self.current_learning_rate()
        self.before_step(np.dtype(pairs[0][1].dtype) if pairs else np.dtype(np.float64))
        group = []
        for grad, (_, var) in zip(grads, pairs, strict=True):
            if self._joins_group(var, grad):
                group.append((var, grad))
            else:
                self._update_variable(var, grad, lr)
        if group:
            self._update_group(group, lr)
        self._end_step([v for _, v in grads_and_vars], [v for _, v in pairs])

    def _update_variable(self, var, grad: np.ndarray, lr: float) -> None:
        """One variable's share of a step: the decoupled weight decay, then the update rule."""
        if self.weight_decay and self._decays(var):
            var.data -= var.data * var.dtype.type(self.weight_decay * lr)
        self.update(var.data, grad, self.slots_for(var), lr)

    def _joins_group(self, var, grad: np.ndarray) -> bool:
        """Whether ``var``'s update (from its final ``grad``, of ``var``'s dtype) may wait for
        `_update_group`, which updates several variables in one go: an optimizer with a rule
        for many small weights at once says which it takes (none here). Each variable's update
        depends on its own gradient and state only, so the grouping changes no bit."""
        return False

    def _group_rule(self):
        """What `_joins_group`'s answer depends on besides the variable's array and its gradient,
        or None where no answer is kept (here: there is no group). A variable's answer is kept
        from step to step while the rule stays the same (`group_members`)."""
        return None

    def group_members(self) -> GroupMembers | None:
        """The variables that joined the group under the current `_group_rule` (kept from step
        to step; a new rule forgets them), or None where none are kept."""
        rule = self._group_rule()
        if rule is None:
            return None
        kept = self.__dict__.get("_group_members")
        if kept is None or kept.rule != rule:
            kept = self._group_members = GroupMembers(rule)
        return kept

    def _update_group(self, pairs, lr: float) -> None:
        """Updates each ``(var, grad)`` of ``pairs`` (those `_joins_group` took) as
        `_update_variable` would."""
        for var, grad in pairs:
            self._update_variable(var, grad, lr)

    def _end_step(self, variables, updated) -> None:
        """What follows the variables' updates: the moving averages (of all ``variables``), the
        constraints (of the ``updated`` ones), the iteration count."""
        if self.use_ema:
            self._average(variables)
        for var in updated:
            constraint = getattr(var, "constraint", None)  # add_weight(constraint=...), applied after the step
            if constraint is not None:
                var.assign(np.asarray(constraint(var.data), dtype=var.dtype))
        self.iterations += 1

    def streamed_step(self, variables) -> StreamedStep | None:
        """A `StreamedStep` that applies this step's updates during the backward pass, each
        variable's as soon as its gradient is final, or None where this optimizer cannot:
        ``global_clipnorm`` needs every gradient first, and a subclass that overrides
        `apply_gradients` or `_clip` (a distributed optimizer's averaging) gets its gradients
        all together as before."""
        cls = type(self)
        if (self.global_clipnorm is not None or cls.apply_gradients is not Optimizer.apply_gradients
                or cls._clip is not Optimizer._clip):
            return None
        variables = list(variables)
        if len({v.data.dtype for v in variables}) > 1 or len({id(v) for v in variables}) < len(variables):
            return None  # `before_step` takes the first updated variable's dtype, known only at the end
        return StreamedStep(self, variables)

    def _average(self, variables) -> None:
        """Keras 3's moving-average step (see ``use_ema``): the average moves toward the updated
        weight (or starts there on the first step); every ``ema_overwrite_frequency`` steps the
        weights take their averages."""
        overwrite = bool(self.ema_overwrite_frequency) and (self.iterations + 1) % self.ema_overwrite_frequency == 0
        for var in variables:
            kind = var.dtype.type
            average = self.slots_for(var)[AVERAGE]
            momentum = kind(self.ema_momentum) if self.iterations != 0 else kind(0)
            average *= momentum
            average += (kind(1) - momentum) * var.data
            if overwrite:
                var.data[...] = average

    def finalize_variable_values(self, var_list) -> None:
        """What ``fit`` calls when it ends: with ``use_ema``, each variable takes its moving
        average; otherwise nothing. Before the first step there is no average yet and the
        variables keep their values (Keras 3 would write its zero-initialised averages)."""
        if not self.use_ema or self.iterations == 0:
            return
        for var in var_list:
            slots = self._slots.get(id(var))
            if slots is not None:
                var.data[...] = slots[AVERAGE]

    def before_step(self, dtype: np.dtype) -> None:
        """Hook run once per step before the variables are updated (Nadam's momentum product)."""

    def _clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm is not None:
            out = []
            for g in grads:
                norm = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
                out.append(g * g.dtype.type(self.clipnorm / max(norm, self.clipnorm)) if norm > self.clipnorm else g)
            return out
        if self.global_clipnorm is not None:
            norm = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads)))
            if norm > self.global_clipnorm:
                return [g * g.dtype.type(self.global_clipnorm / norm) for g in grads]
            return grads
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Leaves these variables out of ``weight_decay``: the given ones, and those whose name
        contains one of ``var_names`` (a regular-expression search, as in Keras 3)."""
        ids = {id(v) for v in (var_list or ())}
        pattern = re.compile("|".join(map(re.escape, var_names))) if var_names else None
        self._no_weight_decay = (ids, pattern)

    def _decays(self, var) -> bool:
        ids, pattern = self._no_weight_decay
        return id(var) not in ids and not (pattern is not None and pattern.search(str(var.name)))

    def update(self, value: np.ndarray, grad: np.ndarray, slots: dict, lr: float) -> None:
        raise NotImplementedError

    # -- (de)serialisation ----------------------------------------------------------------------
    def get_config(self) -> dict:
        rate = self._learning_rate
        if isinstance(rate, LearningRateSchedule):
            rate = _serialize_schedule(rate)
        elif callable(rate):
            rate = float(rate())
        config = {"name": self.name, "learning_rate": rate, "decay": self.decay}
        for key in ("clipnorm", "clipvalue", "global_clipnorm", "weight_decay"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        if self.use_ema:
            config.update(use_ema=True, ema_momentum=self.ema_momentum,
                          ema_overwrite_frequency=self.ema_overwrite_frequency)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _deserialize_schedule(config["learning_rate"], custom_objects)
        return cls(**config)

    # -- checkpoint state -----------------------------------------------------------------------
    def state_order(self, variables):
        """(variable, slot name) pairs in Keras 3's order of optimizer variables (the moving
        averages first, as Keras 3 creates them before the update rule's own slots)."""
        groups = self.slot_groups if self.slot_groups is not None else (self.slot_names,)
        if self.use_ema:
            groups = ((AVERAGE,), *groups)
        return [(var, name) for group in groups for var in variables for name in group]

    def get_state(self, variables) -> tuple[int, list[tuple[str, np.ndarray]]]:
        """(iterations, [(``"variable name/slot"``, array), ...]) in Keras 3's order."""
        return self.iterations, [(f"{var.name}/{name}", self.slots_for(var)[name])
                                 for var, name in self.state_order(variables)]

    def set_state(self, variables, iterations: int, arrays) -> None:
        """Restores what `get_state` returned (arrays in the same order)."""
        arrays = list(arrays)
        order = self.state_order(variables)
        if len(arrays) != len(order):
            raise ValueError(f"{type(self).__name__}: expected {len(order)} state arrays for {len(variables)} "
                             f"variables, received {len(arrays)}")
        for (var, name), value in zip(order, arrays, strict=True):
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ValueError(f"{type(self).__name__}: state '{name}' of '{var.name}' has shape "
                                 f"{value.shape}, expected {var.shape}")
            self.slots_for(var)[name][...] = value
        self.iterations = int(iterations)
