"""Writes this folder's noise and normalization fixtures with real Keras 3 (not kerasette): small
models with GaussianNoise, GaussianDropout, AlphaDropout, SpatialDropout2D, Dropout(noise_shape),
GroupNormalization and UnitNormalization, trained a few steps so that ``gamma`` and ``beta`` are
not their initial values. The predictions are inference, where the noise layers are the
identity, so they are deterministic.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_noise_norm.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs ``x``
and Keras's inference predictions ``y``).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent


def noise_norm_model():
    """Channels-last images: every noise layer, group normalization on the channels."""
    return keras.Sequential([
        keras.Input((6, 6, 3)),
        layers.GaussianNoise(0.1),
        layers.Conv2D(8, 3, padding="same"),
        layers.GroupNormalization(groups=4),
        layers.SpatialDropout2D(0.2),
        layers.GaussianDropout(0.2),
        layers.Dropout(0.3, noise_shape=(None, 1, 1, 8)),
        layers.UnitNormalization(),
        layers.Conv2D(4, 3),
        layers.GroupNormalization(groups=2, center=False, epsilon=1e-4, gamma_initializer="random_uniform"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(6, activation="selu"),
        layers.AlphaDropout(0.1),
        layers.UnitNormalization(),
        layers.Dense(3, activation="softmax"),
    ])


def noise_norm_channels_first_model():
    """Channels-first images: group normalization on axis 1 (instance normalization, groups=-1),
    channels-first spatial dropout, unit normalization over the channels.

    (No ``axis=[...]`` list: Keras 3.15's legacy HDF5 loader drops an ``axis`` list of more
    than one entry, so Keras itself would read such a layer back with its default axis.)"""
    return keras.Sequential([
        keras.Input((4, 5, 5)),
        layers.GroupNormalization(groups=2, axis=1),
        layers.SpatialDropout2D(0.3, data_format="channels_first"),
        layers.GroupNormalization(groups=-1, axis=1, beta_initializer="random_normal"),
        layers.UnitNormalization(axis=1),
        layers.AlphaDropout(0.2, noise_shape=(None, 4, 1, 1)),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


def main() -> None:
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    for name, make, shape in (("noise_norm", noise_norm_model, (6, 6, 3)),
                              ("noise_norm_channels_first", noise_norm_channels_first_model, (4, 5, 5))):
        model = make()
        model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy")
        x = rng.standard_normal((16, *shape)).astype("float32") * 2 + 0.5
        y = keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
        model.fit(x, y, batch_size=8, epochs=3, verbose=0)
        model.save(HERE / f"{name}.h5")
        np.savez(HERE / f"{name}.npz", x=x[:5], y=model.predict(x[:5], verbose=0))
        print(name, "written")


if __name__ == "__main__":
    main()
