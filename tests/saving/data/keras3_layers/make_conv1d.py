"""Writes the 1-D convolution family's fixtures with real Keras 3 (not kerasette): one model with
every 1-D layer (Conv1D causal and dilated, grouped, strided; DepthwiseConv1D; SeparableConv1D;
Conv1DTranspose with output_padding; ZeroPadding1D, Cropping1D, UpSampling1D; MaxPooling1D,
AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D; SpatialDropout1D), channels-last,
and the same model channels-first (Keras 3 on torch computes channels-first 1-D convolutions and
pooling on the CPU; Cropping1D and UpSampling1D have no data_format and act on axis 1 in both),
each trained a few steps so that no weight is its initial value.

AveragePooling1D with 'same' padding is used only where the padding is the same on both sides:
where it is not, Keras 3 on torch pads by repeating the edge step and counts the copy in the
average, while Keras on TensorFlow (and kerasette, as in AveragePooling2D) leaves padded steps
out of the average.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_conv1d.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs ``x``
and Keras's inference predictions ``y``).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent


def conv1d_model(data_format="channels_last"):
    df = data_format
    shape = (16, 4) if df == "channels_last" else (4, 16)
    return keras.Sequential([
        keras.Input(shape),
        layers.Conv1D(6, 3, padding="causal", dilation_rate=2, activation="relu", data_format=df),
        layers.Conv1D(6, 3, groups=2, padding="same", data_format=df, bias_initializer="random_normal"),
        layers.ZeroPadding1D((1, 2), data_format=df),
        layers.DepthwiseConv1D(3, depth_multiplier=2, data_format=df, bias_initializer="random_normal"),
        layers.SeparableConv1D(5, 3, strides=2, depth_multiplier=2, activation="tanh", data_format=df,
                               bias_initializer="random_normal"),
        layers.MaxPooling1D(2, strides=1, padding="same", data_format=df),
        layers.Conv1DTranspose(4, 3, strides=2, output_padding=1, data_format=df, bias_initializer="random_normal"),
        layers.AveragePooling1D(3, strides=1, padding="same", data_format=df),
        layers.Cropping1D((1, 0)),
        layers.UpSampling1D(2),
        layers.AveragePooling1D(2, data_format=df),
        layers.SpatialDropout1D(0.1),
        layers.Conv1D(4, 2, strides=2, use_bias=False, data_format=df),
        layers.GlobalMaxPooling1D(data_format=df, keepdims=True),
        layers.GlobalAveragePooling1D(data_format=df),
        layers.Dense(3, activation="softmax"),
    ])


def main() -> None:
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    for name, make in (("conv1d", conv1d_model), ("conv1d_channels_first", lambda: conv1d_model("channels_first"))):
        model = make()
        model.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
        x = rng.standard_normal((16, *model.input_shape[1:])).astype("float32")
        y = keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        model.save(HERE / f"{name}.h5")
        np.savez(HERE / f"{name}.npz", x=x[:4], y=model.predict(x[:4], verbose=0))
        print(name, "written", model.output_shape, [tuple(layer.output.shape) for layer in model.layers])


if __name__ == "__main__":
    main()
