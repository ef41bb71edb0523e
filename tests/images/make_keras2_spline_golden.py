"""Writes ``data/keras2_spline_transforms.npz``: Keras 2's ``apply_transform`` with spline
interpolation orders 2 to 5 (scipy's B-splines), the oracle of ``test_keras2_spline_golden.py``.

Run it in a side environment holding Keras 2's implementation (never kerasette's)::

    python3 -m venv /work/k2img && /work/k2img/bin/pip install keras-preprocessing scipy numpy pillow
    /work/k2img/bin/python tests/images/make_keras2_spline_golden.py

For every fill mode Keras 2 allows and every order 2 to 5: each image below under each set of
transform parameters. The images have sharp edges (a bright frame, a dark pixel in a corner)
so that the boundary rules of the spline prefilter show in the output; the parameters move
part of every output outside the input (rotation, shift, strong zoom out, shear) so that the
fill rule and the evaluation near the edges are exercised. Stored: the inputs ``x_<name>``,
the cases (JSON in ``cases``: generator arguments, parameters, image) and the outputs ``y_<i>``.
"""

import json
import os

import numpy as np
from keras_preprocessing.image import ImageDataGenerator

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    rng = np.random.default_rng(16)
    rgb = rng.uniform(0, 255, (9, 11, 3)).astype("float32")
    rgb[0, :, 0] = rgb[-1, :, 1] = 255.0  # edges with contrast: the boundary rules matter
    rgb[0, 0] = 0.0
    gray = rng.uniform(-1, 1, (13, 8, 1)).astype("float32")
    gray[:, -1] = 3.0
    first = rng.uniform(0, 1, (2, 10, 7)).astype("float32")
    wide = rng.uniform(0, 1, (3, 30, 3)).astype("float32")  # three rows: short lines for the filter
    images = {"rgb": rgb, "gray": gray, "first": first, "wide": wide}
    params = [
        {"theta": 23.0, "tx": 0.6, "ty": -1.3},
        {"zx": 1.7, "zy": 0.6, "shear": 11.0},
        {"theta": -141.0, "tx": 4.5, "ty": 7.25, "zx": 0.75, "zy": 1.25},
        {"tx": -2.0, "ty": 3.5, "flip_horizontal": True},
    ]
    cases, arrays = [], {}
    for fill in ("constant", "nearest", "reflect", "wrap"):
        for order in (2, 3, 4, 5):
            for image in images:
                for p in params:
                    args = {"fill_mode": fill, "cval": -7.5 if fill == "constant" else 0.0,
                            "interpolation_order": order,
                            "data_format": "channels_first" if image == "first" else "channels_last"}
                    y = ImageDataGenerator(**args).apply_transform(images[image].copy(), dict(p))
                    arrays[f"y_{len(cases)}"] = np.asarray(y, "float32")
                    cases.append({"args": args, "params": p, "image": image})
    np.savez_compressed(os.path.join(HERE, "data", "keras2_spline_transforms.npz"), cases=json.dumps(cases),
                        **{f"x_{k}": v for k, v in images.items()}, **arrays)
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
