"""Makes ema_golden.json, ema_keras3_*.h5 and ema_keras3_files.npz: Keras 3's moving average of
the weights (``use_ema``) on the problem of `problem.py`, in checkpoints and through ``fit``.

Run in a side environment with keras 3 and torch (never kerasette's dependencies)::

    cd tests/optimizers_golden && KERAS_BACKEND=torch /work/kerasenv/bin/python make_ema_golden.py

ema_golden.json, for each case of ``problem.EMA_CASES`` and dtype (float64, float32): the weights
and their moving averages after each of the ten steps, the weights after
``finalize_variable_values`` (what ``fit`` calls at its end), Keras's optimizer variables (names
and shapes: the checkpoint layout) and the optimizer's config.

ema_keras3_<case>.h5 (legacy HDF5, ``model.save``): a small model trained three steps; the npz
holds the data, the optimizer variables after those steps and the weights after a fourth step.
The npz also holds, per ``FIT_CASES`` entry, a model's initial weights and its weights after
``fit(epochs=2, batch_size=4, shuffle=False)`` (the averages, which fit writes at its end).
"""

from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import problem
from make_golden import _keras_value

HERE = pathlib.Path(__file__).parent
FILE_CASES = ("sgd_momentum_ema_overwrite", "adam_ema")
FIT_CASES = ("sgd_ema", "sgd_momentum_ema_overwrite", "adam_ema", "nadam_ema")


def _numpy(value):
    return keras.ops.convert_to_numpy(value)


def _optimizer(name):
    class_name, kwargs, keras_kwargs = problem.ema_case(name)
    return getattr(keras.optimizers, class_name)(**{k: _keras_value(v) for k, v in (keras_kwargs or kwargs).items()})


def run_case(name: str, dtype: str) -> dict:
    optimizer = _optimizer(name)
    w = keras.Variable(problem.W0.astype(dtype), dtype=dtype, name="w")
    b = keras.Variable(problem.B0.astype(dtype), dtype=dtype, name="b")
    steps, averages = [], []
    for _ in range(problem.STEPS):
        gw, gb = problem.gradients(_numpy(w), _numpy(b))
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gw), w), (keras.ops.convert_to_tensor(gb), b)])
        steps.append([_numpy(w).tolist(), _numpy(b).tolist()])
        averages.append([_numpy(a).tolist() for a in optimizer._model_variables_moving_average])
    optimizer.finalize_variable_values([w, b])
    variables = [{"path": v.path, "shape": list(v.shape)} for v in optimizer.variables]
    return {"steps": steps, "averages": averages, "finalized": [_numpy(w).tolist(), _numpy(b).tolist()],
            "iterations": int(_numpy(optimizer.iterations)), "variables": variables,
            "config": keras.optimizers.serialize(optimizer)}


def _model():
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(2)])


def main() -> None:
    out = {"keras_version": keras.__version__, "backend": keras.backend.backend(), "cases": {}}
    for name in problem.EMA_CASES:
        for dtype in ("float64", "float32"):
            out["cases"][f"{name}-{dtype}"] = run_case(name, dtype)
    (HERE / "ema_golden.json").write_text(json.dumps(out, separators=(",", ":")) + "\n")

    rng = np.random.RandomState(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    arrays = {"x": x, "y": y}
    for name in FILE_CASES:
        model = _model()
        optimizer = _optimizer(name)
        model.compile(optimizer, "mse")
        for _ in range(3):
            model.train_on_batch(x, y)
        model.save(HERE / f"ema_keras3_{name}.h5")
        arrays[f"{name}/variable_names"] = np.array([v.path for v in optimizer.variables])
        for i, value in enumerate(v for v in optimizer.variables if len(v.shape)):
            arrays[f"{name}/slot_{i}"] = _numpy(value)
        model.train_on_batch(x, y)
        for i, value in enumerate(model.get_weights()):
            arrays[f"{name}/weights_after_step_4_{i}"] = value
    for name in FIT_CASES:
        model = _model()
        for i, value in enumerate(model.get_weights()):
            arrays[f"fit/{name}/initial_{i}"] = value
        model.compile(_optimizer(name), "mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        for i, value in enumerate(model.get_weights()):
            arrays[f"fit/{name}/final_{i}"] = value
    np.savez(HERE / "ema_keras3_files.npz", **arrays)
    print(f"wrote ema_golden.json ({len(out['cases'])} cases), {len(FILE_CASES)} files and ema_keras3_files.npz")


if __name__ == "__main__":
    main()
