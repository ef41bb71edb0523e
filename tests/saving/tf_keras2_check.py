"""Loads kerasette-written legacy HDF5 files in real Keras 2 (tf.keras: the ``tf_keras`` package)
and compares the predictions.

Run with a Python that has ``tf_keras`` and TensorFlow, for example::

    /work/k2tf/bin/python tests/saving/tf_keras2_check.py DIR

``DIR`` holds ``NAME.h5`` (written by kerasette's ``model.save``) and ``NAME.npz`` (inputs ``x`` and
kerasette's predictions ``y``). Prints one JSON line with the versions, then one per file with
the max abs difference between Keras 2's and kerasette's predictions and the layers Keras built.
Imports nothing from kerasette, so it runs in an environment without it.
"""

from __future__ import annotations

import glob
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402


def check(path: str) -> dict:
    data = np.load(path[: -len(".h5")] + ".npz")
    model = keras.models.load_model(path, compile=False)
    predicted = np.asarray(model.predict(data["x"], verbose=0))
    return {"file": os.path.basename(path), "max_abs_diff": float(np.max(np.abs(predicted - data["y"]))),
            "layers": [type(layer).__name__ for layer in model.layers]}


def main(folder: str) -> None:
    print(json.dumps({"keras_version": keras.__version__}))
    for path in sorted(glob.glob(os.path.join(folder, "*.h5"))):
        print(json.dumps(check(path)))


if __name__ == "__main__":
    main(sys.argv[1])
