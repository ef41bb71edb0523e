"""Writes the transposed-convolution and upsampling fixtures with real Keras 3 (not kerasette):
Conv2DTranspose (strides, output_padding, 'same' and 'valid', dilation), UpSampling2D (bilinear,
nearest) and, in one model, ZeroPadding2D, Cropping2D and UpSampling2D (nearest), in
both data formats. Each model is trained two epochs so its biases are not their initial zeros.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_transpose.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs ``x``
and Keras's inference predictions ``y``).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent


def transpose_model():
    return keras.Sequential([
        keras.Input((5, 4, 3)),
        layers.Conv2DTranspose(4, 3, strides=2, output_padding=1),  # 'valid': 12 x 10
        layers.Conv2DTranspose(3, (3, 2), strides=(2, 1), padding="same", output_padding=(0, 0),
                               activation="relu"),
        layers.UpSampling2D((1, 2), interpolation="bilinear"),
        layers.Conv2DTranspose(2, 2, dilation_rate=2, use_bias=False, activation="tanh"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax"),
    ])


def transpose_channels_first_model():
    return keras.Sequential([
        keras.Input((3, 5, 4)),
        layers.Conv2DTranspose(4, (2, 3), strides=(3, 2), padding="same", data_format="channels_first"),
        layers.UpSampling2D(2, interpolation="bilinear", data_format="channels_first"),
        # bilinear, not bicubic, in these fixtures: Keras 3's bicubic differs between its backends
        # (torch against jax: 0.02 on the reshaping model), and CI checks the files with jax; kerasette's
        # bicubic follows Keras on torch and is tested in tests/backend/test_resize_kernels.py
        layers.UpSampling2D((2, 1), interpolation="bilinear", data_format="channels_first"),
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=(1, 0), data_format="channels_first"),
        layers.GlobalAveragePooling2D(data_format="channels_first"),
        layers.Dense(3, activation="softmax"),
    ])


def reshaping_model():
    return keras.Sequential([
        keras.Input((6, 5, 2)),
        layers.ZeroPadding2D(((1, 2), (0, 1))),
        layers.Conv2D(3, 3),
        layers.UpSampling2D((2, 3)),
        layers.Cropping2D(((1, 0), (2, 1))),
        layers.UpSampling2D(2, interpolation="bilinear"),
        layers.GlobalMaxPooling2D(),
        layers.Dense(3, activation="softmax"),
    ])


def reshaping_channels_first_model():
    return keras.Sequential([
        keras.Input((2, 6, 5)),
        layers.ZeroPadding2D(1, data_format="channels_first"),
        layers.Cropping2D(((0, 1), (2, 0)), data_format="channels_first"),
        layers.UpSampling2D((3, 2), data_format="channels_first"),
        layers.Conv2D(3, 3, data_format="channels_first"),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


MODELS = (
    ("transpose", transpose_model, (5, 4, 3)),
    ("transpose_channels_first", transpose_channels_first_model, (3, 5, 4)),
    ("reshaping", reshaping_model, (6, 5, 2)),
    ("reshaping_channels_first", reshaping_channels_first_model, (2, 6, 5)),
)


def main() -> None:
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    for name, make, shape in MODELS:
        model = make()
        model.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
        x = rng.standard_normal((16, *shape)).astype("float32")
        y = keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        model.save(HERE / f"{name}.h5")
        np.savez(HERE / f"{name}.npz", x=x[:4], y=model.predict(x[:4], verbose=0))
        print(name, "written")


if __name__ == "__main__":
    main()
