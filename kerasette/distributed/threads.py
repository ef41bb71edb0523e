"""Thread budgets: numba's and the BLAS library's threads for each rank on a machine.

Several ranks on one machine must not each start a thread per core, or they fight over the cores
(OpenBLAS threads spin while they wait). `init` gives each rank ``cores // ranks on the machine``
threads, for numba (``numba.set_num_threads``) and for the BLAS library behind numpy.

numpy has loaded its BLAS by the time kerasette is imported, so the ``OPENBLAS_NUM_THREADS`` /
``OMP_NUM_THREADS`` environment variables come too late. The BLAS thread count is set at run
time instead: through threadpoolctl when it is installed, otherwise by calling OpenBLAS's own
``openblas_set_num_threads`` (as bundled with numpy's wheels, under its prefixed and suffixed
names) found among the loaded libraries. Where neither works, a launcher can still set the
variables, e.g. ``mpiexec -n 2 -genv OMP_NUM_THREADS 1 python train.py``.
"""

from __future__ import annotations

import ctypes
import os

#: OpenBLAS's setter and getter under the names its builds export (plain, numpy's scipy-openblas).
_OPENBLAS_PREFIXES = ("openblas", "scipy_openblas")
_OPENBLAS_SUFFIXES = ("", "64_", "_64")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def share_of_cores(local_size: int) -> int:
    """This rank's thread count: its cores divided among the ranks on the machine, at least 1.

    A launcher that binds each rank to its own cores has already divided them: then the rank's
    affinity is its share.
    """
    cores = available_cores()
    if cores < (os.cpu_count() or cores):
        return max(1, cores)
    return max(1, cores // max(1, local_size))


def set_threads(n: int) -> int:
    """Sets numba's and the BLAS library's thread counts to ``n`` (numba's is capped at its pool).

    Args:
        n: threads, at least 1.

    Returns:
        The count set.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive integer; received threads={n!r}")
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    set_blas_threads(n)
    return n


def set_blas_threads(n: int) -> str | None:
    """Sets the BLAS thread count; returns how ('threadpoolctl', 'openblas') or None if it could not."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(limits=n, user_api="blas")
        return "threadpoolctl"
    setters = [setter for setter, _ in _openblas_functions()]
    for setter in setters:
        setter(n)
    return "openblas" if setters else None


def blas_threads() -> int | None:
    """The BLAS library's thread count (None when it cannot be read)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        pass
    else:
        counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
        return counts[0] if counts else None
    getters = [getter for _, getter in _openblas_functions()]
    return int(getters[0]()) if getters else None


def _openblas_functions() -> list[tuple]:
    """(set_num_threads, get_num_threads) of each OpenBLAS loaded in this process (Linux)."""
    try:
        with open("/proc/self/maps") as maps:
            rows = [line.split(None, 5) for line in maps]
    except OSError:
        return []
    paths = sorted({row[5].strip() for row in rows if len(row) == 6 and "openblas" in row[5].lower()})
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _OPENBLAS_PREFIXES:
            for suffix in _OPENBLAS_SUFFIXES:
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    found.append((setter, getter))
    return found
