"""Where a training step's threads sleep, and on what: each voluntary context switch of the
calling thread and of the pool's worker during the timed steps, by what the thread was leaving.

A script, not a test: ``python tests/benchmarks/gil_sleeps.py --case resnet20 [--steps 40]
[--avx2]``, under ``chrt -f 10`` on a shared machine. It needs ``perf`` and the right to trace
scheduler events (root, or ``kernel.perf_event_paranoid`` <= 1): it runs itself under ``perf
record -e sched:sched_switch --call-graph dwarf`` and reads the stacks.

A thread that sleeps in a training step nearly always waits for the GIL (``take_gil``) on its
way back from native code that had let the GIL go, because the other thread held it at that
moment: the rows name that native code. For numba's kernels (JIT code perf cannot name) the
traced process writes each compiled kernel's wrapper address, and a return address inside a
wrapper names its kernel. ``spin.publish_and_watch`` is the pool's own wait (the caller's
settle in ``submit``, the joins, the worker's watch for its next task); ``semaphore or lock``
is the pool's sleep once a spin ran out (or its lock). Each sleep on this 2-core VM costs tens to
a couple of hundred microseconds of wake-up. Unlike `dispatch_timeline.py` nothing is added to
the threads' Python, so the counts are those of the plain step (perf's own cost is in the
kernel, at each switch).
"""

from __future__ import annotations

import argparse
import bisect
import collections
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(case_name: str, steps: int, out: str) -> None:
    """The traced run: warm-up steps, then ``steps`` timed ones; writes the timed section's
    monotonic times, the threads' ids and the kernels' wrapper addresses to ``out``."""
    sys.path.insert(0, str(HERE.parents[1]))
    sys.path.insert(0, str(HERE))
    import numba
    from cases import CASES
    from kerasette_reference import build_model
    from step_profile import _batch

    from kerasette.backend import parallel

    case = CASES[case_name]
    model = build_model(case)
    x, y = _batch(case, model)
    for _ in range(5):
        model.train_on_batch(x, y)
    start = time.monotonic()
    for _ in range(steps):
        model.train_on_batch(x, y)
    end = time.monotonic()
    kernels = {}
    for obj in gc.get_objects():
        try:
            if not isinstance(obj, numba.core.dispatcher.Dispatcher):
                continue
        except ReferenceError:  # a dead weak proxy among the objects
            continue
        name = f"{obj.py_func.__module__.removeprefix('kerasette.backend.kernels.')}.{obj.py_func.__name__}"
        for result in obj.overloads.values():
            kernels[result.library.get_pointer_to_function(result.fndesc.llvm_cpython_wrapper_name)] = name
    workers = [w.tid for w in parallel._pool().workers]
    with open(out, "w") as file:
        json.dump({"start": start, "end": end, "steps": steps, "caller": threading.get_native_id(),
                   "workers": workers, "kernels": sorted(kernels.items())}, file)


class _Names:
    """Names a return address: the numba kernel whose wrapper holds it, else perf's symbol."""

    SPAN = 0x4000  # a wrapper's code is a few hundred bytes: farther is not in it

    def __init__(self, kernels):
        self.starts = [address for address, _ in kernels]
        self.names = [name for _, name in kernels]

    def __call__(self, address: int, symbol: str) -> str:
        if symbol != "[unknown]":
            return re.sub(r"\+0x[0-9a-f]+$", "", symbol).removesuffix(" (inlined)")
        at = bisect.bisect_right(self.starts, address) - 1
        return self.names[at] if at >= 0 and address - self.starts[at] < self.SPAN else "JIT code"


def classify(frames: list[tuple[int, str]], names: _Names) -> str:
    """What a sleeping thread was doing, from its stack (innermost frame first)."""
    symbols = [symbol for _, symbol in frames]
    for at, symbol in enumerate(symbols):
        if "PyEval_RestoreThread" in symbol or "PyEval_AcquireThread" in symbol:
            if at + 1 < len(frames):
                return "GIL after " + names(*frames[at + 1])
            return "GIL"
        if "PyThread_acquire_lock" in symbol or "sem_wait" in symbol:
            return "semaphore or lock"
    return "other (I/O, page faults, ...)"


def read_switches(script: str, info: dict):
    """``(thread, what)`` of each sleep (prev_state S or D) in the timed steps of ``perf script``'s
    text (fields tid, time, event, trace, ip, sym)."""
    names = _Names(info["kernels"])
    threads = {info["caller"]: "caller", **{tid: f"worker {n + 1}" for n, tid in enumerate(info["workers"])}}
    for block in script.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        head = re.match(r"\s*(\d+)\s+([\d.]+):\s+sched:sched_switch:.*prev_state=(\S+)", lines[0])
        if not head or head.group(3)[0] not in "SD" or int(head.group(1)) not in threads:
            continue
        if not info["start"] <= float(head.group(2)) <= info["end"]:
            continue
        frames = []
        for line in lines[1:]:
            parts = line.split(None, 1)
            if len(parts) == 2:
                frames.append((int(parts[0], 16), parts[1].strip()))
        yield threads[int(head.group(1))], classify(frames, names)


def report(counts: collections.Counter, steps: int, top: int) -> None:
    for thread in sorted({t for t, _ in counts}):
        rows = sorted(((n, what) for (t, what), n in counts.items() if t == thread), reverse=True)
        print(f"{thread}: {sum(n for n, _ in rows) / steps:.1f} sleeps a step")
        for n, what in rows[:top]:
            print(f"  {n / steps:6.2f}  {what}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="resnet20")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--top", type=int, default=15, help="rows per thread")
    parser.add_argument("--avx2", action="store_true", help="AVX2 code (bench.py's environment)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.case, args.steps, args.child)
        return
    env = None
    if args.avx2:
        sys.path.insert(0, str(HERE))
        from bench import avx2_env  # deferred: only for --avx2

        env = avx2_env()
    with tempfile.TemporaryDirectory(prefix="gil_sleeps_") as folder:
        data, info = os.path.join(folder, "perf.data"), os.path.join(folder, "info.json")
        subprocess.run(["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-e", "sched:sched_switch",
                        "--call-graph", "dwarf,16384", "-o", data, sys.executable, __file__,
                        "--case", args.case, "--steps", str(args.steps), "--child", info], check=True, env=env)
        script = subprocess.run(["perf", "script", "-i", data, "-F", "tid,time,event,trace,ip,sym"],
                                check=True, capture_output=True, text=True).stdout
        with open(info) as file:
            details = json.load(file)
    counts = collections.Counter(read_switches(script, details))
    print(f"{args.case}: voluntary switches in {args.steps} timed steps, per step, by what the thread left")
    report(counts, args.steps, args.top)


if __name__ == "__main__":
    main()
