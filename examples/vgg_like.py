"""The VGG-like convnet of the Keras 1 documentation, trained on real handwritten digits.

The model is written exactly as Keras 1 documented it (Convolution2D(32, 3, 3), border_mode,
nb_epoch, SGD(lr=...)), channels-first. The 8x8 digits shipped with kerasette are upscaled to
32x32 so that the architecture (two blocks of two 3x3 convolutions and a 2x2 pooling) fits.

Run:  python examples/vgg_like.py [--epochs N] [--checkpoint vgg_like.keras]

It saves the trained model (Keras 3's .keras format, which real Keras opens too) and, when
matplotlib is installed (``pip install 'kerasette[plot]'``), the training curves beside it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
import warnings

import numpy as np

import kerasette.backend as K
from kerasette.datasets import digits
from kerasette.layers import Activation, Convolution2D, Dense, Dropout, Flatten, MaxPooling2D
from kerasette.models import Sequential
from kerasette.optimizers import SGD
from kerasette.utils import to_categorical

SIZE = 32


def load_digits_32():
    """Digits as float32 (n, 1, 32, 32) in [0, 1], labels one-hot."""
    (x_train, y_train), (x_test, y_test) = digits.load_data()

    def prepare(x):
        x = x.astype("float32") / 16.0
        x = np.kron(x, np.ones((1, SIZE // 8, SIZE // 8), dtype="float32"))  # nearest-neighbour
        return x[:, None, :, :]

    return (prepare(x_train), to_categorical(y_train, 10)), (prepare(x_test), to_categorical(y_test, 10))


def build_model():
    """The Keras 1 documentation's VGG-like convnet, for (1, 32, 32) inputs."""
    model = Sequential()
    model.add(Convolution2D(32, 3, 3, border_mode="valid", input_shape=(1, SIZE, SIZE)))
    model.add(Activation("relu"))
    model.add(Convolution2D(32, 3, 3))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Convolution2D(64, 3, 3, border_mode="valid"))
    model.add(Activation("relu"))
    model.add(Convolution2D(64, 3, 3))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(256))
    model.add(Activation("relu"))
    model.add(Dropout(0.5))
    model.add(Dense(10))
    model.add(Activation("softmax"))
    return model


def main() -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default="vgg_like.keras", help="where to save the trained model")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # the Keras 1 names warn, by design
    K.set_image_data_format("channels_first")
    K.set_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_digits_32()
    model = build_model()
    model.summary()
    sgd = SGD(lr=0.02, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=32, nb_epoch=args.epochs, validation_split=0.1)
    took = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f} ({len(x_test)} digits); "
          f"training took {took:.1f} s")
    model.save(args.checkpoint)
    print(f"model saved to {args.checkpoint}")
    if importlib.util.find_spec("matplotlib") is not None:
        from kerasette.utils import plot_history

        curves = os.path.splitext(args.checkpoint)[0] + "_curves.png"
        plot_history(history, to_file=curves)
        print(f"training curves saved to {curves}")
    return accuracy


if __name__ == "__main__":
    main()
