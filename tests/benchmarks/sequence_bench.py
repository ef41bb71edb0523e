"""Feeding from a Sequence with worker threads vs from in-memory arrays: samples per second.

Trains the CIFAR-sized seed convnet (tests/benchmarks/cases.py, 32x32x3, batch 32) on random
data for ``--epochs`` epochs, alternating the two feeds ``--repeats`` times in one process, and
prints the median samples/s of each and their ratio. The Sequence slices the same arrays (the
cost measured is the feeding machinery, not disk reading).

    python tests/benchmarks/sequence_bench.py --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CASES, NUM_CLASSES  # noqa: E402
from kerasette_reference import build_model  # noqa: E402

from kerasette.utils import Sequence  # noqa: E402


class Slices(Sequence):
    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    case = CASES["cifar32"]
    rng = np.random.default_rng(0)
    x = rng.random((args.samples, case.height, case.width, case.channels), dtype=np.float32)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, args.samples)]
    model = build_model(case)
    model.fit(x[:256], y[:256], batch_size=case.batch, epochs=1, verbose=0)  # compile the kernels
    rates = {"arrays": [], "sequence": []}
    for _ in range(args.repeats):
        for feed in rates:
            start = time.perf_counter()
            if feed == "arrays":
                model.fit(x, y, batch_size=case.batch, epochs=args.epochs, verbose=0)
            else:
                model.fit(Slices(x, y, case.batch), epochs=args.epochs, workers=args.workers, verbose=0)
            rates[feed].append(args.samples * args.epochs / (time.perf_counter() - start))
    arrays, sequence = statistics.median(rates["arrays"]), statistics.median(rates["sequence"])
    print(f"cifar32, batch {case.batch}, {args.samples} samples x {args.epochs} epochs, medians of {args.repeats}")
    print(f"arrays: {arrays:.1f} samples/s; Sequence with {args.workers} workers: {sequence:.1f} samples/s; "
          f"ratio {sequence / arrays:.3f}")


if __name__ == "__main__":
    main()
