"""Where a training step's time goes: each batch-parallel dispatch, by call site, and the rest.

A script, not a test: ``python tests/benchmarks/step_profile.py --case cifar32 [--steps 50]``
(``KERASETTE_NUM_THREADS=1`` for the one-thread figures).

Wraps `kerasette.backend.parallel.map_chunks` and prints, per step and per call site (the op
function that dispatched), the number of dispatches, their wall time, the longest chunk and the
sum of all chunks. With two threads, ``sum`` well above the one-thread figure means the threads
slow each other down (the GIL, memory bandwidth); ``wall`` well above ``longest`` is the cost of
handing work to the pool and back. "outside dispatches" is everything the calling thread does
alone: framework code, small ops, the loss.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run from a checkout
sys.path.insert(0, str(HERE))

from cases import CASES, NUM_CLASSES  # noqa: E402
from kerasette_reference import build_model  # noqa: E402

from kerasette.backend import parallel  # noqa: E402


def profile(case_name: str, steps: int) -> None:
    case = CASES[case_name]
    model = build_model(case)
    rng = np.random.default_rng(0)
    x = rng.random((case.batch,) + model.input_shape[1:], dtype=np.float32)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, case.batch)]
    for _ in range(5):
        model.train_on_batch(x, y)

    stats = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0])  # calls, wall, longest, sum
    plain = parallel.map_chunks

    def timed(fn, n_items, min_work=0, work_per_item=1):
        chunk_times = []

        def run(start, stop):
            t0 = time.perf_counter()
            out = fn(start, stop)
            chunk_times.append(time.perf_counter() - t0)
            return out

        t0 = time.perf_counter()
        out = plain(run, n_items, min_work, work_per_item)
        wall = time.perf_counter() - t0
        frame = sys._getframe(1)
        if frame.f_code.co_name == "by_images":
            frame = frame.f_back
        row = stats[f"{frame.f_code.co_name} ({Path(frame.f_code.co_filename).name})"]
        row[0] += 1
        row[1] += wall
        row[2] += max(chunk_times)
        row[3] += sum(chunk_times)
        return out

    parallel.map_chunks = timed
    try:
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        step = (time.perf_counter() - start) / steps
    finally:
        parallel.map_chunks = plain

    print(f"{case_name}: {parallel.num_threads()} thread(s), step {step * 1e3:.2f} ms")
    print(f"{'call site':<36}{'per step':>9}{'wall ms':>9}{'longest':>9}{'sum ms':>9}")
    inside = 0.0
    for site, (calls, wall, longest, total) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
        inside += wall
        print(f"{site:<36}{calls / steps:9.1f}{wall / steps * 1e3:9.2f}{longest / steps * 1e3:9.2f}"
              f"{total / steps * 1e3:9.2f}")
    print(f"{'outside dispatches':<36}{'':9}{(step - inside / steps) * 1e3:9.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(c for c in CASES if CASES[c].train), default="cifar32")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    profile(args.case, args.steps)


if __name__ == "__main__":
    main()
