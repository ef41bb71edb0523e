"""Loads kerasette-written checkpoints in real Keras 3 and compares the predictions.

Run with a Python that has ``keras`` (3.x) and a backend installed, for example::

    KERAS_BACKEND=jax /tmp/kerasenv/bin/python tests/saving/keras_interop_check.py DIR

``DIR`` holds ``NAME.h5`` or ``NAME.keras`` (written by kerasette's ``model.save``) and ``NAME.npz`` (inputs ``x``,
or ``x_0``, ``x_1``, ... for several, and kerasette's predictions ``y``), and optionally ``NAME.weights-only.h5`` with ``NAME.arch.h5``
(a full model whose architecture Keras builds before ``load_weights`` of the weights-only file), and
``NAME.weights.h5`` (Keras 3's native weights layout, loaded into the model of ``NAME.keras``).
Prints one JSON line per file: the max abs difference between Keras's and kerasette's
predictions, and whether Keras restored the optimizer (iterations). Imports nothing from
kerasette, so it runs in an environment without it.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import warnings

import numpy as np

DEFAULT_BACKEND = "jax"  # the backend .ci/run installs in its side environment


def backend() -> str:
    """The Keras backend to run: ``KERASETTE_KERAS_BACKEND``, else the one CI installs."""
    return os.environ.get("KERASETTE_KERAS_BACKEND") or DEFAULT_BACKEND


def _inputs(data):
    """``x``, or the list ``x_0``, ``x_1``, ... for a model with several inputs."""
    if "x" in data.files:
        return data["x"]
    return [data[f"x_{i}"] for i in range(len([k for k in data.files if k.startswith("x_")]))]


SUFFIXES = (".weights-only.h5", ".weights.h5", ".keras", ".h5")


def _stem(path: str) -> tuple[str, str]:
    """(the path without its suffix, the suffix) for the kinds of files this script checks."""
    suffix = next(s for s in SUFFIXES if path.endswith(s))
    return path[: -len(suffix)], suffix


def check_full_model(keras, path: str) -> dict:
    data = np.load(_stem(path)[0] + ".npz")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.models.load_model(path)
    predicted = np.asarray(model.predict(_inputs(data), verbose=0))
    optimizer = getattr(model, "optimizer", None)
    iterations = int(np.asarray(optimizer.iterations)) if optimizer is not None else None
    return {"file": os.path.basename(path), "kind": "load_model",
            "max_abs_diff": float(np.max(np.abs(predicted - data["y"]))),
            "compiled": bool(getattr(model, "compiled", False)), "optimizer_iterations": iterations,
            "slots_max_abs_diff": _slots_diff(optimizer, data),
            "warnings": [str(w.message)[:200] for w in caught]}


def _slots_diff(optimizer, data) -> float | None:
    """Max abs difference between Keras's restored optimizer slots and kerasette's (``slot_<i>``
    arrays in the .npz, in Keras 3's variable order after ``iteration`` and ``learning_rate``).

    None when Keras built no slots: Keras 3.15's legacy-HDF5 loader builds a Sequential model's
    optimizer over ``model._trainable_variables``, which is empty, so it restores only the
    iteration count and the learning rate, for its own files too.
    """
    expected = [data[f"slot_{i}"] for i in range(len([k for k in data.files if k.startswith("slot_")]))]
    restored = [np.asarray(v) for v in optimizer.variables[2:]] if optimizer is not None else []
    if not expected or not restored:
        return None
    if len(restored) != len(expected):
        return float("inf")
    return float(max(np.max(np.abs(a - b)) for a, b in zip(restored, expected)))


def check_weights_only(keras, path: str) -> dict:
    """``NAME.weights-only.h5`` (legacy layout) into the model of ``NAME.h5``, or ``NAME.weights.h5``
    (Keras 3's native layout) into the model of ``NAME.keras``, after zeroing its weights."""
    stem, suffix = _stem(path)
    data = np.load(stem + ".npz")
    model = keras.models.load_model(stem + (".h5" if suffix == ".weights-only.h5" else ".keras"), compile=False)
    for var in model.weights:
        var.assign(np.zeros(var.shape, dtype="float32"))
    model.load_weights(path)
    predicted = np.asarray(model.predict(_inputs(data), verbose=0))
    return {"file": os.path.basename(path), "kind": "load_weights",
            "max_abs_diff": float(np.max(np.abs(predicted - data["y"])))}


def main(folder: str) -> int:
    os.environ.setdefault("KERAS_BACKEND", backend())
    import keras

    print(json.dumps({"keras_version": keras.__version__, "backend": keras.backend.backend()}), flush=True)
    paths = glob.glob(os.path.join(folder, "*.h5")) + glob.glob(os.path.join(folder, "*.keras"))
    for path in sorted(paths):
        if _stem(path)[1] in (".weights-only.h5", ".weights.h5"):
            result = check_weights_only(keras, path)
        else:
            result = check_full_model(keras, path)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
