"""PyTorch reference timings for the "seed" VGG-like convnet.

Standalone: needs only torch and numpy (run it with /work/benchenv/bin/python).
Trains (or, for ``predict100``, runs inference) on random data and prints one
JSON line with throughput, median step time and peak RSS.

Example::

    /work/benchenv/bin/python tests/benchmarks/torch_reference.py --case vgg100_cl
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np
import torch
from cases import (  # noqa: E402 - shared with kerasette_reference.py
    BN_EPSILON,
    BN_MOMENTUM,
    CASES,
    NUM_CLASSES,
    RESNET_BLOCKS,
    RESNET_STAGES,
    Case,
)
from torch import nn


def _valid_conv(size: int) -> int:
    """Return the spatial size after a 3x3 'valid' (unpadded, stride 1) convolution."""
    return size - 2


def flat_features(height: int, width: int) -> int:
    """Return the number of features entering the first Linear layer."""
    dims = []
    for size in (height, width):
        size = _valid_conv(_valid_conv(size)) // 2
        size = _valid_conv(_valid_conv(size)) // 2
        dims.append(size)
    return 64 * dims[0] * dims[1]


class _Block(nn.Module):
    """A ResNet v1 block: conv-BN-ReLU, conv-BN, plus the shortcut (a strided 1x1 conv when the
    block halves the size), then ReLU."""

    def __init__(self, cin: int, cout: int, strides: int):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(cin, cout, strides), nn.ReLU(), _conv_bn(cout, cout, 1))
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=strides) if strides != 1 else nn.Identity()

    def forward(self, x):
        return torch.relu(self.shortcut(x) + self.body(x))


def _conv_bn(cin: int, cout: int, strides: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=strides, padding=1),
                         nn.BatchNorm2d(cout, eps=BN_EPSILON, momentum=1 - BN_MOMENTUM))


def build_resnet20(case: Case) -> nn.Sequential:
    """Keras's CIFAR-10 ResNet-20 v1, layer for layer as kerasette_reference.py builds it."""
    layers: list[nn.Module] = [_conv_bn(case.channels, RESNET_STAGES[0], 1), nn.ReLU()]
    cin = RESNET_STAGES[0]
    for stage, filters in enumerate(RESNET_STAGES):
        for block in range(RESNET_BLOCKS):
            layers.append(_Block(cin, filters, 2 if stage > 0 and block == 0 else 1))
            cin = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, NUM_CLASSES)]
    model = nn.Sequential(*layers)
    for module in model.modules():  # he_normal, as the Keras model
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def build_model(case: Case) -> nn.Sequential:
    """Build the case's model: the seed VGG-like convnet for ``case``'s input size, or ResNet-20."""
    if case.arch == "resnet20":
        return build_resnet20(case)
    return nn.Sequential(
        nn.Conv2d(case.channels, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(flat_features(case.height, case.width), 256),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(256, NUM_CLASSES),
    )


def peak_rss_mb() -> float:
    """Return this process's peak RSS in MiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(case_name: str, steps: int, warmup: int, threads: int, seed: int) -> dict[str, object]:
    """Run one benchmark case and return the result record."""
    case = CASES[case_name]
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    x_np = rng.standard_normal((case.batch, case.channels, case.height, case.width), dtype=np.float32)
    y_np = rng.integers(0, NUM_CLASSES, size=case.batch)
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np).long()

    model = build_model(case)
    if case.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    if case.train:
        model.train()
        criterion = nn.CrossEntropyLoss()  # log-softmax + NLL on logits
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            loss.item()

    else:
        model.eval()

        def step() -> None:
            with torch.no_grad():
                torch.softmax(model(x), dim=1)

    for _ in range(warmup):
        step()

    times: list[float] = []
    t_start = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_start

    median = statistics.median(times)
    return {
        "framework": "torch",
        "case": case_name,
        "mode": "train" if case.train else "predict",
        "batch": case.batch,
        "input_hwc": [case.height, case.width, case.channels],
        "memory_format": "channels_last" if case.channels_last else "contiguous",
        "samples_per_s": round(case.batch / median, 2),
        "samples_per_s_total": round(case.batch * steps / total, 2),
        "step_ms_median": round(median * 1e3, 3),
        "step_ms_min": round(min(times) * 1e3, 3),
        "step_ms_max": round(max(times) * 1e3, 3),
        "steps": steps,
        "warmup": warmup,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default depends on case)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads value")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the chosen case and print one JSON line."""
    args = parse_args(argv)
    steps = args.steps if args.steps is not None else CASES[args.case].default_steps
    if steps < 1 or args.warmup < 0 or args.threads < 1:
        raise SystemExit("--steps and --threads must be >= 1, --warmup >= 0")
    print(
        json.dumps(run(args.case, steps, args.warmup, args.threads, args.seed)),
        flush=True,
    )


if __name__ == "__main__":
    main()
