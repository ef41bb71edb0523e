"""Each convolution layer's share of a training step: its forward and backward wall time, layer by
layer, inside `bench.py`'s models as they train.

A script, not a test::

    python tests/benchmarks/conv_shares.py --case mnist28 [--steps 30]

Wraps the convolution engine's forward pass and whole backward pass (`conv.conv2d_forward`,
`conv.conv2d_backward`), keyed by the layer's input and kernel shapes, and prints per step the
median milliseconds of each, beside the median step (the timers add a few microseconds a call).
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
from cases import CASES  # noqa: E402
from kerasette_reference import build_model  # noqa: E402
from provenance import revision  # noqa: E402

from kerasette.backend.engine import choose  # noqa: E402
from kerasette.backend.engine import conv as engine_conv  # noqa: E402
from kerasette.backend.engine.geometry import conv_geometry  # noqa: E402
from kerasette.backend.kernels import simd  # noqa: E402

_times: dict = collections.defaultdict(float)
_seen: dict = {}


def _wrap(name: str, fn, key_of):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        key = key_of(*args, **kwargs)
        _times[(key, name)] += time.perf_counter() - start
        _seen.setdefault(key, (args, kwargs))
        return out

    return timed


def _forward_key(x, w, b=None, strides=(1, 1), padding="valid", *rest, **kwargs):
    return (tuple(x.shape), tuple(w.shape), tuple(kwargs.get("strides", strides)), kwargs.get("padding", padding))


def _backward_key(dy, x, w, out, relu, has_bias, strides, padding, *rest, **kwargs):
    return (tuple(x.shape), tuple(w.shape), tuple(strides), padding)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(c for c in CASES if CASES[c].train), default="mnist28")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    case = CASES[args.case]
    engine_conv.conv2d_forward = _wrap("forward", engine_conv.conv2d_forward, _forward_key)
    engine_conv.conv2d_backward = _wrap("backward", engine_conv.conv2d_backward, _backward_key)
    model = build_model(case)
    rng = np.random.default_rng(0)
    shape = ((case.height, case.width, case.channels) if case.channels_last
             else (case.channels, case.height, case.width))
    x = rng.standard_normal((case.batch, *shape)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, case.batch)]
    for _ in range(3):
        model.train_on_batch(x, y)
    steps, per_step = [], collections.defaultdict(list)
    for _ in range(args.steps):
        _times.clear()
        start = time.perf_counter()
        model.train_on_batch(x, y)
        steps.append(time.perf_counter() - start)
        for key, seconds in _times.items():
            per_step[key].append(seconds)
    print(f"command: {Path(sys.executable).name} {' '.join(sys.argv)}; commit {revision()}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC; load {os.getloadavg()[0]:.2f}; "
          f"{simd.VECTOR_BYTES}-byte vectors")
    step = 1e3 * statistics.median(steps)
    print(f"{args.case}: median step {step:.2f} ms over {args.steps} steps; median ms per step (share of the step)")
    print(f"{'input NHWC':20} {'kernel':16} {'s':>3} {'algorithms f/i/k':26} {'forward':>14} {'backward':>14}")
    for layer in sorted({k for k, _ in per_step}, key=lambda k: -np.prod(k[0])):
        x_shape, w_shape, strides, padding = layer
        g = conv_geometry(x_shape, w_shape, strides, padding, np.float32)
        algos = "/".join(choose(p, g).name for p in ("forward", "input_grad", "kernel_grad"))
        cells = []
        for name in ("forward", "backward"):
            ms = 1e3 * statistics.median(per_step[(layer, name)]) if (layer, name) in per_step else 0.0
            cells.append(f"{ms:6.2f} ({100 * ms / step:4.1f}%)")
        print(f"{str(x_shape):20} {str(w_shape):16} {strides[0]:>3} {algos:26} {cells[0]:>14} {cells[1]:>14}")


if __name__ == "__main__":
    main()
