"""Times each convolution of the seed model: forward, backward to the input, backward to the kernel.

A script, not a test: ``python tests/benchmarks/conv_layers.py [--batch 32] [--size 100]
[--channels 3] [--dtype float32]``.
Prints the machine's fp32 matmul rate (numpy, 2048 x 2048) and, per layer and pass, the time,
the effective GFLOP/s (the direct convolution's 2 * multiply-adds over the time, so Winograd
layers, which do 4 times fewer multiplications, can exceed the matmul rate) and its fraction
of that matmul rate, and a memory floor: the time to read the pass's operands and write its
result once at the machine's copy bandwidth, and the fraction of the matmul rate that time
would give. With ``--torch`` it also times PyTorch's CPU
convolutions on the same shapes (when torch is importable), for the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from kerasette.backend import memory, state
from kerasette.backend.engine import conv, conv_settings
from kerasette.utils.conv_utils import conv_output_length


def seed_layers(size: int = 100, channels: int = 3) -> list[tuple]:
    """The seed model's convolutions for ``size`` x ``size`` x ``channels`` input images.

    Each is (name, input H=W, cin, cout, kernel, padding); all 3x3, stride 1, 'valid'.
    """
    after_pool = (size - 4) // 2
    return [
        (f"conv1 {channels}->32", size, channels, 32, 3, "valid"),
        ("conv2 32->32", size - 2, 32, 32, 3, "valid"),
        ("conv3 32->64", after_pool, 32, 64, 3, "valid"),
        ("conv4 64->64", after_pool - 2, 64, 64, 3, "valid"),
    ]


def best_time(fn, repeats: int, min_seconds: float = 0.3) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs (at least ``min_seconds`` in all)."""
    fn()
    best, start, runs = float("inf"), time.perf_counter(), 0
    while runs < repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return best


def matmul_gflops(n: int = 2048) -> float:
    """numpy's float32 n x n matmul rate in GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(a)
    seconds = best_time(lambda: np.matmul(a, b, out=out), repeats=5, min_seconds=1.0)
    return 2 * n**3 / seconds / 1e9


def copy_bandwidth(megabytes: int = 256) -> float:
    """Bytes per second read plus written by a large copy on all the pool's threads (memcpy's
    best case: no arithmetic, streaming stores), the yardstick of :func:`layer_bytes`."""
    from kerasette.backend import parallel

    src = np.ones(megabytes << 18, np.float32)
    dst = np.empty_like(src)

    def copy():
        parallel.map_chunks(lambda i, j: np.copyto(dst[i:j], src[i:j]), src.size)

    return 2 * src.nbytes / best_time(copy, repeats=5, min_seconds=1.0)


def layer_bytes(batch, size, cin, cout, k, out, itemsize) -> int:
    """Bytes each of the three passes must read and write at least once: two of the input, the
    kernel and the output in, the third out, whatever its arithmetic. At the copy bandwidth this
    is a pass's floor: a layer that moves much data per FLOP (few input channels) cannot reach
    the matmul rate."""
    return (batch * size * size * cin + batch * out * out * cout + k * k * cin * cout) * itemsize


def layer_passes(batch, size, cin, cout, k, padding, dtype):
    """The three passes of one layer as zero-argument callables, and the layer's FLOP count."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, cin)).astype(dtype)
    w = (rng.standard_normal((k, k, cin, cout)) * 0.1).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    out = conv_output_length(size, k, padding, 1)
    dy = memory.empty_aligned((batch, out, out, cout), dtype)  # as the layer's output pass hands it over
    dy[...] = rng.standard_normal(dy.shape)
    flops = 2.0 * batch * out * out * k * k * cin * cout
    passes = {
        "forward": lambda: conv.conv2d_forward(x, w, b, (1, 1), padding, relu=True),
        "bwd-input": lambda: conv.conv2d_backward_input(dy, w, x.shape, (1, 1), padding),
        "bwd-weight": lambda: conv.conv2d_backward_weight(dy, x, w.shape, (1, 1), padding),
    }
    return passes, flops


def torch_passes(batch, size, cin, cout, k, padding):
    """The same three passes in PyTorch (NCHW, float32), or None when torch is missing."""
    try:
        import torch
    except ImportError:
        return None
    x = torch.randn(batch, cin, size, size)
    w = torch.randn(cout, cin, k, k) * 0.1
    b = torch.randn(cout)
    out = conv_output_length(size, k, padding, 1)
    dy = torch.randn(batch, cout, out, out)
    grad = torch.nn.grad
    pad = {"valid": 0, "same": k // 2}[padding]  # torch.nn.grad takes integer padding
    return {
        "forward": lambda: torch.relu(torch.nn.functional.conv2d(x, w, b, padding=padding)),
        "bwd-input": lambda: grad.conv2d_input(x.shape, w, dy, padding=pad),
        "bwd-weight": lambda: grad.conv2d_weight(x, w.shape, dy, padding=pad),
    }


def main() -> None:
    """Parses the arguments, runs the timings and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=100, help="input height and width")
    parser.add_argument("--channels", type=int, default=3, help="input channels")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--torch", action="store_true", help="also time PyTorch, if importable")
    parser.add_argument("--tile-bytes", type=int, default=None,
                        help="the engine's tile_bytes setting (kerasette.backend.engine.conv_settings)")
    args = parser.parse_args()
    with conv_settings(tile_bytes=args.tile_bytes) if args.tile_bytes else contextlib.nullcontext():
        run(args)


def run(args) -> None:
    """Times every pass of every layer and prints the table."""
    peak = matmul_gflops()
    bandwidth = copy_bandwidth()
    print(f"numpy float32 2048x2048 matmul: {peak:.1f} GFLOP/s; copy: {bandwidth / 1e9:.1f} GB/s read + written")
    print(f"batch {args.batch}, {args.dtype}, tile {state.conv.tile_bytes / 2**20:.2f} MiB")
    print("floor: the time to move the pass's operands once at the copy rate; 'max': the fraction of")
    print("the matmul rate a pass taking only that long would reach")
    head = f"{'layer':<14}{'pass':<12}{'ms':>9}{'GFLOP/s':>9}{'of mm':>7}{'floor':>7}{'max':>6}"
    print(head + ("  torch ms  ratio" if args.torch else ""))
    total = 0.0
    itemsize = np.dtype(args.dtype).itemsize
    for name, size, cin, cout, k, padding in seed_layers(args.size, args.channels):
        passes, flops = layer_passes(args.batch, size, cin, cout, k, padding, args.dtype)
        out = conv_output_length(size, k, padding, 1)
        floor = layer_bytes(args.batch, size, cin, cout, k, out, itemsize) / bandwidth
        ref = torch_passes(args.batch, size, cin, cout, k, padding) if args.torch else None
        for pass_name, fn in passes.items():
            seconds = best_time(fn, args.repeats)
            total += seconds
            rate = flops / seconds / 1e9
            ceiling = flops / floor / 1e9 / peak
            line = (f"{name:<14}{pass_name:<12}{seconds * 1e3:9.2f}{rate:9.1f}{rate / peak:7.2f}"
                    f"{floor * 1e3:7.2f}{ceiling:6.2f}")
            if ref is not None:
                t_ref = best_time(ref[pass_name], args.repeats)
                line += f"{t_ref * 1e3:10.2f}{seconds / t_ref:7.2f}"
            print(line)
    print(f"total of all passes: {total * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
