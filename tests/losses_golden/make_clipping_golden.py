"""Golden values of Keras 3's cross-entropies on probabilities (not logits), with confidently
wrong (and confidently right) samples whose probabilities Keras clips to [1e-7, 1 - 1e-7], for
tests/test_loss_clipping.py.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/losses_golden/make_clipping_golden.py

Made with Keras 3.15.1 on torch 2.13.0+cpu; writes clipping_golden.json beside this file:

- ``functions``: per-sample values of ``keras.losses.<name>(y_true, y_pred)``;
- ``classes``: ``keras.losses.<Class>(**options)(y_true, y_pred, sample_weight)``;
- ``models``: a one-layer model ending in a softmax (or sigmoid) whose weights make some samples
  confidently wrong: the loss ``evaluate`` returns, the loss ``train_on_batch`` returns (before
  its update) and the weights after that one SGD step (which show Keras's gradient through the
  clip: none from a clipped probability).
"""

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.default_rng(15)
# Rows of class probabilities: confidently wrong (the true class below 1e-7, or exactly 0),
# confidently right (above 1 - 1e-7), ordinary, and not normalised (Keras divides by the sum).
probs = np.array([[1e-12, 0.5, 0.25, 0.25],
                  [0.0, 1.0, 0.0, 0.0],
                  [1.0 - 1e-9, 1e-9, 0.0, 0.0],
                  [0.1, 0.2, 0.3, 0.4],
                  [2e-8, 0.9, 0.1, 0.0],
                  [0.2, 0.4, 0.6, 0.8]], dtype="float32")
onehot = np.eye(4, dtype="float32")[[0, 0, 0, 2, 0, 1]]
labels = onehot.argmax(-1)
binary_true = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]], dtype="float32")
binary_pred = np.array([[0.0, 1.0, 1e-9], [1.0 - 1e-9, 0.3, 1.0], [0.7, 1.0, 0.2], [1e-8, 0.5, 0.99]],
                       dtype="float32")
weights = np.array([0.5, 1.0, 2.0, 1.5, 0.25, 1.0], dtype="float32")
arrays = {"probs": probs, "onehot": onehot, "labels": labels, "binary_true": binary_true,
          "binary_pred": binary_pred, "weights": weights, "binary_weights": weights[:4]}

FUNCTIONS = {  # name -> (y_true, y_pred)
    "categorical_crossentropy": ("onehot", "probs"),
    "sparse_categorical_crossentropy": ("labels", "probs"),
    "binary_crossentropy": ("binary_true", "binary_pred"),
}
CLASSES = [  # (class, options, y_true, y_pred, reduction, sample weights or None)
    ("CategoricalCrossentropy", {}, "onehot", "probs", "none", None),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot", "probs", "sum_over_batch_size", "weights"),
    ("SparseCategoricalCrossentropy", {}, "labels", "probs", "none", None),
    ("SparseCategoricalCrossentropy", {}, "labels", "probs", "sum", "weights"),
    ("BinaryCrossentropy", {}, "binary_true", "binary_pred", "none", None),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, "binary_true", "binary_pred", "mean", "binary_weights"),
]

x = rng.normal(size=(8, 5)).astype("float32")
kernel = (rng.normal(size=(5, 4)) * 8).astype("float32")
bias = np.array([0.5, -0.5, 0.25, 0.0], dtype="float32")
model_labels = rng.integers(0, 4, 8)
binary_targets = rng.integers(0, 2, (8, 4)).astype("float32")
arrays.update({"x": x, "kernel": kernel, "bias": bias, "model_labels": model_labels,
               "model_onehot": np.eye(4, dtype="float32")[model_labels], "binary_targets": binary_targets})
MODELS = {  # name -> (activation, loss, targets)
    "softmax_categorical": ("softmax", "categorical_crossentropy", "model_onehot"),
    "softmax_sparse": ("softmax", "sparse_categorical_crossentropy", "model_labels"),
    "softmax_categorical_smoothed": ("softmax", "CategoricalCrossentropy(label_smoothing=0.1)", "model_onehot"),
    "sigmoid_binary": ("sigmoid", "binary_crossentropy", "binary_targets"),
}


def _loss(spec):
    if spec.startswith("CategoricalCrossentropy("):
        return keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    return spec


def _np(value):
    return np.asarray(keras.ops.convert_to_numpy(value), "float64").tolist()


golden = {"keras_version": keras.__version__, "inputs": {k: v.tolist() for k, v in arrays.items()},
          "functions": {}, "classes": [], "models": {}}
for name, (t, p) in FUNCTIONS.items():
    value = getattr(keras.losses, name)(keras.ops.convert_to_tensor(arrays[t]), keras.ops.convert_to_tensor(arrays[p]))
    golden["functions"][name] = {"y_true": t, "y_pred": p, "value": _np(value)}
for cls, options, t, p, reduction, w in CLASSES:
    loss = getattr(keras.losses, cls)(reduction=reduction, **options)
    value = loss(keras.ops.convert_to_tensor(arrays[t]), keras.ops.convert_to_tensor(arrays[p]),
                 sample_weight=None if w is None else keras.ops.convert_to_tensor(arrays[w]))
    golden["classes"].append({"class": cls, "options": options, "y_true": t, "y_pred": p, "reduction": reduction,
                              "sample_weight": w, "value": _np(value)})
for name, (activation, loss, targets) in MODELS.items():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation=activation)])
    model.set_weights([kernel, bias])
    model.compile(keras.optimizers.SGD(learning_rate=0.1), _loss(loss))
    probabilities = model.predict(x, verbose=0)
    evaluated = model.evaluate(x, arrays[targets], batch_size=len(x), verbose=0)
    trained = model.train_on_batch(x, arrays[targets])
    golden["models"][name] = {"activation": activation, "loss": loss, "y_true": targets, "evaluate": float(evaluated),
                              "train_on_batch": float(trained), "probabilities": probabilities.tolist(),
                              "weights_after_step": [w.tolist() for w in model.get_weights()]}
pathlib.Path(__file__).with_name("clipping_golden.json").write_text(json.dumps(golden, indent=1))
print("wrote", len(golden["functions"]), "functions,", len(golden["classes"]), "classes,", len(golden["models"]),
      "models")
