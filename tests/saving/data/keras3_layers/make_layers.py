"""Writes this folder's fixtures with real Keras 3 (not kerasette): small models with the
normalization, pooling and activation layers, trained a few steps so that BatchNormalization's
moving statistics are not their initial values.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_layers.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs ``x``
and Keras's inference predictions ``y``).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent


def batchnorm_model():
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        layers.Conv2D(6, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(max_value=6.0),
        layers.AveragePooling2D(2),
        layers.Conv2D(4, 3),
        layers.BatchNormalization(center=False, momentum=0.8, epsilon=1e-4),
        layers.LeakyReLU(negative_slope=0.2),
        layers.GlobalAveragePooling2D(),
        layers.Dense(5),
        layers.BatchNormalization(momentum=0.5, gamma_initializer="random_uniform"),
        layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25)),
        layers.Dense(3, activation="softmax"),
    ])


def pooling_model():
    return keras.Sequential([
        keras.Input((9, 9, 2)),
        layers.Conv2D(4, 3, padding="same"),
        layers.ELU(alpha=0.5),
        layers.AveragePooling2D(3, strides=2, padding="same"),
        layers.MaxPooling2D(2, strides=1, padding="same"),
        layers.LayerNormalization(),
        layers.PReLU(shared_axes=[1, 2]),
        layers.GlobalMaxPooling2D(keepdims=True),
        layers.Flatten(),
        layers.Dense(3),
        layers.Softmax(),
    ])


def main() -> None:
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    for name, make, shape in (("batchnorm", batchnorm_model, (8, 8, 3)), ("pooling", pooling_model, (9, 9, 2))):
        model = make()
        model.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
        x = rng.standard_normal((16, *shape)).astype("float32") * 2 + 0.5
        y = keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        model.save(HERE / f"{name}.h5")
        np.savez(HERE / f"{name}.npz", x=x[:5], y=model.predict(x[:5], verbose=0))
        print(name, "written")


if __name__ == "__main__":
    main()
