"""Measure numpy float32 matmul throughput (GFLOP/s) and print it as JSON.

Plain numpy only. ``--threads N`` sets the BLAS/OpenMP thread env vars before
numpy is imported; without it the BLAS library's default is used.

Example::

    python tests/benchmarks/matmul_rate.py --size 2048 --repeats 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

THREAD_ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="square matrix size n")
    parser.add_argument("--repeats", type=int, default=10, help="timed matmuls")
    parser.add_argument("--warmup", type=int, default=2, help="untimed matmuls first")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (env vars)")
    return parser.parse_args(argv)


def blas_name() -> str:
    """Return a best-effort name and version of the BLAS numpy was built against."""
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '?')}"
    except (TypeError, KeyError, AttributeError):  # older numpy: no mode="dicts"
        return "unknown"


def measure(size: int, repeats: int, warmup: int) -> dict[str, object]:
    """Time ``a @ b`` for two random ``size x size`` float32 matrices."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), dtype=np.float32)
    for _ in range(warmup):
        np.matmul(a, b, out=out)
    times: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t0)
    flops = 2.0 * size**3
    median = statistics.median(times)
    return {
        "benchmark": "numpy_matmul_fp32",
        "n": size,
        "repeats": repeats,
        "gflops_median": round(flops / median / 1e9, 2),
        "gflops_best": round(flops / min(times) / 1e9, 2),
        "ms_median": round(median * 1e3, 3),
        "threads_env": {k: os.environ.get(k) for k in THREAD_ENV_VARS},
        "numpy_version": np.__version__,
        "blas": blas_name(),
    }


def main(argv: list[str] | None = None) -> None:
    """Entry point: print one JSON line with the matmul rate."""
    args = parse_args(argv)
    if args.size < 1 or args.repeats < 1 or args.warmup < 0:
        raise SystemExit("--size and --repeats must be >= 1, --warmup >= 0")
    if args.threads is not None:
        for var in THREAD_ENV_VARS:
            os.environ[var] = str(args.threads)
    print(json.dumps(measure(args.size, args.repeats, args.warmup)), flush=True)


if __name__ == "__main__":
    main()
