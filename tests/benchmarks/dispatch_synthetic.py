"""The pool's hand-off on its own: `parallel.map_prepared` of two threads running a busy kernel
of a set length, per dispatch: the time beyond the chunk and the threads' voluntary switches.

A script, not a test: ``python tests/benchmarks/dispatch_synthetic.py`` under ``chrt -f 10``.
The pool is kept spinning (its contention check off), so that what is left is the protocol.

A voluntary switch here is a thread that slept, nearly always on the GIL: a thread leaving a
kernel takes the GIL back, and if the other thread holds it at that moment (its Python between
two calls, or after its chunk) it sleeps, and waking it costs tens of microseconds on a 2-core
VM. The rows show how that depends on the chunk's shape: the number of calls in a chunk (each
call's end is one more moment at which both threads may want the GIL), and how close together
the two threads finish (``--worker-scale 0.97``: the worker's chunk 3% shorter, so that it has
finished, and let the GIL go, well before the caller's kernel ends).
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

import numba  # noqa: E402
import numpy as np  # noqa: E402

from kerasette.backend import parallel  # noqa: E402

SHAPES = {"1 call of 100 us": (100,), "1 call of 300 us": (300,), "1 call of 660 us": (660,),
          "2 calls, 660 us": (340, 320), "5 calls, 660 us (a backward chunk)": (40, 300, 300, 10, 10)}


@numba.njit(nogil=True)
def _busy(turns, a0, a1, a2, a3, a4, a5):
    """Spins ``turns`` turns (six array arguments: a kernel's dispatch)."""
    total = 0.0
    for i in range(turns):
        total += i * 1e-9
    return total


def _switches(tid: int | None = None) -> int:
    """Voluntary context switches so far of this thread, or of thread ``tid``."""
    if tid is None:
        return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
    with open(f"/proc/self/task/{tid}/status") as status:
        return int(status.read().split("\nvoluntary_ctxt_switches:")[1].split()[0])


def measure(lengths, worker_scale: float, rate: float, worker: int, dispatches: int) -> tuple[float, float, float]:
    """(us per dispatch, caller's switches per dispatch, worker's) for chunks of ``lengths`` us."""
    arrays = [np.zeros(16) for _ in range(6)]

    def prepare(k, start, stop):
        scale = worker_scale if k else 1.0
        return tuple(functools.partial(_busy, int(us * rate * scale), *arrays) for us in lengths)

    for _ in range(20):
        parallel.map_prepared(prepare, 2)
    caller, helper, start = _switches(), _switches(worker), time.perf_counter()
    for _ in range(dispatches):
        parallel.map_prepared(prepare, 2)
    seconds = (time.perf_counter() - start) / dispatches
    return seconds * 1e6, (_switches() - caller) / dispatches, (_switches(worker) - helper) / dispatches


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker-scale", type=float, nargs="+", default=[1.0, 0.97])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--dispatches", type=int, default=300)
    args = parser.parse_args(argv)
    arrays = [np.zeros(16) for _ in range(6)]
    _busy(10, *arrays)
    start = time.perf_counter()
    _busy(10_000_000, *arrays)
    rate = 10_000_000 / ((time.perf_counter() - start) * 1e6)  # turns per microsecond
    parallel.set_num_threads(2)
    parallel.map_prepared(lambda k, i, j: functools.partial(_busy, 10, *arrays), 2)
    pool = parallel._pool()
    pool.contention, (pool.spins, pool.ack_spins) = None, pool._budgets  # keep spinning
    worker = pool.workers[0].tid
    print(f"{'chunk (caller)':<38}{'worker x':>9}{'us':>9}{'beyond':>9}{'caller sw':>10}{'worker sw':>10}")
    for name, lengths in SHAPES.items():
        rows = {scale: [] for scale in args.worker_scale}
        for _ in range(args.rounds):
            for scale in rows:
                rows[scale].append(measure(lengths, scale, rate, worker, args.dispatches))
        for scale, runs in rows.items():
            us, caller, helper = (statistics.median(column) for column in zip(*runs))
            print(f"{name:<38}{scale:9.2f}{us:9.1f}{us - sum(lengths):9.1f}{caller:10.2f}{helper:10.2f}")


if __name__ == "__main__":
    main()
