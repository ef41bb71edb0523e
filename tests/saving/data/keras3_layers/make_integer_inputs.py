"""Writes this folder's fixture of a text model whose input is declared ``int32`` (token ids),
as Keras 3's text examples declare it, with real Keras 3 (not kerasette).

Keras 3 stores the input's dtype in the InputLayer's config (``"dtype": "int32"``); kerasette
computes in floats but must accept integer inputs where they only feed an Embedding.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_integer_inputs.py

Writes ``int32_tokens.h5`` (legacy full model) and ``int32_tokens.npz`` (``x``, Keras's
predictions ``y``) here, and ``../keras3_archives/layers_int32_tokens.keras`` with its ``.npz``.
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
STEPS, VOCABULARY = 7, 20


def main():
    keras.utils.set_random_seed(23)
    tokens = keras.Input((STEPS,), dtype="int32", name="tokens")
    h = layers.Embedding(VOCABULARY, 4, mask_zero=True, name="embedding")(tokens)
    h = layers.LSTM(3, name="lstm")(h)
    model = keras.Model(tokens, layers.Dense(2, activation="softmax", name="out")(h))
    rng = np.random.default_rng(23)
    x = rng.integers(1, VOCABULARY, size=(5, STEPS)).astype("int32")
    for i in range(5):
        x[i, STEPS - 1 - i:] = 0  # padded tails of different lengths
    y = model.predict(x, verbose=0)
    assert model.get_config()["layers"][0]["config"]["dtype"] == "int32"
    model.save(HERE / "int32_tokens.h5")
    model.save(ARCHIVES / "layers_int32_tokens.keras")
    np.savez(HERE / "int32_tokens.npz", x=x, y=y)
    np.savez(ARCHIVES / "layers_int32_tokens.npz", x=x, y=y)


if __name__ == "__main__":
    main()
