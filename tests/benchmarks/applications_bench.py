"""Times whole-network inference of the Keras Applications against PyTorch, as one table.

A script, not a test::

    python tests/benchmarks/applications_bench.py [--repeats 3] [--batch 8] [--size 224]
        [--stat median|min] [--only VGG16|ResNet50] [--torch PYTHON]

kerasette runs ``kerasette.applications.VGG16`` / ``ResNet50`` (random weights, the full network
with its 1000-class top, channels-last) with ``model.predict_on_batch``. PyTorch (a subprocess of
``--torch``, default /work/benchenv/bin/python; skipped when absent) runs the same architecture
built by hand here with ``torch.nn``, in ``eval()`` mode under ``torch.inference_mode()``, in its
default NCHW layout and in its ``channels_last`` memory format, with ``OMP_WAIT_POLICY=PASSIVE``
(unless set otherwise): on a machine shared with other work, OpenMP's default busy-waiting makes
PyTorch several times slower, so passive waiting is its best case. The ResNet50 is Keras's (stride on
the first 1x1 convolution of a block, biases on every convolution), which costs the same as
torchvision's; torchvision is not needed.

The two sides take turns pass by pass (kerasette, PyTorch NCHW, PyTorch channels_last, then
again), so that a machine shared with other work slows both alike; each timed pass follows a
short rest, so that the other side's idle threads have stopped spinning. Each side first warms
up with two passes; then ``--repeats`` rounds. The table gives the median (or minimum) ms per batch
of ``--batch`` images, images per second, and the ratio of PyTorch's faster layout to kerasette (above 1:
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


#: seconds of rest before each timed pass, so that the other side's idle threads have stopped
#: spinning (OpenMP and BLAS pools busy-wait for a while after their work)
REST = 0.5


def _once_ms(fn) -> float:
    time.sleep(REST)
    start = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - start)


# -- kerasette ------------------------------------------------------------------------------------
def kerasette_runner(name: str, batch: int, size: int):
    """A function running one inference pass of kerasette's ``name`` on a fixed batch."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
    from kerasette import applications

    x = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    model = getattr(applications, name)(weights=None, input_shape=(size, size, 3))
    return lambda: model.predict_on_batch(x)


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


LAYOUTS = ("nchw", "channels_last")


def torch_worker(batch: int, size: int) -> None:
    """Serves timed passes: reads ``NETWORK LAYOUT`` lines on stdin and answers each with the
    milliseconds of one pass (the first request of a network builds and warms it up), then
    ``threads N`` on ``threads``."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    x = torch.empty(batch, 3, size, size).uniform_(-1, 1)
    runners = {}
    for line in sys.stdin:
        request = line.split()
        if request == ["threads"]:
            print(json.dumps(torch.get_num_threads()), flush=True)
            continue
        name, layout = request
        if (name, layout) not in runners:
            memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
            model = (_torch_vgg16(nn, size=size) if name == "VGG16" else _torch_resnet50(torch, nn)).eval()
            model = model.to(memory_format=memory_format)
            inputs = x.contiguous(memory_format=memory_format)

            def run(model=model, inputs=inputs):
                with torch.inference_mode():
                    model(inputs)

            run()
            run()
            for key in [key for key in runners if key[0] != name]:
                del runners[key]  # one network at a time in memory
            runners[(name, layout)] = run
        print(json.dumps(_once_ms(runners[(name, layout)])), flush=True)


class TorchWorker:
    """The --torch interpreter running `torch_worker`, asked for one pass at a time."""

    def __init__(self, python: str, batch: int, size: int):
        # PyTorch's OpenMP threads busy-wait by default, which on a shared machine (other processes
        # on the same cores) makes a pass 5 to 20 times slower; passive waiting is its best case here.
        env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
        command = [python, __file__, "--torch-worker", "--batch", str(batch), "--size", str(size)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, request: str):
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the PyTorch worker stopped (exit code {self.process.wait()})")
        return json.loads(answer)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


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
    if args.torch_worker:
        torch_worker(args.batch, args.size)
        return
    stat = STAT[args.stat]
    names = [args.only] if args.only else list(NETWORKS)
    worker = TorchWorker(args.torch, args.batch, args.size) if os.path.exists(args.torch) else None
    times = {}
    for name in names:
        run = kerasette_runner(name, args.batch, args.size)
        run()
        run()
        for layout in LAYOUTS if worker else ():
            worker.ask(f"{name} {layout}")  # builds and warms up that side
        samples = {"kerasette": [], **{layout: [] for layout in (LAYOUTS if worker else ())}}
        for _ in range(args.repeats):
            samples["kerasette"].append(_once_ms(run))
            for layout in LAYOUTS if worker else ():
                samples[layout].append(worker.ask(f"{name} {layout}"))
        times[name] = {side: stat(values) for side, values in samples.items()}
        del run
    threads = worker.ask("threads") if worker else "-"
    if worker:
        worker.close()
    from kerasette.backend import parallel

    print(f"inference, batch {args.batch}, {args.size}x{args.size}; {args.stat} ms over {args.repeats} interleaved "
          f"runs; kerasette threads: {parallel.num_threads()}; torch threads: {threads}; "
          "ratio = torch's faster layout / kerasette (above 1: kerasette faster)")
    header = (f"{'network':10} {'kerasette ms':>12} {'img/s':>6} {'torch NCHW ms':>13} {'torch NHWC ms':>13} "
              f"{'img/s':>6} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    nan = float("nan")
    rows = []
    for name in names:
        mine = times[name]["kerasette"]
        best = min((times[name][layout] for layout in LAYOUTS if layout in times[name]), default=None)
        ratio = best / mine if best else nan
        print(f"{name:10} {mine:12.1f} {1e3 * args.batch / mine:6.2f} {times[name].get('nchw', nan):13.1f} "
              f"{times[name].get('channels_last', nan):13.1f} {1e3 * args.batch / best if best else nan:6.2f} "
              f"{ratio:6.2f}")
        rows.append({"network": name, "batch": args.batch, "size": args.size, "repeats": args.repeats,
                     "stat": args.stat, "kerasette_ms": round(mine, 2),
                     **{f"torch_{k}_ms": round(v, 2) for k, v in times[name].items() if k != "kerasette"},
                     "ratio": round(ratio, 3) if best else None})
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
