"""Times the convolutions that Winograd does not take, pass by pass: ResNet-20's strided and 1x1
shortcut layers, each benchmark model's first layer, and SeparableConv2D's pointwise layer (issue
14's row of `layers_bench.py`).

A script, not a test::

    python tests/benchmarks/strided_convs.py [--repeats 30] [--threads 2] [--layers NAME ...] [--avx2]

For each layer (at its shape in `bench.py`'s models) it prints the algorithm of each pass and the
median milliseconds of: the forward pass (bias, and ReLU where the model fuses one), the input
gradient alone, the kernel gradient alone, and the layer's whole backward pass as a training step
runs it (`conv.conv2d_backward`: the output pass for the bias, then the gradients the model needs;
a model's first layer needs no input gradient). The backward pass hands over a gradient the
output pass may overwrite, as the backward pass of a model does. ``--avx2``: kernels compiled for
AVX2 on an AVX-512 machine (`bench.py`'s environment).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
from provenance import revision  # noqa: E402
from timing import median_ms  # noqa: E402

from kerasette.backend import memory, parallel  # noqa: E402
from kerasette.backend.engine import choose, conv  # noqa: E402
from kerasette.backend.engine.geometry import conv_geometry  # noqa: E402
from kerasette.backend.kernels import simd  # noqa: E402

#: (name, batch, input size, cin, cout, kernel, stride, padding, relu fused, input gradient needed)
LAYERS = [
    ("r20 3->16 3x3 32x32", 32, 32, 3, 16, 3, 1, "same", False, False),
    ("r20 16->32 3x3 s2 32x32", 32, 32, 16, 32, 3, 2, "same", False, True),
    ("r20 16->32 1x1 s2 32x32", 32, 32, 16, 32, 1, 2, "same", False, True),
    ("r20 32->64 3x3 s2 16x16", 32, 16, 32, 64, 3, 2, "same", False, True),
    ("r20 32->64 1x1 s2 16x16", 32, 16, 32, 64, 1, 2, "same", False, True),
    ("cifar32 3->32 3x3 32x32", 32, 32, 3, 32, 3, 1, "valid", True, False),
    ("mnist28 1->32 3x3 28x28 b128", 128, 28, 1, 32, 3, 1, "valid", True, False),
    ("sep 64->64 1x1 32x32", 32, 32, 64, 64, 1, 1, "valid", False, True),  # SeparableConv2D's pointwise
]




def layer_runs(batch, size, cin, cout, k, stride, padding, relu, need_input):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, cin)).astype(np.float32)
    w = (rng.standard_normal((k, k, cin, cout)) * 0.1).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    strides = (stride, stride)
    y = conv.conv2d_forward(x, w, b, strides, padding, relu)
    dy0 = rng.standard_normal(y.shape).astype(np.float32)
    dy = memory.empty_aligned(y.shape, np.float32)

    def backward():
        dy[...] = dy0  # the backward pass overwrites it in place
        conv.conv2d_backward(dy, x, w, y, relu, True, strides, padding, need_input=need_input,
                             need_kernel=True, overwrite_dy=True)

    def refill():
        dy[...] = dy0

    return {
        "forward": lambda: conv.conv2d_forward(x, w, b, strides, padding, relu),
        "input": lambda: conv.conv2d_backward_input(dy0, w, x.shape, strides, padding),
        "kernel": lambda: conv.conv2d_backward_weight(dy0, x, w.shape, strides, padding),
        "backward": backward,
        "refill": refill,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="the pool's threads (default: the cores)")
    parser.add_argument("--layers", nargs="*", default=None, help="substrings of the layer names to run")
    parser.add_argument("--avx2", action="store_true", help="kernels compiled for AVX2 (bench.py's environment)")
    args = parser.parse_args()
    if args.avx2 and os.environ.get("NUMBA_CPU_NAME") != "haswell":
        from bench import avx2_env  # deferred: only for --avx2

        rest = [a for a in sys.argv[1:] if a != "--avx2"]
        sys.exit(subprocess.run([sys.executable, __file__, *rest], env=avx2_env()).returncode)
    if args.threads:
        parallel.set_num_threads(args.threads)
    print(f"command: {Path(sys.executable).name} {' '.join(sys.argv)}; commit {revision()}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC; load {os.getloadavg()[0]:.2f}; "
          f"{simd.VECTOR_BYTES}-byte vectors; threads {parallel.num_threads()}")
    print(f"median ms of {args.repeats} runs; backward = the layer's whole backward pass (bias gradient, "
          "the input gradient where needed, the kernel gradient), less the copy refilling dy")
    print(f"{'layer':30} {'algorithms f/i/k':26} {'fwd':>6} {'input':>6} {'kernel':>6} {'backward':>8} {'f+b':>6}")
    total = 0.0
    for name, batch, size, cin, cout, k, stride, padding, relu, need_input in LAYERS:
        if args.layers and not any(s in name for s in args.layers):
            continue
        g = conv_geometry((batch, size, size, cin), (k, k, cin, cout), (stride, stride), padding, np.float32)
        algos = "/".join(choose(p, g).name for p in ("forward", "input_grad", "kernel_grad"))
        runs = layer_runs(batch, size, cin, cout, k, stride, padding, relu, need_input)
        t = {key: median_ms(fn, args.repeats) for key, fn in runs.items()}
        bwd = t["backward"] - t["refill"]
        total += t["forward"] + bwd
        print(f"{name:30} {algos:26} {t['forward']:6.3f} {t['input']:6.3f} {t['kernel']:6.3f} {bwd:8.3f} "
              f"{t['forward'] + bwd:6.3f}")
    print(f"{'sum':30} {'':26} {'':>6} {'':>6} {'':>6} {'':>8} {total:6.3f}")


if __name__ == "__main__":
    main()
