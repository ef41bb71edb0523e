"""Runs every benchmark case in kerasette and in PyTorch, alternating, and prints a table.

PyTorch lives in a separate environment (never a kerasette dependency)::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    python tests/benchmarks/bench.py --torch-python /tmp/torchenv/bin/python --repeats 3

Each figure is the median over ``--repeats`` runs; runs alternate kerasette, PyTorch, kerasette,
... so that drift in the machine's speed hits both alike. Ratios are kerasette / PyTorch for
throughput and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: the throughput ratios kerasette aims at (issue "Performance, second step")
TARGETS = {"vgg100_cl": 2.0, "vgg100_cf": 2.0, "cifar32": 2.0, "mnist28": 2.0, "predict100": 2.0,
           "vgg100_cl_fn": 2.0, "vgg100_cf_fn": 2.0, "resnet20": 1.5, "resnet20_predict": 2.0}


def run_json(cmd: list[str], env: dict | None = None) -> dict:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def wall(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def compare(case: str, torch_python: str, repeats: int, env: dict | None = None) -> dict:
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(run_json([sys.executable, str(HERE / "kerasette_reference.py"), "--case", case], env))
        theirs.append(run_json([torch_python, str(HERE / "torch_reference.py"), "--case", case], env))

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    return {"case": case, "kerasette": med(ours, "samples_per_s"), "torch": med(theirs, "samples_per_s"),
            "kerasette_rss": med(ours, "peak_rss_mb"), "torch_rss": med(theirs, "peak_rss_mb")}


def startup(repeats: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    imports = [wall([sys.executable, "-c", "import kerasette"], env) for _ in range(repeats)]
    check = ("import sys, kerasette; import kerasette.backend, kerasette.layers, kerasette.models; "
             "print('numba' in sys.modules)")
    numba_at_import = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                                     env=env, cwd=ROOT).stdout.strip()
    first_batch = [sys.executable, str(HERE / "kerasette_reference.py"), "--case", "vgg100_cl", "--first-batch"]
    first = [wall(first_batch, env) for _ in range(repeats)]
    cold = []
    for _ in range(repeats):  # an empty numba cache each time: the first run on a new machine
        with tempfile.TemporaryDirectory() as cache:
            cold.append(wall(first_batch, dict(env, NUMBA_CACHE_DIR=cache)))
    return {"import_s": statistics.median(imports), "numba_imported_by_import": numba_at_import,
            "first_batch_s": statistics.median(first), "cold_first_batch_s": statistics.median(cold)}


def instruction_set(env: dict | None = None) -> str:
    """The CPU numba compiles kerasette's kernels for and the vector width they use."""
    code = ("import numba; from kerasette.backend.kernels import simd; "
            "name = numba.config.CPU_NAME or 'host'; "
            "print(name, {64: 'AVX-512', 32: 'AVX2', 16: 'SSE'}[simd.VECTOR_BYTES], simd.VECTOR_BYTES, 'byte vectors')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=env).stdout.strip()


def avx2_env() -> dict:
    """The environment that makes both sides run AVX2 code on an AVX-512 machine: numba compiles
    for Haswell with every AVX-512 feature off (its own cache folder), PyTorch dispatches to its
    AVX2 kernels."""
    import llvmlite.binding as ll

    host = ll.get_host_cpu_features()
    features = ",".join(("-" if name.startswith("avx512") else ("+" if on else "-")) + name
                        for name, on in sorted(host.items()))
    cache = Path(tempfile.gettempdir()) / "kerasette-numba-avx2"
    return dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES=features,
                NUMBA_CACHE_DIR=str(cache), ATEN_CPU_CAPABILITY="avx2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", required=True, help="python of an environment with torch==2.13.0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=list(TARGETS))
    parser.add_argument("--avx2", action="store_true", help="both sides on AVX2 code (on an AVX-512 machine)")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up timings")
    args = parser.parse_args()
    env = avx2_env() if args.avx2 else None
    rate = run_json([sys.executable, str(HERE / "matmul_rate.py")])
    print(f"numpy fp32 2048x2048 matmul: {rate['gflops_median']:.1f} GFLOP/s; kernels compiled for: "
          f"{instruction_set(env)}" + ("" if args.avx2 else " (--avx2: both sides on AVX2 code)"))
    print(f"{'case':<17}{'kerasette/s':>13}{'torch/s':>10}{'ratio':>8}{'target':>8}"
          f"{'RSS MB k':>10}{'RSS MB t':>10}{'RSS ratio':>10}")
    for case in args.cases:
        r = compare(case, args.torch_python, args.repeats, env)
        print(f"{case:<17}{r['kerasette']:>13.1f}{r['torch']:>10.1f}{r['kerasette'] / r['torch']:>8.2f}"
              f"{TARGETS[case]:>8.1f}{r['kerasette_rss']:>10.0f}{r['torch_rss']:>10.0f}"
              f"{r['kerasette_rss'] / r['torch_rss']:>10.2f}", flush=True)
    if args.no_startup:
        return
    s = startup(args.repeats)
    print(f"import kerasette: {s['import_s']:.2f} s (numba imported: {s['numba_imported_by_import']}); "
          f"start to end of first batch (warm cache): {s['first_batch_s']:.2f} s")
    print(f"the same with an empty kernel cache: {s['cold_first_batch_s']:.2f} s "
          f"(compilation: about {s['cold_first_batch_s'] - s['first_batch_s']:.1f} s)")
    print("per-layer breakdown: python tests/benchmarks/conv_layers.py")


if __name__ == "__main__":
    main()
