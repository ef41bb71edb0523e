"""How the pool's spinning decision (`kerasette.backend.pool.Contention`) behaves: short passes
after pauses on a quiet machine, and training with busy programs on the cores.

A script, not a test::

    python tests/benchmarks/pool_contention.py [--hogs 2] [--part passes|train|all]
        [--case resnet20] [--steps 20] [--rounds 3]

Three ways for the pool's threads to wait, switched in the same process:

* ``adaptive``: the default (`Contention` decides, every `Contention.PERIOD` s);
* ``spinning``: always spin (no contention check);
* ``sleeping``: never spin (as ``KERASETTE_POOL_SPIN_US=0``: a plain thread pool).

``passes``: GlobalAveragePooling2D forward on 32x32x32x64 (a 0.2 ms pass, two hand-offs), the
way a per-layer benchmark calls it: ``--rounds`` times, a 50 ms pause, then 0.5 s of back-to-back
calls. Prints the median ms of the calls in the first 0.1 s after the pause and in the rest, and
the share of calls that found the threads spinning.

``train``: ``--case``'s training step (bench.py's model, batch and data), ``--rounds`` x
``--steps`` timed steps per mode, the modes taking turns step by step; median step ms per mode,
and the share of the pool's runs in which 'adaptive' had its threads spinning.

``--hogs N`` starts N busy Python loops (``while 1: pass``, normal priority) for the run: on a
2-core machine, two of them make the contention the check is for (a 2-core machine at load 10
trained 2-3x slower with spinning threads). Run both ways; the machine's load is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # this checkout's kerasette
sys.path.insert(0, str(HERE))

from kerasette.backend import parallel  # noqa: E402
from kerasette.backend import pool as _pool  # noqa: E402

MODES = ("adaptive", "spinning", "sleeping")
#: ``passes`` also times 'adaptive' switched off just before each pause, as a spell of real
#: contention (or, before the fix, a pass's own wake-ups) leaves it: how soon does it spin again?
PASS_MODES = ("adaptive", "adaptive, off", "spinning", "sleeping")


def set_mode(mode: str) -> None:
    """Makes the pool wait as ``mode`` says (a fresh `Contention` for 'adaptive')."""
    p = parallel._pool()
    if mode == "adaptive":
        p.contention = _pool.Contention()
        p.spins, p.ack_spins = p._budgets
    else:
        p.contention = None
        p.spins, p.ack_spins = p._budgets if mode == "spinning" else (0, 0)


def switch_off(contention) -> None:
    """Puts ``contention`` in the state a spell of contention leaves it in: just switched off."""
    contention.on, contention._last = False, None
    contention._next = time.perf_counter() + getattr(contention, "retry", contention.PERIOD)


def passes(rounds: int) -> None:
    from kerasette.backend.engine.pooling import global_avgpool2d_forward

    x = np.random.default_rng(0).standard_normal((32, 32, 32, 64)).astype(np.float32)
    global_avgpool2d_forward(x)
    p = parallel._pool()
    print(f"{'mode':14} {'first 0.1 s ms':>15} {'rest ms':>8} {'spinning':>9}")
    results = {mode: ([], [], []) for mode in PASS_MODES}
    for _ in range(rounds):
        for mode in PASS_MODES:
            set_mode(mode.split(",")[0])
            for _ in range(3):  # the pauses a table of rows makes
                if mode == "adaptive, off":
                    switch_off(p.contention)
                time.sleep(0.05)
                start = time.perf_counter()
                while True:
                    t0 = time.perf_counter()
                    global_avgpool2d_forward(x)
                    t1 = time.perf_counter()
                    results[mode][0 if t0 - start < 0.1 else 1].append((t1 - t0) * 1e3)
                    results[mode][2].append(p.spins > 0)
                    if t1 - start > 0.5:
                        break
    for mode, (first, rest, on) in results.items():
        print(f"{mode:14} {statistics.median(first):15.3f} {statistics.median(rest):8.3f} {np.mean(on):9.2f}")


def train(case_name: str, steps: int, rounds: int, modes=MODES) -> None:
    """``--case``'s training step in the three modes, taking turns step by step (a busy spell of
    the machine falls on all three alike); 'adaptive' keeps one `Contention` throughout, so that
    its state (and its tries while off) carries over from one of its steps to the next."""
    from cases import CASES, NUM_CLASSES
    from kerasette_reference import build_model

    case = CASES[case_name]
    rng = np.random.default_rng(0)
    model = build_model(case)
    x = rng.random((case.batch,) + model.input_shape[1:], dtype=np.float32)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, case.batch)]
    for _ in range(3):
        model.train_on_batch(x, y)
    p = parallel._pool()
    set_mode("adaptive")
    adaptive = p.contention
    decisions = []
    spinning = adaptive.spinning
    adaptive.spinning = lambda tids: decisions.append(spinning(tids)) or decisions[-1]
    times = {mode: [] for mode in modes}
    for _ in range(rounds * steps):
        for mode in modes:
            set_mode(mode)
            if mode == "adaptive":
                p.contention = adaptive
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[mode].append((time.perf_counter() - start) * 1e3)
    print(f"{case_name}: median step ms over {rounds * steps} steps per mode, the modes taking turns step by step")
    for mode in modes:
        note = f"   (threads spinning in {np.mean(decisions):.2f} of its {len(decisions)} runs)" if mode == "adaptive" else ""
        print(f"  {mode:10} {statistics.median(times[mode]):8.2f} ms{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hogs", type=int, default=0, help="busy Python loops to run meanwhile")
    parser.add_argument("--part", choices=["passes", "train", "all"], default="all")
    parser.add_argument("--case", default="resnet20")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                        help="training: the modes to take turns (a spinning step under contention burns CPU "
                             "time the scheduler then takes from the step after it)")
    args = parser.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.hogs)]
    try:
        time.sleep(0.5 if hogs else 0)
        print(f"hogs: {args.hogs}; threads: {parallel.num_threads()}; load: {os.getloadavg()}")
        if args.part in ("passes", "all"):
            passes(args.rounds)
        if args.part in ("train", "all"):
            train(args.case, args.steps, args.rounds, args.modes)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


if __name__ == "__main__":
    main()
