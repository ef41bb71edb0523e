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
            "kerasette_rss": med(ours, "peak_rss_mb"), "torch_rss": med(theirs, "peak_rss_mb"),
            "kerasette_rss_runs": [r["peak_rss_mb"] for r in ours], "torch_rss_runs": [r["peak_rss_mb"] for r in theirs]}


#: Run in a fresh process per case (``--memory``): kerasette's resident memory at each stage of
#: the benchmark, from /proc/self/status (Linux). ``VmHWM`` is reset (``clear_refs``) before the
#: later steps, so that their peak is the steady state's, apart from the first step's (which
#: also loads the kernels).
_MEMORY_STAGES = """
import json, sys
sys.path.insert(0, {here!r})
def status():
    fields = {{}}
    for line in open("/proc/self/status"):
        key, value = line.split(":", 1)
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            fields[key] = int(value.split()[0]) / 1024
    return fields
start = status()
import numpy as np
import kerasette_reference as ref
from cases import CASES, NUM_CLASSES
from kerasette.backend import kernels  # noqa: F401 - what a first batch imports anyway
import numba  # noqa: F401
imported = status()
case = CASES[{case!r}]
model = ref.build_model(case)
built = status()
rng = np.random.default_rng(0)
x = rng.random((case.batch,) + model.input_shape[1:], dtype=np.float32)
y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, case.batch)]
step = (lambda: model.train_on_batch(x, y)) if case.train else (lambda: model.predict(x, batch_size=case.batch))
step()
first = status()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
for _ in range(5):
    step()
later = status()
weights = sum(w.data.nbytes for w in model.weights) / 2**20
print(json.dumps({{"start": start["VmRSS"], "imported": imported["VmRSS"], "built": built["VmRSS"],
                  "first_peak": first["VmHWM"], "later_peak": later["VmHWM"], "file": later["RssFile"],
                  "weights": weights}}))
"""


def memory_stages(case: str, env: dict | None = None) -> dict:
    """kerasette's resident memory (MB) at each stage of ``case`` (see `_MEMORY_STAGES`)."""
    return run_json([sys.executable, "-c", _MEMORY_STAGES.format(here=str(HERE), case=case)], env)


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
    """The environment that makes both sides run AVX2 code on an AVX-512 machine, as on a CPU
    without AVX-512: numba compiles for Haswell with every AVX-512 feature off (its own cache
    folder); the BLAS libraries both sides call keep to their AVX2 kernels (numpy's OpenBLAS:
    ``OPENBLAS_CORETYPE``; PyTorch's MKL: ``MKL_ENABLE_INSTRUCTIONS``); PyTorch dispatches to its
    AVX2 kernels (``ATEN_CPU_CAPABILITY``) and oneDNN, which does its convolutions and ignores
    ATen's setting, generates AVX2 code (``ONEDNN_MAX_CPU_ISA``). Until 2026-12-07 the last three
    were missing: PyTorch's convolutions and numpy's products ran AVX-512 code in the AVX2
    columns (`torch_isa` prints what oneDNN uses)."""
    import llvmlite.binding as ll

    host = ll.get_host_cpu_features()
    features = ",".join(("-" if name.startswith("avx512") else ("+" if on else "-")) + name
                        for name, on in sorted(host.items()))
    cache = Path(tempfile.gettempdir()) / "kerasette-numba-avx2"
    return dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES=features,
                NUMBA_CACHE_DIR=str(cache), ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2",
                MKL_ENABLE_INSTRUCTIONS="AVX2", OPENBLAS_CORETYPE="Haswell")


#: A PyTorch convolution's forward and backward, for oneDNN's verbose log of its kernels.
_TORCH_CONV = ("import torch; c = torch.nn.Conv2d(16, 16, 3, padding=1); "
               "c(torch.randn(2, 16, 16, 16)).sum().backward(); "
               "print('ATen', torch.backends.cpu.get_cpu_capability())")


def torch_isa(torch_python: str, env: dict | None = None) -> str:
    """The instruction sets PyTorch's convolutions run in ``env``: ATen's capability and the
    oneDNN kernels (``jit:avx512_core``, ``jit:avx2``, ...) its verbose log names."""
    out = subprocess.run([torch_python, "-c", _TORCH_CONV], capture_output=True, text=True, cwd=ROOT,
                         env=dict(env if env is not None else os.environ, ONEDNN_VERBOSE="1")).stdout
    aten = next((line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("ATen ")), "?")
    kernels = sorted({word for line in out.splitlines() if "convolution" in line
                      for word in line.split(",") if word.startswith("jit:") and word != "jit:uni"})
    return f"ATen {aten}, oneDNN convolutions {' '.join(kernels) or '?'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", required=True, help="python of an environment with torch==2.13.0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=list(TARGETS))
    parser.add_argument("--avx2", action="store_true", help="both sides on AVX2 code (on an AVX-512 machine)")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up timings")
    parser.add_argument("--memory", action="store_true",
                        help="also where kerasette's peak memory goes, per training case (Linux)")
    args = parser.parse_args()
    env = avx2_env() if args.avx2 else None
    rate = run_json([sys.executable, str(HERE / "matmul_rate.py")], env)
    print(f"numpy fp32 2048x2048 matmul: {rate['gflops_median']:.1f} GFLOP/s; kernels compiled for: "
          f"{instruction_set(env)}" + ("" if args.avx2 else " (--avx2: both sides on AVX2 code)"))
    print(f"PyTorch: {torch_isa(args.torch_python, env)}")
    print(f"{'case':<17}{'kerasette/s':>13}{'torch/s':>10}{'ratio':>8}{'target':>8}"
          f"{'RSS MB k':>10}{'RSS MB t':>10}{'RSS ratio':>10}")
    rows = []
    for case in args.cases:
        r = compare(case, args.torch_python, args.repeats, env)
        rows.append(r)
        print(f"{case:<17}{r['kerasette']:>13.1f}{r['torch']:>10.1f}{r['kerasette'] / r['torch']:>8.2f}"
              f"{TARGETS[case]:>8.1f}{r['kerasette_rss']:>10.0f}{r['torch_rss']:>10.0f}"
              f"{r['kerasette_rss'] / r['torch_rss']:>10.2f}", flush=True)
    # peak RSS varies from run to run (where malloc places a step's arrays): every run's figure
    print("peak RSS of each run, MB (kerasette | PyTorch), target ratio <= 0.6:")
    for r in rows:
        print(f"  {r['case']:<17}" + " ".join(f"{v:.0f}" for v in r["kerasette_rss_runs"]) + " | "
              + " ".join(f"{v:.0f}" for v in r["torch_rss_runs"]), flush=True)
    if args.memory:
        print("kerasette memory by stage, MB (imported: python + numpy + numba + kernel modules; built: + model; "
              "first: peak of the first batch, which loads the kernels; later: peak of the next 5; "
              "file: shared libraries' pages at the end):")
        print(f"  {'case':<17}{'start':>7}{'imported':>9}{'built':>7}{'weights':>8}{'first':>7}{'later':>7}{'file':>6}")
        for case in args.cases:
            m = memory_stages(case, env)
            print(f"  {case:<17}{m['start']:>7.0f}{m['imported']:>9.0f}{m['built']:>7.0f}{m['weights']:>8.0f}"
                  f"{m['first_peak']:>7.0f}{m['later_peak']:>7.0f}{m['file']:>6.0f}", flush=True)
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
