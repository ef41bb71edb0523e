"""Writes the convolution variants' fixtures with real Keras 3 (not kerasette): a dilated Conv2D,
a grouped Conv2D, a DepthwiseConv2D and a SeparableConv2D, channels-last, and the same family
channels-first (Keras 3 on torch computes channels-first convolutions on the CPU), each trained
a few steps so that no weight is its initial value; and depthwise layers strided and dilated at
once, with even kernels.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_conv_variants.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs ``x``
and Keras's inference predictions ``y``).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent


def conv_variants_model(data_format="channels_last"):
    shape = (10, 9, 4) if data_format == "channels_last" else (4, 10, 9)
    return keras.Sequential([
        keras.Input(shape),
        layers.Conv2D(6, 3, dilation_rate=2, padding="same", data_format=data_format, activation="relu"),
        layers.Conv2D(6, (3, 2), groups=3, data_format=data_format, bias_initializer="random_normal"),
        layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", dilation_rate=(1, 2),
                               data_format=data_format, bias_initializer="random_normal"),
        layers.SeparableConv2D(5, 3, strides=2, depth_multiplier=2, data_format=data_format, activation="tanh",
                               bias_initializer="random_normal"),
        layers.Conv2D(4, 2, dilation_rate=(2, 1), groups=1, data_format=data_format, use_bias=False),
        layers.GlobalAveragePooling2D(data_format=data_format),
        layers.Dense(3, activation="softmax"),
    ])


def strided_dilated_model():
    """Depthwise layers that are strided and dilated at once (Keras 3 refuses that only in Conv2D),
    with even kernels: where 'same' pads on which side."""
    return keras.Sequential([
        keras.Input((11, 8, 3)),
        layers.DepthwiseConv2D(4, strides=2, dilation_rate=2, padding="same", depth_multiplier=2,
                               bias_initializer="random_normal"),
        layers.SeparableConv2D(4, (2, 3), strides=(1, 2), dilation_rate=(2, 1), padding="same",
                               bias_initializer="random_normal"),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


def main() -> None:
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    for name, make in (("conv_variants", conv_variants_model),
                       ("conv_variants_channels_first", lambda: conv_variants_model("channels_first")),
                       ("conv_variants_strided_dilated", strided_dilated_model)):
        model = make()
        model.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
        x = rng.standard_normal((16, *model.input_shape[1:])).astype("float32")
        y = keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        model.save(HERE / f"{name}.h5")
        np.savez(HERE / f"{name}.npz", x=x[:4], y=model.predict(x[:4], verbose=0))
        print(name, "written")


if __name__ == "__main__":
    main()
