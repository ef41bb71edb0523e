"""Makes keras3_<case>.h5: small models trained three steps by real Keras 3 with each optimizer
and saved in the legacy HDF5 format, with keras3_files.npz holding the data, Keras's optimizer
variables after the three steps, and the weights after a fourth step.

Run in a side environment with keras 3 and torch::

    cd tests/optimizers_golden && KERAS_BACKEND=torch /work/kerasenv/bin/python make_keras3_files.py
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
import problem
from make_golden import _keras_value

FILE_CASES = ("sgd_nesterov", "rmsprop_momentum_centered", "adagrad", "adadelta", "adam_amsgrad",
              "adam_cosine_warmup", "adamw", "adamax", "nadam", "ftrl_regularized", "lion")
HERE = pathlib.Path(__file__).parent


def main() -> None:
    rng = np.random.RandomState(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    arrays = {"x": x, "y": y}
    for name in FILE_CASES:
        class_name, kwargs, keras_kwargs = problem.CASES[name]
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(2)])
        optimizer = getattr(keras.optimizers, class_name)(**{k: _keras_value(v) for k, v in
                                                             (keras_kwargs or kwargs).items()})
        model.compile(optimizer, "mse")
        for _ in range(3):
            model.train_on_batch(x, y)
        model.save(HERE / f"keras3_{name}.h5")
        slots = [keras.ops.convert_to_numpy(v) for v in optimizer.variables if len(v.shape)]
        for i, value in enumerate(slots):
            arrays[f"{name}/slot_{i}"] = value
        model.train_on_batch(x, y)
        for i, value in enumerate(model.get_weights()):
            arrays[f"{name}/weights_after_step_4_{i}"] = value
    np.savez(HERE / "keras3_files.npz", **arrays)
    print(f"wrote {len(FILE_CASES)} files and keras3_files.npz")


if __name__ == "__main__":
    main()
