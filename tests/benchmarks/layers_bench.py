"""Times the image-path layers, forward and forward + backward, against PyTorch, as one table.

A script, not a test::

    python tests/benchmarks/layers_bench.py [--repeats 20] [--rounds 1] [--stat median|min]
        [--shapes cifar|imagenet|all] [--only SUBSTRING] [--torch PYTHON] [--threads N] [--warm 0.3]

Each entry of `ENTRIES` is one (layer, configuration): how kerasette builds it (a
``kerasette.layers`` layer built on the channels-last (N, H, W, C) shape, or an op called
directly where that is the fairer comparison) and how PyTorch builds the equivalent module
(NCHW, its default layout). PyTorch runs in a subprocess of ``--torch`` (default
/work/benchenv/bin/python; skipped when absent) that stays up for the whole run: the two sides
take turns row by row (kerasette's timings of a row, then PyTorch's), ``--rounds`` times over the
table (each round in the other order), so that a busy spell on a shared machine falls on both
sides alike. A side's figure is ``--stat`` over all its timings of the row (``--repeats`` per
round).

Turns, pauses and warm-up, the same for both sides: before each side's turn the script pauses
`SETTLE_S` (the other side's threads, PyTorch's OpenMP workers or kerasette's pool, stop spinning
and go to sleep, so that neither side's timings pay for the other's idle threads); then the side
calls the pass back to back for ``--warm`` seconds (`WARM_S`, at least two calls) before the
timed calls, forward and fwd+bwd each. Without that warm-up, the first timed calls after a pause
measured the pause rather than the layer: both libraries' threads were asleep (each hand-off a
wake-up), caches held the other side's arrays, and kerasette's pool decides whether its threads
spin from readings taken every 20 ms (`kerasette.backend.pool.Contention`). Two untimed calls (what
`timing.samples` makes) did not get either side back to its steady state; 0.3 s does, for every
row but the slowest, which run a few passes in it.

Timing: "forward" runs the layer without recording a graph; "fwd+bwd" runs it with gradients
recorded and back-propagates a fixed upstream gradient into the input and the trainable weights
(kerasette: the backward pass a training step runs, which copies no gradient; PyTorch:
``y.backward(dy)``, whose input gradient takes over the buffer rather than copying it). An entry's
``mode`` says how the layer is called: ``'train'`` (``training=True``: batch statistics),
``'inference'`` (``training=False``, PyTorch ``.eval()``), or ``None`` (no difference: forward
with ``training=False``, forward + backward with ``training=True``).

An entry whose kerasette layer or argument does not exist yet prints "not available" (with the
reason) instead of failing. Output: the table (ms per pass on each side, ratio torch / kerasette:
above 1 kerasette is faster) and, after it, one JSON line per row.

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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, run as a script or not
from timing import samples  # noqa: E402

SHAPES = {"cifar": (32, 32, 32, 64), "imagenet": (8, 112, 112, 64)}
SHAPE_LABEL = {"cifar": "32x32x32x64", "imagenet": "8x112x112x64"}


def _layer(cls: str, *args, **kwargs):
    """kerasette side: the layer ``kerasette.layers.<cls>(*args, **kwargs)``."""
    def build(L, c):
        if not hasattr(L, cls):
            raise LookupError(f"kerasette.layers has no {cls}")
        return getattr(L, cls)(*args, **kwargs)
    build.text = f"{cls}({', '.join([*map(repr, args), *(f'{k}={v!r}' for k, v in kwargs.items())])})"
    return build


#: One row per (layer, configuration). ``kerasette(L, c)`` builds the layer from the module
#: ``kerasette.layers`` and the channel count; ``torch(nn, c)`` builds the PyTorch module.
ENTRIES = [
    {"name": "BatchNormalization train", "mode": "train",
     "kerasette": _layer("BatchNormalization"),
     "torch": lambda nn, c: nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)},
    {"name": "BatchNormalization inference", "mode": "inference",
     "kerasette": _layer("BatchNormalization"),
     "torch": lambda nn, c: nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)},
    {"name": "AveragePooling2D 2x2", "mode": None,
     "kerasette": _layer("AveragePooling2D", (2, 2)),
     "torch": lambda nn, c: nn.AvgPool2d(2)},
    {"name": "GlobalAveragePooling2D", "mode": None,
     "kerasette": _layer("GlobalAveragePooling2D"),
     "torch": lambda nn, c: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())},
    {"name": "MaxPooling2D 2x2", "mode": None,
     "kerasette": _layer("MaxPooling2D", (2, 2)),
     "torch": lambda nn, c: nn.MaxPool2d(2)},
    {"name": "Conv2DTranspose 3x3 s2 same", "mode": None,
     "kerasette": _layer("Conv2DTranspose", 64, 3, strides=2, padding="same"),
     "torch": lambda nn, c: nn.ConvTranspose2d(c, 64, 3, stride=2, padding=1, output_padding=1)},
    {"name": "SeparableConv2D 3x3", "mode": None,
     "kerasette": _layer("SeparableConv2D", 64, 3, padding="same"),
     "torch": lambda nn, c: nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
                                          nn.Conv2d(c, 64, 1))},
    {"name": "DepthwiseConv2D 3x3", "mode": None,
     "kerasette": _layer("DepthwiseConv2D", 3, padding="same"),
     "torch": lambda nn, c: nn.Conv2d(c, c, 3, padding=1, groups=c)},
    {"name": "UpSampling2D nearest 2", "mode": None,
     "kerasette": _layer("UpSampling2D", 2, interpolation="nearest"),
     "torch": lambda nn, c: nn.Upsample(scale_factor=2, mode="nearest")},
    {"name": "UpSampling2D bilinear 2", "mode": None,
     "kerasette": _layer("UpSampling2D", 2, interpolation="bilinear"),
     # Keras's bilinear resize samples at half-pixel centres: align_corners=False
     "torch": lambda nn, c: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)},
    {"name": "ZeroPadding2D 1", "mode": None,
     "kerasette": _layer("ZeroPadding2D", 1),
     "torch": lambda nn, c: nn.ZeroPad2d(1)},
    {"name": "Conv2D 3x3 dilation 2", "mode": None,
     "kerasette": _layer("Conv2D", 64, 3, padding="same", dilation_rate=2),
     "torch": lambda nn, c: nn.Conv2d(c, 64, 3, padding=2, dilation=2)},
    {"name": "Conv2D 3x3 (reference)", "mode": None,
     "kerasette": _layer("Conv2D", 64, 3, padding="same"),
     "torch": lambda nn, c: nn.Conv2d(c, 64, 3, padding=1)},
]

#: how the repeated times are summarised: the median, or the minimum (steadier on a busy machine)
STAT = {"median": statistics.median, "min": min}
#: seconds each side calls a pass back to back before its timed calls (``--warm``; see above)
WARM_S = 0.3


def warm_samples(fn, repeats: int, warm_s: float) -> list[float]:
    """`timing.samples` of ``fn`` after ``warm_s`` seconds of untimed calls back to back (two at
    least)."""
    fn()
    end = time.perf_counter() + warm_s
    fn()
    while time.perf_counter() < end:
        fn()
    return samples(fn, repeats)



def _selected(only: str | None, shapes: str):
    entries = [e for e in ENTRIES if not only or only.lower() in e["name"].lower()]
    names = list(SHAPES) if shapes == "all" else [shapes]
    return entries, names


# -- kerasette ------------------------------------------------------------------------------------
def kerasette_entry(entry, shape):
    """``(forward, step)`` callables of the entry's layer built on ``shape``, or the string
    ``'not available: ...'`` when kerasette has no such layer or argument yet."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
    try:
        return _kerasette_entry(entry, shape)
    except (LookupError, TypeError, ValueError, NotImplementedError, AttributeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"not available: {reason[:90]}"


def _kerasette_entry(entry, shape):
    import kerasette.layers as L
    from kerasette.backend import backprop
    from kerasette.backend.tensor import Variable, no_grad

    rng = np.random.default_rng(0)
    layer = entry["kerasette"](L, shape[-1])
    x = Variable(rng.standard_normal(shape).astype("float32"))
    forward_training = entry["mode"] == "train"
    backward_training = entry["mode"] != "inference"
    with no_grad():
        y = layer(x, training=forward_training)  # builds the layer
    dy = rng.standard_normal(y.shape).astype("float32")
    targets = {id(t): t for t in [x, *layer.weights] if t.requires_grad}

    def forward():
        with no_grad():
            layer(x, training=forward_training)

    def step():
        # the gradients of the input and the weights, found as a training step finds them: nothing
        # copied. (y.backward(dy) would also copy the input's gradient into x.grad, where PyTorch
        # hands its buffer over; backprop.grad would also make zeros for every target.)
        backprop._propagate(layer(x, training=backward_training), dy, targets)

    return forward, step


# -- PyTorch (runs in the --torch interpreter) ----------------------------------------------------
def torch_worker(threads: int | None = None) -> None:
    """Serves timing requests, one JSON line each on stdin (``{"name": entry name, "shape":
    shape name, "repeats": n, "warm": seconds}``; ``{"release": true}`` drops the modules built
    so far), with one JSON line each on stdout: ``[forward samples, fwd+bwd samples]`` in ms. Prints
    ``{"threads": n}`` first."""
    import torch
    from torch import nn

    if threads:
        torch.set_num_threads(threads)
    print(json.dumps({"threads": torch.get_num_threads()}), flush=True)
    entries = {e["name"]: e for e in ENTRIES}
    built = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("release"):
            built.clear()
            continue
        key = (request["name"], request["shape"])
        if key not in built:
            built[key] = _torch_entry(torch, nn, entries[request["name"]], SHAPES[request["shape"]])
        forward, step = built[key]
        warm = request.get("warm", WARM_S)
        print(json.dumps([warm_samples(forward, request["repeats"], warm),
                          warm_samples(step, request["repeats"], warm)]), flush=True)


def _torch_entry(torch, nn, entry, shape):
    n, h, w, c = shape
    torch.manual_seed(0)
    module = entry["torch"](nn, c)
    x = torch.randn(n, c, h, w, requires_grad=True)
    forward_training = entry["mode"] == "train"
    backward_training = entry["mode"] != "inference"
    with torch.no_grad():
        dy = torch.randn_like(module.train(forward_training)(x))

    def forward():
        module.train(forward_training)
        with torch.no_grad():
            module(x)

    def step():
        module.train(backward_training)
        module(x).backward(dy)
        x.grad = None
        module.zero_grad(set_to_none=True)

    return forward, step


#: pause before each side's turn, so that the other side's worker threads (OpenMP's spin after a
#: parallel region) have gone to sleep
SETTLE_S = 0.05


class TorchSide:
    """The PyTorch worker process (`torch_worker`) of ``python``, asked for one row at a time."""

    def __init__(self, python: str, threads: int | None):
        command = [python, __file__, "--torch-worker"] + (["--threads", str(threads)] if threads else [])
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.threads = json.loads(self._line())["threads"]

    def _line(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the PyTorch worker stopped (exit code {self.process.wait()})")
        return line

    def _send(self, request: dict) -> None:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def samples(self, name: str, shape_name: str, repeats: int, warm: float) -> list[list[float]]:
        self._send({"name": name, "shape": shape_name, "repeats": repeats, "warm": warm})
        return json.loads(self._line())

    def release(self) -> None:
        self._send({"release": True})

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def measure(entries, shape_names, repeats: int, rounds: int, torch_side: TorchSide | None,
            warm: float = WARM_S) -> dict:
    """``{(entry name, shape name): {"kerasette": [fwd samples, fwd+bwd samples] or 'not
    available: ...', "torch": [...] or None}}``: the two sides row by row, ``rounds`` times (odd
    rounds PyTorch first)."""
    out = {}
    for shape_name in shape_names:
        built = {e["name"]: kerasette_entry(e, SHAPES[shape_name]) for e in entries}
        for e in entries:
            out[(e["name"], shape_name)] = {"kerasette": built[e["name"]] if isinstance(built[e["name"]], str)
                                            else [[], []], "torch": [[], []] if torch_side else None}
        for round_ in range(rounds):
            for e in entries:
                row = out[(e["name"], shape_name)]
                sides = ["kerasette", "torch"] if round_ % 2 == 0 else ["torch", "kerasette"]
                for side in sides:
                    time.sleep(SETTLE_S)
                    if side == "kerasette" and not isinstance(row["kerasette"], str):
                        forward, step = built[e["name"]]
                        row["kerasette"][0] += warm_samples(forward, repeats, warm)
                        row["kerasette"][1] += warm_samples(step, repeats, warm)
                    elif side == "torch" and torch_side is not None:
                        fwd, both = torch_side.samples(e["name"], shape_name, repeats, warm)
                        row["torch"][0] += fwd
                        row["torch"][1] += both
        del built
        if torch_side is not None:
            torch_side.release()
    return out


# -- the table ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timings of each row per round and side")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the table, the two sides taking turns")
    parser.add_argument("--torch", default="/work/benchenv/bin/python", help="a Python with torch")
    parser.add_argument("--stat", choices=sorted(STAT), default="median", help="summary of the repeated times")
    parser.add_argument("--shapes", choices=["cifar", "imagenet", "all"], default="all")
    parser.add_argument("--only", default=None, help="only the entries whose name contains this (any case)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both sides (default: each library's own, the available cores)")
    parser.add_argument("--warm", type=float, default=WARM_S,
                        help="seconds of untimed back-to-back calls before each side's timed calls")
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_worker:
        torch_worker(args.threads)
        return
    stat = STAT[args.stat]
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
    from kerasette.backend import parallel

    if args.threads:
        parallel.set_num_threads(args.threads)
    entries, shape_names = _selected(args.only, args.shapes)
    if not entries:
        parser.error(f"no entry matches --only {args.only!r}; entries: {', '.join(e['name'] for e in ENTRIES)}")
    torch_side = TorchSide(args.torch, args.threads) if os.path.exists(args.torch) else None
    try:
        results = measure(entries, shape_names, args.repeats, max(1, args.rounds), torch_side, args.warm)
    finally:
        if torch_side is not None:
            torch_side.close()

    print(f"{args.stat} ms over {args.repeats} runs x {max(1, args.rounds)} rounds after {args.warm} s of warm-up "
          f"(pause {SETTLE_S} s before each side's turn); kerasette threads: "
          f"{parallel.num_threads()}; torch threads: {torch_side.threads if torch_side else '-'}; "
          f"ratio = torch / kerasette (above 1: kerasette faster)")
    header = (f"{'layer':30} {'shape':13} {'kerasette fwd':>13} {'torch fwd':>10} {'ratio':>6}  "
              f"{'kerasette f+b':>13} {'torch f+b':>10} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    rows = []
    for (name, shape_name), result in results.items():
        mine, other = result["kerasette"], result["torch"]
        row = {"layer": name, "shape": SHAPE_LABEL[shape_name], "stat": args.stat, "repeats": args.repeats,
               "rounds": max(1, args.rounds), "warm_s": args.warm}
        if isinstance(mine, str):
            print(f"{name:30} {SHAPE_LABEL[shape_name]:13} {mine}")
            row["kerasette"] = mine
        else:
            times = [stat(samples) for samples in mine]
            theirs = [stat(samples) for samples in other] if other else None
            cells = []
            for i in range(2):
                ratio = theirs[i] / times[i] if theirs else float("nan")
                cells.append(f"{times[i]:13.3f} {theirs[i] if theirs else float('nan'):10.3f} {ratio:6.2f}")
            print(f"{name:30} {SHAPE_LABEL[shape_name]:13} {cells[0]}  {cells[1]}")
            row.update(kerasette_fwd_ms=round(times[0], 4), kerasette_fwdbwd_ms=round(times[1], 4))
            if theirs:
                row.update(torch_fwd_ms=round(theirs[0], 4), torch_fwdbwd_ms=round(theirs[1], 4),
                           ratio_fwd=round(theirs[0] / times[0], 3), ratio_fwdbwd=round(theirs[1] / times[1], 3))
        rows.append(row)
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
