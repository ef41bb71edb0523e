"""Golden loss values from real Keras 3, for tests/test_losses_keras3.py.

Run once in a side environment (never a kerasette dependency):

    python3 -m venv /work/kerasenv && /work/kerasenv/bin/pip install keras torch==2.13.0
    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/losses_golden/make_golden.py

Made with Keras 3.15.1 on torch 2.13.0+cpu. Writes golden.json beside this file: the inputs
(seeded numpy) and, per loss, Keras's per-sample values.
"""

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.default_rng(2026)
y_true = rng.uniform(0.0, 1.0, (6, 4))
y_pred = rng.uniform(0.05, 0.95, (6, 4))
y_signed = rng.choice([-1.0, 1.0], (6, 4))
y_binary = rng.integers(0, 2, (6, 4)).astype("float64")
y_onehot = np.eye(4)[rng.integers(0, 4, 6)]
y_big = rng.normal(0.0, 3.0, (6, 4))  # errors beyond huber's delta and large log_cosh arguments

CASES = {
    "mean_absolute_percentage_error": ("y_true", "y_pred"),
    "mean_squared_logarithmic_error": ("y_true", "y_pred"),
    "hinge": ("y_signed", "y_big"),
    "hinge_binary_labels": ("y_binary", "y_big"),
    "squared_hinge": ("y_signed", "y_big"),
    "categorical_hinge": ("y_onehot", "y_big"),
    "huber": ("y_true", "y_big"),
    "log_cosh": ("y_true", "y_big"),
    "kl_divergence": ("y_onehot", "y_pred"),
    "poisson": ("y_true", "y_pred"),
    "cosine_similarity": ("y_true", "y_big"),
}
arrays = {"y_true": y_true, "y_pred": y_pred, "y_signed": y_signed, "y_binary": y_binary, "y_onehot": y_onehot,
          "y_big": y_big}
golden = {"keras_version": keras.__version__, "inputs": {k: v.tolist() for k, v in arrays.items()}, "losses": {}}
for name, (a, b) in CASES.items():
    fn = getattr(keras.losses, name.replace("_binary_labels", ""))
    value = fn(keras.ops.convert_to_tensor(arrays[a], "float32"), keras.ops.convert_to_tensor(arrays[b], "float32"))
    golden["losses"][name] = {"y_true": a, "y_pred": b, "value": np.asarray(keras.ops.convert_to_numpy(value),
                                                                             "float64").tolist()}
pathlib.Path(__file__).with_name("golden.json").write_text(json.dumps(golden, indent=1))
print("wrote", len(golden["losses"]), "losses")
