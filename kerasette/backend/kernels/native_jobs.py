"""Native jobs: a memory-bound pass shared with the pool's spinning workers without their Python.

A pool hand-off (`kerasette.backend.pool`) gives a worker a Python callable: the worker, spinning
in native code, sees the task, takes the GIL, runs its Python into its kernel (a dispatch of a
dozen arguments, with the caches of its core cold after the last pass), and when the kernel
returns takes the GIL again to say it finished. The calling thread waits for both ends (its
settle, its join), and the two threads' GIL hand-overs around one 8 MB map cost 20-30 us of the
call's 350.

A native job skips that: the calling thread, in one kernel call, writes a C function's address
and its arguments into each worker's slot (`spin.JOB` ...), and a worker spinning in
`spin.publish_and_watch` (``serve``) calls the function where it is, in native code, then says
``DONE``; the calling thread runs the same function as thread 0, then takes back a job that no
worker has taken (``POSTED`` -> ``IDLE``, atomically: that worker never touches the arrays) or
waits, spinning, for it to be done. Nothing in it needs the GIL, so neither thread waits for it.

A job is a C function ``job(data, arguments, me)`` (`_jit.CFunction`, one per element type):
``data`` a typed pointer (the element type), ``arguments`` the address of an int64 array of
addresses and sizes, ``me`` the thread's number (0 the calling thread). The threads share the
work among themselves (`pool._take_segment_toward`'s claims): a worker that takes the job late,
or never, leaves its part to the others. The arrays stay alive while the calling thread's kernel
runs, and it returns only when no worker is running the job.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from kerasette.backend.kernels._jit import inline
from kerasette.backend.kernels.spin import (
    DONE,
    IDLE,
    JOB,
    JOB_ARGUMENTS,
    JOB_DATA,
    JOB_FUNCTION,
    POSTED,
    _load_acquire,
    _pause,
    _store_release,
    call_job,
    compare_exchange,
)

_sched_yield = types.ExternalFunction("sched_yield", types.intc())


@intrinsic
def address_of(typingctx, array):
    """The address of ``array``'s first element as an int64."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.ptrtoint(data, ir.IntType(64))

    return types.int64(array), codegen


@intrinsic
def pointer_like(typingctx, address, like):
    """``address`` (int64) as a pointer of ``like``'s type (a typed pointer)."""
    if not isinstance(like, types.CPointer):
        return None

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return like(types.int64, like), codegen


@intrinsic
def int64_pointer(typingctx, address):
    """``address`` (int64) as a pointer to int64."""
    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return types.CPointer(types.int64)(types.int64), codegen


@intrinsic
def float64_pointer(typingctx, address):
    """``address`` (int64) as a pointer to float64."""
    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return types.CPointer(types.float64)(types.int64), codegen


def int64_array(address, size):
    """The ``size`` int64 values at ``address``."""
    return numba.carray(int64_pointer(address), size)


int64_array = inline(int64_array)


@inline
def run_job(slots, spins, function, data, arguments):
    """Posts ``function(data, arguments, me)`` to every worker slot (row ``k`` of ``slots``:
    worker ``k``, thread ``k + 1``), runs it here as thread 0, then takes back each job no worker
    has taken, or waits for the worker to be done with it (after ``spins`` turns, with
    `sched_yield`: the worker may be waiting for a core)."""
    workers = slots.shape[0]
    for k in range(workers):
        cells = slots[k]
        cells[JOB_FUNCTION] = function
        cells[JOB_DATA] = data
        cells[JOB_ARGUMENTS] = arguments
        _store_release(cells, JOB, POSTED)
    call_job(function, data, arguments, 0)
    for k in range(workers):
        cells = slots[k]
        if compare_exchange(cells, JOB, POSTED, IDLE):
            continue
        turn = 0
        while _load_acquire(cells, JOB) != DONE:
            turn += 1
            if turn > spins:
                _sched_yield()
            else:
                _pause()
