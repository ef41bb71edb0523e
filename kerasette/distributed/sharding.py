"""Each rank's part of a data set, with the same number of samples on every rank."""

from __future__ import annotations

import numpy as np

from kerasette.distributed import collectives, runtime


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


def unshard(values, total: int | None = None):
    """The inverse of `shard`: every rank's rows gathered in the original sample order.

    Rank r's i-th row is sample ``i * size + r`` (the strided order `shard` deals); the rows
    are gathered on every rank and interleaved back. Padding rows (when ``size`` did not
    divide the samples) are cut off by ``total``, the number of samples before sharding.

    Args:
        values: this rank's array (e.g. its predictions), or a list of them (several outputs);
            the same number of rows on every rank.
        total: the number of samples to keep; default all rows.

    Returns:
        The whole array (a list for a list), equal on every rank.

    Example:
        >>> import kerasette.distributed as hvd
        >>> hvd.init()
        >>> hvd.unshard(np.arange(4)).tolist()  # one rank: unchanged
        [0, 1, 2, 3]
    """
    if isinstance(values, (list, tuple)):
        return type(values)(unshard(v, total) for v in values)
    world = runtime.world()
    array = np.asarray(values)
    rows = collectives.allgather_object(len(array)) if world.size > 1 else [len(array)]
    if len(set(rows)) != 1:
        raise ValueError(f"unshard: every rank must hold the same number of rows; received {rows}")
    gathered = collectives.allgather(array) if world.size > 1 else array.copy()
    whole = gathered.reshape((world.size, rows[0]) + array.shape[1:]).swapaxes(0, 1).reshape(gathered.shape)
    return whole if total is None else whole[:total]


def predict(model, x, total: int | None = None, **kwargs):
    """``model.predict`` on this rank's shard of ``x``, gathered in the original order on every rank.

    Args:
        model: a model (the same weights on every rank).
        x: this rank's shard, from `shard` (every rank calls this).
        total: the number of samples before sharding (cuts off the padding).
        **kwargs: passed to ``model.predict`` (``batch_size``...).

    Returns:
        The predictions of all ``total`` samples, in their original order.
    """
    return unshard(model.predict(x, **kwargs), total)
