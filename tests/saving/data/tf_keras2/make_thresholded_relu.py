"""Writes ``thresholded_relu.h5`` and ``thresholded_relu.npz`` with real Keras 2 (tf.keras, the
``tf_keras`` package; not kerasette): Keras 3 removed the ``ThresholdedReLU`` layer, so its
fixture comes from Keras 2.

    /work/k2tf/bin/python tests/saving/data/tf_keras2/make_thresholded_relu.py

The model (a Conv2D, then ThresholdedReLU on the image path and after a Dense, two thetas) is
trained two epochs with SGD so that its weights are not their initial values, then saved as a
legacy full-model HDF5 file (``model.save(..., save_format="h5")``). ``thresholded_relu.npz``
holds the inputs ``x`` and Keras's predictions ``y``. Every value reaching a ThresholdedReLU lies
at least ``MARGIN`` from its theta, so that rounding differences between two implementations
cannot move a value across the threshold.
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tf_keras import layers

HERE = pathlib.Path(__file__).resolve().parent
#: the least distance between a ThresholdedReLU's input values and its theta
MARGIN = 1e-3


def thresholded_relu_model():
    return keras.Sequential([
        keras.Input((6, 6, 2)),
        layers.Conv2D(4, 3, name="conv"),
        layers.ThresholdedReLU(theta=0.3, name="thresholded_image"),
        layers.Flatten(name="flatten"),
        layers.Dense(5, name="dense"),
        layers.ThresholdedReLU(theta=0.05, name="thresholded_dense"),
        layers.Dense(3, activation="softmax", name="out"),
    ], name="thresholded_relu")


def check_margin(model, x) -> None:
    """Raises when a value entering a ThresholdedReLU is within ``MARGIN`` of its theta."""
    for layer in model.layers:
        if isinstance(layer, layers.ThresholdedReLU):
            probe = keras.Model(model.inputs, layer.input)
            gap = np.abs(probe.predict(x, verbose=0) - layer.theta).min()
            if gap < MARGIN:
                raise SystemExit(f"{layer.name}: an input lies {gap:.2e} from theta; choose another seed")


def main() -> None:
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    model = thresholded_relu_model()
    model.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
    x_train = rng.uniform(-1, 1, (32, 6, 6, 2)).astype("float32")
    y_train = np.eye(3, dtype="float32")[rng.integers(0, 3, 32)]
    model.fit(x_train, y_train, batch_size=8, epochs=2, verbose=0)
    x = rng.uniform(-1, 1, (4, 6, 6, 2)).astype("float32")
    check_margin(model, x)
    model.save(HERE / "thresholded_relu.h5", save_format="h5", include_optimizer=False)
    np.savez(HERE / "thresholded_relu.npz", x=x, y=model.predict(x, verbose=0))
    print("wrote thresholded_relu.h5/.npz with tf_keras", keras.__version__, "on TensorFlow", tf.__version__)


if __name__ == "__main__":
    main()
