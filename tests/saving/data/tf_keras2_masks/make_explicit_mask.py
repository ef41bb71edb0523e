"""Writes ``explicit_mask.h5`` and ``explicit_mask.npz`` with real Keras 2 (tf.keras, the
``tf_keras`` package; not kerasette): a functional model that passes a mask by hand,
``LSTM(4, return_sequences=True)(masked, mask=given)`` and ``Bidirectional(GRU(3))(h,
mask=given)``, ``given`` a tensor of the graph computed from a second input and different from
the mask ``Masking`` puts on the sequence (a Lambda: Keras 2 takes only a boolean mask, and has no
comparison layer; kerasette loads it with the function in ``custom_objects``). Keras 2 writes such a call's keywords in each inbound
entry, the tensor as ``[layer, node, tensor]``: ``[["masking", 0, 0, {"mask": ["given_mask", 0,
0]}]]``.

    /work/k2tf/bin/python tests/saving/data/tf_keras2_masks/make_explicit_mask.py

``explicit_mask.npz`` holds the inputs ``x_0`` (the sequences) and ``x_1`` (1 for a step that
counts, 0 for one skipped) and Keras's predictions ``y``.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tf_keras import layers

HERE = pathlib.Path(__file__).resolve().parent
STEPS, FEATURES = 6, 3


def explicit_mask_model():
    sequence = keras.Input((STEPS, FEATURES), name="sequence")
    keep = keras.Input((STEPS,), name="keep")
    masked = layers.Masking(name="masking")(sequence)
    given = layers.Lambda(lambda t: t > 0.5, name="given_mask")(keep)  # Keras 2 wants a bool mask
    h = layers.LSTM(4, return_sequences=True, name="lstm_given")(masked, mask=given)
    last = layers.Bidirectional(layers.GRU(3), name="bidirectional_given")(h, mask=given)
    return keras.Model([sequence, keep], layers.Dense(2, name="out")(last), name="explicit_mask")


def _data(rng, n):
    x = rng.normal(size=(n, STEPS, FEATURES)).astype("float32")
    keep = (rng.uniform(size=(n, STEPS)) > 0.4).astype("float32")
    keep[:, 0] = 1.0
    for i in range(n):
        x[i, STEPS - 1 - i % 3:] = 0.0
    return [x, keep]


def main():
    tf.random.set_seed(23)
    rng = np.random.default_rng(23)
    model = explicit_mask_model()
    xs = _data(rng, 5)
    y = model.predict(xs, verbose=0)
    assert np.abs(model.predict([xs[0], np.ones_like(xs[1])], verbose=0) - y).max() > 1e-3
    model.save(HERE / "explicit_mask.h5", save_format="h5")
    np.savez(HERE / "explicit_mask.npz", x_0=xs[0], x_1=xs[1], y=y)
    for entry in model.get_config()["layers"]:
        print(entry["name"], json.dumps(entry["inbound_nodes"]))


if __name__ == "__main__":
    main()
