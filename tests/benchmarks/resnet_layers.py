"""Where a ResNet-20 training step goes, layer kind by layer kind, in kerasette and in PyTorch.

A script, not a test::

    python tests/benchmarks/resnet_layers.py [--torch /path/to/python-with-torch] [--repeats 20] [--threads 1]
        [--only SUBSTRING]

Each distinct layer of ResNet-20 v1 (`cases.py`'s ``resnet20``: batch 32, 32x32x3 images, stages
of 16, 32 and 64 filters) is timed on its own, forward then backward as a training step runs it
(the input's and the weights' gradients), at the shape it has in the network, and multiplied by
how many times it occurs in one step. The last line adds the rows up: the step's time spent in
layers, beside the whole step that `bench.py` measures. PyTorch builds the same modules and runs
them channels-first, as its ResNets do.

The breakdown is what the issue's "gap explained with a per-layer breakdown" asks for: it shows
which layers hold kerasette back at small images and channel counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, run as a script or not
from provenance import revision  # noqa: E402
from timing import median_ms  # noqa: E402

BATCH = 32

#: (name, occurrences per step, input NHWC shape, what it is). Kinds: conv (filters, kernel,
#: strides), bn_relu (a BatchNormalization followed by ReLU), bn (no ReLU), add_relu (Add then
#: ReLU of two inputs), gap_dense (GlobalAveragePooling2D, Dense(10)).
ROWS = [
    ("conv 3->16 3x3, 32x32", 1, (BATCH, 32, 32, 3), ("conv", 16, 3, 1)),
    ("conv 16->16 3x3, 32x32", 6, (BATCH, 32, 32, 16), ("conv", 16, 3, 1)),
    ("conv 16->32 3x3 s2, 32x32", 1, (BATCH, 32, 32, 16), ("conv", 32, 3, 2)),
    ("conv 16->32 1x1 s2, 32x32", 1, (BATCH, 32, 32, 16), ("conv", 32, 1, 2)),
    ("conv 32->32 3x3, 16x16", 5, (BATCH, 16, 16, 32), ("conv", 32, 3, 1)),
    ("conv 32->64 3x3 s2, 16x16", 1, (BATCH, 16, 16, 32), ("conv", 64, 3, 2)),
    ("conv 32->64 1x1 s2, 16x16", 1, (BATCH, 16, 16, 32), ("conv", 64, 1, 2)),
    ("conv 64->64 3x3, 8x8", 5, (BATCH, 8, 8, 64), ("conv", 64, 3, 1)),
    ("BN+ReLU, 32x32x16", 4, (BATCH, 32, 32, 16), ("bn_relu",)),
    ("BN, 32x32x16", 3, (BATCH, 32, 32, 16), ("bn",)),
    ("BN+ReLU, 16x16x32", 3, (BATCH, 16, 16, 32), ("bn_relu",)),
    ("BN, 16x16x32", 3, (BATCH, 16, 16, 32), ("bn",)),
    ("BN+ReLU, 8x8x64", 3, (BATCH, 8, 8, 64), ("bn_relu",)),
    ("BN, 8x8x64", 3, (BATCH, 8, 8, 64), ("bn",)),
    ("Add+ReLU, 32x32x16", 3, (BATCH, 32, 32, 16), ("add_relu",)),
    ("Add+ReLU, 16x16x32", 3, (BATCH, 16, 16, 32), ("add_relu",)),
    ("Add+ReLU, 8x8x64", 3, (BATCH, 8, 8, 64), ("add_relu",)),
    ("GAP + Dense(10), 8x8x64", 1, (BATCH, 8, 8, 64), ("gap_dense",)),
]




# -- kerasette ------------------------------------------------------------------------------------
def _rows(only: str | None) -> list:
    """`ROWS` whose name holds ``only`` (any case), or all of them."""
    return [row for row in ROWS if not only or only.lower() in row[0].lower()]


def kerasette_times(repeats: int, only: str | None = None) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
    import kerasette.layers as L
    from kerasette.backend import backprop
    from kerasette.backend.tensor import Variable
    from kerasette.models import Model

    out = {}
    for name, _, shape, what in _rows(only):
        kind = what[0]
        inputs = [L.Input(shape[1:]) for _ in range(2 if kind == "add_relu" else 1)]
        if kind == "add_relu":
            y = L.Activation("relu")(L.Add()(inputs))
        elif kind == "conv":
            _, filters, size, strides = what
            y = L.Conv2D(filters, size, strides=strides, padding="same", kernel_initializer="he_normal")(inputs[0])
        elif kind in ("bn", "bn_relu"):
            y = L.BatchNormalization()(inputs[0])
            if kind == "bn_relu":
                y = L.Activation("relu")(y)
        else:
            y = L.Dense(10)(L.GlobalAveragePooling2D()(inputs[0]))
        model = Model(inputs, y)
        model.compile("sgd", "mse")
        rng = np.random.default_rng(0)
        tensors = [Variable(rng.standard_normal(shape).astype("float32")) for _ in inputs]
        dy = np.ones((BATCH,) + tuple(model.output_shape[1:]), "float32")

        def step(model=model, tensors=tensors, dy=dy):
            out = model(tensors if len(tensors) > 1 else tensors[0], training=True)
            targets = {id(t): t for t in [*tensors, *model.trainable_weights]}
            backprop._propagate(out, dy, targets)

        out[name] = median_ms(step, repeats)
    return out


# -- PyTorch ----------------------------------------------------------------------------------------
def torch_worker(repeats: int, threads: int | None, only: str | None = None) -> None:
    import torch
    from torch import nn

    if threads:
        torch.set_num_threads(threads)

    out = {}
    for name, _, shape, what in _rows(only):
        torch.manual_seed(0)
        n, h, w, c = shape
        kind = what[0]
        if kind == "conv":
            _, filters, size, strides = what
            module = nn.Conv2d(c, filters, size, stride=strides, padding=size // 2)
        elif kind == "bn":
            module = nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)
        elif kind == "bn_relu":
            module = nn.Sequential(nn.BatchNorm2d(c, eps=1e-3, momentum=0.01), nn.ReLU())
        elif kind == "gap_dense":
            module = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))
        else:
            module = None
        xs = [torch.randn(n, c, h, w, requires_grad=True) for _ in range(2 if kind == "add_relu" else 1)]

        def step(module=module, xs=xs):
            y = torch.relu(xs[0] + xs[1]) if module is None else module(xs[0])
            y.backward(torch.ones_like(y))
            for x in xs:
                x.grad = None
            if module is not None:
                module.zero_grad(set_to_none=True)

        module.train() if module is not None else None
        out[name] = median_ms(step, repeats)
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


def _setting() -> str:
    """What a reader needs to redo the measurement: the command, the commit, the UTC time, the
    load, the CPU's vector width and the convolution algorithm each conv row runs (forward,
    input gradient, kernel gradient)."""
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))  # run from a checkout
    from kerasette.backend.engine import choose
    from kerasette.backend.engine.geometry import conv_geometry
    from kerasette.backend.kernels import simd

    commit = revision()
    lines = [f"command: {Path(sys.executable).name} {' '.join(sys.argv)}; commit {commit}; "
             f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC; load {os.getloadavg()[0]:.2f}; "
             f"{simd.VECTOR_BYTES}-byte vectors"]
    for name, _, shape, what in ROWS:
        if what[0] == "conv":
            _, filters, size, strides = what
            g = conv_geometry(shape, (size, size, shape[3], filters), (strides, strides), "same", np.float32)
            lines.append(f"  {name}: " + "/".join(choose(p, g).name for p in ("forward", "input_grad", "kernel_grad")))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--torch", default="/work/benchenv/bin/python", help="a Python with torch")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both sides (default: each library's own, the available cores)")
    parser.add_argument("--only", default=None, help="only the rows whose name holds this (any case), e.g. BN")
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_worker:
        torch_worker(args.repeats, args.threads, args.only)
        return
    if args.threads:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
        from kerasette.backend import parallel

        parallel.set_num_threads(args.threads)
    print(_setting(), flush=True)
    mine = kerasette_times(args.repeats, args.only)
    theirs = {}
    if os.path.exists(args.torch):
        done = subprocess.run([args.torch, __file__, "--torch-worker", "--repeats", str(args.repeats)]
                              + (["--threads", str(args.threads)] if args.threads else [])
                              + (["--only", args.only] if args.only else []),
                              capture_output=True, text=True, check=True)
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
        theirs.pop("threads")
    print(f"threads: {args.threads or 'each library its own'}; median ms of {args.repeats} forward+backward runs; x n: occurrences per ResNet-20 step; "
          "ratio = torch / kerasette")
    print(f"{'layer':30} {'n':>2} {'kerasette':>10} {'torch':>8} {'ratio':>6} {'k x n':>8} {'t x n':>8}")
    totals = [0.0, 0.0]
    for name, count, _, _ in _rows(args.only):
        k, t = mine[name], theirs.get(name, float("nan"))
        totals[0] += k * count
        totals[1] += t * count
        print(f"{name:30} {count:2d} {k:10.3f} {t:8.3f} {t / k:6.2f} {k * count:8.2f} {t * count:8.2f}")
    print(f"{'sum over one step':30} {'':2} {'':10} {'':8} {totals[1] / totals[0]:6.2f} "
          f"{totals[0]:8.2f} {totals[1]:8.2f}")


if __name__ == "__main__":
    main()
