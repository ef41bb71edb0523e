"""Writes this folder's fixtures of models that hold a nested functional model fed a mask, with
real Keras 3 (not kerasette).

Keras 3 passes a nested model the mask its input carries (``Functional.call(inputs, training,
mask)``): its layers compute with it, and the mask its outputs carry at the end goes on to the
outer model's next layers. Its config writes that mask in the nested model's node, as ``mask=``
in ``kwargs`` (for ``Embedding(mask_zero=True)``, a ``NotEqual`` operation layer on the token
ids), like a mask passed by hand.

- ``nested_mask_zero``: token ids -> ``Embedding(mask_zero=True)`` -> a nested model
  (``LSTM(return_sequences=True)``, ``Dense``) -> ``GlobalAveragePooling1D`` (fed the nested
  model's output mask) -> ``Dense``. The script checks that a padded row predicts as the same
  row without its padding (the LSTM skips the padded steps, the pooling leaves them out).
- ``nested_explicit_mask``: ``inner(Masking()(sequence), mask=ReLU()(keep))``, the mask given by
  hand differing from the one ``Masking`` computes; the nested model's LSTM and the outer
  pooling use ``keep``.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_nested_masks/make_nested_masks.py

For each model NAME, here: ``NAME.h5`` (legacy full model, ``model.save``), ``NAME.keras``
(Keras 3's archive) and ``NAME.npz`` (inputs ``x`` or ``x_0``, ``x_1``, and Keras's inference
predictions ``y``); ``tests/saving/test_nested_masks.py`` checks them. (They are not in
``keras3_layers``/``keras3_archives``, whose tests take every file there: kerasette does not yet
read the weights of a nested functional model from a ``.keras`` archive, see that test.)
"""

from __future__ import annotations

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
STEPS, FEATURES, VOCABULARY, WIDTH = 6, 3, 10, 4


def _inner(width: int, name: str) -> keras.Model:
    """The nested functional model: an LSTM over the steps, then a Dense on each step."""
    inp = keras.Input((None, width), name=f"{name}_input")
    h = layers.LSTM(4, return_sequences=True, name=f"{name}_lstm")(inp)
    return keras.Model(inp, layers.Dense(3, name=f"{name}_dense")(h), name=name)


def mask_zero_model() -> keras.Model:
    ids = keras.Input((None,), name="ids")  # float token ids, as the other fixtures (no int32 input)
    embedded = layers.Embedding(VOCABULARY, WIDTH, mask_zero=True, name="embedding")(ids)
    h = _inner(WIDTH, "inner")(embedded)
    pooled = layers.GlobalAveragePooling1D(name="pooled")(h)
    return keras.Model(ids, layers.Dense(2, name="out")(pooled))


def explicit_mask_model() -> keras.Model:
    sequence = keras.Input((STEPS, FEATURES), name="sequence")
    keep = keras.Input((STEPS,), name="keep")  # 1: the step counts, 0: skipped
    masked = layers.Masking(name="masking")(sequence)  # the mask it would carry: other steps
    given = layers.ReLU(name="given_mask")(keep)  # the mask passed by hand
    h = _inner(FEATURES, "inner")(masked, mask=given)
    pooled = layers.GlobalAveragePooling1D(name="pooled")(h)
    return keras.Model([sequence, keep], layers.Dense(2, name="out")(pooled))


def _ids(rng, n):
    ids = rng.integers(1, VOCABULARY, size=(n, STEPS)).astype("float32")
    for i in range(n):
        ids[i, STEPS - i % 4:] = 0  # padded tails of 0 to 3 steps
    return ids


def _sequences(rng, n):
    x = rng.normal(size=(n, STEPS, FEATURES)).astype("float32")
    keep = (rng.uniform(size=(n, STEPS)) > 0.4).astype("float32")
    keep[:, 0] = 1.0  # every row keeps a step
    for i in range(n):  # Masking's own mask (the padded tail) differs from ``keep``
        x[i, STEPS - 1 - i % 3:] = 0.0
    return [x, keep]


def _save(name, model, xs):
    y = model.predict(xs, verbose=0)
    model.save(HERE / f"{name}.h5")
    model.save(HERE / f"{name}.keras")
    arrays = {"x": xs} if not isinstance(xs, list) else {f"x_{i}": x for i, x in enumerate(xs)}
    np.savez(HERE / f"{name}.npz", **arrays, y=y)
    print(name, [entry["class_name"] for entry in model.get_config()["layers"]])
    return y


def main():
    keras.utils.set_random_seed(23)
    rng = np.random.default_rng(23)

    model = mask_zero_model()
    ids = _ids(rng, 6)
    y = _save("nested_mask_zero", model, ids)
    for i, row in enumerate(ids):  # the masks reach the nested LSTM and, after it, the pooling
        kept = row[row != 0][None]
        np.testing.assert_allclose(model.predict(kept, verbose=0)[0], y[i], rtol=0, atol=1e-5)
    assert (ids == 0).any()

    model = explicit_mask_model()
    xs = _sequences(rng, 5)
    y = _save("nested_explicit_mask", model, xs)
    other = model.predict([xs[0], np.ones_like(xs[1])], verbose=0)
    assert np.abs(other - y).max() > 1e-3  # the mask given by hand decides


if __name__ == "__main__":
    main()
