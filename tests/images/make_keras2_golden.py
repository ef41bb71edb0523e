"""Writes ``data/keras2_transforms.npz``: Keras 2's image augmentation outputs for explicit
transform parameters, the oracle of ``test_image_data_generator.py``.

Run it in a side environment holding Keras 2's implementation (never kerasette's)::

    python3 -m venv /work/k2img && /work/k2img/bin/pip install keras-preprocessing scipy numpy pillow
    /work/k2img/bin/python tests/images/make_keras2_golden.py

For each case: the input image ``x_<i>``, the generator's arguments and transform parameters
(JSON in ``cases``) and ``ImageDataGenerator(**args).apply_transform(x, params)`` as ``y_<i>``.
"""

import json
import os

import numpy as np
from keras_preprocessing.image import ImageDataGenerator

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    rng = np.random.default_rng(0)
    images = {
        "rgb": rng.uniform(0, 255, (9, 11, 3)).astype("float32"),
        "gray": rng.uniform(-1, 1, (12, 8, 1)).astype("float32"),
        "first": rng.uniform(0, 1, (2, 10, 7)).astype("float32"),
    }
    params = [
        {"theta": 17.0},
        {"theta": -33.0, "tx": 1.5, "ty": -2.25},
        {"tx": 2.0, "ty": 3.0},
        {"shear": 14.0},
        {"zx": 0.8, "zy": 1.3},
        {"zx": 1.6, "zy": 1.2},
        {"theta": 71.0, "tx": -1.2, "ty": 0.7, "shear": -9.0, "zx": 0.7, "zy": 0.9},
        {"theta": 190.0, "zx": 2.5, "zy": 0.4},
        {"theta": 12.0, "flip_horizontal": True, "channel_shift_intensity": 20.0},
        {"flip_vertical": True, "flip_horizontal": True},
    ]
    cases, arrays = [], {}
    for fill in ("constant", "nearest", "reflect", "wrap"):
        for order in (0, 1):
            for image in ("rgb", "gray", "first"):
                for p in params:
                    args = {"fill_mode": fill, "cval": 7.5 if fill == "constant" else 0.0,
                            "interpolation_order": order,
                            "data_format": "channels_first" if image == "first" else "channels_last"}
                    x = images[image]
                    y = ImageDataGenerator(**args).apply_transform(x.copy(), dict(p))
                    arrays[f"y_{len(cases)}"] = np.asarray(y, "float32")
                    cases.append({"args": args, "params": p, "image": image})
    # brightness goes through an 8-bit image in Keras 2 (array_to_img, PIL's enhancer, img_to_array)
    for b in (0.3, 1.0, 1.7):
        args = {"data_format": "channels_last"}
        y = ImageDataGenerator(**args).apply_transform(images["rgb"].copy(), {"brightness": b})
        arrays[f"y_{len(cases)}"] = np.asarray(y, "float32")
        cases.append({"args": args, "params": {"brightness": b}, "image": "rgb"})
    np.savez_compressed(os.path.join(HERE, "data", "keras2_transforms.npz"), cases=json.dumps(cases),
                        **{f"x_{k}": v for k, v in images.items()}, **arrays)
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
