"""Times whole-network inference of the Keras Applications against PyTorch, as one table.

A script, not a test::

    python tests/benchmarks/applications_bench.py [--repeats 3] [--batch 8] [--size 224]
        [--stat median|min] [--only VGG16|ResNet50] [--torch PYTHON]

kerasette runs ``kerasette.applications.VGG16`` / ``ResNet50`` (random weights, the full network
with its 1000-class top, channels-last) with ``model.predict_on_batch``. PyTorch (a subprocess of
``--torch``, default /work/benchenv/bin/python; skipped when absent) runs the same architecture
built by hand here with ``torch.nn`` (NCHW, its default layout; torchvision is not needed), in
``eval()`` mode under ``torch.inference_mode()``. The ResNet50 is Keras's (stride on the first 1x1
convolution of a block, biases on every convolution), which costs the same as torchvision's.

Each side warms up twice, then times ``--repeats`` passes over one batch; the table gives the
median (ms per batch), images per second, PyTorch in its default NCHW layout and in its
``channels_last`` memory format, and the ratio of PyTorch's faster layout to kerasette (above 1:
kerasette is faster), then one JSON line per network.
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

NETWORKS = ("VGG16", "ResNet50")


#: how the repeated times are summarised: the median, or the minimum (steadier on a busy machine)
STAT = {"median": statistics.median, "min": min}
_stat = statistics.median


def _time_ms(fn, repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * _stat(times)


# -- kerasette ------------------------------------------------------------------------------------
def kerasette_times(names, batch: int, size: int, repeats: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
    from kerasette import applications

    x = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    out = {}
    for name in names:
        model = getattr(applications, name)(weights=None, input_shape=(size, size, 3))
        out[name] = _time_ms(lambda model=model: model.predict_on_batch(x), repeats)
        del model
    return out


# -- PyTorch (runs in the --torch interpreter) ----------------------------------------------------
def _torch_vgg16(nn, classes=1000, size=224):
    layers, channels = [], 3
    for filters, convs in zip((64, 128, 256, 512, 512), (2, 2, 3, 3, 3)):
        for _ in range(convs):
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(inplace=True)]
            channels = filters
        layers.append(nn.MaxPool2d(2, 2))
    side = size // 32
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * side * side, 4096), nn.ReLU(inplace=True),
                         nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, classes), nn.Softmax(dim=1))


def _torch_resnet50(torch, nn, classes=1000):
    eps = 1.001e-5

    class Bottleneck(nn.Module):
        def __init__(self, cin, filters, stride, conv_shortcut):
            super().__init__()
            self.shortcut = (nn.Sequential(nn.Conv2d(cin, 4 * filters, 1, stride), nn.BatchNorm2d(4 * filters, eps))
                             if conv_shortcut else None)
            self.body = nn.Sequential(
                nn.Conv2d(cin, filters, 1, stride), nn.BatchNorm2d(filters, eps), nn.ReLU(inplace=True),
                nn.Conv2d(filters, filters, 3, padding=1), nn.BatchNorm2d(filters, eps), nn.ReLU(inplace=True),
                nn.Conv2d(filters, 4 * filters, 1), nn.BatchNorm2d(4 * filters, eps))

        def forward(self, x):
            shortcut = x if self.shortcut is None else self.shortcut(x)
            return torch.relu(self.body(x) + shortcut)

    blocks, cin = [], 64
    for filters, count, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(count):
            blocks.append(Bottleneck(cin, filters, stride if i == 0 else 1, i == 0))
            cin = 4 * filters
    return nn.Sequential(nn.Conv2d(3, 64, 7, 2, padding=3), nn.BatchNorm2d(64, eps), nn.ReLU(inplace=True),
                         nn.MaxPool2d(3, 2, padding=1), *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(2048, classes), nn.Softmax(dim=1))


def torch_worker(names, batch: int, size: int, repeats: int) -> None:
    """Prints one JSON object: ``{network: {layout: ms}, "threads": n}`` for PyTorch's default
    NCHW layout and its ``channels_last`` memory format (often faster on CPU)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    x = torch.empty(batch, 3, size, size).uniform_(-1, 1)
    out = {}
    for name in names:
        model = (_torch_vgg16(nn, size=size) if name == "VGG16" else _torch_resnet50(torch, nn)).eval()
        out[name] = {}
        for layout, memory_format in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
            model = model.to(memory_format=memory_format)
            inputs = x.contiguous(memory_format=memory_format)

            def run(model=model, inputs=inputs):
                with torch.inference_mode():
                    model(inputs)

            out[name][layout] = _time_ms(run, repeats)
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


# -- the table ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--stat", choices=sorted(STAT), default="median", help="summary of the repeated times")
    parser.add_argument("--only", choices=NETWORKS, default=None)
    parser.add_argument("--torch", default="/work/benchenv/bin/python", help="a Python with torch")
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global _stat
    _stat = STAT[args.stat]
    names = [args.only] if args.only else list(NETWORKS)
    if args.torch_worker:
        torch_worker(names, args.batch, args.size, args.repeats)
        return
    theirs, threads = {}, "-"
    if os.path.exists(args.torch):
        command = [args.torch, __file__, "--torch-worker", "--repeats", str(args.repeats), "--batch",
                   str(args.batch), "--size", str(args.size), "--stat", args.stat] + (["--only", args.only] if args.only else [])
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
        threads = theirs.pop("threads")
    mine = kerasette_times(names, args.batch, args.size, args.repeats)
    from kerasette.backend import parallel

    print(f"inference, batch {args.batch}, {args.size}x{args.size}; {args.stat} ms over {args.repeats} runs; "
          f"kerasette threads: {parallel.num_threads()}; torch threads: {threads}; "
          "ratio = torch's faster layout / kerasette (above 1: kerasette faster)")
    header = (f"{'network':10} {'kerasette ms':>12} {'img/s':>6} {'torch NCHW ms':>13} {'torch NHWC ms':>13} "
              f"{'img/s':>6} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    rows = []
    for name in names:
        layouts = theirs.get(name, {})
        best = min(layouts.values()) if layouts else None
        ratio = best / mine[name] if best else float("nan")
        nan = float("nan")
        print(f"{name:10} {mine[name]:12.1f} {1e3 * args.batch / mine[name]:6.2f} {layouts.get('nchw', nan):13.1f} "
              f"{layouts.get('channels_last', nan):13.1f} {1e3 * args.batch / best if best else nan:6.2f} "
              f"{ratio:6.2f}")
        rows.append({"network": name, "batch": args.batch, "size": args.size, "repeats": args.repeats,
                     "stat": args.stat, "kerasette_ms": round(mine[name], 2),
                     **{f"torch_{k}_ms": round(v, 2) for k, v in layouts.items()},
                     "ratio": round(ratio, 3) if best else None})
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
