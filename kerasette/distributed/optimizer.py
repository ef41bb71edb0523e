"""DistributedOptimizer: averages each step's gradients over the ranks, then updates as before."""

from __future__ import annotations

import warnings

import numpy as np

from kerasette.distributed import collectives, runtime
from kerasette.models import data as mdata
from kerasette.optimizers import Optimizer


class _DistributedMixin:
    """What `DistributedOptimizer` adds in front of an optimizer class (see there)."""

    _reduce_op: str = collectives.Average

    def apply_gradients(self, grads_and_vars) -> None:
        """Averages the gradients over the ranks (one fused allreduce), then applies them."""
        pairs = list(grads_and_vars)
        if runtime.size() > 1:
            pairs = self._fused_allreduce(pairs)
        super().apply_gradients(pairs)

    def _fused_allreduce(self, pairs: list) -> list:
        """The pairs with each gradient replaced by its average over the ranks.

        All gradients of one dtype are copied into one preallocated contiguous buffer, reduced
        with a single MPI call, and handed on as views into it. Behind the gradients go one
        presence count per variable, so that a gradient missing (None) on some ranks still
        lines up: it counts as zeros there, and stays None only if it is missing on every rank.
        """
        layout = tuple((var.shape, np.dtype(var.dtype).str) for _, var in pairs)
        if getattr(self, "_fusion_layout", None) != layout:
            self._fusion_layout = layout
            self._fusion_buffers = _fusion_buffers(pairs)
        out: list = [None] * len(pairs)
        for buffer, members in self._fusion_buffers.values():
            counts = buffer[len(buffer) - len(members):]
            offset = 0
            for k, i in enumerate(members):
                grad, var = pairs[i]
                view = buffer[offset: offset + var.size]
                view[...] = 0 if grad is None else np.asarray(grad).reshape(-1)
                counts[k] = grad is not None
                offset += var.size
            self.allreduce_timer.reduce(buffer, collectives.Sum)
            if self._reduce_op == collectives.Average:
                buffer[:offset] *= buffer.dtype.type(1.0 / runtime.size())
            offset = 0
            for k, i in enumerate(members):
                var = pairs[i][1]
                if counts[k] > 0:
                    out[i] = buffer[offset: offset + var.size].reshape(var.shape)
                offset += var.size
        return [(grad, var) for grad, (_, var) in zip(out, pairs)]

    def __reduce__(self):
        """Pickles as the wrapped optimizer plus the wrapping (the class itself is made at run time)."""
        plain = object.__new__(_base_class(type(self)))
        plain.__dict__.update({k: v for k, v in self.__dict__.items() if k not in _RUNTIME_ATTRIBUTES})
        return (DistributedOptimizer, (plain, self._reduce_op))

    @property
    def allreduce_timer(self) -> collectives.Timer:
        """Wall time, calls and bytes of this optimizer's gradient allreduces so far."""
        timer = self.__dict__.get("_allreduce_timer")
        if timer is None:
            timer = self.__dict__["_allreduce_timer"] = collectives.Timer()
        return timer

    def batch_slices(self, n: int, batch_size: int) -> list[slice]:
        """The batches of an epoch, the same number and sizes on every rank.

        `fit` asks the optimizer for its batches when the optimizer offers this method. Ranks
        holding different numbers of samples would step different counts and deadlock in the
        allreduce; here they agree on the smallest count (and warn), so every rank runs the same
        steps, the short last batch being equally short everywhere.
        """
        if runtime.size() > 1:
            smallest = int(collectives.allreduce(n, op=collectives.Min))
            if smallest != n:
                warnings.warn(f"DistributedOptimizer: this rank holds {n} samples but another holds only "
                              f"{smallest}; each rank trains on {smallest} samples per epoch. Use "
                              "kerasette.distributed.shard to split the data evenly.", RuntimeWarning,
                              stacklevel=3)
            n = smallest
        return mdata.batch_slices(n, batch_size)


def _fusion_buffers(pairs: list) -> dict:
    """One flat buffer per dtype: the gradients' elements, then a presence count per variable."""
    members: dict = {}
    for i, (_, var) in enumerate(pairs):
        members.setdefault(np.dtype(var.dtype), []).append(i)
    buffers = {}
    for dtype, idx in members.items():
        size = sum(pairs[i][1].size for i in idx) + len(idx)
        buffers[dtype] = (np.zeros(size, dtype if dtype.kind == "f" else np.float64), idx)
    return buffers


_CLASSES: dict[type, type] = {}
_RUNTIME_ATTRIBUTES = ("_fusion_layout", "_fusion_buffers", "_allreduce_timer", "_reduce_op")


def _base_class(cls: type) -> type:
    """The optimizer class under the distributed wrapping."""
    return next(c for c in cls.__mro__ if not issubclass(c, _DistributedMixin))


def DistributedOptimizer(  # noqa: N802 - Horovod's name, a factory that reads like a class
        optimizer: Optimizer, op: str = collectives.Average, name: str | None = None, **kwargs) -> Optimizer:
    """Wraps an optimizer so that each update uses the gradients averaged over all ranks.

    Each step's gradients are copied into one contiguous buffer per dtype and reduced with a
    single ``MPI_Allreduce``, then divided by the number of ranks; the wrapped optimizer's rule
    then runs unchanged on every rank, so every rank makes the same update and the weights stay
    identical. The result is an instance of a subclass of the optimizer's own class, named as
    it is (``SGD`` stays ``SGD`` in a checkpoint), sharing the optimizer's state: use it in place
    of the original. With one process it updates exactly as the original does.

    Scale the learning rate with the number of ranks (the global batch grows with it), and warm
    it up with `LearningRateWarmupCallback`.

    Args:
        optimizer: the optimizer to wrap (an instance).
        op: ``Average`` (default) or ``Sum`` of the gradients.
        name: an optional new name for the optimizer.
        **kwargs: Horovod's other arguments (``compression``, ``device_dense``,
            ``backward_passes_per_step``...) are accepted only at their defaults.

    Returns:
        The distributed optimizer.

    Example:
        >>> import kerasette.distributed as hvd
        >>> from kerasette.optimizers import SGD
        >>> hvd.init()
        >>> opt = hvd.DistributedOptimizer(SGD(learning_rate=0.01 * hvd.size(), momentum=0.9))
        >>> type(opt).__name__
        'SGD'
    """
    for key, value in kwargs.items():
        if key not in ("compression", "device_dense", "device_sparse", "sparse_as_dense",
                       "backward_passes_per_step") or value not in (None, False, 1, "", "none"):
            raise TypeError(f"DistributedOptimizer: argument `{key}`={value!r} is not supported")
    if op not in (collectives.Average, collectives.Sum):
        raise ValueError(f"DistributedOptimizer: argument `op` must be 'average' or 'sum'; received op={op!r}")
    if not hasattr(optimizer, "apply_gradients") or isinstance(optimizer, type):
        raise TypeError(f"DistributedOptimizer: expected an optimizer instance; received {optimizer!r}")
    base = _base_class(type(optimizer))
    cls = _CLASSES.get(base)
    if cls is None:
        cls = _CLASSES[base] = type(base.__name__, (_DistributedMixin, base),
                                    {"__module__": base.__module__, "__qualname__": base.__qualname__,
                                     "__doc__": base.__doc__})
    wrapped = object.__new__(cls)
    wrapped.__dict__.update({k: v for k, v in optimizer.__dict__.items() if k not in _RUNTIME_ATTRIBUTES})
    wrapped._reduce_op = op
    if name is not None:
        wrapped.name = name
    return wrapped
