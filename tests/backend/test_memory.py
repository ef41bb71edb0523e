"""malloc tuning: freed arrays are reused without page faults, and the opt-out works; aligned arrays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kerasette.backend import memory, state
from kerasette.backend.engine import conv, pooling

ROOT = Path(__file__).resolve().parents[2]

# Allocates, frees and re-allocates a 64 MiB array (above any mmap threshold); prints whether the tuning applied and the
# page faults taken by the second allocation's first touch.
_SCRIPT = """
import resource, numpy as np
from kerasette.backend import memory
applied = memory.keep_freed_memory()
a = np.ones(16 << 20, np.float32); del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones(16 << 20, np.float32)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")


def _run(**env):
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True,
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), **env))
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@glibc_only
def test_freed_arrays_are_reused_without_page_faults():
    applied, faults = _run()
    assert applied
    assert faults < 100  # 64 MiB is 16,384 pages


@glibc_only
def test_opt_out_leaves_malloc_alone():
    applied, _ = _run(KERASETTE_MALLOC_TUNING="0")
    assert not applied


def test_tuning_happens_once(monkeypatch):
    first = memory.keep_freed_memory()
    assert state.malloc.done()
    monkeypatch.setattr(memory, "_mallopt", lambda: pytest.fail("mallopt called twice"))
    assert memory.keep_freed_memory() == first


def test_data_address_is_the_data_pointer_of_any_array():
    """`data_address` reads the pointer from the array object (the offset is found on this build),
    for views, slices, Fortran-ordered, empty and 0-d arrays alike; without the offset it asks
    ``.ctypes``."""
    assert memory.ARRAY_DATA_OFFSET is not None
    base = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    arrays = (base, base[1], base[:, 2:], base.T, np.asfortranarray(base), np.zeros(0), np.full((), 2.0),
              base.reshape(-1)[7:], np.empty(100, np.uint8)[3:])
    for a in arrays:
        assert memory.data_address(a) == a.ctypes.data


@pytest.mark.parametrize("offset", ["found", None])
@pytest.mark.parametrize("shape", [(0,), (3, 5), (2, 7, 7, 3), ()])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_empty_aligned_starts_on_a_cache_line(shape, dtype, offset, monkeypatch):
    if offset is None:  # (a build where the pointer's offset is not found: `.ctypes` gives it)
        monkeypatch.setattr(memory, "ARRAY_DATA_OFFSET", None)
    for _ in range(5):  # several allocations: numpy alone gives 16-byte alignment
        a = memory.empty_aligned(shape, dtype)
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
        assert a.size == 0 or a.ctypes.data % memory.ALIGNMENT == 0  # an empty array has no data


def test_convolution_outputs_are_aligned():
    x = np.ones((2, 9, 9, 3), np.float32)
    y = conv.conv2d_forward(x, np.ones((3, 3, 3, 32), np.float32), relu=True)
    dx = conv.conv2d_backward_input(y, np.ones((3, 3, 3, 32), np.float32), x.shape, (1, 1), "valid")
    pooled, _ = pooling.maxpool2d_forward(y, (2, 2), (2, 2), "valid")
    for a in (y, dx, pooled):
        assert a.ctypes.data % memory.ALIGNMENT == 0
