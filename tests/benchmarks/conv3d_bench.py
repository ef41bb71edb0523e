"""Conv3D and MaxPooling3D against PyTorch's Conv3d and MaxPool3d at one shape: forward, and
forward + backward (input and kernel gradients), each side timed in its own process, the two
sides alternating run by run; medians of the repeats.

    /work/venv/bin/python tests/benchmarks/conv3d_bench.py --torch-python /work/benchenv/bin/python

The shape (default): a batch of 8 clips of 16 x 32 x 32 with 32 channels, a 3 x 3 x 3 convolution
to 32 filters with 'same' padding, then 2 x 2 x 2 max pooling; float32, channels-last for
kerasette, channels-first (PyTorch's native layout) for PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

KERASETTE = r'''
import json, sys, time, numpy as np
from kerasette.backend import ops
from kerasette.backend.tensor import Tensor
n, d, h, w, c, f, repeats = (int(v) for v in sys.argv[1:8])
rng = np.random.default_rng(0)
x = Tensor(rng.standard_normal((n, d, h, w, c)).astype("float32"), requires_grad=True)
k = Tensor((rng.standard_normal((3, 3, 3, c, f)) * 0.1).astype("float32"), requires_grad=True)
b = Tensor(np.zeros(f, "float32"), requires_grad=True)
def conv_fwd():
    ops.conv3d(x.data, k.data, b.data, padding="same")
def conv_step():
    y = ops.conv3d(x, k, b, padding="same")
    y.backward(np.ones(y.shape, "float32"))
def pool_fwd():
    ops.max_pool3d(x.data, 2)
def pool_step():
    y = ops.max_pool3d(x, 2)
    y.backward(np.ones(y.shape, "float32"))
out = {}
for name, fn in (("conv3d forward", conv_fwd), ("conv3d forward+backward", conv_step),
                 ("maxpool3d forward", pool_fwd), ("maxpool3d forward+backward", pool_step)):
    fn(); fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    out[name] = sorted(times)[len(times) // 2]
print(json.dumps(out))
'''

TORCH = r'''
import json, sys, time, torch
n, d, h, w, c, f, repeats = (int(v) for v in sys.argv[1:8])
torch.manual_seed(0)
x = torch.randn(n, c, d, h, w, requires_grad=True)
conv = torch.nn.Conv3d(c, f, 3, padding="same")
pool = torch.nn.MaxPool3d(2)
def conv_fwd():
    with torch.no_grad():
        conv(x)
def conv_step():
    y = conv(x)
    y.backward(torch.ones_like(y))
def pool_fwd():
    with torch.no_grad():
        pool(x)
def pool_step():
    y = pool(x)
    y.backward(torch.ones_like(y))
out = {}
for name, fn in (("conv3d forward", conv_fwd), ("conv3d forward+backward", conv_step),
                 ("maxpool3d forward", pool_fwd), ("maxpool3d forward+backward", pool_step)):
    fn(); fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    out[name] = sorted(times)[len(times) // 2]
print(json.dumps(out))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", default="/work/benchenv/bin/python")
    parser.add_argument("--shape", default="8,16,32,32,32,32", help="batch,depth,rows,cols,channels,filters")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per process (median taken)")
    parser.add_argument("--runs", type=int, default=3, help="processes per side, alternating")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    shape = args.shape.split(",")
    env = {**os.environ, "KERASETTE_NUM_THREADS": str(args.threads), "OMP_NUM_THREADS": str(args.threads)}
    sides = {"kerasette": [sys.executable, "-c", KERASETTE], "pytorch": [args.torch_python, "-c", TORCH]}
    results = {side: [] for side in sides}
    print("load before:", os.getloadavg())
    for run in range(args.runs):
        order = list(sides) if run % 2 == 0 else list(sides)[::-1]
        for side in order:
            proc = subprocess.run(sides[side] + [*shape, str(args.repeats)], capture_output=True, text=True, env=env,
                                  check=True)
            results[side].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print("load after:", os.getloadavg())
    print(f"shape (N, D, H, W, C -> F) = {args.shape}, threads {args.threads}, {args.runs} runs x {args.repeats}")
    print(f"{'':28s} {'kerasette ms':>13s} {'pytorch ms':>11s} {'speed vs torch':>15s}")
    for name in results["kerasette"][0]:
        ours = statistics.median(r[name] for r in results["kerasette"]) * 1e3
        theirs = statistics.median(r[name] for r in results["pytorch"]) * 1e3
        print(f"{name:28s} {ours:13.2f} {theirs:11.2f} {theirs / ours:14.2f}x")


if __name__ == "__main__":
    main()
