"""Where a ResNet-20 prediction goes: the engine's passes by layer shape, and the Python around them.

A script, not a test::

    python tests/benchmarks/predict_breakdown.py [--calls 60] [--batch 32] [--avx2] [--no-residual-sums]

Builds `bench.py`'s ``resnet20_predict`` model (`kerasette_reference.build_model`), times
``model.predict(x, batch_size=batch)`` and, inside it, every call of the engine's convolution,
Add+ReLU and global average pooling passes (wall time in the calling thread, which includes the
other thread's half of each pass and the hand-offs), grouped by layer shape: the median time of
one pass and its total per prediction (a convolution that adds the residual sum in its output pass,
the planner's rewrite 3, is marked ``+ residual``). Then the prediction's median minus the passes:
the framework's Python (planner, layers, ops, the folds of the batch normalizations) and the small
layers (Dense, softmax), with the folds' own time (made, or kept after comparing their weights:
`kerasette.models.fold_cache`); and, per prediction, the pool's hand-offs, the calling thread's time
handing tasks over (which the settle of `kerasette.backend.pool` mostly is: the worker's Python
before its kernel) and the process's voluntary context switches (a thread that blocked: mostly one waiting for the GIL while the other runs
Python, each costing a wake-up of tens of microseconds on a virtual machine). ``--avx2``: AVX2 code
on an AVX-512 machine (`bench.py`'s environment). ``--no-residual-sums``: the planner without its
residual sums (the same tree's A/B of that rewrite). Run it under ``chrt -f 10`` on a shared machine.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, run as a script or not
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's kerasette
from cases import CASES  # noqa: E402
from kerasette_reference import build_model  # noqa: E402
from provenance import revision  # noqa: E402

from kerasette.backend import pool as backend_pool  # noqa: E402
from kerasette.backend.engine import conv as engine_conv  # noqa: E402
from kerasette.backend.engine import elementwise as engine_elementwise  # noqa: E402
from kerasette.backend.engine import pooling as engine_pooling  # noqa: E402
from kerasette.backend.kernels import simd  # noqa: E402
from kerasette.models import fold_cache, planner  # noqa: E402


def _conv_key(args, kwargs) -> str:
    x, w = args[0], args[1]
    strides = kwargs.get("strides", args[3] if len(args) > 3 else (1, 1))
    residual = " + residual" if kwargs.get("residual") is not None else ""
    return f"conv {x.shape[3]}->{w.shape[3]} {w.shape[0]}x{w.shape[1]} s{strides[0]}, {x.shape[1]}x{x.shape[2]}{residual}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=60, help="timed predictions (default 60)")
    parser.add_argument("--batch", type=int, default=32, help="images per prediction (default 32)")
    parser.add_argument("--no-residual-sums", action="store_true",
                        help="plan without the residual sums (Add into the convolution before it)")
    parser.add_argument("--avx2", action="store_true",
                        help="AVX2 code on an AVX-512 machine (bench.py's setting: its own numba cache)")
    args = parser.parse_args(argv)
    if args.avx2 and os.environ.get("NUMBA_CPU_NAME") != "haswell":
        # numba reads its target when it is imported: run again in bench.py's AVX2 environment
        from bench import avx2_env  # deferred: only for --avx2

        rest = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--avx2"]
        sys.exit(subprocess.run([sys.executable, __file__, *rest], env=avx2_env()).returncode)
    print(f"kernels compiled for: {simd.VECTOR_BYTES}-byte vectors; load {os.getloadavg()[0]:.2f}"
          f"{'; without residual sums' if args.no_residual_sums else ''}")
    if args.no_residual_sums:
        planner._plan_residuals = lambda steps, outputs: None
    case = CASES["resnet20_predict"]
    model = build_model(case)
    x = np.random.default_rng(0).random((args.batch, case.height, case.width, case.channels), dtype=np.float32)
    times = collections.defaultdict(list)

    def timed(module, name, key):
        fn = getattr(module, name)

        def wrapper(*a, **k):
            start = time.perf_counter()
            out = fn(*a, **k)
            times[key(a, k)].append(time.perf_counter() - start)
            return out

        setattr(module, name, wrapper)

    timed(engine_conv, "conv2d_forward", _conv_key)
    timed(engine_elementwise, "add_relu", lambda a, k: f"Add+ReLU, {a[0].shape[1]}x{a[0].shape[2]}x{a[0].shape[3]}")
    timed(engine_pooling, "global_avgpool2d_forward", lambda a, k: "GlobalAveragePooling2D")
    rest = collections.defaultdict(list)  # parts of the rest, timed on their own

    def timed_rest(owner, name, key):
        fn = getattr(owner, name)

        def wrapper(*a, **k):
            start = time.perf_counter()
            out = fn(*a, **k)
            rest[key].append(time.perf_counter() - start)
            return out

        setattr(owner, name, wrapper)

    timed_rest(fold_cache.FoldsAhead, "contexts", "folds made ahead (or kept: their weights compared)")
    handoffs = [0]
    pool_run = backend_pool.Pool.run

    def counted_run(self, *a, **k):
        handoffs[0] += 1
        return pool_run(self, *a, **k)

    backend_pool.Pool.run = counted_run
    submits = []  # the caller's time handing a task over: publish, the worker's take, the settle
    submit = backend_pool._Worker.submit

    def timed_submit(self, *a, **k):
        start = time.perf_counter()
        submit(self, *a, **k)
        submits.append(time.perf_counter() - start)

    backend_pool._Worker.submit = timed_submit
    for _ in range(5):
        model.predict(x, batch_size=args.batch)
    times.clear()
    rest.clear()
    submits.clear()
    handoffs[0] = 0
    calls = []
    usage = resource.getrusage(resource.RUSAGE_SELF)
    switches, faults = usage.ru_nvcsw, usage.ru_minflt
    for _ in range(args.calls):
        start = time.perf_counter()
        model.predict(x, batch_size=args.batch)
        calls.append(time.perf_counter() - start)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    switches, faults = usage.ru_nvcsw - switches, usage.ru_minflt - faults
    median = float(np.median(calls)) * 1e3
    print(f"ResNet-20 predict, batch {args.batch}, {args.calls} calls, kerasette {revision()}: "
          f"median {median:.2f} ms a prediction")
    print(f"{'pass':36s} {'per call':>8s} {'each ms':>8s} {'ms/pred':>8s}")
    total = 0.0
    for key in sorted(times):
        per_call = len(times[key]) // args.calls
        each = float(np.median(times[key])) * 1e3
        total += each * per_call
        print(f"{key:36s} {per_call:8d} {each:8.3f} {each * per_call:8.3f}")
    print(f"{'passes':36s} {'':8s} {'':8s} {total:8.3f}")
    print(f"{'the rest (Python, Dense, softmax)':36s} {'':8s} {'':8s} {median - total:8.3f}")
    for key, values in rest.items():
        print(f"  of which {key}: {float(np.median(values)) * 1e3:.3f} ms ({len(values) // args.calls} per prediction)")
    print(f"per prediction: {handoffs[0] / args.calls:.1f} pool hand-offs, {switches / args.calls:.1f} voluntary "
          f"context switches (threads that blocked: GIL waits, sleeps), {faults / args.calls:.1f} minor page faults "
          "(fresh memory: the kernel zeroes each page a thread first touches)")
    if submits:
        each = float(np.median(submits)) * 1e6
        print(f"handing a task over (publish, the worker's take, the settle before the caller takes the GIL back): "
              f"median {each:.1f} us, {each * len(submits) / args.calls / 1e3:.3f} ms a prediction")


if __name__ == "__main__":
    main()
