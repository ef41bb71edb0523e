"""Times the image-path layers without convolutions, forward and forward + backward, against PyTorch.

A script, not a test: ``python tests/benchmarks/layers_bench.py [--repeats 20] [--torch PYTHON]``.
For each layer and shape it prints kerasette's median (or ``--stat min``) time, PyTorch's (same machine, same run,
started as a subprocess of ``--torch``, default /work/benchenv/bin/python; skipped when absent)
and the ratio torch / kerasette (above 1: kerasette is faster). kerasette computes channels-last
(N, H, W, C); PyTorch runs its default NCHW layout.

Shapes: CIFAR-like (batch 32, 32x32, 64 channels) and ImageNet-like (batch 8, 112x112, 64).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SHAPES = {"cifar 32x32x32x64": (32, 32, 32, 64), "imagenet 8x112x112x64": (8, 112, 112, 64)}
#: layer -> the key of what each side runs for it
LAYERS = {
    "BatchNormalization train": "bn_train",
    "BatchNormalization infer": "bn_infer",
    "AveragePooling2D 2x2": "avgpool",
    "GlobalAveragePooling2D": "gap",
}


#: how the repeated times are summarised: the median, or the minimum (steadier on a busy machine)
STAT = {"median": statistics.median, "min": min}
_stat = statistics.median


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * _stat(times)


def kerasette_times(repeats: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
    out = {}
    for shape_name, shape in SHAPES.items():
        for name, times in _kerasette_shape(shape, repeats).items():
            out[(name, shape_name)] = times
    return out


def _kerasette_shape(shape, repeats: int) -> dict:
    from kerasette.backend import ops
    from kerasette.backend.tensor import Variable, no_grad

    out = {}
    rng = np.random.default_rng(0)
    x = Variable(rng.standard_normal(shape).astype("float32"))
    c = shape[-1]
    gamma, beta = Variable(np.ones(c, "float32")), Variable(np.zeros(c, "float32"))
    mean, var = np.zeros(c, "float32"), np.ones(c, "float32")
    dy = rng.standard_normal(shape).astype("float32")

    def bn_train():
        return ops.batch_normalization(x, gamma, beta, (0, 1, 2), 1e-3)[0]

    def bn_infer():
        return ops.batch_normalization(x, gamma, beta, (0, 1, 2), 1e-3, mean, var)[0]

    def avgpool():
        return ops.avg_pool2d(x, (2, 2), (2, 2), "valid")

    def gap():
        return ops.mean(x, axis=(1, 2))

    for name, key in LAYERS.items():
        fn = {"bn_train": bn_train, "bn_infer": bn_infer, "avgpool": avgpool, "gap": gap}[key]
        with no_grad():
            forward = _median_ms(fn, repeats)

        def step(fn=fn):
            y = fn()
            g = dy if y.shape == dy.shape else np.ones(y.shape, "float32")
            y.backward(g)
            x.grad = gamma.grad = beta.grad = None

        out[name] = (forward, _median_ms(step, repeats))
    return out


def torch_worker(repeats: int) -> None:
    """Runs in the PyTorch interpreter; prints one JSON object of times."""
    import torch
    from torch import nn

    out = {}
    for shape_name, shape in SHAPES.items():
        for name, times in _torch_shape(torch, nn, shape, repeats).items():
            out[f"{name}|{shape_name}"] = times
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


def _torch_shape(torch, nn, shape, repeats: int) -> dict:
    out = {}
    n, h, w, c = shape
    x = torch.randn(n, c, h, w, requires_grad=True)
    modules = {"bn_train": nn.BatchNorm2d(c).train(), "bn_infer": nn.BatchNorm2d(c).eval(),
               "avgpool": nn.AvgPool2d(2), "gap": nn.AdaptiveAvgPool2d(1)}
    for name, key in LAYERS.items():
        module = modules[key]
        with torch.no_grad():
            forward = _median_ms(lambda module=module: module(x), repeats)

        def step(module=module):
            y = module(x)
            y.backward(torch.ones_like(y))
            x.grad = None
            module.zero_grad(set_to_none=True)

        out[name] = (forward, _median_ms(step, repeats))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--torch", default="/work/benchenv/bin/python", help="a Python with torch")
    parser.add_argument("--stat", choices=sorted(STAT), default="median", help="summary of the repeated times")
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global _stat
    _stat = STAT[args.stat]
    if args.torch_worker:
        torch_worker(args.repeats)
        return
    mine = kerasette_times(args.repeats)
    theirs, threads = {}, "-"
    if os.path.exists(args.torch):
        done = subprocess.run([args.torch, __file__, "--torch-worker", "--repeats", str(args.repeats),
                               "--stat", args.stat],
                              capture_output=True, text=True, check=True)
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
        threads = theirs.pop("threads")
    print(f"{args.stat} ms over {args.repeats} runs; torch threads: {threads}; ratio = torch / kerasette")
    print(f"{'layer':28} {'shape':24} {'pass':9} {'kerasette':>10} {'torch':>9} {'ratio':>6}")
    for (name, shape_name), times in mine.items():
        other = theirs.get(f"{name}|{shape_name}")
        for i, what in enumerate(("forward", "fwd+bwd")):
            t = f"{other[i]:9.2f} {other[i] / times[i]:6.2f}" if other else f"{'-':>9} {'-':>6}"
            print(f"{name:28} {shape_name:24} {what:9} {times[i]:10.2f} {t}")


if __name__ == "__main__":
    main()
