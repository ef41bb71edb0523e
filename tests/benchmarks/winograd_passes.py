"""Winograd's three passes at the shapes of the small benchmark models, one thread, with a breakdown.

A script, not a test::

    python tests/benchmarks/winograd_passes.py [--repeats 20] [--shapes resnet20 cifar32 mnist28] [--avx2]

For each 3x3 stride-1 layer that runs Winograd in ResNet-20 (batch 32), the seed convnet on
CIFAR (32x32x3, batch 32) and on MNIST (28x28x1, batch 128), it times on the calling thread
(one thread, the whole batch as one chunk), in ms, medians of ``--repeats`` runs:

* ``fwd``: the forward pass (`winograd_conv.conv`, bias and ReLU), without the kernel transform;
* ``dx``: the input gradient as the engine runs it: the adjoint of the forward pass
  (`winograd_conv.input_grad`) where it has fewer tiles ('valid' padding), else ``dxfull``;
* ``dxfull``: the input gradient as the 'full' convolution (the forward kernel on ``dy`` with
  'full' padding and the flipped kernel);
* ``dw``: the kernel gradient's chunk (`winograd_conv.weight_grad`) plus ``kernel_grad``;
* ``ktr``: the kernel transform (`winograd_conv.kernel_transform`), run once per forward and
  per input-gradient pass;
* ``gemm``: the 36 products of the forward pass alone, as one batched ``np.matmul`` over all
  tiles (a floor for the products of ``fwd``), and ``GF/s`` the forward pass's rate in useful
  Winograd multiply-adds (2 * 36 * tiles * C * F flops over ``fwd``'s time), to set beside
  ``matmul_rate.py`` (about 160 GFLOP/s per core on this machine).

``--avx2``: kernels compiled for AVX2 on an AVX-512 machine (`bench.py`'s environment; numpy's
BLAS keeps its own choice).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run from a checkout
sys.path.insert(0, str(HERE))

from provenance import revision  # noqa: E402
from timing import median_ms  # noqa: E402

from kerasette.backend import state  # noqa: E402
from kerasette.backend.engine import winograd_conv  # noqa: E402
from kerasette.backend.engine.batch import scratch  # noqa: E402
from kerasette.backend.kernels import simd  # noqa: E402

#: (model, batch, input height = width, C, F, padding)
SHAPES = {
    "resnet20": [(32, 32, 16, 16, 1), (32, 16, 32, 32, 1), (32, 8, 64, 64, 1)],
    "cifar32": [(32, 30, 32, 32, 0), (32, 14, 32, 64, 0), (32, 12, 64, 64, 0)],
    "mnist28": [(128, 26, 32, 32, 0), (128, 12, 32, 64, 0), (128, 10, 64, 64, 0)],
}




def run_shape(n, hw, c, f, pad, repeats):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, hw, hw, c)).astype(np.float32)
    w = (rng.standard_normal((3, 3, c, f)) * 0.1).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    oh = hw + 2 * pad - 2
    y = np.empty((n, oh, oh, f), np.float32)
    dy = rng.standard_normal((n, oh, oh, f)).astype(np.float32)
    dx = np.empty_like(x)
    pads = (pad,) * 4
    full = (2 - pad,) * 4
    block = state.conv.winograd_block_bytes
    u = winograd_conv.kernel_transform(w)
    wf = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
    uf = winograd_conv.kernel_transform(wf)
    ut = winograd_conv.kernel_transform(np.ascontiguousarray(w.transpose(0, 1, 3, 2)))
    tiles = n * (-(-oh // 4)) ** 2
    vt = rng.standard_normal((36, tiles, c)).astype(np.float32)
    mt = np.empty((36, tiles, f), np.float32)
    out = {
        "fwd": median_ms(lambda: winograd_conv.conv(x, u, pads, y, scratch, block, b, True), repeats),
        "dxfull": median_ms(lambda: winograd_conv.conv(dy, uf, full, dx, scratch, block), repeats),
        "dw": median_ms(lambda: winograd_conv.kernel_grad(winograd_conv.weight_grad(dy, x, pads, scratch, block)),
                       repeats),
        "ktr": median_ms(lambda: winograd_conv.kernel_transform(w), repeats),
        "gemm": median_ms(lambda: np.matmul(vt, u, out=mt), repeats),
    }
    adjoint = winograd_conv.fewer_tiles_adjoint((hw, hw), (oh, oh))
    out["dx"] = (median_ms(lambda: winograd_conv.input_grad(dy, ut, pads, dx, scratch, block), repeats) if adjoint
                 else out["dxfull"])
    out["GF/s"] = 2 * 36 * tiles * c * f / out["fwd"] / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES))
    parser.add_argument("--avx2", action="store_true", help="kernels compiled for AVX2 (bench.py's environment)")
    args = parser.parse_args()
    if args.avx2 and os.environ.get("NUMBA_CPU_NAME") != "haswell":
        from bench import avx2_env  # deferred: only for --avx2

        rest = [a for a in sys.argv[1:] if a != "--avx2"]
        sys.exit(subprocess.run([sys.executable, __file__, *rest], env=avx2_env()).returncode)
    from kerasette.backend import parallel

    parallel.set_num_threads(1)
    print(f"command: {Path(sys.executable).name} {' '.join(sys.argv)}; commit {revision()}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC; load {os.getloadavg()[0]:.2f}; "
          f"{simd.VECTOR_BYTES}-byte vectors; one thread; ms, median of {args.repeats}")
    cols = ["fwd", "dx", "dxfull", "dw", "ktr", "gemm", "GF/s"]
    print(f"{'shape (batch, in hw, C->F, pad)':34}" + "".join(f"{k:>8}" for k in cols) + f"{'sum':>8}")
    for model in args.shapes:
        total = 0.0
        for n, hw, c, f, pad in SHAPES[model]:
            r = run_shape(n, hw, c, f, pad, args.repeats)
            s = r["fwd"] + r["dx"] + r["dw"] + 2 * r["ktr"]
            total += s
            label = f"{model} {n}x{hw}x{hw} {c}->{f} p{pad}"
            print(f"{label:34}" + "".join(f"{r[k]:8.3f}" for k in cols) + f"{s:8.3f}", flush=True)


if __name__ == "__main__":
    main()
