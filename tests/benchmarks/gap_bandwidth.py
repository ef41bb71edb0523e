"""Global average pooling against the machine's reading rate: how close the pass is to the
ceiling of a memory-bound reduction.

A script, not a test::

    python tests/benchmarks/gap_bandwidth.py [--repeats 300] [--rounds 3]

For the two shapes of the layers benchmark (32x32x32x64: 8 MB of float32; 8x112x112x64: 26 MB),
median ms of (the rows taking turns ``--rounds`` times, each after 0.2 s of calls back to back):

* ``sum 1T``, ``sum 2T``: the reference, a plain numba sum of the same bytes on one thread and
  in two contiguous halves on the pool's two threads (the ceiling, with GB/s);
* ``engine``: `engine.pooling.global_avgpool2d_forward` (the pass with its Python);
* ``layer``: the GlobalAveragePooling2D layer's call (what ``layers_bench.py`` times);
* ``backward``: `engine.pooling.global_avgpool2d_backward` (writes the same bytes).

Run it with ``NUMBA_CPU_NAME=haswell`` for AVX2 code.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's kerasette

import kerasette.layers as L  # noqa: E402
from kerasette.backend import parallel  # noqa: E402
from kerasette.backend.engine import pooling  # noqa: E402
from kerasette.backend.tensor import Variable, no_grad  # noqa: E402

SHAPES = [(32, 32, 32, 64), (8, 112, 112, 64)]


@numba.njit(nogil=True, fastmath=True)
def _sum(x):
    total = np.float32(0)
    for i in range(x.size):
        total += x[i]
    return total


def _median_ms(fn, repeats: int) -> float:
    end = time.perf_counter() + 0.2
    while time.perf_counter() < end:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def cases(shape, pool) -> dict:
    """The timed calls on one shape, by row name."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    flat, half = x.reshape(-1), x.size // 2
    layer, v = L.GlobalAveragePooling2D(), Variable(x)
    dy = np.ones((shape[0], shape[3]), np.float32)

    def call():
        with no_grad():
            layer(v, training=False)

    return {"sum 1T": lambda: _sum(flat),
            "sum 2T": lambda: pool.run([lambda: _sum(flat[half:])], lambda: _sum(flat[:half])),
            "engine": lambda: pooling.global_avgpool2d_forward(x),
            "layer": call,
            "backward": lambda: pooling.global_avgpool2d_backward(dy, shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    parallel.set_num_threads(2)
    pool = parallel._pool()
    rows = {}
    for _ in range(args.rounds):
        for shape in SHAPES:
            for name, fn in cases(shape, pool).items():
                rows.setdefault((shape, name), []).append(_median_ms(fn, args.repeats))
    print(f"median ms, {args.rounds} rounds x {args.repeats} calls; 2 threads")
    for (shape, name), times in rows.items():
        ms = statistics.median(times)
        rate = f"{4 * np.prod(shape) / ms / 1e6:6.1f} GB/s" if name.startswith("sum") or name == "engine" else ""
        print(f"{'x'.join(map(str, shape)):14} {name:9} {ms:7.3f}  {rate}   rounds: {' '.join(f'{t:.3f}' for t in times)}")


if __name__ == "__main__":
    main()
