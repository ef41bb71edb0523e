"""Prediction time of a Conv2D-BatchNormalization-ReLU stack with BatchNormalization folded into
the convolutions (the planner's default) and without (each layer run on its own).

A script, not a test::

    python tests/benchmarks/folding_bench.py [--repeats 7] [--batch 32] [--size 32] [--channels 64]
        [--blocks 3] [--data-format channels_last]

Prints the median ``model.predict`` time of both over the same data, alternating the two.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--data-format", default="channels_last", choices=["channels_last", "channels_first"])
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
    import kerasette.backend as K
    from kerasette.layers import Activation, BatchNormalization, Conv2D
    from kerasette.models import Sequential
    from kerasette.models.planner import Plan

    K.set_seed(0)
    cf = args.data_format == "channels_first"
    shape = (args.channels, args.size, args.size) if cf else (args.size, args.size, args.channels)
    layers = []
    for i in range(args.blocks):
        layers += [Conv2D(args.channels, 3, padding="same", data_format=args.data_format,
                          **({"input_shape": shape} if i == 0 else {})),
                   BatchNormalization(axis=1 if cf else -1), Activation("relu")]
    model = Sequential(layers)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.weights and len(layer.weights) == 4:  # the normalizations: statistics away from 0 and 1
            c = layer.weights[0].shape
            layer.set_weights([rng.uniform(0.5, 2, c), rng.standard_normal(c), rng.standard_normal(c),
                               rng.uniform(0.5, 2, c)])
    x = rng.standard_normal((args.batch * 4,) + shape).astype("float32")
    plans = {"folded": Plan(model.inputs, model.outputs), "unfolded": Plan(model.inputs, model.outputs, fold=False)}
    times = {name: [] for name in plans}
    outputs = {}
    for _ in range(args.repeats + 1):  # the first round warms up
        for name, plan in plans.items():
            model._plan = plan  # the plan predict runs (the planner folds by default)
            start = time.perf_counter()
            outputs[name] = model.predict(x, batch_size=args.batch, verbose=0)
            times[name].append(time.perf_counter() - start)
    diff = float(np.max(np.abs(outputs["folded"] - outputs["unfolded"])))
    folded, unfolded = (1e3 * statistics.median(times[n][1:]) for n in ("folded", "unfolded"))
    print(f"{args.blocks} x (Conv2D {args.channels} 3x3 same, BatchNormalization, ReLU), {args.data_format}, "
          f"{len(x)} samples of {shape} in batches of {args.batch}; median of {args.repeats}")
    print(f"predict unfolded {unfolded:8.2f} ms   folded {folded:8.2f} ms   speedup {unfolded / folded:5.2f}x"
          f"   max |difference| {diff:.2e}")


if __name__ == "__main__":
    main()
