"""Writes ``core.h5``/``core.npz`` with real Keras 3 (not kerasette): the core and reshaping layers
(Reshape, Permute, Flatten, RepeatVector, Identity, ActivityRegularization, Activation) and a Dense
with every regularizer and constraint, trained two epochs so the constrained weights moved.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_core.py
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent


def core_model():
    return keras.Sequential([
        keras.Input((4, 6)),
        layers.Reshape((6, 4)),
        layers.Permute((2, 1)),
        layers.Flatten(),
        layers.Dense(8, activation="elu", kernel_regularizer=keras.regularizers.L1L2(l1=1e-3, l2=1e-2),
                     bias_regularizer=keras.regularizers.L2(1e-3), activity_regularizer=keras.regularizers.L1(1e-3),
                     kernel_constraint=keras.constraints.MaxNorm(0.5), bias_constraint=keras.constraints.NonNeg()),
        layers.ActivityRegularization(l1=1e-3, l2=1e-3),
        layers.RepeatVector(3),
        layers.Identity(),
        layers.Activation("tanh"),
        layers.Flatten(),
        layers.Dense(5, kernel_constraint=keras.constraints.UnitNorm(axis=0),
                     bias_constraint=keras.constraints.MinMaxNorm(0.0, 0.3)),
        layers.Activation("softmax"),
    ])


def main() -> None:
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    model = core_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    x = rng.standard_normal((16, 4, 6)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 5, 16), 5)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    model.save(HERE / "core.h5")
    np.savez(HERE / "core.npz", x=x[:5], y=model.predict(x[:5], verbose=0))
    print("core written")


if __name__ == "__main__":
    main()
