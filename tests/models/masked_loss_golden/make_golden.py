"""Golden numbers for masks in losses and metrics, from real Keras 3 (tests/models/test_masked_losses.py).

Run once in a side environment (never a kerasette dependency):

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/models/masked_loss_golden/make_golden.py

Two small masked sequence models with fixed weights, written to ``golden.npz`` with their data:

- ``tagger``: Embedding(7, 3, mask_zero=True) -> LSTM(4, return_sequences=True) ->
  TimeDistributed(Dense(3, softmax)); sparse categorical cross-entropy, metrics ``accuracy``
  and weighted ``accuracy``; evaluate in one batch and in batches of 2, evaluate with sample
  weights per sample and step, one SGD step of train_on_batch (its logs and the predictions
  after it).
- ``regressor``: Masking(0.0) -> SimpleRNN(3, return_sequences=True) ->
  TimeDistributed(Dense(1, sigmoid)); binary cross-entropy with ``mae`` and weighted ``mse``,
  the loss reduced with ``'sum'`` and ``'mean_with_sample_weight'`` too.

Keras 3.15.1 cannot combine per-sample weights (batch,) with a (batch, steps) mask (torch raises
a broadcasting error), so the weights here are per sample and step.
"""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

HERE = pathlib.Path(__file__).parent
rng = np.random.default_rng(17)
B, T, V = 5, 6, 7

tokens = rng.integers(1, V, size=(B, T))
for row, length in enumerate([3, 1, 6, 4, 2]):  # padded at the end, one row full
    tokens[row, length:] = 0
tags = rng.integers(0, 3, size=(B, T))
step_weight = rng.uniform(0.2, 2.0, size=(B, T)).astype("float32")

series = rng.normal(size=(B, T, 2)).astype("float32")
for row, length in enumerate([6, 2, 5, 3, 4]):
    series[row, length:] = 0.0
series[3, 1] = 0.0  # a masked step inside a sequence
binary = rng.integers(0, 2, size=(B, T, 1)).astype("float32")


def tagger():
    m = keras.Sequential([keras.Input((T,)), layers.Embedding(V, 3, mask_zero=True),
                          layers.LSTM(4, return_sequences=True),
                          layers.TimeDistributed(layers.Dense(3, activation="softmax"))])
    return m


def regressor():
    return keras.Sequential([keras.Input((T, 2)), layers.Masking(0.0), layers.SimpleRNN(3, return_sequences=True),
                             layers.TimeDistributed(layers.Dense(1, activation="sigmoid"))])


def fixed_weights(model, seed):
    r = np.random.default_rng(seed)
    return [r.uniform(-0.6, 0.6, size=w.shape).astype("float32") for w in model.get_weights()]


out = {"keras_version": np.array(keras.__version__), "tokens": tokens, "tags": tags, "step_weight": step_weight,
       "series": series, "binary": binary}

tagger_weights = fixed_weights(tagger(), 1)
for i, w in enumerate(tagger_weights):
    out[f"tagger_w{i}"] = w


def compiled_tagger():
    m = tagger()
    m.set_weights(tagger_weights)
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"], weighted_metrics=["accuracy"])
    return m


def as_array(logs):
    return np.array([logs["loss"], logs["accuracy"], logs["weighted_accuracy"]], dtype="float64")


m = compiled_tagger()
out["tagger_predict"] = m.predict(tokens, verbose=0)
out["tagger_evaluate"] = as_array(m.evaluate(tokens, tags, verbose=0, return_dict=True))
out["tagger_evaluate_batches"] = as_array(m.evaluate(tokens, tags, batch_size=2, verbose=0, return_dict=True))
out["tagger_evaluate_weighted"] = as_array(m.evaluate(tokens, tags, sample_weight=step_weight, verbose=0,
                                                      return_dict=True))
logs = m.train_on_batch(tokens, tags, sample_weight=step_weight, return_dict=True)
out["tagger_train_logs"] = as_array(logs)
out["tagger_predict_after_step"] = m.predict(tokens, verbose=0)

regressor_weights = fixed_weights(regressor(), 2)
for i, w in enumerate(regressor_weights):
    out[f"regressor_w{i}"] = w
for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
    m = regressor()
    m.set_weights(regressor_weights)
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5),
              loss=keras.losses.BinaryCrossentropy(reduction=reduction), metrics=["mae"], weighted_metrics=["mse"])
    if reduction == "sum_over_batch_size":
        out["regressor_predict"] = m.predict(series, verbose=0)
    logs = m.evaluate(series, binary, sample_weight=step_weight, verbose=0, return_dict=True)
    out[f"regressor_evaluate_{reduction}"] = np.array([logs["loss"], logs["mae"], logs["mse"]], dtype="float64")
    logs = m.train_on_batch(series, binary, sample_weight=step_weight, return_dict=True)
    out[f"regressor_train_{reduction}"] = np.array([logs["loss"], logs["mae"], logs["mse"]], dtype="float64")
    out[f"regressor_predict_after_{reduction}"] = m.predict(series, verbose=0)

np.savez(HERE / "golden.npz", **out)
print({k: v for k, v in out.items() if k.endswith(("evaluate", "batches", "weighted", "logs")) or "_evaluate_" in k
       or "_train_" in k})
