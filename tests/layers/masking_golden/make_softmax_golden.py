"""Keras 3's Softmax with a mask (tests/layers/test_mask_propagation.py).

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/layers/masking_golden/make_softmax_golden.py

Writes ``softmax.npz``: the input ``x`` (2, 3, 4), boolean and float masks broadcasting from the
right (one with a slice masked entirely), and Keras 3.15.1's outputs ``y_<case>``.
"""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = pathlib.Path(__file__).parent
x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
cases = {
    "last_axis": (-1, x, np.array([[[1, 0, 1, 1]], [[0, 0, 0, 0]]], bool)),
    "steps": (1, x[..., 0], np.array([[1, 0, 1], [1, 1, 0]], bool)),
    "float_mask": (-1, x, np.array([[0.2, 0.9, 0.7, 0.1]], "float32")),
}
out = {"x": x}
for name, (axis, inputs, mask) in cases.items():
    out[f"mask_{name}"] = mask
    out[f"axis_{name}"] = np.array(axis)
    out[f"y_{name}"] = np.asarray(keras.layers.Softmax(axis=axis)(inputs, mask=mask))
np.savez(HERE / "softmax.npz", **out)
