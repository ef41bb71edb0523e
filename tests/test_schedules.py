"""Learning-rate schedules: arguments, errors, custom subclasses, configs (the values against
real Keras 3 are in test_optimizer_golden.py)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import optimizers, registry
from kerasette.backend.tensor import Variable
from kerasette.optimizers import schedules


class HalvingSchedule(schedules.LearningRateSchedule):
    """A user's own schedule: halves every ``every`` steps."""

    def __init__(self, initial, every=2):
        self.initial, self.every = initial, every

    def __call__(self, step):
        return self.initial * 0.5 ** (step // self.every)

    def get_config(self):
        return {"initial": self.initial, "every": self.every}


def test_a_custom_schedule_drives_the_optimizer_and_round_trips_with_custom_objects():
    opt = optimizers.SGD(learning_rate=HalvingSchedule(0.8, every=1))
    w = Variable(np.zeros(1), dtype="float64")
    for _ in range(3):
        opt.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.data, [-(0.8 + 0.4 + 0.2)])
    spec = optimizers.serialize(opt)
    assert spec["config"]["learning_rate"] == {"class_name": "HalvingSchedule", "config": {"initial": 0.8, "every": 1}}
    with pytest.raises(ValueError, match=r"Unknown schedule: 'HalvingSchedule'.*custom_objects"):
        optimizers.deserialize(spec)
    again = optimizers.deserialize(spec, custom_objects={"HalvingSchedule": HalvingSchedule})
    assert isinstance(again._learning_rate, HalvingSchedule) and again.current_learning_rate() == 0.8


def test_a_registered_custom_schedule_is_found_by_name():
    @registry.register_keras_serializable(package="tests")
    class Constant(schedules.LearningRateSchedule):
        def __init__(self, value):
            self.value = value

        def __call__(self, step):
            return self.value

        def get_config(self):
            return {"value": self.value}

    spec = optimizers.serialize(optimizers.Adam(learning_rate=Constant(0.03)))
    assert spec["config"]["learning_rate"]["registered_name"] == "tests>Constant"
    assert optimizers.deserialize(spec).learning_rate == 0.03


def test_the_base_class_says_what_to_override():
    class Incomplete(schedules.LearningRateSchedule):
        pass

    with pytest.raises(NotImplementedError, match=r"Incomplete: a learning-rate schedule must override __call__"):
        Incomplete()(0)
    with pytest.raises(NotImplementedError, match=r"Incomplete: a learning-rate schedule must override get_config"):
        Incomplete().get_config()


@pytest.mark.parametrize("make, message", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5),
     r"ExponentialDecay: argument `decay_steps` must be > 0; received decay_steps=0"),
    (lambda: schedules.InverseTimeDecay(0.1, -2, 0.5),
     r"InverseTimeDecay: argument `decay_steps` must be > 0; received decay_steps=-2"),
    (lambda: schedules.PolynomialDecay(0.1, 0), r"PolynomialDecay: argument `decay_steps` must be > 0"),
    (lambda: schedules.CosineDecay(0.1, 0), r"CosineDecay: argument `decay_steps` must be > 0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 0),
     r"CosineDecayRestarts: argument `first_decay_steps` must be > 0; received first_decay_steps=0"),
    (lambda: schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5]),
     r"PiecewiseConstantDecay: `boundaries` must have one element fewer than `values`; received 2 boundaries "
     r"\[10, 20\] and 2 values \[1.0, 0.5\]"),
])
def test_invalid_schedule_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_deserialize_needs_a_class_name():
    with pytest.raises(TypeError, match=r"schedules.deserialize: expected a dict with 'class_name'; received 0.1"):
        schedules.deserialize(0.1)


def test_get_accepts_an_instance_or_a_config():
    schedule = schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=5)
    assert schedules.get(schedule) is schedule
    again = schedules.get(schedules.serialize(schedule))
    assert [again(s) for s in range(0, 20, 3)] == [schedule(s) for s in range(0, 20, 3)]
    assert schedule(5) == pytest.approx(0.2) and schedule(2) == pytest.approx(0.14)


def test_keras_aliases_resolve():
    assert registry.get("schedule", "SGDRDecay") is schedules.CosineDecayRestarts
    assert registry.get("schedule", "PiecewiseConstant") is schedules.PiecewiseConstantDecay
