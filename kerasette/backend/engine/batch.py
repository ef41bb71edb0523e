"""How an engine pass runs over a batch: one chunk of whole images per thread, with per-thread
scratch arrays that are reused from call to call."""

from __future__ import annotations

import math
import threading

import numpy as np

from kerasette.backend import parallel, state

_local = threading.local()


def scratch(role: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A reusable scratch array of ``shape``, one per (thread, role, dtype); contents undefined."""
    cache = getattr(_local, "buffers", None)
    if cache is None:
        cache = _local.buffers = {}
    size = math.prod(shape)
    key = (role, np.dtype(dtype).str)
    buf = cache.get(key)
    if buf is None or buf.size < size:
        buf = cache[key] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


def by_images(fn, array: np.ndarray, min_elements: int | None = None) -> list:
    """Runs ``fn(first, last)`` on chunks of the batch (axis 0 of ``array``), one per thread
    (in the calling thread when ``array`` has fewer than ``min_elements`` elements; default: the
    convolution engine's ``parallel_min_elements`` setting)."""
    if min_elements is None:
        min_elements = state.conv.parallel_min_elements
    return parallel.map_chunks(fn, array.shape[0], min_elements, math.prod(array.shape[1:]))


def sum_parts(parts: list, dtype=None) -> np.ndarray:
    """``parts[0] + parts[1] + ...`` (the threads' partial sums of a kernel or bias gradient) added
    in that order in ``dtype`` (default: the first part's) into a new array: the bits of
    ``np.sum(parts, axis=0, dtype=dtype)``, without stacking the list into a new array first,
    which for a 3x3x64x64 kernel took three times as long as the adds."""
    dtype = parts[0].dtype if dtype is None else np.dtype(dtype)
    total = parts[0].astype(dtype, copy=True)
    for part in parts[1:]:
        np.add(total, part.astype(dtype, copy=False), out=total)
    return total
