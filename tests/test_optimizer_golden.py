"""Golden tests: ten steps of every optimizer (and every schedule) against real Keras 3.

The numbers in ``tests/optimizers_golden/golden.json`` were made by
``tests/optimizers_golden/make_golden.py`` with keras 3 on torch, on the problem of
``problem.py`` (a linear regression; the same gradient function feeds both sides). Every step's
weights must agree to 1e-6, in float64 and float32, and kerasette's checkpoint state must list
the slots in the order and under the names of Keras's optimizer variables.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from kerasette import optimizers
from kerasette.backend.tensor import Variable
from kerasette.optimizers import schedules
from tests.optimizers_golden import problem

GOLDEN = json.loads((pathlib.Path(problem.__file__).with_name("golden.json")).read_text())
TOLERANCE = 1e-6


def _value(value):
    if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
        return getattr(schedules, value[0])(**value[1])
    return value


def make(name: str):
    class_name, kwargs, _ = problem.CASES[name]
    return getattr(optimizers, class_name)(**{k: _value(v) for k, v in kwargs.items()})


def run(optimizer, dtype: str, steps: int = problem.STEPS):
    w = Variable(problem.W0.astype(dtype), dtype=dtype, name="w")
    b = Variable(problem.B0.astype(dtype), dtype=dtype, name="b")
    history = []
    for _ in range(steps):
        gw, gb = problem.gradients(w.data, b.data)
        optimizer.apply_gradients([(gw, w), (gb, b)])
        history.append((w.data.copy(), b.data.copy()))
    return (w, b), history


def max_error(history, golden) -> float:
    return max(float(np.max(np.abs(got - np.asarray(want)))) for step, want_step in zip(history, golden, strict=True)
               for got, want in zip(step, want_step, strict=True))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(problem.CASES))
def test_ten_steps_give_the_weights_keras3_gives(name, dtype):
    golden = GOLDEN["cases"][f"{name}-{dtype}"]
    optimizer = make(name)
    (w, _), history = run(optimizer, dtype)
    assert w.dtype == dtype and optimizer.iterations == golden["iterations"] == problem.STEPS
    error = max_error(history, golden["steps"])
    assert error <= TOLERANCE, f"{name} {dtype}: max error {error:.3g} against Keras 3"
    # teeth: the weights moved much more than the tolerance
    assert np.max(np.abs(history[-1][0] - problem.W0)) > 1000 * TOLERANCE


@pytest.mark.parametrize("name", sorted(problem.CASES))
def test_state_is_in_keras3s_order_and_names(name):
    golden = GOLDEN["cases"][f"{name}-float64"]["variables"]
    keras_slots = [v for v in golden if v["shape"]]  # the scalars are the counters and the learning rate
    optimizer = make(name)
    (w, b), _ = run(optimizer, "float64", steps=1)
    _, state = optimizer.get_state([w, b])
    names = [key.replace("/", "_") for key, _ in state]
    assert names == [v["path"].split("/", 1)[1] for v in keras_slots]
    assert [list(a.shape) for _, a in state] == [v["shape"] for v in keras_slots]


def test_a_case_that_is_wrong_fails():
    """The comparison has teeth: Adam with another beta_2 is far from Keras's Adam."""
    (_, _), history = run(optimizers.Adam(learning_rate=0.05, beta_2=0.99), "float64")
    assert max_error(history, GOLDEN["cases"]["adam-float64"]["steps"]) > 100 * TOLERANCE


@pytest.mark.parametrize("name", sorted(problem.SCHEDULES))
def test_schedules_give_keras3s_values(name):
    class_name, config = problem.SCHEDULES[name]
    schedule = getattr(schedules, class_name)(**config)
    got = [schedule(step) for step in range(problem.SCHEDULE_STEPS)]
    want = GOLDEN["schedules"][name]["values"]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)  # Keras computes in float32
    assert len(set(np.round(want, 6))) > 2  # the schedule changes over the steps tested


@pytest.mark.parametrize("name", sorted(problem.SCHEDULES))
def test_schedule_configs_keras3_wrote_load(name):
    spec = GOLDEN["schedules"][name]["config"]  # with Keras 3's 'module' and 'registered_name'
    schedule = schedules.deserialize(spec)
    assert type(schedule).__name__ == spec["class_name"]
    assert schedule.get_config() == spec["config"]
    again = schedules.deserialize(schedules.serialize(schedule))
    assert [again(s) for s in range(0, 40, 7)] == [schedule(s) for s in range(0, 40, 7)]


@pytest.mark.parametrize("name", sorted(problem.CASES))
def test_the_config_keras3_wrote_gives_the_same_steps(name):
    """Keras 3's own ``serialize(optimizer)`` (its module, registered name, every option, a
    schedule as a nested config, the learning rate as a float32 value) loads and trains alike."""
    golden = GOLDEN["cases"][f"{name}-float32"]
    optimizer = optimizers.deserialize(golden["config"])
    assert type(optimizer).__name__ == problem.CASES[name][0]
    _, history = run(optimizer, "float32")
    assert max_error(history, golden["steps"]) <= TOLERANCE
