"""Keras 1 checkpoint files written by hand, in Keras 1.2's exact layout, and numpy references.

Keras 1 wrote: a list-style Sequential ``model_config`` with Keras 1 argument names; root
attributes ``keras_version`` (absent before 1.2) and no ``backend``; ``model_weights`` with
``layer_names`` and, per layer, ``weight_names`` such as ``convolution2d_1_W`` (Theano) or
``convolution2d_1_W:0`` (TensorFlow) naming datasets directly in the layer's group; Theano-order
kernels ``(filters, in, rows, cols)`` for ``dim_ordering='th'``; optimizer weights
``[iterations] + moments``.
"""

from __future__ import annotations

import json

import h5py
import numpy as np

CONV = {"name": "convolution2d_1", "trainable": True, "input_dtype": "float32", "nb_filter": 4, "nb_row": 3,
        "nb_col": 2, "init": "glorot_uniform", "activation": "relu", "border_mode": "valid",
        "subsample": [1, 1], "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
        "W_constraint": None, "b_constraint": None, "bias": True}
DENSE = {"name": "dense_1", "trainable": True, "output_dim": 5, "init": "glorot_uniform", "activation": "softmax",
         "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
         "b_constraint": None, "bias": True, "input_dim": None}
TRAINING_CONFIG = {"optimizer_config": {"class_name": "SGD", "config": {"lr": 0.009999999776482582, "momentum": 0.9,
                                                                        "decay": 0.0, "nesterov": False}},
                   "loss": "categorical_crossentropy", "metrics": ["accuracy"], "sample_weight_mode": None,
                   "loss_weights": None}
IMAGE = (8, 9)  # rows, cols


def keras1_config(dim_ordering: str) -> list[dict]:
    shape = [None, 3, *IMAGE] if dim_ordering == "th" else [None, *IMAGE, 3]
    return [
        {"class_name": "Convolution2D", "config": {**CONV, "batch_input_shape": shape, "dim_ordering": dim_ordering}},
        {"class_name": "MaxPooling2D", "config": {"name": "maxpooling2d_1", "trainable": True, "pool_size": [2, 2],
                                                  "strides": [2, 2], "border_mode": "valid",
                                                  "dim_ordering": dim_ordering}},
        {"class_name": "Dropout", "config": {"name": "dropout_1", "trainable": True, "p": 0.25}},
        {"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": True}},
        {"class_name": "Dense", "config": dict(DENSE)},
    ]


def random_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Theano-order conv kernel (4, 3, 3, 2), its bias, the dense kernel (48, 5) and bias."""
    rng = np.random.RandomState(seed)
    return {"W_th": rng.uniform(-0.5, 0.5, (4, 3, 3, 2)).astype("float32"),
            "b": rng.uniform(-0.1, 0.1, 4).astype("float32"),
            "Wd": rng.uniform(-0.5, 0.5, (48, 5)).astype("float32"),
            "bd": rng.uniform(-0.1, 0.1, 5).astype("float32")}


def _set_names(group, key: str, names: list[str]) -> None:
    group.attrs[key] = [n.encode("utf8") for n in names] if names else np.zeros((0,), "float64")


def write_keras1_file(path, dim_ordering: str, weights: dict, *, suffix: str = "", keras_version="1.2.2",
                      backend=None, with_training: bool = True, list_style: bool = True) -> None:
    """A Keras 1 full-model file for the model of `keras1_config` (``suffix=':0'`` for TF names)."""
    kernel = weights["W_th"] if dim_ordering == "th" else np.transpose(weights["W_th"], (2, 3, 1, 0))
    layers = keras1_config(dim_ordering)
    config = layers if list_style else {"name": "sequential_1", "layers": layers}
    per_layer = {"convolution2d_1": [("convolution2d_1_W", kernel), ("convolution2d_1_b", weights["b"])],
                 "maxpooling2d_1": [], "dropout_1": [], "flatten_1": [],
                 "dense_1": [("dense_1_W", weights["Wd"]), ("dense_1_b", weights["bd"])]}
    with h5py.File(path, "w") as f:
        if keras_version is not None:
            f.attrs["keras_version"] = keras_version.encode("utf8")
        if backend is not None:
            f.attrs["backend"] = backend.encode("utf8")
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": config}).encode("utf8")
        group = f.create_group("model_weights")
        _set_names(group, "layer_names", list(per_layer))
        for layer, items in per_layer.items():
            g = group.create_group(layer)
            _set_names(g, "weight_names", [name + suffix for name, _ in items])
            for name, value in items:
                g.create_dataset(name + suffix, data=value)
        if with_training:
            f.attrs["training_config"] = json.dumps(TRAINING_CONFIG).encode("utf8")
            _write_keras1_optimizer(f, kernel, weights)


def _write_keras1_optimizer(f, kernel, weights) -> None:
    moments = [np.full(kernel.shape, 0.5, "float32") * np.arange(kernel.size, dtype="float32").reshape(kernel.shape),
               np.full(weights["b"].shape, 0.25, "float32"), np.full(weights["Wd"].shape, 0.125, "float32"),
               np.full(weights["bd"].shape, 0.0625, "float32")]
    group = f.create_group("optimizer_weights")
    values = [np.asarray(7.0, "float32")] + moments  # Keras 1: iterations is a float variable
    names = [f"param_{i}" for i in range(len(values))]
    _set_names(group, "weight_names", names)
    for name, value in zip(names, values, strict=True):
        group.create_dataset(name, data=value)


def reference_predict(x_nchw: np.ndarray, weights: dict, true_convolution: bool) -> np.ndarray:
    """What Keras 1 computed for the `keras1_config` model with channels-first input, in numpy.

    Theano's ``conv2d`` is a true convolution (the kernel flipped in both spatial axes);
    TensorFlow's is a cross-correlation. Flattening a (filters, rows, cols) map is in that order.
    """
    kernel = weights["W_th"][:, :, ::-1, ::-1] if true_convolution else weights["W_th"]
    n, _, rows, cols = x_nchw.shape
    filters, _, kh, kw = kernel.shape
    out_rows, out_cols = rows - kh + 1, cols - kw + 1
    out = np.zeros((n, filters, out_rows, out_cols))
    for u in range(kh):
        for v in range(kw):
            patch = x_nchw[:, :, u:u + out_rows, v:v + out_cols].astype("float64")
            out += np.einsum("nchw,fc->nfhw", patch, kernel[:, :, u, v])
    out = np.maximum(out + weights["b"][None, :, None, None], 0)
    pooled = out[:, :, : out_rows // 2 * 2, : out_cols // 2 * 2]
    pooled = pooled.reshape(n, filters, out_rows // 2, 2, out_cols // 2, 2).max(axis=(3, 5))
    return _dense_softmax(pooled.reshape(n, -1), weights)


def reference_predict_channels_last(x_nhwc: np.ndarray, weights: dict, true_convolution: bool) -> np.ndarray:
    """The same model with ``dim_ordering='tf'``: flattening a (rows, cols, filters) map."""
    x = np.transpose(x_nhwc, (0, 3, 1, 2))
    kernel = weights["W_th"][:, :, ::-1, ::-1] if true_convolution else weights["W_th"]
    n, _, rows, cols = x.shape
    filters, _, kh, kw = kernel.shape
    out = np.zeros((n, filters, rows - kh + 1, cols - kw + 1))
    for u in range(kh):
        for v in range(kw):
            out += np.einsum("nchw,fc->nfhw", x[:, :, u:u + out.shape[2], v:v + out.shape[3]].astype("float64"),
                             kernel[:, :, u, v])
    out = np.maximum(out + weights["b"][None, :, None, None], 0)
    out = out.reshape(n, filters, out.shape[2] // 2, 2, out.shape[3] // 2, 2).max(axis=(3, 5))
    return _dense_softmax(np.transpose(out, (0, 2, 3, 1)).reshape(n, -1), weights)


def _dense_softmax(flat: np.ndarray, weights: dict) -> np.ndarray:
    z = flat @ weights["Wd"].astype("float64") + weights["bd"]
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
