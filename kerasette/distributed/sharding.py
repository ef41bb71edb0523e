"""Each rank's part of a data set, with the same number of samples on every rank."""

from __future__ import annotations

import numpy as np

from kerasette.distributed import runtime


def shard(*arrays, rank: int | None = None, size: int | None = None, drop_remainder: bool = False):
    """This rank's shard of the samples: every ``size``-th sample, starting at sample ``rank``.

    Strided, as ``tf.data.Dataset.shard`` deals them out: with ``shuffle=False``, the ranks'
    ``k``-th batches of ``b`` samples together are exactly the ``k``-th batch of ``size * b``
    samples of the unsharded data, so training on N ranks with batch ``b`` takes the same steps
    as one process with batch ``N * b``.

    Every shard gets the same number of samples, so every rank runs the same number of steps per
    epoch (ranks stepping different counts is the classic data-parallel deadlock). When ``size``
    does not divide the number of samples, the short shards are padded with the first samples
    again (each sample is still seen once per epoch on some rank, a few twice), or, with
    ``drop_remainder=True``, the last ``n % size`` samples are left out on every rank.

    Args:
        *arrays: arrays (or lists of arrays, e.g. a multi-input model's ``x``) with the samples
            along the first axis, all of the same length.
        rank: the shard to take; default `rank()`.
        size: the number of shards; default `size()`.
        drop_remainder: leave out the remainder instead of padding.

    Returns:
        One shard per argument (a tuple when several are given), in the argument's form.

    Example:
        >>> import kerasette.distributed as hvd
        >>> x, y = hvd.shard(np.arange(10), np.arange(10), rank=1, size=4)
        >>> x
        array([1, 5, 9])
    """
    if rank is None or size is None:
        world = runtime.world()
        rank = world.rank if rank is None else rank
        size = world.size if size is None else size
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"shard: expected 0 <= rank < size; received rank={rank!r}, size={size!r}")
    if not arrays:
        raise ValueError("shard: expected at least one array")
    lengths = {len(a) for arg in arrays for a in _as_list(arg)}
    if len(lengths) != 1:
        raise ValueError(f"shard: all arrays must have the same number of samples; received lengths "
                         f"{sorted(lengths)}")
    indices = shard_indices(lengths.pop(), rank, size, drop_remainder)
    shards = tuple(_take(arg, indices) for arg in arrays)
    return shards[0] if len(shards) == 1 else shards


def shard_indices(n: int, rank: int, size: int, drop_remainder: bool = False) -> np.ndarray:
    """The sample indices of shard ``rank`` of ``size`` (see `shard`)."""
    per_rank = n // size if drop_remainder else -(-n // size)
    if per_rank == 0:
        raise ValueError(f"shard: {n} samples cannot give each of {size} ranks at least one")
    indices = np.arange(rank, rank + per_rank * size, size)
    return indices % n


def _as_list(arg) -> list:
    return list(arg) if isinstance(arg, (list, tuple)) else [arg]


def _take(arg, indices: np.ndarray):
    if isinstance(arg, (list, tuple)):
        return type(arg)(np.asarray(a)[indices] for a in arg)
    return np.asarray(arg)[indices]
