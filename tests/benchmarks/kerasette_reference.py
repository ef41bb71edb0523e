"""kerasette timings for the seed VGG-like convnet, the counterpart of torch_reference.py.

Trains (or, for ``predict100``, predicts) on random data and prints one JSON line with
throughput, median step time and peak RSS. ``--first-batch`` instead stops after the first
training batch (to time start-up as a whole process).

Example::

    python tests/benchmarks/kerasette_reference.py --case vgg100_cl
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cases import BN_EPSILON, BN_MOMENTUM, CASES, NUM_CLASSES, RESNET_BLOCKS, RESNET_STAGES, Case  # noqa: E402

import kerasette  # noqa: E402
from kerasette.layers import (  # noqa: E402
    Activation,
    Add,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
)
from kerasette.models import Model, Sequential  # noqa: E402
from kerasette.optimizers import SGD  # noqa: E402


def build_resnet20(case: Case) -> Model:
    """Keras's CIFAR-10 ResNet v1 with depth 20 (the ``resnet_v1`` of Keras's example), ending in
    GlobalAveragePooling2D: conv-BN-ReLU, then three stages of three blocks (conv-BN-ReLU,
    conv-BN, add the shortcut, ReLU); a stage's first block halves the size with strides 2 and a
    1x1 strided convolution on its shortcut."""

    def conv_bn(x, filters, strides=1, relu=True):
        x = Conv2D(filters, 3, strides=strides, padding="same", kernel_initializer="he_normal")(x)
        x = BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON)(x)
        return Activation("relu")(x) if relu else x

    inputs = Input(shape=(case.height, case.width, case.channels))
    x = conv_bn(inputs, RESNET_STAGES[0])
    for stage, filters in enumerate(RESNET_STAGES):
        for block in range(RESNET_BLOCKS):
            strides = 2 if stage > 0 and block == 0 else 1
            y = conv_bn(conv_bn(x, filters, strides), filters, relu=False)
            if strides != 1:
                x = Conv2D(filters, 1, strides=strides, padding="same", kernel_initializer="he_normal")(x)
            x = Activation("relu")(Add()([x, y]))
    outputs = Dense(NUM_CLASSES, activation="softmax", kernel_initializer="he_normal")(GlobalAveragePooling2D()(x))
    return Model(inputs, outputs)


def build_model(case: Case) -> Model:
    """The seed convnet in Keras 2 names, in the case's data format, as a Sequential or (for the
    ``_fn`` cases) the same layers connected with the functional API."""
    if case.arch == "resnet20":
        model = build_resnet20(case)
        model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.01, momentum=0.9, nesterov=True))
        return model
    fmt = "channels_last" if case.channels_last else "channels_first"
    shape = ((case.height, case.width, case.channels) if case.channels_last
             else (case.channels, case.height, case.width))
    layers = [
        Conv2D(32, (3, 3), activation="relu", data_format=fmt),
        Conv2D(32, (3, 3), activation="relu", data_format=fmt),
        MaxPooling2D((2, 2), data_format=fmt),
        Dropout(0.25),
        Conv2D(64, (3, 3), activation="relu", data_format=fmt),
        Conv2D(64, (3, 3), activation="relu", data_format=fmt),
        MaxPooling2D((2, 2), data_format=fmt),
        Dropout(0.25),
        Flatten(),
        Dense(256, activation="relu"),
        Dropout(0.5),
        Dense(NUM_CLASSES, activation="softmax"),
    ]
    if case.functional:
        x = inputs = Input(shape=shape)
        for layer in layers:
            x = layer(x)
        model = Model(inputs, x)
    else:
        model = Sequential([Input(shape=shape)] + layers)
    model.compile(loss="categorical_crossentropy",
                  optimizer=SGD(learning_rate=0.01, momentum=0.9, nesterov=True))
    return model


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(case_name: str, steps: int, warmup: int, seed: int, first_batch: bool) -> dict:
    case = CASES[case_name]
    rng = np.random.default_rng(seed)
    model = build_model(case)
    x = rng.random((case.batch,) + model.input_shape[1:], dtype=np.float32)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, case.batch)]
    if first_batch:
        model.train_on_batch(x, y)
        return {"framework": "kerasette", "case": case_name, "first_batch_done": True}
    step = (lambda: model.train_on_batch(x, y)) if case.train else (
        lambda: model.predict(x, batch_size=case.batch))
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"framework": "kerasette", "case": case_name, "mode": "train" if case.train else "predict",
            "batch": case.batch, "samples_per_s": case.batch / median,
            "samples_per_s_total": case.batch * steps / sum(times), "step_ms_median": median * 1e3,
            "peak_rss_mb": peak_rss_mb(), "steps": steps, "warmup": warmup,
            "kerasette_version": kerasette.__version__}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-batch", action="store_true")
    args = parser.parse_args(argv)
    steps = args.steps or CASES[args.case].default_steps
    print(json.dumps(run(args.case, steps, args.warmup, args.seed, args.first_batch)), flush=True)


if __name__ == "__main__":
    main()
