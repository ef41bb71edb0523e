"""Integration: the flow of examples/image_folder.py at small scale. The digits are written as PNG
files with save_img, read back by flow_from_directory with augmentation, and the VGG-like convnet
trains on the iterator to an accuracy threshold."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

import kerasette.backend as K
from kerasette.optimizers import SGD
from kerasette.preprocessing.image import ImageDataGenerator
from kerasette.utils import img_to_array, load_img
from tests.images.conftest import needs_pillow

pytestmark = needs_pillow
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "image_folder.py"


def _example():
    spec = importlib.util.spec_from_file_location("image_folder_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_from_an_image_folder_learns_the_digits(tmp_path):
    example = _example()
    before = K.image_data_format()
    try:
        K.set_image_data_format("channels_last")
        K.set_seed(1)
        train_dir, test_dir = example.write_image_folder(str(tmp_path))
        files = sorted(Path(train_dir, "3").glob("*.png"))
        assert len(list(Path(train_dir).rglob("*.png"))) == 1438 and len(list(Path(test_dir).rglob("*.png"))) == 359
        pixels = img_to_array(load_img(files[0], color_mode="grayscale"))
        assert pixels.shape == (8, 8, 1) and pixels.max() > 100  # 0..16 written as 0..255
        augmenting = ImageDataGenerator(rescale=1 / 255, rotation_range=10, width_shift_range=0.1,
                                        height_shift_range=0.1, zoom_range=0.1)
        train_it = augmenting.flow_from_directory(train_dir, target_size=(16, 16), color_mode="grayscale",
                                                  batch_size=32, seed=1)
        test_it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
            test_dir, target_size=(16, 16), color_mode="grayscale", batch_size=128, shuffle=False)
        assert train_it.class_indices == {str(d): d for d in range(10)}
        model = example.build_model(input_shape=(16, 16, 1))
        model.compile(SGD(learning_rate=0.03, momentum=0.9, nesterov=True), "categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(train_it, epochs=7, verbose=0, workers=2)
        loss, accuracy = model.evaluate(test_it, verbose=0)
        assert accuracy > 0.9, accuracy  # 0.967 with seed 1, 0.944 with seed 2
        predicted = model.predict(test_it).argmax(1)
        assert abs(np.mean(predicted == test_it.classes) - accuracy) < 1e-6
    finally:
        K.set_image_data_format(before)
