"""Writes ``data/keras3_preprocessing_configs.json``: the configs real Keras 3 gives its
preprocessing layers, which kerasette's must reproduce key for key (``test_preprocessing_layers.py``).

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/images/make_keras3_configs.py
"""

import json
import pathlib

import keras
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent


def main():
    made = [
        layers.Rescaling(1 / 255.0, offset=0.5), layers.Resizing(4, 5, crop_to_aspect_ratio=True),
        layers.Resizing(3, 3, interpolation="nearest", pad_to_aspect_ratio=True, fill_value=2.0),
        layers.CenterCrop(3, 3, data_format="channels_first"),
        layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0]), layers.Normalization(axis=(1, 2), invert=True),
        layers.RandomFlip("vertical", seed=3), layers.RandomRotation(0.2, fill_mode="wrap"),
        layers.RandomRotation((-0.1, 0.3), interpolation="nearest", fill_value=1.0),
        layers.RandomZoom(0.1, (-0.2, 0.3)), layers.RandomTranslation(0.1, (0.1, 0.2), interpolation="nearest"),
        layers.RandomContrast(0.3), layers.RandomContrast((0.1, 0.5), value_range=(0, 1)),
        layers.RandomBrightness((-0.2, 0.1), value_range=(0, 1)), layers.RandomBrightness(0.4),
        layers.RandomCrop(3, 3, seed=4),
    ]
    configs = [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in made]
    (HERE / "data" / "keras3_preprocessing_configs.json").write_text(
        json.dumps({"keras": keras.__version__, "layers": configs}, indent=1, default=list))
    print(len(configs), "configs")


if __name__ == "__main__":
    main()
