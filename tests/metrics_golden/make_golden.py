"""Golden results of Keras 3's stateful metrics over two batches, for tests/test_metric_classes.py.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/metrics_golden/make_golden.py

Made with Keras 3.15.1 on torch 2.13.0+cpu; writes golden.json beside this file.
"""

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.default_rng(3)
binary_true = [rng.integers(0, 2, (8, 3)).astype("float32") for _ in range(2)]
binary_pred = [rng.uniform(0, 1, (8, 3)).astype("float32") for _ in range(2)]
labels = [rng.integers(0, 5, 8) for _ in range(2)]
onehot = [np.eye(5, dtype="float32")[lab] for lab in labels]
probs = [rng.dirichlet(np.ones(5), 8).astype("float32") for _ in range(2)]
pred_labels = [rng.integers(0, 5, 8) for _ in range(2)]
reg_true = [rng.normal(size=(8, 2)).astype("float32") for _ in range(2)]
reg_pred = [rng.normal(size=(8, 2)).astype("float32") for _ in range(2)]
weights = [rng.uniform(0, 2, 8).astype("float32") for _ in range(2)]
arrays = {"binary_true": binary_true, "binary_pred": binary_pred, "labels": labels, "onehot": onehot,
          "probs": probs, "pred_labels": pred_labels, "reg_true": reg_true, "reg_pred": reg_pred, "weights": weights}

CASES = [  # (class, options, y_true, y_pred, weighted)
    ("Precision", {}, "binary_true", "binary_pred", False),
    ("Precision", {"thresholds": [0.3, 0.7]}, "binary_true", "binary_pred", True),
    ("Precision", {"top_k": 2}, "onehot", "probs", False),
    ("Recall", {"class_id": 1}, "binary_true", "binary_pred", False),
    ("Recall", {"thresholds": 0.4}, "binary_true", "binary_pred", True),
    ("AUC", {}, "binary_true", "binary_pred", False),
    ("AUC", {"curve": "PR", "num_thresholds": 50}, "binary_true", "binary_pred", True),
    ("MeanIoU", {"num_classes": 5}, "labels", "pred_labels", False),
    ("F1Score", {"average": "macro"}, "onehot", "probs", False),
    ("F1Score", {"average": "micro", "threshold": 0.3}, "onehot", "probs", False),
    ("F1Score", {}, "onehot", "probs", False),
    ("RootMeanSquaredError", {}, "reg_true", "reg_pred", True),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot", "probs", False),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "labels", "probs", True),
    ("CategoricalAccuracy", {}, "onehot", "probs", True),
    ("BinaryAccuracy", {"threshold": 0.6}, "binary_true", "binary_pred", False),
]
golden = {"keras_version": keras.__version__,
          "inputs": {k: [a.tolist() for a in v] for k, v in arrays.items()}, "cases": []}
for cls, options, t, p, weighted in CASES:
    metric = getattr(keras.metrics, cls)(**options)
    for b in range(2):
        metric.update_state(arrays[t][b], arrays[p][b], sample_weight=weights[b] if weighted else None)
    golden["cases"].append({"class": cls, "options": options, "y_true": t, "y_pred": p, "weighted": weighted,
                            "result": np.asarray(keras.ops.convert_to_numpy(metric.result()), "float64").tolist()})
pathlib.Path(__file__).with_name("golden.json").write_text(json.dumps(golden, indent=1))
print("wrote", len(golden["cases"]))
