"""Keeps freed memory in the process so that each training step does not page-fault it back in.

A training step allocates and frees the same large arrays (activations, gradients, scratch) every
batch. glibc's malloc serves large blocks with their own ``mmap`` and unmaps them when they are
freed, and it trims the top of its heap, so the next step touches fresh pages and takes a page
fault per page. In a virtual machine faults are expensive: on the 2-core benchmark machine they
cost a third of the MNIST-sized step (1,500 against 2,300 samples/s) and a tenth of the
100 x 100 one.

On first use of the kernels kerasette tells glibc to serve every block from its heap
(``M_MMAP_MAX = 0``) and to trim the heap only above 2 GiB, so freed blocks are reused rather than
returned. Peak memory does not grow (the same arrays are reused; it fell from 614 to 579 MB on the
100 x 100 benchmark); memory freed after the peak stays with the process instead of going back to
the OS. Set ``KERASETTE_MALLOC_TUNING=0`` to leave malloc alone. Elsewhere than glibc this does
nothing.

The peak is then this heap's high-water mark, which depends on where its small long-lived blocks
sit among the step's large ones: kernels therefore load on a thread of their own, whose
allocations glibc keeps in another arena (see `kerasette.backend.kernels._loader`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os

import numpy as np

from kerasette.backend import state

#: mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

#: The trim threshold set: free memory at the top of the heap is kept up to this size.
TRIM_THRESHOLD = (2 << 30) - 1


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
    return state.malloc.run(_tune_malloc)


def _tune_malloc() -> bool:
    if os.environ.get("KERASETTE_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


#: Alignment of the arrays the convolution and pooling ops return: a cache line, and one
#: AVX-512 vector. numpy aligns its data to 16 bytes only, so a 64-byte vector load or store
#: at a multiple of 64 bytes into such an array straddles two cache lines; aligned, the direct
#: SIMD kernels' passes over them were 3% (forward) to 24% (input gradient) faster.
ALIGNMENT = 64


def _find_data_offset():
    """How many bytes from the start of a numpy array object its data pointer sits (the first
    field after the object header in numpy's array struct), found by looking at two arrays;
    None where neither candidate holds it."""
    probes = np.zeros(3), np.zeros((2, 2), np.float32)
    for offset in (16, 24, 32):  # (the object header: 16 bytes on common builds, more on others)
        if all(ctypes.c_void_p.from_address(id(a) + offset).value == a.ctypes.data for a in probes):
            return offset
    return None


#: Bytes from a numpy array object's start to its data pointer (`_find_data_offset`), or None.
ARRAY_DATA_OFFSET = _find_data_offset()
_pointer_at = ctypes.c_void_p.from_address


def data_address(array: np.ndarray) -> int:
    """``array.ctypes.data`` (the address of its first value), read from the array object where
    `ARRAY_DATA_OFFSET` was found: 0.1 us where ``.ctypes.data`` builds a ctypes helper object
    (1.1 us; a ResNet-20 training step allocates about 95 aligned arrays)."""
    if ARRAY_DATA_OFFSET is None:
        return array.ctypes.data
    return _pointer_at(id(array) + ARRAY_DATA_OFFSET).value or 0


def empty_aligned(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` with its data starting at a multiple of :data:`ALIGNMENT` bytes.

    Example:
        >>> empty_aligned((3, 5), np.float32).ctypes.data % ALIGNMENT
        0
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -data_address(raw) % ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def aligned(array: np.ndarray) -> np.ndarray:
    """C-contiguous ``array`` itself when its data is aligned, else an aligned copy."""
    if data_address(array) % ALIGNMENT == 0:
        return array
    out = empty_aligned(array.shape, array.dtype)
    out[...] = array
    return out
