"""Makes golden.json: the weights real Keras 3 gives on the problem of `problem.py`.

Run in a side environment with keras 3 and torch (never kerasette's dependencies)::

    cd tests/optimizers_golden && KERAS_BACKEND=torch /work/kerasenv/bin/python make_golden.py

For each optimizer case and dtype (float64, float32): the weights after each of the ten steps,
the names and shapes of Keras's optimizer variables (their order is the checkpoint layout) and
the optimizer's config as Keras 3 serializes it.
For each schedule: its values at steps 0..SCHEDULE_STEPS-1.
"""

from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import problem


def _keras_value(value):
    if isinstance(value, tuple):
        return getattr(keras.optimizers.schedules, value[0])(**value[1])
    return value


def run_case(class_name: str, kwargs: dict, dtype: str) -> dict:
    optimizer = getattr(keras.optimizers, class_name)(**{k: _keras_value(v) for k, v in kwargs.items()})
    w = keras.Variable(problem.W0.astype(dtype), dtype=dtype, name="w")
    b = keras.Variable(problem.B0.astype(dtype), dtype=dtype, name="b")
    steps = []
    for _ in range(problem.STEPS):
        gw, gb = problem.gradients(keras.ops.convert_to_numpy(w), keras.ops.convert_to_numpy(b))
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gw), w), (keras.ops.convert_to_tensor(gb), b)])
        steps.append([keras.ops.convert_to_numpy(w).tolist(), keras.ops.convert_to_numpy(b).tolist()])
    variables = [{"path": v.path, "shape": list(v.shape)} for v in optimizer.variables]
    return {"steps": steps, "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
            "variables": variables, "config": keras.optimizers.serialize(optimizer)}


def main() -> None:
    out = {"keras_version": keras.__version__, "backend": keras.backend.backend(), "cases": {}, "schedules": {}}
    for name, (class_name, kwargs, keras_kwargs) in problem.CASES.items():
        for dtype in ("float64", "float32"):
            out["cases"][f"{name}-{dtype}"] = run_case(class_name, keras_kwargs or kwargs, dtype)
    for name, (class_name, config) in problem.SCHEDULES.items():
        schedule = getattr(keras.optimizers.schedules, class_name)(**config)
        values = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(problem.SCHEDULE_STEPS)]
        out["schedules"][name] = {"values": values,
                                  "config": keras.optimizers.schedules.serialize(schedule)}
    path = pathlib.Path(__file__).with_name("golden.json")
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({len(out['cases'])} optimizer cases, {len(out['schedules'])} schedules)")


if __name__ == "__main__":
    np.set_printoptions(precision=10)
    main()
