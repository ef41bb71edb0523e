"""Golden values of Keras 3's loss classes (options and reductions), for tests/test_loss_classes.py.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/losses_golden/make_classes_golden.py

Made with Keras 3.15.1 on torch 2.13.0+cpu; writes classes_golden.json beside this file.
"""

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.default_rng(7)
logits = rng.normal(0.0, 2.0, (6, 4)).astype("float32")
probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
onehot = np.eye(4, dtype="float32")[rng.integers(0, 4, 6)]
labels = onehot.argmax(-1)
binary = rng.integers(0, 2, (6, 3)).astype("float32")
binary_logits = rng.normal(0.0, 2.0, (6, 3)).astype("float32")
regression_true = rng.normal(size=(6, 3)).astype("float32")
regression_pred = rng.normal(size=(6, 3)).astype("float32") * 2
weights = rng.uniform(0.0, 2.0, 6).astype("float32")
arrays = {"logits": logits, "probs": probs, "onehot": onehot, "labels": labels, "binary": binary,
          "binary_logits": binary_logits, "regression_true": regression_true,
          "regression_pred": regression_pred, "weights": weights}

CASES = [  # (class, options, y_true, y_pred, reduction, weighted)
    ("CategoricalCrossentropy", {"from_logits": True}, "onehot", "logits", "sum_over_batch_size", False),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "onehot", "logits", "sum", True),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "onehot", "probs", "none", False),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "labels", "logits", "mean_with_sample_weight", True),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary", "binary_logits",
     "sum_over_batch_size", True),
    ("BinaryCrossentropy", {}, "binary", "binary_logits_sigmoid", "none", False),
    ("Huber", {"delta": 0.5}, "regression_true", "regression_pred", "mean", True),
    ("MeanSquaredError", {}, "regression_true", "regression_pred", "sum", False),
    ("CosineSimilarity", {"axis": -1}, "regression_true", "regression_pred", "none", False),
    ("BinaryFocalCrossentropy", {"gamma": 2.0}, "binary", "binary_logits_sigmoid", "none", False),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.3, "from_logits": True,
                                 "label_smoothing": 0.1}, "binary", "binary_logits", "sum_over_batch_size", True),
    ("CategoricalFocalCrossentropy", {"gamma": 1.5}, "onehot", "probs", "none", False),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "alpha": 0.5, "label_smoothing": 0.1}, "onehot",
     "logits", "sum", True),
]
arrays["binary_logits_sigmoid"] = 1.0 / (1.0 + np.exp(-binary_logits))
golden = {"keras_version": keras.__version__, "inputs": {k: v.tolist() for k, v in arrays.items()}, "cases": []}
for cls, options, t, p, reduction, weighted in CASES:
    loss = getattr(keras.losses, cls)(reduction=reduction, **options)
    value = loss(keras.ops.convert_to_tensor(arrays[t]), keras.ops.convert_to_tensor(arrays[p]),
                 sample_weight=keras.ops.convert_to_tensor(weights) if weighted else None)
    golden["cases"].append({"class": cls, "options": options, "y_true": t, "y_pred": p, "reduction": reduction,
                            "weighted": weighted, "value": np.asarray(keras.ops.convert_to_numpy(value),
                                                                      "float64").tolist(),
                            "config": {k: v for k, v in loss.get_config().items() if k not in ("dtype",)}})
pathlib.Path(__file__).with_name("classes_golden.json").write_text(json.dumps(golden, indent=1))
print("wrote", len(golden["cases"]))
