"""Writes the Keras 3 reference values for activations, initializers, regularizers and constraints.

Run in the side environment that has real Keras 3 (never a kerasette dependency):

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/golden_functions/make_golden.py

It writes ``functions.npz`` (inputs and Keras's outputs) and ``model_penalties_initial.h5`` and
``model_penalties.h5`` (a small model with regularizers and constraints saved as legacy HDF5
before and after one SGD step, with the step's logged loss, the penalty and the predictions in
``model_penalties_predictions.npz``) next to itself.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
from keras import activations, constraints, initializers, regularizers

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    rng = np.random.default_rng(0)
    out: dict[str, np.ndarray] = {}
    x = np.concatenate([np.linspace(-7, 7, 57), rng.standard_normal(40) * 3]).astype("float64").reshape(-1, 1)
    x = np.concatenate([x, x[::-1]], axis=1)  # (97, 2): softmax and log_softmax along the last axis
    out["x"] = x
    calls = {
        "relu": lambda t: activations.relu(t),
        "relu_options": lambda t: activations.relu(t, negative_slope=0.1, max_value=2.5, threshold=-1.0),
        "relu_threshold": lambda t: activations.relu(t, threshold=0.5),
        "relu_max": lambda t: activations.relu(t, max_value=3.0),
        "relu_slope": lambda t: activations.relu(t, negative_slope=0.3),
        "leaky_relu": activations.leaky_relu, "relu6": activations.relu6, "elu": activations.elu,
        "elu_alpha": lambda t: activations.elu(t, alpha=0.5), "selu": activations.selu,
        "gelu": activations.gelu, "gelu_approximate": lambda t: activations.gelu(t, approximate=True),
        "silu": activations.silu, "swish": activations.swish, "hard_sigmoid": activations.hard_sigmoid,
        "hard_swish": activations.hard_swish, "hard_silu": activations.hard_silu,
        "softplus": activations.softplus, "softsign": activations.softsign, "mish": activations.mish,
        "log_softmax": activations.log_softmax, "softmax": activations.softmax,
        "exponential": lambda t: activations.exponential(keras.ops.clip(t, -7, 7)),
        "sigmoid": activations.sigmoid, "tanh": activations.tanh,
    }
    for name, fn in calls.items():
        out[f"activation/{name}"] = keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(x)))

    w = rng.standard_normal((6, 4))
    out["w"] = w
    regs = {"l1": regularizers.L1(0.03), "l2": regularizers.L2(0.01), "l1_l2": regularizers.L1L2(0.02, 0.05),
            "orthogonal_rows": regularizers.OrthogonalRegularizer(0.1, "rows"),
            "orthogonal_columns": regularizers.OrthogonalRegularizer(0.1, "columns")}
    for name, reg in regs.items():
        out[f"regularizer/{name}"] = np.asarray(keras.ops.convert_to_numpy(reg(keras.ops.convert_to_tensor(w))))
    defaults = {}
    for name in ("l1", "l2", "l1_l2", "l1l2", "orthogonal_regularizer"):
        try:
            defaults[name] = regularizers.get(name).get_config()
        except ValueError:
            defaults[name] = None  # a name Keras 3 does not know as a string
    out["regularizer_default_configs"] = np.array(json.dumps(defaults))

    w4 = rng.standard_normal((3, 3, 2, 4)) * 2
    out["w4"] = w4
    cons = {"max_norm": (constraints.MaxNorm(1.5), w), "max_norm_axes": (constraints.MaxNorm(2.0, axis=[0, 1, 2]), w4),
            "min_max_norm": (constraints.MinMaxNorm(0.5, 1.2, rate=0.7), w),
            "min_max_norm_axis1": (constraints.MinMaxNorm(2.5, 3.0, axis=1), w),
            "unit_norm": (constraints.UnitNorm(), w), "unit_norm_axis1": (constraints.UnitNorm(axis=1), w),
            "non_neg": (constraints.NonNeg(), w)}
    for name, (con, value) in cons.items():
        out[f"constraint/{name}"] = keras.ops.convert_to_numpy(con(keras.ops.convert_to_tensor(value)))

    stats = {}
    shape = (64, 32, 3, 3)[::-1]  # (3, 3, 32, 64): a conv kernel
    for name in ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
                 "truncated_normal", "random_uniform", "random_normal"):
        values = keras.ops.convert_to_numpy(initializers.get(name)(shape)).astype("float64")
        stats[name] = {"std": float(values.std()), "min": float(values.min()), "max": float(values.max())}
    for mode in ("fan_in", "fan_out", "fan_avg"):
        for dist in ("truncated_normal", "untruncated_normal", "uniform"):
            init = initializers.VarianceScaling(scale=3.0, mode=mode, distribution=dist, seed=1)
            values = keras.ops.convert_to_numpy(init(shape)).astype("float64")
            stats[f"variance_scaling/{mode}/{dist}"] = {"std": float(values.std()), "min": float(values.min()),
                                                        "max": float(values.max())}
    out["initializer_stats"] = np.array(json.dumps(stats))
    out["initializer/identity"] = keras.ops.convert_to_numpy(initializers.Identity(gain=2.5)((3, 5)))
    out["initializer/constant"] = keras.ops.convert_to_numpy(initializers.Constant(0.7)((2, 3)))
    configs = {name: initializers.serialize(initializers.get(name)) for name in (
        "orthogonal", "identity", "truncated_normal", "variance_scaling", "uniform", "normal",
        "zero", "one")}
    out["initializer_configs"] = np.array(json.dumps(configs))
    np.savez_compressed(os.path.join(HERE, "functions.npz"), **out)
    save_model(rng)


def save_model(rng) -> None:
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        keras.layers.Conv2D(3, 3, activation="relu", kernel_regularizer=regularizers.L2(0.01),
                            bias_regularizer=regularizers.L1(0.002), activity_regularizer=regularizers.L1L2(0.001, 0.002),
                            kernel_constraint=constraints.MaxNorm(2.0, axis=[0, 1, 2]),
                            bias_constraint=constraints.NonNeg(), name="conv"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(4, activation="selu", kernel_regularizer=regularizers.L1L2(0.01, 0.02),
                           kernel_constraint=constraints.UnitNorm(), bias_constraint=constraints.MinMaxNorm(0.0, 1.0),
                           activity_regularizer=regularizers.L2(0.003), name="dense"),
        keras.layers.Dense(2, activation="softmax", kernel_regularizer=regularizers.OrthogonalRegularizer(0.05),
                           name="out"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="categorical_crossentropy")
    x = rng.standard_normal((8, 6, 6, 2)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 2, 8), 2)
    model.save(os.path.join(HERE, "model_penalties_initial.h5"))  # before the training step
    history = model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    # the regularization part of the loss (weights' terms plus activity terms on this batch)
    model(x)
    penalty = float(sum(float(keras.ops.convert_to_numpy(v)) for v in model.losses))
    model.save(os.path.join(HERE, "model_penalties.h5"))
    np.savez_compressed(os.path.join(HERE, "model_penalties_predictions.npz"), x=x, y=y,
                        predictions=model.predict(x, verbose=0), penalty=np.array(penalty),
                        logged_loss=np.array(history.history["loss"][0]))


if __name__ == "__main__":
    main()
