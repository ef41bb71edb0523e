"""Writes this folder's fixtures of functional models that pass a mask by hand (``mask=`` another
tensor of the graph, unlike the mask their inputs carry), with real Keras 3 (not kerasette).

Keras 3 writes such a call's ``mask=`` in the node's ``kwargs`` (``{"args": [...], "kwargs":
{"mask": <tensor reference>}}``); kerasette must run the layer with that mask, not the one it
would compute along the graph. The masks here come from a second input (a comparison layer, so
the model holds no operation layers and no Python function), and the sequence input also
carries a mask of its own (``Masking``) that differs from it.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_explicit_masks.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs
``x_0``, ``x_1``, and Keras's inference predictions ``y``) here, and the same model as Keras 3's
archive, ``../keras3_archives/layers_NAME.keras`` with its ``.npz``.
"""

from __future__ import annotations

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ARCHIVES = HERE.parent / "keras3_archives"
STEPS, FEATURES = 6, 3


def _inputs():
    sequence = keras.Input((STEPS, FEATURES), name="sequence")
    keep = keras.Input((STEPS,), name="keep")  # 1: the step counts, 0: skipped
    masked = layers.Masking(name="masking")(sequence)  # the mask Keras would pass on: other steps
    given = layers.ReLU(name="given_mask")(keep)  # the mask passed by hand: a tensor of the graph
    return sequence, keep, masked, given


def lstm_model():
    """``LSTM(4, return_sequences=True)(masked, mask=given)`` then a masked average pooling (fed
    the LSTM's output mask, which is ``given``) and a second LSTM given the same mask by hand."""
    sequence, keep, masked, given = _inputs()
    h = layers.LSTM(4, return_sequences=True, name="lstm_given")(masked, mask=given)
    pooled = layers.GlobalAveragePooling1D(name="pooled")(h)
    last = layers.GRU(3, name="gru_given")(h, mask=given)
    return keras.Model([sequence, keep], layers.Dense(2, name="out")(layers.Concatenate()([pooled, last])))


def bidirectional_model():
    """``Bidirectional(LSTM(3))(masked, mask=given)``, merge mode ``concat``."""
    sequence, keep, masked, given = _inputs()
    h = layers.Bidirectional(layers.LSTM(3), name="bidirectional_given")(masked, mask=given)
    return keras.Model([sequence, keep], layers.Dense(2, name="out")(h))


def _data(rng, n):
    x = rng.normal(size=(n, STEPS, FEATURES)).astype("float32")
    keep = (rng.uniform(size=(n, STEPS)) > 0.4).astype("float32")
    keep[:, 0] = 1.0  # every row keeps a step
    for i in range(n):  # Masking's own mask (the padded tail) differs from ``keep``
        x[i, STEPS - 1 - i % 3:] = 0.0
    return [x, keep]


def main():
    keras.utils.set_random_seed(17)
    rng = np.random.default_rng(17)
    for name, make in (("explicit_mask_lstm", lstm_model), ("explicit_mask_bidirectional", bidirectional_model)):
        model = make()
        xs = _data(rng, 5)
        y = model.predict(xs, verbose=0)
        masked = model.predict([xs[0], np.ones_like(xs[1])], verbose=0)  # the mask given matters
        assert np.abs(masked - y).max() > 1e-3, name
        model.save(HERE / f"{name}.h5")
        model.save(ARCHIVES / f"layers_{name}.keras")
        arrays = {f"x_{i}": x for i, x in enumerate(xs)}
        np.savez(HERE / f"{name}.npz", **arrays, y=y)
        np.savez(ARCHIVES / f"layers_{name}.npz", **arrays, y=y)
        print(name, [entry["class_name"] for entry in model.get_config()["layers"]])


if __name__ == "__main__":
    main()
