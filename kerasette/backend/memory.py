"""Keeps freed memory in the process so that each training step does not page-fault it back in.

A training step allocates and frees the same large arrays (activations, gradients, scratch) every
batch. glibc's malloc returns blocks above its mmap threshold to the OS when they are freed, and
trims the top of the heap, so the next step touches fresh pages and takes one page fault per
4 KiB. In a virtual machine each fault is expensive: on the 2-core benchmark machine this cost a
third of the MNIST-sized step (1,500 against 2,200 samples/s).

On first use of the kernels kerasette raises glibc's mmap threshold to its maximum (32 MiB on
64-bit systems) and its trim threshold to 2 GiB, so freed blocks are reused rather than returned.
Peak memory does not grow (the same arrays are reused); memory freed after the peak is kept by the
process instead of being returned to the OS. Set ``KERASETTE_MALLOC_TUNING=0`` to leave malloc
alone. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: The largest mmap threshold glibc accepts on 64-bit systems, and the trim threshold we set.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = (2 << 30) - 1

_state: dict = {"done": False, "applied": False}


def _mallopt():
    """glibc's ``mallopt``, or None where there is no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    fn = getattr(libc, "mallopt", None)
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def keep_freed_memory() -> bool:
    """Tunes malloc as the module docstring says (once per process); True when it was applied."""
    if _state["done"]:
        return _state["applied"]
    _state["done"] = True
    if os.environ.get("KERASETTE_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _state["applied"] = applied
    return applied
