"""Training from a folder of image files, with augmentation, as Keras 2 scripts do.

The shipped 8x8 digits are written as PNG files with `save_img`, one subfolder per class
(``train/0/...``, ``test/9/...``), the way a user's own photos would be arranged; then
``ImageDataGenerator(...).flow_from_directory(...)`` reads them back at 32x32, with random
rotations, shifts and zooms for training, and the VGG-like convnet of ``vgg_like.py`` (in Keras 2's
names, channels-last) trains on the iterator. Needs Pillow (``pip install 'kerasette[image]'``).

Run:  python examples/image_folder.py [--epochs N] [--folder PATH]

With the defaults (10 epochs, seed 0) it reaches 96.9% test accuracy on the 359 test digits
(95% after 6 epochs), training in about 30 s on two cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import kerasette.backend as K
from kerasette.datasets import digits
from kerasette.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from kerasette.models import Sequential
from kerasette.optimizers import SGD
from kerasette.preprocessing.image import ImageDataGenerator
from kerasette.utils import save_img

SIZE = 32


def write_image_folder(root: str) -> tuple[str, str]:
    """Writes the digits as 8x8 grayscale PNG files under ``root/train`` and ``root/test``."""
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    for part, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        for i, (image, label) in enumerate(zip(images, labels)):
            folder = os.path.join(root, part, str(label))
            os.makedirs(folder, exist_ok=True)
            pixels = np.minimum(image.astype("float32") * 16, 255)[:, :, None]  # 0..16 -> 0..255
            save_img(os.path.join(folder, f"{i:04d}.png"), pixels, scale=False)
    return os.path.join(root, "train"), os.path.join(root, "test")


def build_model(input_shape=(SIZE, SIZE, 1), classes=10) -> Sequential:
    """The VGG-like convnet: two blocks of two 3x3 convolutions and a 2x2 max pooling, then a
    dense layer of 256 with dropout."""
    return Sequential([
        Conv2D(32, 3, activation="relu", input_shape=input_shape),
        Conv2D(32, 3, activation="relu"),
        MaxPooling2D(2),
        Dropout(0.25),
        Conv2D(64, 3, activation="relu"),
        Conv2D(64, 3, activation="relu"),
        MaxPooling2D(2),
        Dropout(0.25),
        Flatten(),
        Dense(256, activation="relu"),
        Dropout(0.5),
        Dense(classes, activation="softmax"),
    ])


def train(folder: str, epochs: int, seed: int = 0, verbose: int = 1) -> float:
    """Writes the image folder under ``folder``, trains from it and returns the test accuracy."""
    K.set_image_data_format("channels_last")
    K.set_seed(seed)
    train_dir, test_dir = write_image_folder(folder)
    augmenting = ImageDataGenerator(rescale=1 / 255, rotation_range=10, width_shift_range=0.1,
                                    height_shift_range=0.1, zoom_range=0.1)
    train_it = augmenting.flow_from_directory(train_dir, target_size=(SIZE, SIZE), color_mode="grayscale",
                                              batch_size=32, seed=seed)
    test_it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        test_dir, target_size=(SIZE, SIZE), color_mode="grayscale", batch_size=128, shuffle=False)
    model = build_model(classes=train_it.num_classes)
    model.compile(optimizer=SGD(learning_rate=0.03, momentum=0.9, nesterov=True), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(train_it, epochs=epochs, validation_data=test_it, workers=2, verbose=verbose)
    took = time.perf_counter() - start
    loss, accuracy = model.evaluate(test_it, verbose=0)
    if verbose:
        print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f} ({test_it.samples} digits); "
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
