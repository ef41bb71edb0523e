"""Keras 3's way of training from a folder of images: ``image_dataset_from_directory`` for the
files, preprocessing layers inside the model for scaling and augmentation.

The shipped 8x8 digits are written as PNG files (one subfolder per class, as in
``image_folder.py``); ``image_dataset_from_directory`` splits them into training and validation
sets and resizes them to 32x32; the model starts with ``Rescaling`` and the random augmentation
layers (active only while ``fit`` trains), so the saved model takes raw 0..255 images. Needs
Pillow (``pip install 'kerasette[image]'``).

Run:  python examples/image_dataset.py [--epochs N] [--folder PATH]

With the defaults (10 epochs, seed 0) it reaches about 99% validation accuracy on the 359
held-out digits (98.9% measured), training in about 40 s on two cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import kerasette.backend as K
from kerasette.datasets import digits
from kerasette.layers import (
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
)
from kerasette.models import Sequential
from kerasette.optimizers import Adam
from kerasette.utils import image_dataset_from_directory, save_img

SIZE = 32


def write_image_folder(root: str) -> str:
    """All the digits as 8x8 grayscale PNG files, ``root/<digit>/<n>.png``."""
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    images, labels = np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(root, str(label))
        os.makedirs(folder, exist_ok=True)
        save_img(os.path.join(folder, f"{i:04d}.png"), np.minimum(image * 16.0, 255)[:, :, None], scale=False)
    return root


def build_model(classes: int) -> Sequential:
    return Sequential([
        Rescaling(1 / 255, input_shape=(SIZE, SIZE, 1)),
        RandomRotation(0.03, fill_mode="constant", seed=1),
        RandomZoom(0.1, fill_mode="constant", seed=2),
        RandomTranslation(0.1, 0.1, fill_mode="constant", seed=3),
        Conv2D(32, 3, activation="relu"),
        Conv2D(32, 3, activation="relu"),
        MaxPooling2D(2),
        Conv2D(64, 3, activation="relu"),
        MaxPooling2D(2),
        Flatten(),
        Dropout(0.3),
        Dense(128, activation="relu"),
        Dense(classes, activation="softmax"),
    ])


def train(folder: str, epochs: int, seed: int = 0, verbose: int = 1) -> float:
    K.set_image_data_format("channels_last")
    K.set_seed(seed)
    root = write_image_folder(folder)
    train_ds, val_ds = image_dataset_from_directory(root, image_size=(SIZE, SIZE), color_mode="grayscale",
                                                    batch_size=32, validation_split=0.2, subset="both",
                                                    seed=seed, interpolation="nearest")
    model = build_model(len(train_ds.class_names))
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, workers=2, verbose=verbose)
    took = time.perf_counter() - start
    loss, accuracy = model.evaluate(val_ds, verbose=0)
    if verbose:
        print(f"validation loss {loss:.4f}, accuracy {accuracy:.4f} ({len(val_ds.file_paths)} digits); "
              f"training took {took:.1f} s")
    return accuracy


def main() -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", help="where to write the image folder (default: a temporary folder)")
    args = parser.parse_args()
    if args.folder:
        return train(args.folder, args.epochs, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        return train(folder, args.epochs, args.seed)


if __name__ == "__main__":
    main()
