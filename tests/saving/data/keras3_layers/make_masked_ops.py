"""Writes this folder's fixtures of functional models whose configs hold Keras 3's operation
layers, with real Keras 3 (not kerasette).

Keras 3 writes the mask computations of a functional sequence model as operation layers
(``NotEqual`` for ``Embedding(mask_zero=True)``; ``LogicalOr``, ``ExpandDims``, ``ZerosLike``,
``Concatenate`` and ``Any`` for merges of masked tensors) and passes the mask to the next layer
as an explicit ``mask=`` argument; ``keras.ops`` calls in a model become such layers too.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_masked_ops.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs
``x`` or ``x_0``, ``x_1``, and Keras's inference predictions ``y``) here, and the same model as
Keras 3's archive, ``../keras3_archives/layers_NAME.keras`` with its ``.npz`` (written here:
``make_archives.py`` re-saves this folder's ``.h5`` models through Keras, which cannot load these
back, since it writes no module for the operations in ``.h5`` files).
"""

from __future__ import annotations

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ARCHIVES = HERE.parent / "keras3_archives"


def _padded(rng, n, steps, vocab):
    x = rng.integers(1, vocab, (n, steps))
    for i in range(n):  # padding at the end of odd rows, at the start of even ones
        cut = int(rng.integers(1, steps))
        if i % 2:
            x[i, cut:] = 0
        else:
            x[i, :steps - cut] = 0
    return x.astype("float32")


def embedding_lstm_model():
    """Embedding(mask_zero) -> LSTM -> Dense: a NotEqual layer and the LSTM's mask= argument."""
    tokens = keras.Input((7,), name="tokens")
    h = layers.LSTM(4)(layers.Embedding(20, 5, mask_zero=True)(tokens))
    return keras.Model(tokens, layers.Dense(2)(h))


def merges_model():
    """Two masked embeddings merged (Add; Concatenate along the features) into an LSTM and a
    bidirectional GRU, and a masked average pooling: NotEqual, LogicalOr, ExpandDims,
    ZerosLike, Concatenate (the operation) and Any layers."""
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    ea = layers.Embedding(12, 3, mask_zero=True)(a)
    eb = layers.Embedding(12, 3, mask_zero=True)(b)
    added = layers.LSTM(3)(layers.Add()([ea, eb]))
    # named: Keras 3.15.1's legacy .h5 loader fails on a Concatenate layer named 'concatenate'
    # whose inputs carry masks (the mask's own concatenate operation takes the same name), even
    # in a file without operation layers
    joined = layers.Bidirectional(layers.GRU(2))(layers.Concatenate(name="joined")([ea, eb]))
    pooled = layers.GlobalAveragePooling1D()(ea)
    return keras.Model([a, b], layers.Dense(2)(layers.Concatenate(name="features")([added, joined, pooled])))


def explicit_ops_model():
    """keras.ops on the graph's tensors: a masked mean over the LSTM's steps written by hand
    (not_equal, cast, expand_dims, multiply, sum, maximum, divide), then subtract, greater,
    negative, where, square, mean with keepdims and a multiply by a constant."""
    tokens = keras.Input((6,), name="tokens")
    e = layers.Embedding(15, 4, mask_zero=True)(tokens)
    h = layers.LSTM(3, return_sequences=True)(e, mask=ops.not_equal(tokens, 0))
    w = ops.expand_dims(ops.cast(ops.not_equal(tokens, 0), "float32"), -1)
    mean = ops.sum(h * w, axis=1) / ops.maximum(ops.sum(w, axis=1), 1.0)
    d = ops.subtract(layers.Dense(3)(mean), 0.1)
    folded = ops.where(ops.greater(d, 0.0), d, ops.negative(d))
    spread = ops.mean(ops.square(h), axis=-1, keepdims=False)
    out = layers.Concatenate(name="output")([folded * 2.0, layers.Dense(2)(spread)])
    return keras.Model(tokens, out)


def main():
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    cases = {
        "masked_ops_embedding_lstm": (embedding_lstm_model, [_padded(rng, 5, 7, 20)]),
        "masked_ops_merges": (merges_model, [_padded(rng, 4, 6, 12), _padded(rng, 4, 6, 12)]),
        "masked_ops_explicit": (explicit_ops_model, [_padded(rng, 5, 6, 15)]),
    }
    for name, (make, xs) in cases.items():
        model = make()
        y = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        model.save(HERE / f"{name}.h5")
        model.save(ARCHIVES / f"layers_{name}.keras")
        arrays = {"x": xs[0]} if len(xs) == 1 else {f"x_{i}": x for i, x in enumerate(xs)}
        np.savez(HERE / f"{name}.npz", **arrays, y=y)
        np.savez(ARCHIVES / f"layers_{name}.npz", **arrays, y=y)
        print(name, [entry["class_name"] for entry in model.get_config()["layers"]])


if __name__ == "__main__":
    main()
