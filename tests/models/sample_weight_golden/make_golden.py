"""Golden numbers for sample_weight and class_weight from real Keras 3 (tests/models/test_sample_weights.py).

Run once in a side environment (never a kerasette dependency):

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/models/sample_weight_golden/make_golden.py

Made with Keras 3.15.1 on torch 2.13.0+cpu: a Dense(3, softmax) model with fixed weights; the
weighted evaluate loss (3 batches), one SGD step of train_on_batch with sample weights, and one
epoch of fit with class weights (one batch, no shuffling).
"""

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.default_rng(11)
x = rng.normal(size=(10, 4)).astype("float32")
labels = rng.integers(0, 3, 10)
y = np.eye(3, dtype="float32")[labels]
sw = rng.uniform(0.0, 2.0, 10).astype("float32")
kernel = rng.normal(size=(4, 3)).astype("float32") * 0.5
bias = rng.normal(size=(3,)).astype("float32") * 0.1
class_weight = {0: 1.0, 1: 2.5, 2: 0.5}


def model():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    m.layers[0].set_weights([kernel, bias])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy")
    return m


golden = {"keras_version": keras.__version__, "x": x.tolist(), "y": y.tolist(), "sample_weight": sw.tolist(),
          "kernel": kernel.tolist(), "bias": bias.tolist(), "class_weight": {str(k): v for k, v in class_weight.items()}}
golden["evaluate_loss"] = float(model().evaluate(x, y, sample_weight=sw, batch_size=4, verbose=0))
m = model()
golden["train_on_batch_loss"] = float(m.train_on_batch(x, y, sample_weight=sw))
golden["after_sample_weight_step"] = [w.tolist() for w in m.layers[0].get_weights()]
m = model()
history = m.fit(x, y, batch_size=10, epochs=1, shuffle=False, class_weight=class_weight, verbose=0)
golden["class_weight_fit_loss"] = float(history.history["loss"][0])
golden["after_class_weight_epoch"] = [w.tolist() for w in m.layers[0].get_weights()]
pathlib.Path(__file__).with_name("golden.json").write_text(json.dumps(golden, indent=1))
print(golden["evaluate_loss"], golden["train_on_batch_loss"], golden["class_weight_fit_loss"])
