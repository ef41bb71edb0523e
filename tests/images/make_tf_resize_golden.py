"""Writes ``data/tf_resize.npz``: TensorFlow's ``tf.image.resize`` (no antialiasing) with the
'area', 'lanczos3' and 'lanczos5' methods, the definitions Keras 3's ``Resizing`` uses for them
(its torch backend has none of the three). Run in a side environment with TensorFlow::

    /work/k2tf/bin/python tests/images/make_tf_resize_golden.py
"""

import pathlib

import numpy as np
import tensorflow as tf

HERE = pathlib.Path(__file__).resolve().parent


def main():
    x = np.random.default_rng(0).uniform(0, 255, (2, 7, 10, 2)).astype("float32")
    out = {"x": x}
    for method in ("area", "lanczos3", "lanczos5"):
        for size in ((3, 4), (7, 10), (11, 16), (5, 23)):
            out[f"{method}_{size[0]}x{size[1]}"] = tf.image.resize(x, size, method=method, antialias=False).numpy()
    np.savez_compressed(HERE / "data" / "tf_resize.npz", tensorflow=tf.__version__, **out)
    print(len(out) - 1, "resizes")


if __name__ == "__main__":
    main()
