"""Thread budgets: numba's and the BLAS library's threads for each rank on a machine.

Several ranks on one machine must not each start a thread per core, or they fight over the cores
(OpenBLAS threads spin while they wait). `init` gives each rank ``cores // ranks on the machine``
threads, for numba (``numba.set_num_threads``) and for the BLAS library behind numpy.

numpy has loaded its BLAS by the time kerasette is imported, so the ``OPENBLAS_NUM_THREADS`` /
``OMP_NUM_THREADS`` environment variables come too late. The BLAS thread count is set at run
time instead, by the backend's one implementation (`kerasette.backend.parallel.set_blas_threads`:
OpenBLAS's own ``openblas_set_num_threads`` found among the loaded libraries, else threadpoolctl
when it is installed). Where neither works, a launcher can still set the variables, e.g.
``mpiexec -n 2 -genv OMP_NUM_THREADS 1 python train.py``.
"""

from __future__ import annotations

import os

from kerasette.backend import parallel

available_cores = parallel.available_cores

#: The backend's BLAS thread control (one implementation): ``set_blas_threads(n)`` returns how
#: it set them ('openblas', 'threadpoolctl') or None; ``blas_threads()`` reads the count.
set_blas_threads = parallel.set_blas_threads
blas_threads = parallel.blas_threads


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
    """Sets kerasette's batch threads, numba's and the BLAS library's thread counts to ``n``.

    Args:
        n: threads, at least 1.

    Returns:
        The count set.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive integer; received threads={n!r}")
    import numba  # deferred: `import kerasette` must not import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    parallel.set_num_threads(n)
    set_blas_threads(n)
    return n
