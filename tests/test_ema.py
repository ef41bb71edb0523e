"""The moving average of the weights (``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``)
on every optimizer, against real Keras 3.

``tests/optimizers_golden/ema_golden.json``, ``ema_keras3_*.h5`` and ``ema_keras3_files.npz``
were made by ``make_ema_golden.py`` there with keras 3.15.1 on torch: ten steps of each case of
``problem.EMA_CASES`` (weights and averages after each step, then ``finalize_variable_values``),
checkpoints Keras wrote after three steps, and ``fit`` runs whose final weights are the averages.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from kerasette import optimizers
from kerasette.backend.tensor import Variable
from kerasette.layers import Dense
from kerasette.models import Sequential, load_model
from kerasette.optimizers import schedules
from tests.optimizers_golden import problem

FOLDER = pathlib.Path(problem.__file__).parent
GOLDEN = json.loads((FOLDER / "ema_golden.json").read_text())
DATA = np.load(FOLDER / "ema_keras3_files.npz")
TOLERANCE = 1e-6


def _value(value):
    if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
        return getattr(schedules, value[0])(**value[1])
    return value


def make(name: str):
    class_name, kwargs, _ = problem.ema_case(name)
    return getattr(optimizers, class_name)(**{k: _value(v) for k, v in kwargs.items()})


def variables(dtype: str):
    return (Variable(problem.W0.astype(dtype), dtype=dtype, name="w"),
            Variable(problem.B0.astype(dtype), dtype=dtype, name="b"))


def step(optimizer, w, b) -> None:
    gw, gb = problem.gradients(w.data, b.data)
    optimizer.apply_gradients([(gw, w), (gb, b)])


def averages(optimizer, w, b) -> list[np.ndarray]:
    return [optimizer.slots_for(v)["average"].copy() for v in (w, b)]


def error(got, want) -> float:
    return max(float(np.max(np.abs(g - np.asarray(x)))) for g, x in zip(got, want, strict=True))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(problem.EMA_CASES))
def test_ten_steps_give_keras3s_weights_and_averages(name, dtype):
    golden = GOLDEN["cases"][f"{name}-{dtype}"]
    optimizer = make(name)
    w, b = variables(dtype)
    for i in range(problem.STEPS):
        step(optimizer, w, b)
        assert error([w.data, b.data], golden["steps"][i]) <= TOLERANCE, f"weights after step {i + 1}"
        assert error(averages(optimizer, w, b), golden["averages"][i]) <= TOLERANCE, f"averages after step {i + 1}"
    optimizer.finalize_variable_values([w, b])
    assert error([w.data, b.data], golden["finalized"]) <= TOLERANCE
    assert w.dtype == dtype and optimizer.iterations == golden["iterations"]
    # teeth: the averages lag the weights by much more than the tolerance
    assert max(error(s, a) for s, a in zip(golden["steps"], golden["averages"], strict=True)) > 1000 * TOLERANCE


def test_the_first_step_starts_the_average_at_the_weight_and_overwrites_follow_the_frequency():
    optimizer = optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)
    w = Variable(np.array([1.0]), name="w")
    optimizer.apply_gradients([(np.array([1.0]), w)])  # w = 0.9; first step: average = w
    assert w.data[0] == pytest.approx(0.9) and optimizer.slots_for(w)["average"][0] == pytest.approx(0.9)
    optimizer.apply_gradients([(np.array([1.0]), w)])  # w = 0.8, average 0.85, and step 2 overwrites
    assert w.data[0] == pytest.approx(0.85) and optimizer.slots_for(w)["average"][0] == pytest.approx(0.85)
    optimizer.apply_gradients([(np.array([1.0]), w)])  # w = 0.75, average 0.8, no overwrite
    assert w.data[0] == pytest.approx(0.75) and optimizer.slots_for(w)["average"][0] == pytest.approx(0.8)


def test_without_use_ema_nothing_is_averaged_or_finalized():
    optimizer = optimizers.Adam(0.05, ema_momentum=0.5, ema_overwrite_frequency=1)  # inert without use_ema
    w, b = variables("float64")
    step(optimizer, w, b)
    before = w.data.copy()
    optimizer.finalize_variable_values([w, b])
    np.testing.assert_array_equal(w.data, before)
    assert "average" not in optimizer.slots_for(w) and "use_ema" not in optimizer.get_config()
    assert [k for k, _ in optimizer.get_state([w, b])[1]] == ["w/momentum", "w/velocity", "b/momentum", "b/velocity"]


@pytest.mark.parametrize("name", sorted(problem.EMA_CASES))
def test_state_lists_the_averages_first_under_keras3s_names(name):
    golden = GOLDEN["cases"][f"{name}-float64"]["variables"]
    keras_slots = [v for v in golden if v["shape"]]
    optimizer = make(name)
    w, b = variables("float64")
    step(optimizer, w, b)
    _, state = optimizer.get_state([w, b])
    assert [key.replace("/", "_") for key, _ in state] == [v["path"].split("/", 1)[1] for v in keras_slots]
    assert [list(a.shape) for _, a in state] == [v["shape"] for v in keras_slots]


@pytest.mark.parametrize("name", sorted(problem.EMA_CASES))
def test_resuming_from_the_saved_state_is_exact(name):
    whole = make(name)
    w, b = variables("float32")
    for _ in range(problem.STEPS):
        step(whole, w, b)
    first = make(name)
    w1, b1 = variables("float32")
    for _ in range(4):
        step(first, w1, b1)
    iterations, state = first.get_state([w1, b1])
    second = optimizers.deserialize(optimizers.serialize(first))
    second.set_state([w1, b1], iterations, [a.copy() for _, a in state])
    for _ in range(problem.STEPS - 4):
        step(second, w1, b1)
    for got, want in zip([w1.data, b1.data, *averages(second, w1, b1)], [w.data, b.data, *averages(whole, w, b)],
                         strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(problem.EMA_CASES))
def test_configs_round_trip_and_keras3s_config_trains_alike(name):
    optimizer = make(name)
    config = optimizer.get_config()
    _, kwargs, _ = problem.ema_case(name)
    assert config["use_ema"] is True
    assert config["ema_momentum"] == kwargs.get("ema_momentum", 0.99)
    assert config["ema_overwrite_frequency"] == kwargs.get("ema_overwrite_frequency")
    again = optimizers.deserialize(optimizers.serialize(optimizer))
    assert again.get_config() == config
    golden = GOLDEN["cases"][f"{name}-float32"]
    from_keras = optimizers.deserialize(golden["config"])  # Keras 3's serialize(optimizer), every option
    assert (from_keras.use_ema, from_keras.ema_momentum, from_keras.ema_overwrite_frequency) == (
        True, config["ema_momentum"], config["ema_overwrite_frequency"])
    w, b = variables("float32")
    for i in range(problem.STEPS):
        step(from_keras, w, b)
        assert error([w.data, b.data], golden["steps"][i]) <= TOLERANCE


@pytest.mark.parametrize("name", ["sgd_momentum_ema_overwrite", "adam_ema"])
def test_keras3_checkpoints_resume_with_their_averages(name, tmp_path):
    model = load_model(FOLDER / f"ema_keras3_{name}.h5")
    optimizer = model.optimizer
    assert optimizer.use_ema and optimizer.iterations == 3
    _, state = optimizer.get_state(model.trainable_weights)
    keras_names = [str(n) for n in DATA[f"{name}/variable_names"]]
    keras_slots = [DATA[f"{name}/slot_{i}"] for i in range(len(state))]
    assert sum(n.endswith("_average") for n in keras_names) == len(model.trainable_weights) > 0
    for (key, got), want in zip(state, keras_slots, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7, err_msg=key)
    # kerasette writes them back under Keras's names, and reads its own file as it read Keras's
    model.save(tmp_path / "again.h5")
    import h5py

    with h5py.File(tmp_path / "again.h5") as f:
        written = [(n.decode() if isinstance(n, bytes) else n).split("/", 1)[1]
                   for n in f["optimizer_weights"].attrs["weight_names"]]
    assert [n for n in written if n.endswith("_average")] == [n.split("/", 1)[1] for n in keras_names
                                                             if n.endswith("_average")]
    reloaded = load_model(tmp_path / "again.h5")
    for model_ in (model, reloaded):
        model_.train_on_batch(DATA["x"], DATA["y"])
        for i, got in enumerate(model_.get_weights()):
            np.testing.assert_allclose(got, DATA[f"{name}/weights_after_step_4_{i}"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd_ema", "sgd_momentum_ema_overwrite", "adam_ema", "nadam_ema"])
def test_fit_ends_with_the_averages_as_keras3_does(name):
    model = Sequential([Dense(3, activation="tanh", input_dim=4), Dense(2)])
    initial = [DATA[f"fit/{name}/initial_{i}"] for i in range(4)]
    model.set_weights(initial)
    model.compile(make(name), "mse")
    model.fit(DATA["x"], DATA["y"], batch_size=4, epochs=2, shuffle=False, verbose=0)
    final = [DATA[f"fit/{name}/final_{i}"] for i in range(4)]
    assert error(model.get_weights(), final) <= TOLERANCE
    # teeth: without the final overwrite the weights differ
    model.set_weights(initial)
    model.compile(make(name), "mse")
    model.optimizer.finalize_variable_values = lambda var_list: None
    model.fit(DATA["x"], DATA["y"], batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert error(model.get_weights(), final) > 100 * TOLERANCE


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ema_momentum": 1.5}, r"SGD: argument `ema_momentum` must be in \[0, 1\]; received ema_momentum=1.5"),
    ({"ema_momentum": -0.1}, r"SGD: argument `ema_momentum` must be in \[0, 1\]; received ema_momentum=-0.1"),
    ({"ema_overwrite_frequency": -2}, r"SGD: argument `ema_overwrite_frequency` must be an integer >= 1 or None; "
                                      r"received ema_overwrite_frequency=-2"),
    ({"ema_overwrite_frequency": 2.5}, r"SGD: argument `ema_overwrite_frequency` must be an integer >= 1 or None; "
                                       r"received ema_overwrite_frequency=2.5"),
])
def test_bad_ema_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optimizers.SGD(use_ema=True, **kwargs)


KERAS_READS = """
import json, sys, warnings
import keras
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    optimizer = keras.saving.load_model(sys.argv[1]).optimizer
config = keras.optimizers.serialize(optimizer)["config"]
print(json.dumps({"class_name": type(optimizer).__name__, "iterations": int(keras.ops.convert_to_numpy(
    optimizer.iterations)), **{k: config[k] for k in ("use_ema", "ema_momentum", "ema_overwrite_frequency")}}))
"""


def test_keras3_compiles_kerasettes_file_with_the_same_moving_average(tmp_path):
    import json
    import os
    import subprocess

    from tests.saving.keras_interop_check import backend
    from tests.saving.test_keras_interop import _require_keras

    keras_python = _require_keras()
    model = load_model(FOLDER / "ema_keras3_adam_ema.h5", compile=False)
    model.compile(optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3), "mse")
    model.train_on_batch(DATA["x"], DATA["y"])
    model.save(tmp_path / "ema.h5")
    proc = subprocess.run([keras_python, "-c", KERAS_READS, str(tmp_path / "ema.h5")], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "KERAS_BACKEND": backend()})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"class_name": "Adam", "iterations": 1, "use_ema": True, "ema_momentum": 0.9,
                      "ema_overwrite_frequency": 3}


def test_a_zero_overwrite_frequency_means_never_as_in_keras():
    optimizer = optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=0)
    w = Variable(np.array([1.0]), name="w")
    for _ in range(3):
        optimizer.apply_gradients([(np.array([1.0]), w)])
    assert w.data[0] == pytest.approx(0.7) and optimizer.get_config()["ema_overwrite_frequency"] == 0


@pytest.mark.parametrize("name", ["sgd_momentum_ema_overwrite", "adam_ema", "nadam_ema"])
def test_a_saved_model_resumes_its_averages_exactly(name, tmp_path):
    def fresh():
        model = Sequential([Dense(3, activation="tanh", input_dim=4), Dense(2)])
        model.set_weights([DATA[f"fit/sgd_ema/initial_{i}"] for i in range(4)])
        model.compile(make(name), "mse")
        return model

    straight = fresh()
    for _ in range(6):
        straight.train_on_batch(DATA["x"], DATA["y"])
    first = fresh()
    for _ in range(3):
        first.train_on_batch(DATA["x"], DATA["y"])
    first.save(tmp_path / "half.h5")
    resumed = load_model(tmp_path / "half.h5")
    for _ in range(3):
        resumed.train_on_batch(DATA["x"], DATA["y"])
    for got, want in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    _, got_state = resumed.optimizer.get_state(resumed.trainable_weights)
    _, want_state = straight.optimizer.get_state(straight.trainable_weights)
    assert [k.rsplit("/", 1)[1] for k, _ in got_state[:4]] == ["average"] * 4
    for (_, got), (_, want) in zip(got_state, want_state, strict=True):
        np.testing.assert_array_equal(got, want)


def test_finalizing_before_any_step_keeps_the_weights():
    optimizer = optimizers.Adam(use_ema=True)
    w, b = variables("float32")
    optimizer.get_state([w, b])  # a checkpoint written before training makes the (zero) slots
    optimizer.finalize_variable_values([w, b])
    np.testing.assert_array_equal(w.data, problem.W0.astype("float32"))
