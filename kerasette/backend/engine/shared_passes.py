"""What the passes whose threads share their pieces out in one kernel call have in common.

Batch normalization's passes on rows (`engine.normalization`, `engine.normalization_training`,
`engine.normalization_inference`) and global average pooling's ordered kernel
(`engine.pooling`) call kernels that claim their pieces themselves and leave in an order
(`kernels.normalization_inference_passes._leave`): how long the threads wait for each other as they leave,
in the CPU's ticks (`leave_ticks`), and how far apart the threads' rows of scratch are kept.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from kerasette.backend.kernels import normalization_passes as _passes

#: Values of padding after each piece's row of scratch and of totals (at least 128 bytes: two
#: cache lines, which the adjacent-line prefetcher fetches together), so that two threads summing
#: neighbouring pieces do not write to one cache line (the rows kernel writes its scratch at every
#: row): unpadded, the statistics at 32x32x32x16 took 296 us on two threads, 199 on one.
PAD = 32
#: Microseconds a pool thread that finished its part of a shared map waits at most for the calling
#: thread to leave the kernel, and then waits more (`kernels.normalization_inference_passes._leave`).
LEAVE_WAIT_US, LEAVE_GRACE_US = 2000, 20
#: Microseconds the calling thread waits in training's passes after the last pool thread left
#: (`kernels.normalization_passes._leave_first`: its way into the pool's wait; 10 slower, 30 no better).
WORKERS_GRACE_US = 20


@functools.lru_cache(maxsize=4)
def leave_ticks(grace_us: float = 0.0) -> tuple[int, int]:
    """`kernels.normalization_inference_passes._leave`'s times in the CPU's ticks: up to `LEAVE_WAIT_US`
    for the calling thread to leave, then until ``grace_us`` (default `LEAVE_GRACE_US`) after
    (the ticks' rate timed once, over a millisecond). Global average pooling's ordered kernel
    (`kernels.global_pool`) takes its times from here too."""
    grace_us = grace_us or LEAVE_GRACE_US
    ticks = np.zeros(1, np.int64)
    _passes.read_ticks(ticks)  # compiled
    start, first = time.perf_counter(), int(ticks[0])
    while time.perf_counter() - start < 1e-3:
        pass
    _passes.read_ticks(ticks)
    per_us = (int(ticks[0]) - first) / ((time.perf_counter() - start) * 1e6)
    return int(LEAVE_WAIT_US * per_us), int(grace_us * per_us)
