"""Kernels are compiled, or loaded from numba's cache, on one thread of their own, so that what
numba and LLVM allocate for them stays out of the heap that the training step's arrays use.

Why: `kerasette.backend.memory` keeps every block of the calling thread in glibc's main heap
(no mmap, no trim), so the process's peak resident memory is that heap's high-water mark. A
kernel's first call in a process loads its machine code (numba's and LLVM's allocations, many of
them small and long-lived); made on the calling thread, they landed in the middle of the first
training step, in the gaps that the step's freed arrays leave. Where they landed decided whether
a later large array (the 100 x 100 benchmarks' second convolution's 37.5 MiB input gradient)
found a free block or grew the heap: vgg100_cf_fn's peak RSS was 428-438 MB instead of 405-407
in 9 of 12 runs. glibc gives every thread its own arena, with heaps of its own, so on this
thread those allocations never sit between the step's arrays: 405 MB in 12 of 12 runs.

A kernel's new signature (see `kerasette.backend.kernels._ahead.hook`) is compiled through
:func:`run`: the calling thread hands the work to the loader thread and waits for it. Work that
starts on the loader thread, or on a thread holding numba's compiler lock (a kernel typed inside
another one's compile: the loader would wait for that lock), runs where it is.
"""

from __future__ import annotations

import os
import queue
import threading

from kerasette.backend.kernels import _code_pages

_jobs: queue.SimpleQueue = queue.SimpleQueue()  # (function, arguments, result box, done event)
_loader: dict[str, threading.Thread | None] = {"thread": None}
_start_lock = threading.Lock()


def _serve() -> None:
    """The loader thread: runs each job handed over, its result or exception into its box; after
    a job that compiled nothing (loaded from the cache), when no other job waits and nothing was
    compiled lately (`_code_pages.quiet`), gives LLVM's code pages back before saying it is done
    (see `kerasette.backend.kernels._code_pages`: a training step never runs LLVM)."""
    while True:
        function, args, box, done = _jobs.get()
        passes = _code_pages.passes_run()
        try:
            box.append((True, function(*args)))
        except BaseException as error:  # noqa: BLE001 - re-raised on the thread that asked
            box.append((False, error))
        finally:
            if _jobs.empty() and _code_pages.passes_run() == passes and _code_pages.quiet():
                _code_pages.release()
            done.set()


def _thread() -> threading.Thread:
    """The loader thread, started on first use (and again in a forked child, which has none)."""
    with _start_lock:
        thread = _loader["thread"]
        if thread is None:
            thread = threading.Thread(target=_serve, name="kerasette-kernel-loader", daemon=True)
            _loader["thread"] = thread  # before it starts: its first job may ask `_in_place`
            thread.start()
        return thread


def _in_place() -> bool:
    """Whether work must run on the calling thread: it is the loader, or it holds numba's
    compiler lock, which the work would wait for on the loader."""
    if threading.current_thread() is _loader["thread"]:
        return True
    from numba.core.compiler_lock import global_compiler_lock  # deferred: `_ahead` loads before numba

    return global_compiler_lock.is_locked()


def run(function, *args):
    """``function(*args)`` on the loader thread; its result, or its exception raised here.

    Example:
        >>> run(threading.current_thread).name
        'kerasette-kernel-loader'
    """
    if _in_place():
        return function(*args)
    _thread()
    box: list = []
    done = threading.Event()
    _jobs.put((function, args, box, done))
    done.wait()
    succeeded, value = box.pop()
    if succeeded:
        return value
    try:
        raise value
    finally:
        value = None  # no cycle through this frame and the exception's traceback


def _forget_after_fork() -> None:
    """In a forked child: the parent's loader thread does not exist there, nor do its jobs."""
    global _jobs, _start_lock
    _jobs, _start_lock = queue.SimpleQueue(), threading.Lock()
    _loader["thread"] = None


os.register_at_fork(after_in_child=_forget_after_fork)
