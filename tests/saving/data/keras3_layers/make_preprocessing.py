"""Writes this folder's preprocessing-layer fixtures with real Keras 3 (not kerasette): small
convnets that start with Keras 3's preprocessing layers (Rescaling, the random augmentation
layers, Normalization adapted to data, Resizing, CenterCrop), trained a few steps. The
predictions are inference, where the random layers pass images through, so they are
deterministic. Normalization gets its mean and variance in its config here; with
``--adapted`` the script also writes ``tests/images/data/keras3_normalization_adapted.h5/.npz``,
the same model with a Normalization adapted to data, whose ``mean``, ``variance`` and ``count``
(an integer) are weights in the file.
(RandomBrightness is left out: Keras 3.15.1 cannot save a built one to HDF5, its ``value_range``
becoming a tracked list that the config copy cannot pickle.)

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_preprocessing.py [--adapted]

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs ``x``
and Keras's inference predictions ``y``).
"""

from __future__ import annotations

import pathlib
import sys

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent


def augmenting_model(sample, adapted=False):
    scaled = sample / 255.0 + 0.1
    if adapted:
        norm = layers.Normalization()
        norm.adapt(scaled)
    else:
        norm = layers.Normalization(mean=scaled.mean((0, 1, 2)).tolist(), variance=scaled.var((0, 1, 2)).tolist())
    return keras.Sequential([
        keras.Input((10, 12, 3)),
        layers.Rescaling(1 / 255.0, offset=0.1),
        layers.RandomFlip("horizontal", seed=1),
        layers.RandomRotation(0.1, fill_mode="constant", seed=2),
        layers.RandomZoom(0.1, (-0.2, 0.1), seed=3),
        layers.RandomTranslation(0.1, 0.2, fill_mode="wrap", interpolation="nearest", seed=4),
        layers.RandomContrast(0.2, value_range=(0, 1.5), seed=5),
        layers.RandomCrop(10, 12, seed=7),
        norm,
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.CenterCrop(6, 8),
        layers.Resizing(4, 5),
        layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax"),
    ])


def resizing_model(sample):
    return keras.Sequential([
        keras.Input((7, 10, 2)),
        layers.Normalization(axis=-1, mean=[10.0, 20.0], variance=[4.0, 25.0]),
        layers.Resizing(6, 6, crop_to_aspect_ratio=True),
        layers.Conv2D(3, 3, activation="tanh"),
        layers.Resizing(5, 3, interpolation="nearest", pad_to_aspect_ratio=True),
        layers.CenterCrop(8, 8),
        # bilinear: Keras 3's bicubic resize differs between its backends (torch against jax: 7.5e-3 on
        # this model), and CI checks these files with jax; bicubic is tested in tests/images
        layers.Resizing(3, 4, interpolation="bilinear"),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])


def main() -> None:
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    for name, make, shape, scale in (("preprocessing", augmenting_model, (10, 12, 3), 255.0),
                                     ("preprocessing_resizing", resizing_model, (7, 10, 2), 30.0)):
        x = (rng.uniform(0, 1, (16, *shape)) * scale).astype("float32")
        model = make(x)
        model.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
        y = keras.utils.to_categorical(rng.integers(0, model.output_shape[-1], 16), model.output_shape[-1])
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        model.save(HERE / f"{name}.h5")
        np.savez(HERE / f"{name}.npz", x=x[:4], y=model.predict(x[:4], verbose=0))
        print(name, "written")
    if "--adapted" in sys.argv:
        x = (rng.uniform(0, 1, (16, 10, 12, 3)) * 255).astype("float32")
        model = augmenting_model(x, adapted=True)
        model.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
        model.fit(x, keras.utils.to_categorical(rng.integers(0, 3, 16), 3), batch_size=8, epochs=1, verbose=0)
        target = HERE.parents[2] / "images" / "data" / "keras3_normalization_adapted"
        model.save(target.with_suffix(".h5"))
        np.savez(target.with_suffix(".npz"), x=x[:4], y=model.predict(x[:4], verbose=0))
        print(target.name, "written")


if __name__ == "__main__":
    main()
