"""Writes this folder's masking fixtures with real Keras 3 (not kerasette): sequence models whose
masks pass through the non-recurrent layers Keras 3 lets them through (Dense, Activation, Dropout,
LayerNormalization, GaussianNoise, BatchNormalization, TimeDistributed Dense) before an RNN reads
them, and one whose output keeps the mask (so Keras trained it with the masked loss).

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_masking.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs
``x`` and Keras's inference predictions ``y``).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent


def _padded_indices(rng, n, steps, vocab):
    x = rng.integers(1, vocab, (n, steps))
    for i in range(n):  # padding at the end of odd rows, at the start of even ones
        cut = int(rng.integers(1, steps))
        if i % 2:
            x[i, cut:] = 0
        else:
            x[i, :steps - cut] = 0
    return x


def through_dense_model():
    """Embedding(mask_zero) -> Dense -> Activation -> Dropout -> LayerNormalization -> LSTM."""
    return keras.Sequential([
        keras.Input((7,)),
        layers.Embedding(20, 5, mask_zero=True),
        layers.Dense(6),
        layers.Activation("tanh"),
        layers.Dropout(0.2),
        layers.LayerNormalization(),
        layers.LSTM(4),
        layers.Dense(2),
    ])


def sequence_output_model():
    """Embedding(mask_zero) -> GRU(return_sequences) -> TimeDistributed(Dense) -> Dense: the output
    keeps the mask, so the loss Keras trained it with left out the padding."""
    return keras.Sequential([
        keras.Input((6,)),
        layers.Embedding(15, 4, mask_zero=True),
        layers.GRU(3, return_sequences=True),
        layers.TimeDistributed(layers.Dense(3, activation="relu")),
        layers.Dense(2),
    ])


def noise_norm_model():
    """Masking -> GaussianNoise -> BatchNormalization -> SimpleRNN (moving statistics from masked
    training)."""
    return keras.Sequential([
        keras.Input((5, 3)),
        layers.Masking(0.0),
        layers.GaussianNoise(0.1),
        layers.BatchNormalization(),
        layers.SimpleRNN(3),
        layers.Dense(2),
    ])


def main() -> None:
    keras.utils.set_random_seed(9)
    rng = np.random.default_rng(9)
    masked_seq = rng.standard_normal((16, 5, 3)).astype("float32")
    for i in range(16):
        masked_seq[i, rng.integers(0, 5, 2)] = 0.0
    cases = [
        ("masking_through_dense", through_dense_model, _padded_indices(rng, 16, 7, 20)),
        ("masking_sequence_output", sequence_output_model, _padded_indices(rng, 16, 6, 15)),
        ("masking_noise_norm", noise_norm_model, masked_seq),
    ]
    for name, make, x in cases:
        model = make()
        y = rng.standard_normal((16, *model.output_shape[1:])).astype("float32")
        model.compile(keras.optimizers.Adam(0.05), "mse")
        model.fit(x, y, batch_size=8, epochs=3, verbose=0)
        model.save(HERE / f"{name}.h5")
        np.savez(HERE / f"{name}.npz", x=x[:5], y=model.predict(x[:5], verbose=0))
        print(name, "written")


if __name__ == "__main__":
    main()
