"""Where a dispatch's time goes: a time line of each `parallel.map_prepared` hand-off in a
training step, per call site.

A script, not a test: ``python tests/benchmarks/dispatch_timeline.py --case resnet20 [--steps
30] [--avx2]``; run it under ``chrt -f 10`` on a shared machine. `step_profile.py` shows that
a dispatch's wall time exceeds its longest thread's; this says by what, from time-stamps
(``time.perf_counter_ns``) taken at each step of the hand-off:

* ``prep``: from entering ``map_prepared`` to the last chunk prepared (the caller's Python
  before it publishes: the site's ``prepare`` calls);
* ``pub``: from there to the first ``submit`` (``map_prepared``'s and ``Pool.run``'s own Python);
* ``take``: from ``submit`` to the worker, holding the GIL, entering ``_take`` (its wake-up: the
  native watch seeing the task, then the GIL);
* ``w0``: from ``submit`` to the worker's chunk starting (its call made);
* ``sub``: ``submit``'s whole time (publish, acknowledgement, settle);
* ``c0``: from ``submit`` to the caller's own chunk starting;
* ``own``, ``wrk``: the caller's chunk and the worker's (their calls' time);
* ``last``: the worker's chunk end less the caller's (positive: the worker finished last);
* ``join``: the caller's wait in the worker's join; ``tail``: from the join to ``map_prepared``
  returning;
* ``wall``, ``over``: the dispatch, and what it spends beyond its longest chunk;
* ``csw``, ``wsw``: voluntary context switches (sleeps: nearly always on the GIL) of the caller
  during the dispatch and of the worker during its chunk, means; ``ssw``, ``osw``: the caller's
  in ``submit`` (it took the GIL back after the settle while the worker still ran Python) and in
  its own chunk (it left a kernel while the worker held the GIL).

Medians per dispatch in microseconds, then the sums per step of the medians' parts; then each
site's wall time by the number of sleeps in the dispatch (what a sleep costs), and for chunks
that are tuples of calls, each call's start and length and its thread's sleeps.

The timers add about a microsecond each, and Python to both threads, which itself makes the
threads meet on the GIL more often: the calling thread slept 40-50 times a step here against
13-20 uninstrumented (resnet20). Take the sleep counts as an upper bound; `dispatch_synthetic.py`
measures the protocol alone.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run from a checkout
sys.path.insert(0, str(HERE))

from cases import CASES  # noqa: E402
from kerasette_reference import build_model  # noqa: E402
from step_profile import _batch, _site  # noqa: E402

from kerasette.backend import parallel, pool  # noqa: E402

now = time.perf_counter_ns


def _switches() -> int:
    """This thread's voluntary context switches so far (a sleep: on a lock, the GIL, a wait)."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw


def _stamped(record: dict, key: str, call):
    def run():
        switches, start = _switches(), now()
        try:
            return call()
        finally:
            record[key] = (start, now(), _switches() - switches)
    return run


class _Timeline:
    """Wrappers on `parallel.map_prepared` and `pool._Worker`'s ``submit``, ``_take`` and
    ``join`` that time-stamp each dispatch's steps into a record (a dict) per dispatch."""

    def __init__(self):
        self.records: list[dict] = []
        self.current: dict = {}
        self._undo = []

    def _set(self, owner, name, value):
        self._undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def install(self) -> None:
        timeline, plain_map = self, parallel.map_prepared
        plain_submit, plain_take, plain_join = pool._Worker.submit, pool._Worker._take, pool._Worker.join

        def map_prepared(prepare, n_items, min_work=0, work_per_item=1):
            record = timeline.current = {"site": _site(sys._getframe(1)), "v0": _switches(), "t0": now()}

            def timed(k, calls):
                if isinstance(calls, tuple):  # each call of a chunk's tuple timed too
                    calls = tuple(_stamped(record, f"{k}.{n}", c) for n, c in enumerate(calls))
                call = functools.partial(parallel.in_turn, calls) if isinstance(calls, tuple) else calls

                def run():
                    if k:
                        record["wv0"] = _switches()
                    else:
                        record["cv0"] = _switches()
                    record[f"s{k}"] = now()
                    try:
                        return call()
                    finally:
                        record[f"e{k}"] = now()
                        record["wv1" if k else "cv1"] = _switches()
                return run

            def prep(k, i, j):
                out = timed(k, prepare(k, i, j))
                record["prep"] = now()
                return out

            try:
                return plain_map(prep, n_items, min_work, work_per_item)
            finally:
                record["end"] = now()
                record["v1"] = _switches()
                timeline.records.append(record)

        def submit(worker, task, settle_spins=None):
            record = timeline.current
            record["asleep"] = worker.sleeping
            switches = _switches()
            record["sub_s"] = now()
            plain_submit(worker, task, settle_spins)
            record["sub_e"] = now()
            record["ssw"] = _switches() - switches

        def take(worker, seen):
            timeline.current.setdefault("take", now())
            return plain_take(worker, seen)

        def join(worker):
            record = timeline.current
            record["join_s"] = now()
            try:
                return plain_join(worker)
            finally:
                record["join_e"] = now()

        self._set(parallel, "map_prepared", map_prepared)
        self._set(pool._Worker, "submit", submit)
        self._set(pool._Worker, "_take", take)
        self._set(pool._Worker, "join", join)

    def remove(self) -> None:
        for owner, name, plain in reversed(self._undo):
            setattr(owner, name, plain)
        self._undo = []


_PARTS = ("prep", "pub", "take", "w0", "sub", "c0", "own", "wrk", "last", "join", "tail", "wall", "over")
#: voluntary switches per dispatch: the caller's, the worker's in its chunk, the caller's in submit
#: (its take of the GIL after the settle) and in its own chunk (leaving a kernel or a call)
_MEANS = ("csw", "wsw", "ssw", "osw")


def _parts(r: dict) -> dict | None:
    """A two-thread record's intervals (us), or None for a dispatch run in the calling thread."""
    if "sub_s" not in r or "s1" not in r:
        return None
    us = 1e-3
    own, wrk = r["e0"] - r["s0"], r["e1"] - r["s1"]
    wall = r["end"] - r["t0"]
    return {"prep": (r["prep"] - r["t0"]) * us, "pub": (r["sub_s"] - r["prep"]) * us,
            "take": (r.get("take", r["s1"]) - r["sub_s"]) * us, "w0": (r["s1"] - r["sub_s"]) * us,
            "sub": (r["sub_e"] - r["sub_s"]) * us, "c0": (r["s0"] - r["sub_s"]) * us,
            "own": own * us, "wrk": wrk * us, "last": (r["e1"] - r["e0"]) * us,
            "join": (r["join_e"] - r["join_s"]) * us, "tail": (r["end"] - r["join_e"]) * us,
            "wall": wall * us, "over": (wall - max(own, wrk)) * us,
            "csw": r["v1"] - r["v0"], "wsw": r.get("wv1", 0) - r.get("wv0", 0),
            "ssw": r.get("ssw", 0), "osw": r.get("cv1", 0) - r.get("cv0", 0)}


def report_calls(records: list[dict], site: str) -> None:
    """The calls of a site's chunks (tuples), caller's (0.n) and worker's (1.n): median us."""
    rows = [r for r in records if r["site"] == site and "0.0" in r and "1.0" in r and "sub_s" in r]
    if not rows:
        return
    keys = sorted(k for k in rows[0] if "." in k)
    print(f"  {site}: calls of the chunks, median us (start from submit / length)")
    for key in keys:
        have = [r for r in rows if key in r]
        start = statistics.median((r[key][0] - r["sub_s"]) * 1e-3 for r in have)
        length = statistics.median((r[key][1] - r[key][0]) * 1e-3 for r in have)
        slept = statistics.mean(r[key][2] for r in have)
        print(f"    {key}: start {start:8.1f}  length {length:8.1f}  switches {slept:5.2f}  ({len(have)})")


def report(records: list[dict], steps: int) -> None:
    by_site = collections.defaultdict(list)
    inline = collections.Counter()
    asleep = collections.Counter()
    for record in records:
        parts = _parts(record)
        if parts is None:
            inline[record["site"]] += 1
            continue
        by_site[record["site"]].append(parts)
        asleep[record["site"]] += bool(record.get("asleep"))
    print(f"{'call site':<34}{'n/step':>7}" + "".join(f"{p:>7}" for p in _PARTS + _MEANS) + f"{'asleep':>7}")
    totals = collections.Counter()
    for site, rows in sorted(by_site.items(), key=lambda kv: -len(kv[1]) * statistics.median(r["wall"] for r in kv[1])):
        medians = {p: statistics.median(r[p] for r in rows) for p in _PARTS}
        medians.update({p: statistics.mean(r[p] for r in rows) for p in _MEANS})
        for p in _PARTS + _MEANS:
            totals[p] += medians[p] * len(rows) / steps
        print(f"{site[:33]:<34}{len(rows) / steps:7.1f}" + "".join(f"{medians[p]:7.1f}" for p in _PARTS)
              + "".join(f"{medians[p]:7.2f}" for p in _MEANS)
              + f"{asleep[site] / len(rows):7.2f}")
    print("  wall by voluntary switches in the dispatch (caller + worker): median us (dispatches)")
    for site, rows in by_site.items():
        groups = collections.defaultdict(list)
        for r in rows:
            groups[min(r["csw"] + r["wsw"], 2)].append(r["wall"])
        print(f"    {site[:33]:<34}" + "".join(f"  {n}{'+' if n == 2 else ''}: {statistics.median(w):7.1f} ({len(w)})"
                                              for n, w in sorted(groups.items())))
    print(f"{'per step (ms: medians x count)':<41}" + "".join(f"{totals[p] * 1e-3:7.2f}" for p in _PARTS)
          + "".join(f"{totals[p]:7.1f}" for p in _MEANS))
    for site, count in inline.items():
        print(f"  run in the calling thread: {site} {count / steps:.1f}/step")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(c for c in CASES if CASES[c].train), default="resnet20")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--avx2", action="store_true", help="AVX2 code (bench.py's environment)")
    args = parser.parse_args(argv)
    if args.avx2 and os.environ.get("NUMBA_CPU_NAME") != "haswell":
        from bench import avx2_env  # deferred: only for --avx2

        rest = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--avx2"]
        sys.exit(subprocess.run([sys.executable, __file__, *rest], env=avx2_env()).returncode)
    case = CASES[args.case]
    model = build_model(case)
    x, y = _batch(case, model)
    for _ in range(5):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(x, y)
    plain_step = (time.perf_counter() - start) / args.steps
    timeline = _Timeline()
    timeline.install()
    try:
        model.train_on_batch(x, y)
        timeline.records.clear()
        switches = _switches()
        start = time.perf_counter()
        for _ in range(args.steps):
            model.train_on_batch(x, y)
        step = (time.perf_counter() - start) / args.steps
        switches = (_switches() - switches) / args.steps
    finally:
        timeline.remove()
    print(f"{args.case}: step {plain_step * 1e3:.2f} ms (timed run {step * 1e3:.2f} ms; the calling thread's "
          f"voluntary switches {switches:.1f} a step)")
    report(timeline.records, args.steps)
    for site in sorted({r["site"] for r in timeline.records}):
        report_calls(timeline.records, site)


if __name__ == "__main__":
    main()
