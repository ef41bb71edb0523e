"""Where a training step's time goes: each batch-parallel dispatch, by call site, then the
framework's own work around the ops.

A script, not a test: ``python tests/benchmarks/step_profile.py --case cifar32 [--steps 50]
[--avx2]`` (``KERASETTE_NUM_THREADS=1`` for the one-thread figures; ``--avx2``: AVX2 code on an
AVX-512 machine, in `bench.py`'s environment). Run it under ``chrt -f 10`` on a
shared machine, several times.

1. **Dispatches.** Wraps `kerasette.backend.parallel`'s four ways of handing work to the pool
   (``map_chunks``, ``map_prepared``: batch normalization's passes, the fused elementwise ones,
   pooling, the dense layer's products; ``map_pieces``: other memory-bound passes,
   ``run_shared``) and prints, per step and per call site (the function that dispatched), the
   number of dispatches, their wall time, the longest chunk and the sum of all chunks (``-`` for
   ``run_shared``, whose pieces are shared inside the kernel). With two threads, ``sum`` well
   above the one-thread figure means the threads slow each other down (the GIL, memory
   bandwidth); ``wall`` well above ``longest`` is the cost of handing work to the pool and back.
   "outside dispatches" is everything the calling thread does alone: framework code, small ops,
   the loss.
2. **Framework** (a second timed run, with timers around the framework's pieces; each timer
   adds about a microsecond): the layer runs, the planner's own work (``Plan.run`` less the
   layer runs), the ops' forward passes, the backward walk's own work (``_propagate`` less the
   ops' backward passes and the optimizer updates it calls; it includes summing the gradients
   of a tensor read by several ops and freeing the graph), the ops' backward passes, the
   optimizer's updates, and the rest of ``train_on_batch`` (checking the batch, the loss and
   its logs, the metrics).
3. **Kinds** (``--kinds``, a third timed run): the calling thread's time alone (wall less the
   dispatches inside it) per layer class (its forward run), per op class (its backward pass),
   for the whole backward walk and for the optimizer's ``ready``/``finish``: where the
   "outside dispatches" time goes, by owner.
4. **Joins** (``--joins``, a fourth timed run): how long the calling thread waits for the pool's
   workers once its own chunk is done (``Pool.run``'s joins), per call site: time in which it
   could run Python of its own (the next op's preparation, small optimizer updates) if the
   work were handed to it. A large wait per join means the chunks are uneven (the worker's
   chunk longer, or started late).
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run from a checkout
sys.path.insert(0, str(HERE))

from cases import CASES, NUM_CLASSES  # noqa: E402
from kerasette_reference import build_model  # noqa: E402

from kerasette.backend import backprop, parallel, pool  # noqa: E402
from kerasette.backend.kernels import simd  # noqa: E402
from kerasette.backend.ops.base import Op  # noqa: E402
from kerasette.models import planner  # noqa: E402
from kerasette.optimizers import base as optimizer_base  # noqa: E402


def _site(frame) -> str:
    """The function that dispatched: the caller of the engines' helpers ``by_images`` and
    ``split_map``."""
    while frame.f_code.co_name in ("by_images", "split_map") and frame.f_back is not None:
        frame = frame.f_back
    return f"{frame.f_code.co_name} ({Path(frame.f_code.co_filename).name})"


def _timed_dispatches(stats):
    """Wrapped `parallel.map_chunks`, `map_prepared`, `map_pieces` and `run_shared` adding to
    ``stats`` (site -> [calls, wall, longest chunk, sum of chunks])."""
    plain_chunks, plain_prepared = parallel.map_chunks, parallel.map_prepared
    plain_pieces, plain_shared = parallel.map_pieces, parallel.run_shared

    def timing(fn, times):
        def run(*args):
            t0 = time.perf_counter()
            out = fn(*args)
            times.append(time.perf_counter() - t0)
            return out
        return run

    def record(site, wall, times):
        row = stats[site]
        row[0] += 1
        row[1] += wall
        row[2] += max(times) if times else wall
        row[3] += sum(times) if times else float("nan")

    def map_chunks(fn, n_items, min_work=0, work_per_item=1):
        times = []
        t0 = time.perf_counter()
        out = plain_chunks(timing(fn, times), n_items, min_work, work_per_item)
        record(_site(sys._getframe(1)), time.perf_counter() - t0, times)
        return out

    def map_prepared(prepare, n_items, min_work=0, work_per_item=1):
        times = []
        t0 = time.perf_counter()
        out = plain_prepared(lambda k, i, j: timing(_one_call(prepare(k, i, j)), times), n_items, min_work,
                             work_per_item)
        record(_site(sys._getframe(1)), time.perf_counter() - t0, times)
        return out

    def map_pieces(fn, n_items, min_work=0, work_per_item=1, piece_work=None, ordered=False):
        times = []
        t0 = time.perf_counter()
        out = plain_pieces(timing(fn, times), n_items, min_work, work_per_item, piece_work, ordered)
        record(_site(sys._getframe(1)), time.perf_counter() - t0, times)
        return out

    def run_shared(fn, pieces, work, min_work=0):
        t0 = time.perf_counter()
        out = plain_shared(fn, pieces, work, min_work)
        record(_site(sys._getframe(1)), time.perf_counter() - t0, [])
        return out

    return (map_chunks, map_prepared, map_pieces, run_shared), (plain_chunks, plain_prepared, plain_pieces,
                                                                 plain_shared)


def _one_call(calls):
    """A prepared chunk (a call, or a tuple of calls made in turn) as one call."""
    return functools.partial(parallel.in_turn, calls) if isinstance(calls, tuple) else calls


def _set_dispatchers(functions) -> None:
    parallel.map_chunks, parallel.map_prepared, parallel.map_pieces, parallel.run_shared = functions


def _op_classes():
    seen, stack = [], [Op]
    while stack:
        for cls in stack.pop().__subclasses__():
            if cls not in seen:
                seen.append(cls)
                stack.append(cls)
    return seen


class _Framework:
    """Timers around the framework's pieces (see the module docstring), installed on the classes
    and modules (never on an op object: no reference cycles, no extra garbage collections)."""

    def __init__(self):
        keys = ("ops forward", "ops backward", "ready", "after", "_propagate", "_plan", "_layers")
        self.acc = dict.fromkeys(keys, 0.0)
        self._undo = []

    def _wrap(self, owner, name, key):
        plain = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        acc = self.acc

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return plain(*args, **kwargs)
            finally:
                acc[key] += time.perf_counter() - t0

        setattr(owner, name, timed)
        self._undo.append((owner, name, plain))

    def install(self) -> None:
        for cls in _op_classes():
            for name, key in (("forward", "ops forward"), ("backward", "ops backward"), ("backward_sum", "ops backward")):
                if name in cls.__dict__:
                    self._wrap(cls, name, key)
        self._wrap(backprop, "_propagate", "_propagate")
        self._wrap(optimizer_base.StreamedStep, "ready", "ready")  # inside the walk
        self._wrap(optimizer_base.StreamedStep, "finish", "after")  # after it
        self._wrap(optimizer_base.Optimizer, "apply_gradients", "after")
        self._wrap(planner.Plan, "run", "_plan")
        self._wrap(planner, "run_layer", "_layers")  # (planner.run calls it by this name)

    def remove(self) -> None:
        for owner, name, plain in reversed(self._undo):
            setattr(owner, name, plain)
        self._undo = []

    def reset(self) -> None:
        for key in self.acc:
            self.acc[key] = 0.0

    def rows(self, steps: int, step: float) -> list[tuple[str, float]]:
        a = self.acc
        rows = [("layer runs (their ops' forward included)", a["_layers"]),
                ("planner (own work: Plan.run less the layer runs)", a["_plan"] - a["_layers"]),
                ("ops forward (in layers and in the loss)", a["ops forward"]),
                ("backward walk (own work)", a["_propagate"] - a["ops backward"] - a["ready"]),
                ("ops backward", a["ops backward"]),
                ("optimizer updates (during and after the walk)", a["ready"] + a["after"]),
                ("rest of train_on_batch (batch checks, loss, logs)",
                 step * steps - a["_plan"] - a["_propagate"] - a["after"])]
        return [(name, value / steps) for name, value in rows]


class _Kinds:
    """Per layer class (its forward run) and per op class (its backward pass): calls, wall time
    and the calling thread's time alone (wall less the pool's dispatches inside it: the
    framework's Python, the engines' glue, serial kernels), plus the backward walk and the
    optimizer's calls (``ready`` during the walk, ``finish`` after it). Installed like
    `_Framework`, on classes and modules only."""

    def __init__(self):
        self.rows = collections.defaultdict(lambda: [0, 0.0, 0.0])  # key -> calls, wall, alone
        self.dispatched = [0.0]
        self._undo = []

    def _account(self, key_of, fn):
        rows, dispatched = self.rows, self.dispatched

        def timed(*args, **kwargs):
            d0, t0 = dispatched[0], time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                wall = time.perf_counter() - t0
                row = rows[key_of(args)]
                row[0] += 1
                row[1] += wall
                row[2] += wall - (dispatched[0] - d0)

        return timed

    def _set(self, owner, name, value):
        self._undo.append((owner, name, owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)))
        setattr(owner, name, value)

    def install(self) -> None:
        dispatched = self.dispatched
        for name in ("map_chunks", "map_prepared", "map_pieces", "run_shared"):  # (inline runs count as dispatched)
            plain = getattr(parallel, name)

            def counted(*args, _plain=plain, **kwargs):
                t0 = time.perf_counter()
                try:
                    return _plain(*args, **kwargs)
                finally:
                    dispatched[0] += time.perf_counter() - t0

            self._set(parallel, name, counted)
        self._set(planner, "run_layer", self._account(lambda a: f"layer {type(a[0].layer).__name__}", planner.run_layer))
        for cls in _op_classes():
            for name in ("backward", "backward_sum"):
                if name in cls.__dict__:
                    self._set(cls, name, self._account(lambda a, k=f"op {cls.__name__}.{name}": k, cls.__dict__[name]))
        self._set(backprop, "_propagate", self._account(lambda a: "backward walk (all of it)", backprop._propagate))
        for name in ("ready", "finish"):
            self._set(optimizer_base.StreamedStep, name,
                      self._account(lambda a, k=f"optimizer {name}": k, optimizer_base.StreamedStep.__dict__[name]))

    def remove(self) -> None:
        for owner, name, plain in reversed(self._undo):
            setattr(owner, name, plain)
        self._undo = []

    def report(self, steps: int) -> None:
        print("calling thread alone, per kind (wall less the dispatches inside; dispatches run inline count "
              "as dispatched), per step")
        print(f"  {'':44}{'calls':>7}{'wall ms':>9}{'alone ms':>9}{'us/call':>9}")
        for key, (calls, wall, alone) in sorted(self.rows.items(), key=lambda kv: -kv[1][2]):
            print(f"  {key:44}{calls / steps:7.1f}{wall / steps * 1e3:9.2f}{alone / steps * 1e3:9.2f}"
                  f"{alone / calls * 1e6:9.1f}")


class _Joins:
    """The calling thread's waits in `kerasette.backend.pool`'s joins (``_Worker.join``, after
    its own chunk), per call site (the function that dispatched: outside the pool, `parallel`
    and the elementwise engine's `split_map`). Installed on the class, as `_Kinds`."""

    _SKIP = ("pool.py", "parallel.py")

    def __init__(self):
        self.rows = collections.defaultdict(lambda: [0, 0.0])  # site -> joins, seconds
        self._plain = None

    def install(self) -> None:
        rows, skip = self.rows, self._SKIP
        plain = self._plain = pool._Worker.join

        def join(worker):
            t0 = time.perf_counter()
            try:
                return plain(worker)
            finally:
                wait = time.perf_counter() - t0
                frame = sys._getframe(1)
                while frame is not None and (frame.f_code.co_filename.endswith(skip)
                                             or frame.f_code.co_name in ("split_map", "by_images")):
                    frame = frame.f_back
                row = rows[_site(frame) if frame is not None else "?"]
                row[0] += 1
                row[1] += wait

        pool._Worker.join = join

    def remove(self) -> None:
        if self._plain is not None:
            pool._Worker.join, self._plain = self._plain, None

    def report(self, steps: int, step: float) -> None:
        total = sum(wait for _, wait in self.rows.values())
        print(f"calling thread waiting in the pool's joins (after its own chunk), per step "
              f"(timed run: step {step * 1e3:.2f} ms): {total / steps * 1e3:.2f} ms")
        print(f"  {'call site':<44}{'joins':>7}{'wait ms':>9}{'us/join':>9}")
        for site, (joins, wait) in sorted(self.rows.items(), key=lambda kv: -kv[1][1]):
            print(f"  {site:<44}{joins / steps:7.1f}{wait / steps * 1e3:9.2f}{wait / joins * 1e6:9.1f}")


def _batch(case, model):
    rng = np.random.default_rng(0)
    x = rng.random((case.batch,) + model.input_shape[1:], dtype=np.float32)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, case.batch)]
    return x, y


def profile(case_name: str, steps: int, framework: bool = True, kinds: bool = False, joins: bool = False) -> None:
    case = CASES[case_name]
    model = build_model(case)
    x, y = _batch(case, model)
    for _ in range(5):
        model.train_on_batch(x, y)

    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    plain_step = (time.perf_counter() - start) / steps

    stats = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0])  # calls, wall, longest, sum
    wrapped, plain = _timed_dispatches(stats)
    _set_dispatchers(wrapped)
    try:
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        step = (time.perf_counter() - start) / steps
    finally:
        _set_dispatchers(plain)

    print(f"{case_name}: {parallel.num_threads()} thread(s), step {plain_step * 1e3:.2f} ms "
          f"(with the dispatch timers {step * 1e3:.2f} ms)")
    print(f"{'call site':<40}{'per step':>9}{'wall ms':>9}{'longest':>9}{'sum ms':>9}")
    inside = 0.0
    for site, (calls, wall, longest, total) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
        inside += wall
        summed = "-" if total != total else f"{total / steps * 1e3:.2f}"
        print(f"{site:<40}{calls / steps:9.1f}{wall / steps * 1e3:9.2f}{longest / steps * 1e3:9.2f}{summed:>9}")
    print(f"{'outside dispatches':<40}{'':9}{(step - inside / steps) * 1e3:9.2f}")
    if joins:
        _joins(model, x, y, steps)
    if not framework:
        return

    timers = _Framework()
    timers.install()
    try:
        for _ in range(2):
            model.train_on_batch(x, y)
        timers.reset()
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        step = (time.perf_counter() - start) / steps
    finally:
        timers.remove()
    print(f"framework, per step (timed run: step {step * 1e3:.2f} ms)")
    for name, value in timers.rows(steps, step):
        print(f"  {name:<52}{value * 1e3:9.2f} ms")
    if not kinds:
        return

    table = _Kinds()
    table.install()
    try:
        for _ in range(2):
            model.train_on_batch(x, y)
        table.rows.clear()
        for _ in range(steps):
            model.train_on_batch(x, y)
    finally:
        table.remove()
    table.report(steps)


def _joins(model, x, y, steps: int) -> None:
    waits = _Joins()
    waits.install()
    try:
        for _ in range(2):
            model.train_on_batch(x, y)
        waits.rows.clear()
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        step = (time.perf_counter() - start) / steps
    finally:
        waits.remove()
    waits.report(steps, step)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(c for c in CASES if CASES[c].train), default="cifar32")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--no-framework", action="store_true", help="only the dispatch table")
    parser.add_argument("--kinds", action="store_true",
                        help="also the calling thread's time alone per layer class, op class, walk and optimizer call")
    parser.add_argument("--joins", action="store_true",
                        help="also the calling thread's waits for the pool's workers, per call site")
    parser.add_argument("--avx2", action="store_true",
                        help="AVX2 code on an AVX-512 machine (bench.py's setting: its own numba cache)")
    args = parser.parse_args(argv)
    if args.avx2 and os.environ.get("NUMBA_CPU_NAME") != "haswell":
        # numba reads its target when it is imported: run again in bench.py's AVX2 environment
        from bench import avx2_env  # deferred: only for --avx2

        rest = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--avx2"]
        sys.exit(subprocess.run([sys.executable, __file__, *rest], env=avx2_env()).returncode)
    print(f"kernels compiled for: {simd.VECTOR_BYTES}-byte vectors")
    profile(args.case, args.steps, not args.no_framework, args.kinds, args.joins)


if __name__ == "__main__":
    main()
