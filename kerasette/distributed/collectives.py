"""Collective operations on numpy arrays across the ranks: allreduce, broadcast, allgather.

Every rank must call the same collectives in the same order (MPI's rule); a rank that skips one
leaves the others waiting. In a world of one process each collective is the identity (it returns
a copy of its input).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from kerasette.distributed import runtime

Average = "average"
Sum = "sum"
Min = "min"
Max = "max"
_OPS = (Average, Sum, Min, Max)


def _mpi_op(mpi, op: str):
    return {Average: mpi.SUM, Sum: mpi.SUM, Min: mpi.MIN, Max: mpi.MAX}[op]


def _check_op(op: str, where: str) -> None:
    if op not in _OPS:
        raise ValueError(f"{where}: argument `op` must be one of {list(_OPS)}; received op={op!r}")


def allreduce(value: Any, op: str = Average, average: bool | None = None, name: str | None = None) -> Any:
    """Combines an array (or a number) element-wise across all ranks; every rank gets the result.

    Args:
        value: a numpy array (any shape; every rank passes the same shape and dtype) or a number.
        op: ``Average`` (the mean over ranks; integer arrays become float64), ``Sum``, ``Min``
            or ``Max``.
        average: Horovod's older switch: True means ``op=Average``, False ``op=Sum``.
        name: ignored (Horovod names its collectives; MPI matches them by order).

    Returns:
        A new array of the input's shape, or a Python number for a number.

    Example:
        >>> import kerasette.distributed as hvd
        >>> hvd.init()
        >>> hvd.allreduce(np.array([1.0, 2.0]), op=hvd.Sum) / hvd.size()
        array([1., 2.])
    """
    if average is not None:
        op = Average if average else Sum
    _check_op(op, "allreduce")
    scalar = np.ndim(value) == 0 and not isinstance(value, np.ndarray)
    result = np.array(value, copy=True, order="C")
    if result.dtype == object:
        raise TypeError(f"allreduce: expected a numeric array or number; received {type(value).__name__}")
    reduce_in_place(result, op)
    if op == Average:
        result = result / runtime.size() if result.dtype.kind in "iub" else result
    return result.item() if scalar else result


def reduce_in_place(buffer: np.ndarray, op: str = Sum) -> np.ndarray:
    """Allreduces a C-contiguous array in place (``Average`` divides floats in place, by size).

    This is the primitive under `allreduce` and `DistributedOptimizer`: one MPI call, no copies.
    """
    world = runtime.world()
    if not buffer.flags.c_contiguous:
        raise ValueError("reduce_in_place: the buffer must be C-contiguous")
    if world.size > 1:
        flat = buffer.reshape(-1)
        world.comm.Allreduce(world.mpi.IN_PLACE, flat, op=_mpi_op(world.mpi, op))
    if op == Average and world.size > 1 and buffer.dtype.kind == "f":
        buffer *= buffer.dtype.type(1.0 / world.size)
    return buffer


def broadcast(value: Any, root_rank: int = 0, name: str | None = None) -> Any:
    """Rank ``root_rank``'s array (or picklable object) on every rank.

    Args:
        value: on the root, the array to send; elsewhere an array of the same shape and dtype, or
            anything (the shape and dtype come from the root). Non-array values are pickled.
        root_rank: the rank that sends.
        name: ignored (for Horovod's signature).

    Returns:
        A new array equal to the root's (or the root's object).
    """
    world = runtime.world()
    _check_root(root_rank, world.size, "broadcast")
    if not isinstance(value, np.ndarray):
        return broadcast_object(value, root_rank)
    if world.size == 1:
        return value.copy()
    meta = world.comm.bcast((value.shape, value.dtype.str) if world.rank == root_rank else None,
                            root=root_rank)
    out = np.ascontiguousarray(value) if world.rank == root_rank else np.empty(meta[0], np.dtype(meta[1]))
    out = out.copy() if out is value else out
    world.comm.Bcast(out.reshape(-1), root=root_rank)
    return out


def broadcast_object(obj: Any, root_rank: int = 0) -> Any:
    """The root's picklable object on every rank."""
    world = runtime.world()
    _check_root(root_rank, world.size, "broadcast_object")
    return obj if world.size == 1 else world.comm.bcast(obj, root=root_rank)


def allgather(value: np.ndarray, name: str | None = None) -> np.ndarray:
    """The ranks' arrays concatenated along the first axis, in rank order, on every rank.

    The first dimension may differ between ranks; the others and the dtype must agree.
    """
    world = runtime.world()
    value = np.ascontiguousarray(value)
    if value.ndim == 0:
        value = value.reshape(1)
    if world.size == 1:
        return value.copy()
    shapes = world.comm.allgather((value.shape, value.dtype.str))
    tails = {(shape[1:], dtype) for shape, dtype in shapes}
    if len(tails) > 1:
        raise ValueError(f"allgather: ranks passed arrays whose shapes (after the first axis) or dtypes "
                         f"differ: {shapes}")
    counts = [int(np.prod(shape)) for shape, _ in shapes]
    out = np.empty((sum(shape[0] for shape, _ in shapes),) + value.shape[1:], value.dtype)
    world.comm.Allgatherv(value.reshape(-1), [out.reshape(-1), counts])
    return out


def allgather_object(obj: Any) -> list:
    """A list of every rank's picklable object, in rank order."""
    world = runtime.world()
    return [obj] if world.size == 1 else world.comm.allgather(obj)


def barrier() -> None:
    """Waits until every rank has reached this call."""
    world = runtime.world()
    if world.size > 1:
        world.comm.Barrier()


def broadcast_variables(variables: Iterable, root_rank: int = 0) -> None:
    """Overwrites, in place, each Variable (or array) with the root rank's value.

    Arrays of one dtype travel together in one contiguous buffer (one MPI call per dtype).

    Args:
        variables: Variables (anything with a ``.data`` array, e.g. ``model.weights``) or
            numpy arrays, the same list in the same order on every rank.
        root_rank: the rank whose values everyone takes.

    Example:
        >>> import kerasette.distributed as hvd
        >>> hvd.init()
        >>> w = np.zeros(3)
        >>> hvd.broadcast_variables([w], root_rank=0)
    """
    world = runtime.world()
    _check_root(root_rank, world.size, "broadcast_variables")
    arrays = [v if isinstance(v, np.ndarray) else getattr(v, "data", v) for v in variables]
    for array in arrays:
        if not isinstance(array, np.ndarray):
            raise TypeError(f"broadcast_variables: expected Variables or numpy arrays; received "
                            f"{type(array).__name__}")
    if world.size == 1 or not arrays:
        return
    for group in _by_dtype(arrays).values():
        buffer = pack(group) if world.rank == root_rank else np.empty(sum(a.size for a in group), group[0].dtype)
        world.comm.Bcast(buffer, root=root_rank)
        unpack(buffer, group)


def _by_dtype(arrays: Sequence[np.ndarray]) -> dict[np.dtype, list[np.ndarray]]:
    groups: dict[np.dtype, list[np.ndarray]] = {}
    for array in arrays:
        groups.setdefault(array.dtype, []).append(array)
    return groups


def pack(arrays: Sequence[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """The arrays' values one after another in one flat buffer (``out`` when given)."""
    total = sum(a.size for a in arrays)
    if out is None:
        out = np.empty(total, arrays[0].dtype if arrays else np.float32)
    offset = 0
    for array in arrays:
        out[offset: offset + array.size] = array.reshape(-1)
        offset += array.size
    return out


def unpack(buffer: np.ndarray, arrays: Sequence[np.ndarray]) -> None:
    """Copies consecutive pieces of a flat buffer back into the arrays, in place."""
    offset = 0
    for array in arrays:
        array[...] = buffer[offset: offset + array.size].reshape(array.shape)
        offset += array.size


def _check_root(root_rank: int, size: int, where: str) -> None:
    if isinstance(root_rank, bool) or not isinstance(root_rank, (int, np.integer)) or not 0 <= root_rank < size:
        raise ValueError(f"{where}: argument `root_rank` must be a rank in [0, {size}); "
                         f"received root_rank={root_rank!r}")


class Timer:
    """Accumulates the wall time and the bytes of the allreduces it wraps."""

    def __init__(self) -> None:
        self.seconds, self.calls, self.bytes = 0.0, 0, 0

    def reduce(self, buffer: np.ndarray, op: str) -> np.ndarray:
        start = time.perf_counter()
        reduce_in_place(buffer, op)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.bytes += buffer.nbytes
        return buffer
