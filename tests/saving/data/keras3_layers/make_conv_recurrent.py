"""Writes this folder's convolutional-recurrent fixtures with real Keras 3 (not kerasette): small
models with ConvLSTM1D, ConvLSTM2D (sequences and last output, channels-last and channels-first,
'same' and 'valid', strided, dilated, backwards, return_state) and ConvLSTM3D, trained a few
steps; and, in ``../keras3_stateful/``, a stateful ConvLSTM2D with Keras's predictions for two
consecutive batches.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_conv_recurrent.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs
``x`` and Keras's inference predictions ``y``).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent
STATEFUL = HERE.parent / "keras3_stateful"


def sequences_model():
    """ConvLSTM2D 'same' with every step's output, then a strided 'valid' one with the last."""
    return keras.Sequential([
        keras.Input((4, 6, 6, 2)),
        layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True, unit_forget_bias=False,
                          bias_initializer="random_normal"),
        layers.ConvLSTM2D(2, (2, 3), strides=(2, 1), recurrent_activation="hard_sigmoid"),
        layers.Flatten(),
        layers.Dense(2),
    ])


def backwards_dilated_model():
    """A dilated ConvLSTM2D read backwards (its sequence reversed), relu activation, no bias."""
    return keras.Sequential([
        keras.Input((3, 7, 7, 2)),
        layers.ConvLSTM2D(3, 2, dilation_rate=2, go_backwards=True, return_sequences=True, activation="relu",
                          use_bias=False),
        layers.ConvLSTM2D(2, 3, padding="same", bias_initializer="random_normal"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(2),
    ])


def channels_first_model():
    """Channels-first ConvLSTM2D (input (batch, time, channels, rows, cols))."""
    return keras.Sequential([
        keras.Input((3, 2, 5, 6)),
        layers.ConvLSTM2D(3, (3, 2), padding="same", data_format="channels_first", return_sequences=True,
                          bias_initializer="random_normal"),
        layers.ConvLSTM2D(2, 2, data_format="channels_first"),
        layers.Flatten(),
        layers.Dense(2),
    ])


def states_model():
    """Functional: a ConvLSTM2D's return_state outputs (h, c) merged with its output."""
    inp = keras.Input((3, 5, 5, 2))
    out, h, c = layers.ConvLSTM2D(3, 3, padding="same", return_state=True, bias_initializer="random_normal")(inp)
    merged = layers.Concatenate()([out, h, c])
    return keras.Model(inp, layers.Dense(2)(layers.Flatten()(merged)))


def rank_1_and_3_model():
    """ConvLSTM1D over sequences of signals (channels-first too) and ConvLSTM3D over volumes."""
    a = keras.Input((4, 8, 2))
    b = keras.Input((3, 4, 4, 5, 1))
    ya = layers.ConvLSTM1D(3, 3, strides=2, return_sequences=True, bias_initializer="random_normal")(a)
    ya = layers.ConvLSTM1D(2, 2, padding="same", data_format="channels_first")(layers.Permute((1, 3, 2))(ya))
    yb = layers.ConvLSTM3D(2, (2, 3, 2), padding="same", bias_initializer="random_normal")(b)
    merged = layers.Concatenate()([layers.Flatten()(ya), layers.Flatten()(yb)])
    return keras.Model([a, b], layers.Dense(2)(merged))


def stateful_model():
    return keras.Sequential([
        keras.Input(batch_shape=(3, 4, 5, 5, 2)),
        layers.ConvLSTM2D(3, 3, padding="same", stateful=True, return_sequences=True,
                          bias_initializer="random_normal"),
        layers.ConvLSTM2D(2, 3, stateful=True, bias_initializer="random_normal"),
        layers.Flatten(),
        layers.Dense(2),
    ])


def _train(model, x, y):
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)


def _save(name, model, x):
    model.save(HERE / f"{name}.h5")
    inputs = {"x": x[:5]} if not isinstance(x, list) else {f"x_{i}": a[:5] for i, a in enumerate(x)}
    first = inputs["x"] if "x" in inputs else [inputs[f"x_{i}"] for i in range(len(x))]
    np.savez(HERE / f"{name}.npz", **inputs, y=model.predict(first, verbose=0))
    print(name, "written")


def main() -> None:
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    cases = [
        ("conv_recurrent_sequences", sequences_model),
        ("conv_recurrent_backwards_dilated", backwards_dilated_model),
        ("conv_recurrent_channels_first", channels_first_model),
        ("conv_recurrent_states", states_model),
        ("conv_recurrent_rank_1_and_3", rank_1_and_3_model),
    ]
    for name, make in cases:
        model = make()
        shapes = [tuple(t.shape[1:]) for t in model.inputs]
        xs = [rng.standard_normal((16, *s)).astype("float32") for s in shapes]
        x = xs[0] if len(xs) == 1 else xs
        y = rng.standard_normal((16, *model.output_shape[1:])).astype("float32")
        _train(model, x, y)
        _save(name, model, x)
    STATEFUL.mkdir(exist_ok=True)
    model = stateful_model()
    model.compile(keras.optimizers.Adam(0.05), "mse")  # not trained: see make_recurrent.py
    x = rng.standard_normal((6, 4, 5, 5, 2)).astype("float32")
    model.save(STATEFUL / "conv_lstm_stateful.h5")
    first = model.predict_on_batch(x[:3])
    second = model.predict_on_batch(x[3:])  # starts from the states the first batch left
    np.savez(STATEFUL / "conv_lstm_stateful.npz", x_first=x[:3], x_second=x[3:], y_first=first, y_second=second)
    print("conv_lstm_stateful written")


if __name__ == "__main__":
    main()
