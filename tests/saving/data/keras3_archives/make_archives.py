"""Writes this folder's fixtures with real Keras 3 (not kerasette): ``.keras`` archives.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_archives/make_archives.py

For each model NAME: ``NAME.keras`` (``model.save``) and ``NAME.npz`` with the inputs (``x``, or
``x_0``, ``x_1``, ...), Keras's inference predictions ``y``, and for a compiled model Keras's
optimizer variables ``opt_0``, ``opt_1``, ... (iterations, learning rate, slots, in Keras's
order). The models: a trained Sequential convnet (Adam), a trained two-input functional model
(RMSprop with momentum), a functional model holding a nested Sequential (SGD with Nesterov),
an uncompiled Sequential, and, so that every layer family is covered, each ``.h5`` model of
``../keras3_layers`` re-saved by Keras as ``.keras`` (``layers_NAME``, uncompiled); rerun this script when a
family is added there.
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent
LAYERS = HERE.parent / "keras3_layers"


def convnet():
    model = keras.Sequential([
        keras.Input((10, 10, 3)),
        layers.Conv2D(6, 3, padding="same", activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(8, 3),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(4, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    return model, [(10, 10, 3)], 4


def two_inputs():
    a, b = keras.Input((6,), name="a"), keras.Input((4,), name="b")
    h = layers.Concatenate()([layers.Dense(5, activation="tanh", name="da")(a), layers.Dense(5, name="db")(b)])
    out = layers.Dense(3, activation="softmax", name="out")(layers.Add()([h, layers.Dense(10, name="skip")(h)]))
    model = keras.Model([a, b], out)
    model.compile(optimizer=keras.optimizers.RMSprop(0.01, momentum=0.5), loss="categorical_crossentropy")
    return model, [(6,), (4,)], 3


def nested():
    inner = keras.Sequential([keras.Input((5,)), layers.Dense(4, activation="relu"), layers.Dense(4)], name="inner")
    x = keras.Input((5,))
    model = keras.Model(x, layers.Dense(2, activation="softmax")(inner(x)))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True), loss="categorical_crossentropy")
    return model, [(5,)], 2


def uncompiled():
    model = keras.Sequential([keras.Input((7,)), layers.Dense(5, activation="elu"), layers.Dense(2)])
    return model, [(7,)], None


def _inputs(rng, shapes, n):
    xs = [rng.standard_normal((n, *s)).astype("float32") for s in shapes]
    return xs[0] if len(xs) == 1 else xs


def _save(model, name: str, x) -> None:
    model.save(HERE / f"{name}.keras")
    arrays = {"x": x} if not isinstance(x, list) else {f"x_{i}": a for i, a in enumerate(x)}
    if getattr(model, "optimizer", None) is not None and model.compiled:
        arrays.update({f"opt_{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)})
    np.savez(HERE / f"{name}.npz", y=np.asarray(model.predict(x, verbose=0)), **arrays)
    print(name, "written")


def main() -> None:
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    for name, make in (("convnet", convnet), ("two_inputs", two_inputs), ("nested", nested),
                       ("uncompiled", uncompiled)):
        model, shapes, classes = make()
        x = _inputs(rng, shapes, 16)
        if classes is not None:
            y = keras.utils.to_categorical(rng.integers(0, classes, 16), classes)
            model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        _save(model, name, x if not isinstance(x, list) else [a[:5] for a in x])
    for path in sorted(LAYERS.glob("*.h5")):
        if path.stem.startswith("masked_ops_"):
            continue  # Keras 3 cannot read its own .h5 of these: make_masked_ops.py writes their archives
        data = np.load(path.with_suffix(".npz"))
        x = data["x"] if "x" in data.files else [data[f"x_{i}"] for i in range(sum(k.startswith("x_") for k in data.files))]
        _save(keras.models.load_model(path, compile=False), f"layers_{path.stem}", x)  # the layers are the point


if __name__ == "__main__":
    main()
