"""The thread pool's waiting without the GIL: a thread watches a word of memory in a loop.

A thread of `kerasette.backend.pool` that waits for work, or for a worker to finish, first spins
here for a while, in native code that holds no GIL, before it goes to sleep: a word written by
another thread is then seen within a fraction of a microsecond, where waking a sleeping thread
took 50-70 us on a 2-core virtual machine whose idle cores halt (the cost of each of a
convolution's or a batch normalization's two hand-offs, start and join). OpenMP's threads
(PyTorch's) wait the same way.

The words are the int64 cells of a small numpy array. The loads here are atomic with acquire
ordering and the stores atomic with release ordering, so that the compiler reloads the word on
every turn and a value seen is never older than the writes made before it; Python's own writes
to the same cells (``slot[i] = v`` under the GIL) are plain stores, which x86 and ARM make
visible in order.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from kerasette.backend.kernels._jit import kernel

#: x86's ``pause``: a spinning core tells the CPU it waits (less power, and a hyperthread
#: sibling runs faster); other machines spin on the load alone.
_PAUSE = "llvm.x86.sse2.pause" if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686") else None


def _cell_pointer(context, builder, array_type, array, index):
    array = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, array, [index])


@intrinsic
def _load_acquire(typingctx, cells, index):
    """``cells[index]``, loaded atomically (acquire): read anew on every call."""
    signature = types.int64(cells, index)

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_cell_pointer(context, builder, sig.args[0], *args), "acquire", 8)

    return signature, codegen


@intrinsic
def _store_release(typingctx, cells, index, value):
    """``cells[index] = value``, stored atomically (release)."""
    signature = types.void(cells, index, value)

    def codegen(context, builder, sig, args):
        builder.store_atomic(args[2], _cell_pointer(context, builder, sig.args[0], args[0], args[1]), "release", 8)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def fetch_add(typingctx, cells, index, value):
    """``cells[index] += value`` atomically; returns the value before. Threads running the same
    kernel take pieces of work with it: ``first = fetch_add(counter, 0, n)`` until ``first``
    passes the end."""
    signature = types.int64(cells, index, value)

    def codegen(context, builder, sig, args):
        pointer = _cell_pointer(context, builder, sig.args[0], args[0], args[1])
        amount = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", pointer, amount, "monotonic")

    return signature, codegen


@intrinsic
def _pause(typingctx):
    """One ``pause`` instruction (nothing where the machine has none)."""
    signature = types.void()

    def codegen(context, builder, sig, args):
        if _PAUSE is not None:
            builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []), _PAUSE), [])
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def compare_exchange(typingctx, cells, index, expected, new):
    """``cells[index] = new`` if it holds ``expected``, atomically; True when it did."""
    signature = types.boolean(cells, index, expected, new)

    def codegen(context, builder, sig, args):
        pointer = _cell_pointer(context, builder, sig.args[0], args[0], args[1])
        expected_, new_ = (context.cast(builder, v, t, types.int64) for v, t in zip(args[2:], sig.args[2:]))
        result = builder.cmpxchg(pointer, expected_, new_, "acq_rel", "monotonic")
        return builder.extract_value(result, 1)

    return signature, codegen


@intrinsic
def call_job(typingctx, function, data, arguments, me):
    """Calls the C function at address ``function`` as ``function(data, arguments, me)`` (three
    64-bit words: two addresses and a thread number; `native_jobs`)."""
    signature = types.void(types.int64, types.int64, types.int64, types.int64)

    def codegen(context, builder, sig, args):
        word = ir.IntType(64)
        callee = builder.inttoptr(args[0], ir.FunctionType(ir.VoidType(), [word, word, word]).as_pointer())
        builder.call(callee, list(args[1:]))
        return context.get_dummy_value()

    return signature, codegen


#: A worker slot's cells for a native job (`native_jobs`), after the pool's five: the job's state
#: (`IDLE`, `POSTED` by the caller, `TAKEN` and then `DONE` by the worker), the C function's
#: address and its two arguments.
JOB, JOB_FUNCTION, JOB_DATA, JOB_ARGUMENTS = 5, 6, 7, 8
IDLE, POSTED, TAKEN, DONE = 0, 1, 2, 3


@kernel
def publish_and_watch(cells, publish, value, watch, old, spins, settle, serve=0):
    """Stores ``value`` in ``cells[publish]`` (when ``publish >= 0``), then watches
    ``cells[watch]`` (once, then for up to ``spins`` turns more) (about 14 ns each on a 2.6 GHz x86) until it
    differs from ``old``; after a change it spins ``settle`` turns more. Returns the value seen
    (``old`` when the turns ran out).

    The store happens here, after the GIL is released, so that a thread waiting for it can take
    the GIL at once; ``settle`` gives the other thread the time to release the GIL in turn (to
    call its own kernel) before this one returns and takes it.

    ``serve`` (a pool worker's thread number, 1 or more; 0: none): while it watches, the thread
    also runs a native job posted in ``cells[JOB]`` (`native_jobs`) as thread ``serve``, without
    returning to Python, and its turns start again after it.

    ``cells``: a contiguous int64 array (`pool.SLOT_CELLS` of them when ``serve``).
    """
    if publish >= 0:
        _store_release(cells, publish, value)
    turn = 0
    while True:  # one look at least
        seen = _load_acquire(cells, watch)
        if seen != old:
            for _ in range(settle):
                _pause()
            return seen
        if serve > 0 and _load_acquire(cells, JOB) == POSTED and compare_exchange(cells, JOB, POSTED, TAKEN):
            call_job(cells[JOB_FUNCTION], cells[JOB_DATA], cells[JOB_ARGUMENTS], serve)
            _store_release(cells, JOB, DONE)
            turn = 0
            continue
        if turn >= spins:
            return old
        _pause()
        turn += 1
