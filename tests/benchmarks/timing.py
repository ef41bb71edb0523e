"""How the benchmark scripts time one call (stdlib only, so PyTorch's side can import it too)."""

from __future__ import annotations

import statistics
import time


def samples(fn, repeats: int, scale: float = 1e3) -> list[float]:
    """``repeats`` timings of ``fn()`` (seconds times ``scale``: ms by default), after two calls
    that compile kernels and fill caches."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(scale * (time.perf_counter() - start))
    return times


def median_ms(fn, repeats: int) -> float:
    """The median of `samples` in ms."""
    return statistics.median(samples(fn, repeats))
