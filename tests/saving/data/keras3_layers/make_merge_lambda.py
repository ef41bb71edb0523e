"""Writes the merge and Lambda fixtures with real Keras 3 (not kerasette).

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_merge_lambda.py

- ``keras3_layers/merge.h5`` / ``merge.npz``: a functional model with two inputs that uses Add,
  Subtract, Multiply (broadcasting a (batch, 1) input), Average, Maximum, Minimum, Concatenate and
  Dot (a pair of axes on 3-D tensors, a negative axis, and normalize both ways), trained a few steps.
  Checked both ways by the generic tests (``x_0``, ``x_1``, ``y``).
- ``keras3_lambda/lambda.h5`` / ``lambda.npz``: a model with a Lambda whose function is a Python
  lambda and one whose function is the named ``shifted_tanh`` (with ``arguments`` and
  ``output_shape``). It lives in its own folder: Keras cannot load it back without being given the
  functions, so the generic round trip does not apply (``tests/saving/test_keras3_lambda.py``).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent
LAMBDA_DIR = HERE.parent / "keras3_lambda"


def merge_model():
    in_a, in_b = keras.Input((6,), name="in_a"), keras.Input((6,), name="in_b")
    a = layers.Dense(4, activation="tanh", name="a")(in_a)
    b = layers.Dense(4, activation="tanh", name="b")(in_b)
    dot = layers.Dot(axes=1, name="dot")([a, b])
    cos = layers.Dot(axes=-1, normalize=True, name="cos")([a, b])
    a3 = layers.Reshape((2, 3))(layers.Dense(6, name="a6")(in_a))
    b3 = layers.Reshape((3, 2))(layers.Dense(6, name="b6")(in_b))
    pair = layers.Flatten()(layers.Dot(axes=(1, 2), name="dot_pair")([a3, b3]))
    pair_norm = layers.Flatten()(layers.Dot(axes=(-1, 1), normalize=True, name="dot_pair_norm")([a3, b3]))
    # pair, pair_norm first: kerasette lists a functional model's layers depth-first from the
    # outputs where Keras sorts them by depth, and weights are matched in that order.
    merged = layers.Concatenate(name="concat")([
        pair, pair_norm,
        layers.Add(name="add")([a, b]),
        layers.Subtract(name="subtract")([a, b]),
        layers.Multiply(name="multiply_broadcast")([a, dot]),
        layers.Average(name="average")([a, b, cos]),
        layers.Maximum(name="maximum")([a, b]),
        layers.Minimum(name="minimum")([a, b]),
        dot, cos,
    ])
    out = layers.Dense(3, activation="softmax", name="out")(merged)
    return keras.Model([in_a, in_b], out)


def shifted_tanh(x, shift=0.0):
    """The named function of the Lambda fixture (the test defines the same with kerasette)."""
    return keras.ops.tanh(x) * 2.0 + shift


def lambda_model():
    inp = keras.Input((5,))
    h = layers.Dense(4, name="dense_in")(inp)
    h = layers.Lambda(lambda t: keras.ops.square(t) * 0.5 - t, name="anon")(h)
    h = layers.Lambda(shifted_tanh, arguments={"shift": 0.25}, output_shape=(4,), name="named")(h)
    out = layers.Dense(2, name="dense_out")(h)
    return keras.Model(inp, out)


def main() -> None:
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    model = merge_model()
    model.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
    xa, xb = (rng.standard_normal((16, 6)).astype("float32") for _ in range(2))
    y = keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
    model.fit([xa, xb], y, batch_size=8, epochs=2, verbose=0)
    model.save(HERE / "merge.h5")
    np.savez(HERE / "merge.npz", x_0=xa[:5], x_1=xb[:5], y=model.predict([xa[:5], xb[:5]], verbose=0))
    print("merge written")

    LAMBDA_DIR.mkdir(exist_ok=True)
    model = lambda_model()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    x = rng.standard_normal((16, 5)).astype("float32")
    model.fit(x, rng.standard_normal((16, 2)).astype("float32"), batch_size=8, epochs=2, verbose=0)
    model.save(LAMBDA_DIR / "lambda.h5")
    np.savez(LAMBDA_DIR / "lambda.npz", x=x[:5], y=model.predict(x[:5], verbose=0))
    print("lambda written")


if __name__ == "__main__":
    main()
