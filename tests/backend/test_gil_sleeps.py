"""tests/benchmarks/gil_sleeps.py's reading of ``perf script``: which thread slept, and what it
left (a numba kernel named by its wrapper's address, the pool's own wait, a lock), counted only
in the timed steps."""

from __future__ import annotations

import collections

from tests.benchmarks import gil_sleeps

INFO = {"start": 100.0, "end": 200.0, "steps": 2, "caller": 11, "workers": [12],
        "kernels": [[0x7000, "spin.publish_and_watch"], [0x9000, "winograd.conv_chunk"]]}


def _switch(tid: int, when: float, state: str, frames: list[str]) -> str:
    head = (f" {tid} {when:.6f}: sched:sched_switch: prev_comm=python prev_pid={tid} prev_prio=89 "
            f"prev_state={state} ==> next_comm=x next_pid=1 next_prio=120")
    return "\n".join([head, *(f"\t{line}" for line in frames)])


GIL = ["ffffffff8224a1b3 __schedule", "7f00000010 __futex_abstimed_wait_common", "7f00000020 take_gil",
       "7f00000030 PyEval_RestoreThread"]


def test_sleeps_are_named_by_the_kernel_left_and_counted_in_the_timed_steps_only():
    script = "\n\n".join([
        _switch(11, 150.0, "S", [*GIL, "9040 [unknown]", "7f00000040 _PyEval_EvalFrameDefault"]),
        _switch(12, 150.5, "S", [*GIL, "7010 [unknown]"]),
        _switch(12, 151.0, "S", [*GIL, "7f00000050 ufunc_generic_fastcall+0x1c"]),
        _switch(12, 152.0, "S", ["7f00000060 __new_sem_wait_slow64 (inlined)", "7f00000070 PyThread_acquire_lock_timed"]),
        _switch(12, 153.0, "S", [*GIL, "20000 [unknown]"]),  # JIT code outside every wrapper
        _switch(11, 99.0, "S", [*GIL, "9040 [unknown]"]),  # before the timed steps
        _switch(11, 160.0, "R", [*GIL, "9040 [unknown]"]),  # preempted, not a sleep
        _switch(13, 160.0, "S", [*GIL, "9040 [unknown]"]),  # not a pool thread
    ])
    counts = collections.Counter(gil_sleeps.read_switches(script, INFO))
    assert counts == {("caller", "GIL after winograd.conv_chunk"): 1,
                      ("worker 1", "GIL after spin.publish_and_watch"): 1,
                      ("worker 1", "GIL after ufunc_generic_fastcall"): 1,
                      ("worker 1", "semaphore or lock"): 1,
                      ("worker 1", "GIL after JIT code"): 1}
