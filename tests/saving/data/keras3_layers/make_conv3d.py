"""Writes the 3-D image family's fixtures with real Keras 3 (not kerasette): a model with every
3-D layer but Conv3DTranspose (Conv3D 'same' and strided, dilated, grouped, without bias; ZeroPadding3D, Cropping3D,
UpSampling3D; MaxPooling3D, AveragePooling3D, GlobalMaxPooling3D, GlobalAveragePooling3D),
channels-last, the same model channels-first, and a second channels-last model with 'same'
max pooling, strided and dilated convolutions, and Conv3DTranspose ('same' strided,
output_padding, dilated) in both data formats; each trained a few steps so that no weight is its
initial value.

AveragePooling3D with 'same' padding is used only where the padding is the same on both sides
(odd windows, stride 1): where it is not, Keras 3 on torch counts padded cells in the average,
while Keras on TensorFlow (and kerasette, as in AveragePooling2D) leaves them out.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_conv3d.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs ``x``
and Keras's inference predictions ``y``).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent


def conv3d_model(data_format="channels_last"):
    df = data_format
    shape = (6, 7, 6, 2) if df == "channels_last" else (2, 6, 7, 6)
    return keras.Sequential([
        keras.Input(shape),
        layers.Conv3D(4, 3, padding="same", activation="relu", data_format=df, bias_initializer="random_normal"),
        layers.ZeroPadding3D(((1, 0), (0, 1), (1, 1)), data_format=df),
        layers.Conv3D(4, (2, 3, 2), groups=2, data_format=df, bias_initializer="random_normal"),
        layers.MaxPooling3D((2, 2, 1), data_format=df),
        layers.AveragePooling3D(3, strides=1, padding="same", data_format=df),
        layers.UpSampling3D((1, 2, 2), data_format=df),
        layers.Cropping3D(((1, 0), (1, 1), (0, 2)), data_format=df),
        layers.Conv3D(3, 2, dilation_rate=(1, 2, 1), use_bias=False, data_format=df),
        layers.GlobalMaxPooling3D(data_format=df, keepdims=True),
        layers.GlobalAveragePooling3D(data_format=df),
        layers.Dense(3, activation="softmax"),
    ])


def strided_model():
    return keras.Sequential([
        keras.Input((5, 6, 6, 2)),
        layers.Conv3D(5, (3, 2, 3), strides=(2, 1, 2), padding="same", bias_initializer="random_normal"),
        layers.MaxPooling3D((3, 2, 2), strides=(1, 2, 1), padding="same"),
        layers.Conv3D(4, 2, dilation_rate=2, padding="same", activation="tanh", bias_initializer="random_normal"),
        layers.AveragePooling3D((2, 2, 2), strides=(1, 1, 2)),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


def transpose_model(data_format="channels_last"):
    df = data_format
    shape = (3, 4, 3, 2) if df == "channels_last" else (2, 3, 4, 3)
    return keras.Sequential([
        keras.Input(shape),
        layers.Conv3DTranspose(4, (2, 3, 2), strides=(2, 1, 2), padding="same", activation="relu", data_format=df,
                               bias_initializer="random_normal"),
        layers.Conv3DTranspose(3, 2, strides=(1, 2, 2), output_padding=(0, 1, 0), data_format=df,
                               bias_initializer="random_normal"),
        layers.Conv3DTranspose(2, 3, dilation_rate=(2, 1, 1), padding="same", use_bias=False, data_format=df),
        layers.GlobalAveragePooling3D(data_format=df),
        layers.Dense(3, activation="softmax"),
    ])


def main() -> None:
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    for name, make in (("conv3d", conv3d_model), ("conv3d_channels_first", lambda: conv3d_model("channels_first")),
                       ("conv3d_strided_dilated", strided_model), ("conv3d_transpose", transpose_model),
                       ("conv3d_transpose_channels_first", lambda: transpose_model("channels_first"))):
        model = make()
        model.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
        x = rng.standard_normal((16, *model.input_shape[1:])).astype("float32")
        y = keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        model.save(HERE / f"{name}.h5")
        np.savez(HERE / f"{name}.npz", x=x[:3], y=model.predict(x[:3], verbose=0))
        print(name, "written", model.output_shape, [tuple(layer.output.shape) for layer in model.layers])


if __name__ == "__main__":
    main()
