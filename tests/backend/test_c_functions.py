"""`kerasette.backend.kernels._jit.CFunction`: a function compiled once and called by symbol from
kernels, and kernels calling it that load from numba's cache in a new process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
from numba import types as nt
from numba.extending import overload

from kerasette.backend.kernels import _jit, blas

ROOT = Path(__file__).resolve().parents[2]


def _scale_c(xp, n, factor):
    x = numba.carray(xp, (n,))
    for i in range(n):
        x[i] *= factor


SCALE = _jit.CFunction(_scale_c, lambda dt: nt.void(nt.CPointer(dt), nt.int64, dt))


def scale(x, factor):
    """``x *= factor`` (from Python, in numpy)."""
    x *= factor


@overload(scale, inline="always")
def _scale_overload(x, factor):
    fn = SCALE.external(x.dtype)

    def impl(x, factor):
        fn(blas._pointer(x.ctypes.data, x), x.size, x.dtype.type(factor))

    return impl


@_jit.kernel(calls=(SCALE,))
def scale_rows(x, factors):
    """Row ``i`` of ``x`` times ``factors[i]``, through the C function."""
    for i in range(x.shape[0]):
        scale(x[i], factors[i])


def test_a_kernel_calls_the_c_function_for_each_dtype():
    for dtype in (np.float32, np.float64):
        x = np.arange(6, dtype=dtype).reshape(2, 3)
        scale_rows(x, np.array([2, 3], dtype))
        np.testing.assert_array_equal(x, np.arange(6, dtype=dtype).reshape(2, 3) * [[2], [3]])
    assert SCALE.symbol(nt.float32) != SCALE.symbol(nt.float64)
    assert set(SCALE.overloads) == {(nt.float32,), (nt.float64,)}


def test_the_caller_loads_from_the_cache_in_a_new_process(tmp_path):
    """The caller's cached code names the C function's symbol: a second process, which compiles
    nothing, readies the C function (from the cache) before it loads the caller."""
    code = textwrap.dedent("""
        import numpy as np
        from tests.backend import test_c_functions as t
        x = np.ones((2, 4), np.float32)
        t.scale_rows(x, np.array([2, 5], np.float32))
        assert (x == np.array([[2], [5]], np.float32)).all(), x
        print(sum(t.scale_rows.stats.cache_hits.values()), sum(t.scale_rows.stats.cache_misses.values()))
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT), KERASETTE_COMPILE_AHEAD="0")
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
            for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert runs[0].stdout.split() == ["0", "1"]  # compiled
    assert runs[1].stdout.split() == ["1", "0"]  # loaded from the cache, and it runs
