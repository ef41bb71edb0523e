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

from kerasette.distributed import compression as kcompression
from kerasette.distributed import runtime

Average = "average"
Sum = "sum"
Min = "min"
Max = "max"
Product = "product"
_OPS = (Average, Sum, Min, Max, Product)


def _mpi_op(mpi, op: str):
    return {Average: mpi.SUM, Sum: mpi.SUM, Min: mpi.MIN, Max: mpi.MAX, Product: mpi.PROD}[op]


def _check_op(op: str, where: str) -> None:
    if op not in _OPS:
        raise ValueError(f"{where}: argument `op` must be one of {list(_OPS)}; received op={op!r}")


def _as_array(value: Any, where: str) -> np.ndarray:
    result = np.array(value, copy=True, order="C")
    if result.dtype == object:
        raise TypeError(f"{where}: expected a numeric array or number; received {type(value).__name__}")
    return result


def allreduce(value: Any, op: str = Average, average: bool | None = None, name: str | None = None, *,
              prescale_factor: float = 1.0, postscale_factor: float = 1.0, compression=None) -> Any:
    """Combines an array (or a number) element-wise across all ranks; every rank gets the result.

    The result is ``postscale_factor * reduce(prescale_factor * value)`` (the average's division
    by the number of ranks comes after the reduction too).

    Args:
        value: a numpy array (any shape; every rank passes the same shape and dtype) or a number.
        op: ``Average`` (the mean over ranks; integer arrays become float64), ``Sum``, ``Min``,
            ``Max`` or ``Product``.
        average: Horovod's older switch: True means ``op=Average``, False ``op=Sum``.
        name: ignored (Horovod names its collectives; MPI matches them by order).
        prescale_factor: multiplies each rank's value before the reduction (integer values
            become float64 when a factor is not 1).
        postscale_factor: multiplies the result.
        compression: ``Compression.fp16`` sends floating-point values as float16 (the result
            is cast back); default none.

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
    result = grouped_allreduce([value], op=op, prescale_factor=prescale_factor, postscale_factor=postscale_factor,
                               compression=compression, where="allreduce")[0]
    return result.item() if scalar else result


def grouped_allreduce(values: Sequence[Any], op: str = Average, average: bool | None = None,
                      name: str | None = None, *, prescale_factor: float = 1.0, postscale_factor: float = 1.0,
                      compression=None, where: str = "grouped_allreduce") -> list[np.ndarray]:
    """`allreduce` of several arrays at once: those of one dtype travel in one fused buffer.

    Args:
        values: arrays (or numbers), the same list of shapes and dtypes on every rank.
        op, average, name, prescale_factor, postscale_factor, compression: as for `allreduce`.

    Returns:
        A list of new arrays, one per value.

    Example:
        >>> import kerasette.distributed as hvd
        >>> hvd.init()
        >>> [a.tolist() for a in hvd.grouped_allreduce([np.ones(2), np.zeros(1)], op=hvd.Sum)]
        [[1.0, 1.0], [0.0]]
    """
    if average is not None:
        op = Average if average else Sum
    _check_op(op, where)
    compressor = kcompression.get(compression)
    arrays = [_as_array(v, where) for v in values]
    scaled = prescale_factor != 1.0 or postscale_factor != 1.0
    for k, array in enumerate(arrays):
        if array.dtype.kind in "iub" and (scaled or op == Average):
            arrays[k] = array.astype(np.float64)
        if prescale_factor != 1.0:
            arrays[k] *= arrays[k].dtype.type(prescale_factor)
    size = runtime.size()
    groups: dict[np.dtype, list[int]] = {}
    for k, array in enumerate(arrays):
        groups.setdefault(np.dtype(compressor.wire_dtype(array.dtype)), []).append(k)
    for wire, members in groups.items():
        if size == 1:
            break
        buffer = np.empty(sum(arrays[k].size for k in members), wire)
        pack([arrays[k] for k in members], buffer)
        reduce_in_place(buffer, Sum if op == Average else op)
        unpack(buffer, [arrays[k] for k in members])
    factor = postscale_factor / (size if op == Average else 1)
    for array in arrays:
        if factor != 1.0:
            array *= array.dtype.type(factor)
    return arrays


def reducescatter(value: np.ndarray, op: str = Average, name: str | None = None) -> np.ndarray:
    """Reduces an array across the ranks and gives each rank its slice of the first axis.

    The first axis is split as evenly as possible, in rank order, the first ``n % size``
    ranks getting one row more. Every rank passes the same shape and dtype.

    Args:
        value: an array of at least one dimension.
        op: ``Average`` (integer arrays become float64) or ``Sum``.
        name: ignored.

    Returns:
        This rank's rows of the reduced array.

    Example:
        >>> import kerasette.distributed as hvd
        >>> hvd.init()
        >>> hvd.reducescatter(np.arange(4.0), op=hvd.Sum).tolist() == np.arange(4.0).tolist()  # one rank
        True
    """
    if op not in (Average, Sum):
        raise ValueError(f"reducescatter: argument `op` must be 'average' or 'sum'; received op={op!r}")
    world = runtime.world()
    array = _as_array(value, "reducescatter")
    if array.ndim == 0:
        raise ValueError("reducescatter: expected an array of at least one dimension; received a scalar")
    if op == Average and array.dtype.kind in "iub":
        array = array.astype(np.float64)
    rows = [array.shape[0] // world.size + (r < array.shape[0] % world.size) for r in range(world.size)]
    row_size = int(np.prod(array.shape[1:], dtype=np.int64))
    out = np.empty((rows[world.rank],) + array.shape[1:], array.dtype)
    if world.size == 1:
        out[...] = array
    else:
        world.comm.Reduce_scatter(array.reshape(-1), out.reshape(-1), [n * row_size for n in rows],
                                  op=world.mpi.SUM)
    if op == Average and world.size > 1:
        out *= out.dtype.type(1.0 / world.size)
    return out


def alltoall(value: np.ndarray, splits: Sequence[int] | None = None, name: str | None = None):
    """Each rank sends consecutive row blocks of ``value`` to every rank, and receives theirs.

    Args:
        value: an array; its first axis is cut into blocks, ``splits[r]`` rows for rank r (in
            rank order). The other axes and the dtype must agree across ranks.
        splits: rows for each rank; default equal blocks (the rows must divide evenly).
        name: ignored.

    Returns:
        ``(received, received_splits)``: the rows received, concatenated in rank order, and the
        number of rows that came from each rank (as Horovod's TensorFlow API returns them).

    Example:
        >>> import kerasette.distributed as hvd
        >>> hvd.init()
        >>> received, counts = hvd.alltoall(np.arange(3))
        >>> received.tolist(), counts.tolist()
        ([0, 1, 2], [3])
    """
    world = runtime.world()
    array = np.ascontiguousarray(value)
    if array.ndim == 0:
        raise ValueError("alltoall: expected an array of at least one dimension; received a scalar")
    n = array.shape[0]
    if splits is None:
        if n % world.size:
            raise ValueError(f"alltoall: {n} rows cannot be split evenly among {world.size} ranks; pass `splits`")
        splits = [n // world.size] * world.size
    splits = [int(s) for s in splits]
    if len(splits) != world.size or any(s < 0 for s in splits) or sum(splits) != n:
        raise ValueError(f"alltoall: argument `splits` must give {world.size} non-negative row counts adding up "
                         f"to {n}; received splits={splits!r}")
    if world.size == 1:
        return array.copy(), np.array(splits, np.int32)
    received = world.comm.alltoall(splits)
    row_size = int(np.prod(array.shape[1:], dtype=np.int64))
    out = np.empty((sum(received),) + array.shape[1:], array.dtype)
    world.comm.Alltoallv([array.reshape(-1), [s * row_size for s in splits]],
                         [out.reshape(-1), [s * row_size for s in received]])
    return out, np.array(received, np.int32)


def reduce_in_place(buffer: np.ndarray, op: str = Sum) -> np.ndarray:
    """Allreduces a C-contiguous array in place (``Average`` divides floats in place, by size).

    This is the primitive under `allreduce` and `DistributedOptimizer`: one MPI call, no copies.
    """
    world = runtime.world()
    if not buffer.flags.c_contiguous:
        raise ValueError("reduce_in_place: the buffer must be C-contiguous")
    if world.size > 1:
        flat = buffer.reshape(-1)
        if flat.dtype == np.float16 and op in (Sum, Average):  # MPI's own float16 sum is slow
            from kerasette.distributed import ring  # deferred: imports numba

            ring.sum_half(flat)
        else:
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
