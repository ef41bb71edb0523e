"""The seed convnet's convolutions one by one, kerasette's engine against PyTorch: forward and
backward time per layer at the shape it has in a training step, and the effective GFLOP/s.

A script, not a test::

    python tests/benchmarks/conv_vs_torch.py [--case cifar32] [--torch /path/to/python-with-torch]
        [--repeats 30] [--threads 2] [--avx2]

(``--avx2``: both sides on AVX2 code on an AVX-512 machine, in `bench.py`'s environment.)

Each layer is a 3x3 'valid' convolution with a bias and a fused ReLU (`kerasette_reference`'s
seed convnet), timed as a training step runs it: the forward pass, then the backward pass from
the output's gradient (the ReLU's mask, the bias gradient, the kernel gradient and, except for
the first layer, the input gradient). PyTorch runs the same convolution channels-first with
``torch.nn.functional.conv2d`` and ``relu`` and ``Tensor.backward``, on as many threads. The
effective GFLOP/s count ``2 * N * OH * OW * kh * kw * C * F`` per product (the forward pass one,
the backward pass two, one without the input gradient), whatever the algorithm computes: with
Winograd they can exceed the machine's matmul rate (`matmul_rate.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling modules
sys.path.insert(0, str(HERE.parents[1]))  # run from a checkout

from timing import median_ms  # noqa: E402

#: Per case: batch, then (input height, width, channels, output channels) of each convolution.
LAYERS = {
    "cifar32": (32, [(32, 32, 3, 32), (30, 30, 32, 32), (14, 14, 32, 64), (12, 12, 64, 64)]),
    "mnist28": (128, [(28, 28, 1, 32), (26, 26, 32, 32), (12, 12, 32, 64), (10, 10, 64, 64)]),
    "vgg100": (32, [(100, 100, 3, 32), (98, 98, 32, 32), (48, 48, 32, 64), (46, 46, 64, 64)]),
}


def _arrays(batch, h, w, c, f):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, h, w, c)).astype(np.float32)
    k = (rng.standard_normal((3, 3, c, f)) * (2 / (9 * c)) ** 0.5).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32) * 0.1
    dy = rng.standard_normal((batch, h - 2, w - 2, f)).astype(np.float32)
    return x, k, b, dy


def _kerasette(case: str, repeats: int) -> list[tuple[float, float]]:
    batch, layers = LAYERS[case]
    return [_kerasette_layer(_arrays(batch, *shape), index > 0, repeats) for index, shape in enumerate(layers)]


def _kerasette_layer(arrays, need_input: bool, repeats: int) -> tuple[float, float]:
    from kerasette.backend.engine import conv  # deferred: the torch worker never imports kerasette

    x, k, b, dy = arrays
    out = conv.conv2d_forward(x, k, b, (1, 1), "valid", relu=True)
    grads = [dy.copy() for _ in range(repeats + 2)]  # each call overwrites its gradient

    def backward():
        conv.conv2d_backward(grads.pop(), x, k, out, True, True, (1, 1), "valid", need_input=need_input,
                             overwrite_dy=True)

    return (median_ms(lambda: conv.conv2d_forward(x, k, b, (1, 1), "valid", relu=True), repeats),
            median_ms(backward, repeats))


def _torch(case: str, repeats: int, threads: int) -> list[tuple[float, float]]:
    import torch  # deferred: only in the PyTorch environment

    torch.set_num_threads(threads)
    batch, layers = LAYERS[case]
    return [_torch_layer(torch, _arrays(batch, *shape), index > 0, repeats) for index, shape in enumerate(layers)]


def _torch_layer(torch, arrays, need_input: bool, repeats: int) -> tuple[float, float]:
    x, k, b, dy = (torch.from_numpy(a) for a in arrays)
    x = x.permute(0, 3, 1, 2).contiguous().requires_grad_(need_input)
    k = k.permute(3, 2, 0, 1).contiguous().requires_grad_(True)
    b = b.requires_grad_(True)
    dy = dy.permute(0, 3, 1, 2).contiguous()

    def forward():
        with torch.no_grad():
            torch.relu(torch.nn.functional.conv2d(x, k, b))

    def backward():
        torch.relu(torch.nn.functional.conv2d(x, k, b)).backward(dy)

    fwd = median_ms(forward, repeats)
    return fwd, median_ms(backward, repeats) - fwd  # the backward pass less its forward


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(LAYERS), default="cifar32")
    parser.add_argument("--torch", default="/work/benchenv/bin/python", help="a Python with torch")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--avx2", action="store_true", help="AVX2 code on both sides (bench.py's setting)")
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.avx2 and os.environ.get("NUMBA_CPU_NAME") != "haswell":
        # numba reads its target when it is imported: run again in bench.py's AVX2 environment
        from bench import avx2_env  # deferred: only for --avx2

        rest = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--avx2"]
        sys.exit(subprocess.run([sys.executable, __file__, *rest], env=avx2_env()).returncode)
    if args.torch_worker:
        print(json.dumps(_torch(args.case, args.repeats, args.threads)))
        return
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    worker = subprocess.run([args.torch, __file__, "--torch-worker", "--case", args.case, "--repeats",
                             str(args.repeats), "--threads", str(args.threads)],
                            env=env, capture_output=True, text=True, check=True)
    theirs = json.loads(worker.stdout)
    from kerasette.backend.kernels import simd  # deferred: after the worker, which never imports kerasette

    ours = _kerasette(args.case, args.repeats)
    batch, layers = LAYERS[args.case]
    print(f"{args.case}: batch {batch}, {args.threads} threads, {simd.VECTOR_BYTES}-byte vectors; ms per call "
          "(effective GFLOP/s), forward | backward")
    print(f"{'input NHWC -> F':<24}{'kerasette fwd':>17}{'torch fwd':>17}{'kerasette bwd':>17}{'torch bwd':>17}"
          f"{'ratio f/b':>12}")
    total = [0.0] * 4
    for index, ((h, w, c, f), (kf, kb), (tf, tb)) in enumerate(zip(layers, ours, theirs, strict=True)):
        gflop = 2 * batch * (h - 2) * (w - 2) * 9 * c * f / 1e9
        back = gflop * (2 if index > 0 else 1)
        cells = [f"{ms:7.3f} ({work / ms * 1e3:4.0f})" for ms, work in ((kf, gflop), (tf, gflop), (kb, back),
                                                                         (tb, back))]
        print(f"{str((batch, h, w, c)) + f' -> {f}':<24}" + "".join(f"{cell:>17}" for cell in cells)
              + f"{tf / kf:6.2f}/{tb / kb:4.2f}")
        for i, ms in enumerate((kf, tf, kb, tb)):
            total[i] += ms
    print(f"{'all four':<24}" + "".join(f"{ms:17.3f}" for ms in total)
          + f"{total[1] / total[0]:6.2f}/{total[3] / total[2]:4.2f}")


if __name__ == "__main__":
    main()
