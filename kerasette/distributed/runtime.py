"""The MPI world of this process: start-up, ranks, and ending the whole job on an error.

`init` finds MPI through mpi4py. Where mpi4py is not installed (and the process was not started
by ``mpiexec`` as one of several ranks), it sets up a world of one process in which every
collective is the identity, so the same script runs with plain ``python``.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Any

from kerasette.distributed import threads as kthreads

#: Environment variables in which MPI launchers announce the number of ranks they started
#: (MPICH's and Intel MPI's hydra, Open MPI, PMIx).
LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")

INSTALL_HINT = "pip install 'kerasette[mpi]'"


@dataclass
class World:
    """What `init` learned: the communicators and this process's place in them."""

    mpi: Any = None  # the mpi4py.MPI module, or None for a world of one process without MPI
    comm: Any = None  # the communicator the collectives use (COMM_WORLD by default)
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    threads: int | None = None  # the thread count set by `init`, None when left as it was


_world: World | None = None


def init(comm: Any = None, threads: int | None = None, abort_on_error: bool = True) -> None:
    """Joins the MPI job this process was started in (or a world of one without MPI).

    Call it once at the start of the script, before building the model. Calling it again does
    nothing.

    Args:
        comm: an mpi4py communicator to train over; default ``MPI.COMM_WORLD``.
        threads: numba and BLAS threads for this process. Default: when several ranks share a
            machine, each takes its share of the cores (cores / ranks on the machine, at least
            1); a process alone on its machine keeps its thread settings as they are.
        abort_on_error: install a ``sys.excepthook`` that prints an uncaught exception with this
            rank's number and then calls ``MPI_Abort``, so that an error on one rank ends the
            whole job (with a non-zero exit code) instead of leaving the others waiting forever
            in a collective.

    Raises:
        RuntimeError: the process was started by an MPI launcher as one of several ranks but
            mpi4py cannot be imported (each rank would otherwise train alone on a copy).

    Example:
        >>> import kerasette.distributed as hvd
        >>> hvd.init()
        >>> hvd.rank() < hvd.size()
        True
    """
    global _world
    if _world is not None:
        return
    mpi = _import_mpi()
    if mpi is None:
        world = World()
    else:
        comm = mpi.COMM_WORLD if comm is None else comm
        local = comm.Split_type(mpi.COMM_TYPE_SHARED, key=comm.Get_rank())
        world = World(mpi=mpi, comm=comm, rank=comm.Get_rank(), size=comm.Get_size(),
                      local_rank=local.Get_rank(), local_size=local.Get_size())
        local.Free()
    if threads is not None or world.local_size > 1:
        world.threads = kthreads.set_threads(threads or kthreads.share_of_cores(world.local_size))
    _world = world
    if abort_on_error and world.size > 1:
        install_abort_hook()


def _import_mpi():
    """mpi4py's MPI module, or None where mpi4py is not installed (checked against the launcher)."""
    launched = launcher_size()
    try:
        from mpi4py import MPI  # deferred: mpi4py is optional (the mpi extra)
    except ImportError as exc:
        if launched > 1:
            raise RuntimeError(
                f"kerasette.distributed: this process was started by an MPI launcher as one of {launched} "
                f"ranks, but mpi4py cannot be imported ({exc}); install it with {INSTALL_HINT}"
            ) from exc
        return None
    except RuntimeError as exc:  # mpi4py is installed but finds no MPI library
        if launched > 1:
            raise RuntimeError(f"kerasette.distributed: mpi4py found no MPI library ({exc}); "
                               f"install one with {INSTALL_HINT}") from exc
        warnings.warn(f"kerasette.distributed: mpi4py found no MPI library ({exc}); running as a "
                      "single process", RuntimeWarning, stacklevel=3)
        return None
    return MPI


def launcher_size() -> int:
    """The number of ranks an MPI launcher says it started (1 when none did)."""
    for name in LAUNCHER_SIZE_VARS:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


#: Pause between printing an uncaught exception and aborting: the launcher forwards each rank's
#: output through its own process, and an abort right after the write could lose the end of the
#: traceback (seen in CI: the report stopped after its first frame).
ABORT_GRACE_SECONDS = 0.5


def install_abort_hook() -> None:
    """Makes an uncaught exception print its traceback, tagged with the rank, then abort the job."""
    previous = sys.excepthook

    def abort_on_uncaught(exc_type, exc, tb) -> None:
        world = _require("excepthook")
        head = (f"kerasette.distributed: uncaught {exc_type.__name__} on rank {world.rank} "
                f"of {world.size}; aborting the MPI job\n")
        if previous is sys.__excepthook__:  # the whole report in one write, so it is not split
            sys.stderr.write(head + "".join(traceback.format_exception(exc_type, exc, tb)))
        else:
            sys.stderr.write(head)
            previous(exc_type, exc, tb)
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(ABORT_GRACE_SECONDS)
        world.comm.Abort(1)

    sys.excepthook = abort_on_uncaught


def world() -> World:
    """The `World` set up by `init` (raises if `init` has not been called)."""
    return _require("world")


def _require(what: str) -> World:
    if _world is None:
        raise ValueError(f"kerasette.distributed.{what}: call kerasette.distributed.init() first")
    return _world


def is_initialized() -> bool:
    """Whether `init` has been called."""
    return _world is not None


def mpi_enabled() -> bool:
    """Whether this process runs over MPI (False in a world of one process without mpi4py)."""
    return _require("mpi_enabled").mpi is not None


def rank() -> int:
    """This process's rank, 0 .. size() - 1."""
    return _require("rank").rank


def size() -> int:
    """The number of processes training together."""
    return _require("size").size


def local_rank() -> int:
    """This process's rank among the processes on the same machine."""
    return _require("local_rank").local_rank


def local_size() -> int:
    """The number of processes on this machine."""
    return _require("local_size").local_size


def shutdown() -> None:
    """Forgets the world set up by `init` (MPI itself is finalised by mpi4py at exit)."""
    global _world
    _world = None
