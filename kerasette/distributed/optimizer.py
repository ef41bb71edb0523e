"""DistributedOptimizer: averages each step's gradients over the ranks, then updates as before."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from kerasette.distributed import collectives, fusion, runtime
from kerasette.distributed import compression as compression_module
from kerasette.models import data as mdata
from kerasette.optimizers import Optimizer


class _DistributedMixin:
    """What `DistributedOptimizer` adds in front of an optimizer class (see there)."""

    _reduce_op: str = collectives.Average

    @property
    def _dist(self) -> _Settings:
        settings = self.__dict__.get("_dist_settings")
        if settings is None:
            settings = self.__dict__["_dist_settings"] = _Settings()
        return settings

    def gradient_ready_hook(self, variables):
        """The trainer's hook: the callback the backward pass calls as each gradient is final.

        None (no overlap) with one process, in blocking mode, and on the passes of an
        accumulation that only add up gradients locally.
        """
        settings = self._dist
        if runtime.size() == 1 or not settings.overlap:
            return None
        if settings.passes > 1 and self.__dict__.get("_pass_index", 0) + 1 < settings.passes:
            return None
        reducer = self._reducer_for(variables)
        reducer.begin(self.__dict__.get("_accumulated"))
        return reducer.ready

    def apply_gradients(self, grads_and_vars) -> None:
        """Averages the gradients over the ranks (fused, maybe overlapped), then applies them.

        With ``backward_passes_per_step=k`` the first k - 1 calls only add the gradients up
        locally (no update, ``iterations`` unchanged); the k-th reduces the sum and updates.
        """
        pairs = list(grads_and_vars)
        grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
        settings = self._dist
        accumulated = None
        if settings.passes > 1:
            passes = self.__dict__.get("_pass_index", 0) + 1
            if passes < settings.passes:
                self._accumulate(grads, variables)
                self.__dict__["_pass_index"] = passes
                return
            self.__dict__["_pass_index"] = 0
            accumulated = self.__dict__.pop("_accumulated", None)
        if runtime.size() > 1:
            reducer = self._reducer_for(variables)
            if not reducer.open:
                reducer.begin(accumulated)
            grads, _ = reducer.finish(grads)
            global _active
            _active = (self, reducer)
        elif accumulated is not None:
            grads = [_plus(g, a, v) for g, a, v in zip(grads, accumulated, variables)]
        self._apply_reduced(grads, variables)

    def _apply_reduced(self, grads: list, variables: list) -> None:
        """The update from the reduced gradients (a rank in `join` makes the same one)."""
        settings = self._dist
        if settings.passes > 1 and settings.average_aggregated:
            grads = [None if g is None else g * np.asarray(g).dtype.type(1.0 / settings.passes) for g in grads]
        super().apply_gradients(list(zip(grads, variables)))

    def _accumulate(self, grads: list, variables: list) -> None:
        accumulated = self.__dict__.get("_accumulated")
        if accumulated is None:
            accumulated = self.__dict__["_accumulated"] = [None] * len(variables)
        for i, (g, v) in enumerate(zip(grads, variables)):
            if g is None:
                continue
            flat = np.asarray(g, dtype=v.dtype).reshape(-1)
            accumulated[i] = flat.copy() if accumulated[i] is None else accumulated[i] + flat

    def _reducer_for(self, variables) -> fusion.GradientReducer:
        reducer = self.__dict__.get("_reducer")
        if reducer is None or not reducer.matches(variables):
            settings = self._dist
            reducer = self.__dict__["_reducer"] = fusion.GradientReducer(
                variables, self._reduce_op, settings.compression, fusion.fusion_threshold(settings.fusion_threshold),
                fusion.cycle_time_ms(settings.cycle_time_ms) / 1000.0, settings.overlap, self.allreduce_timer)
        return reducer

    def combine_scores(self, scores: dict, n: int) -> dict:
        """The trainer's hook after evaluating: each figure of the whole job, the same on every rank.

        Each rank's figure is weighted by its number of samples ``n``: exact for the loss and
        for means over samples (accuracy, mean errors); for ratios of sums (precision, AUC) it
        is the sample-weighted mean of the ranks' figures. Every rank must evaluate.
        """
        if runtime.size() == 1 or not self._dist.whole_job_evaluation:
            return scores
        keys = list(scores)
        everyone = collectives.allgather_object((keys, [scores[k] for k in keys], int(n)))
        if any(other[0] != keys for other in everyone):
            raise ValueError(f"evaluate: the ranks computed different figures: "
                             f"{dict(enumerate(other[0] for other in everyone))}; compile every rank alike")
        total = sum(other[2] for other in everyone)
        if total == 0:
            return scores
        combined = {}
        for j, key in enumerate(keys):
            value = sum(np.asarray(other[1][j], dtype=np.float64) * other[2] for other in everyone) / total
            combined[key] = float(value) if np.ndim(value) == 0 else np.asarray(value)
        return combined

    def __reduce__(self):
        """Pickles as the wrapped optimizer plus the wrapping (the class itself is made at run time)."""
        plain = object.__new__(_base_class(type(self)))
        plain.__dict__.update({k: v for k, v in self.__dict__.items() if k not in _RUNTIME_ATTRIBUTES})
        return (_rewrap, (plain, self._reduce_op, self._dist))

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


_CLASSES: dict[type, type] = {}
_RUNTIME_ATTRIBUTES = ("_fusion_layout", "_fusion_buffers", "_allreduce_timer", "_reduce_op", "_dist_settings",
                       "_reducer", "_accumulated", "_pass_index")

#: The optimizer and reducer of the last gradient reduction, which a rank in `join` mirrors.
_active: tuple | None = None


@dataclass
class _Settings:
    """A DistributedOptimizer's choices (see `DistributedOptimizer`)."""

    compression: type = compression_module.NoneCompressor
    passes: int = 1
    average_aggregated: bool = False
    overlap: bool = True
    fusion_threshold: int | None = None
    cycle_time_ms: float | None = None
    whole_job_evaluation: bool = True


def _rewrap(plain, op, settings):
    wrapped = DistributedOptimizer(plain, op=op)
    wrapped.__dict__["_dist_settings"] = settings
    return wrapped


def _plus(grad, accumulated, var):
    """One gradient plus its locally accumulated sum (either may be None)."""
    if accumulated is None:
        return grad
    if grad is None:
        return accumulated.reshape(var.shape)
    return np.asarray(grad, dtype=var.dtype) + accumulated.reshape(var.shape)


def _base_class(cls: type) -> type:
    """The optimizer class under the distributed wrapping."""
    return next(c for c in cls.__mro__ if not issubclass(c, _DistributedMixin))


def DistributedOptimizer(  # noqa: N802 - Horovod's name, a factory that reads like a class
        optimizer: Optimizer, name: str | None = None, device_dense: str = "", device_sparse: str = "",
        compression=compression_module.NoneCompressor, sparse_as_dense: bool = False,
        backward_passes_per_step: int = 1, op: str = collectives.Average,
        average_aggregated_gradients: bool = False, overlap: bool = True, fusion_threshold: int | None = None,
        cycle_time_ms: float | None = None, whole_job_evaluation: bool = True) -> Optimizer:
    """Wraps an optimizer so that each update uses the gradients averaged over all ranks.

    The gradients travel in fused buckets (`kerasette.distributed.fusion`): with ``overlap``
    (the default) each bucket's allreduce starts, non-blocking, as soon as the backward pass has
    finished its gradients, and the update waits only for what is still in flight; without it,
    every bucket is reduced after the pass. Either way every rank gets bit-identical gradients,
    so the weights stay identical. The result is an instance of a subclass of the optimizer's
    own class, named as it is (``SGD`` stays ``SGD`` in a checkpoint), sharing the optimizer's
    state: use it in place of the original. With one process it updates exactly as the
    original does (with ``backward_passes_per_step`` > 1: on the sum of the passes).

    Scale the learning rate with the number of ranks (the global batch grows with it), and warm
    it up with `LearningRateWarmupCallback`.

    Args:
        optimizer: the optimizer to wrap (an instance).
        name: an optional new name for the optimizer.
        device_dense, device_sparse, sparse_as_dense: Horovod's device placement switches;
            accepted at their defaults only (there is one device).
        compression: ``Compression.none`` (default) or ``Compression.fp16``: gradients sent as
            float16, summed, cast back to their dtype, then averaged.
        backward_passes_per_step: k > 1 adds up the gradients of k batches locally and reduces
            and applies their sum once, on the k-th call (the first k - 1 calls leave the weights
            and ``iterations`` unchanged).
        op: ``Average`` (default; divided by the number of ranks still training, see `join`)
            or ``Sum`` of the gradients.
        average_aggregated_gradients: with ``backward_passes_per_step`` > 1, divide the sum of
            the k passes by k (Horovod's default: no).
        overlap: start the buckets' allreduces during the backward pass (needs the trainer's
            hook: `fit` and ``train_on_batch``); False reduces after it, blocking.
        fusion_threshold: bytes per bucket; default ``HOROVOD_FUSION_THRESHOLD`` or 64 MB; 0
            reduces each gradient alone.
        cycle_time_ms: gradients finished more than this apart go in different buckets;
            default ``HOROVOD_CYCLE_TIME`` or 1 ms.
        whole_job_evaluation: ``evaluate`` (and ``fit``'s validation) on each rank's shard
            returns the figures of the whole job, weighted by the ranks' sample counts and
            equal on every rank (then every rank must evaluate); False keeps each rank's own.

    Returns:
        The distributed optimizer.

    Example:
        >>> import kerasette.distributed as hvd
        >>> from kerasette.optimizers import SGD
        >>> hvd.init()
        >>> opt = hvd.DistributedOptimizer(SGD(learning_rate=0.01 * hvd.size(), momentum=0.9),
        ...                                compression=hvd.Compression.fp16)
        >>> type(opt).__name__
        'SGD'
    """
    for key, value, default in (("device_dense", device_dense, ""), ("device_sparse", device_sparse, ""),
                                ("sparse_as_dense", sparse_as_dense, False)):
        if value not in (default, None, False, ""):
            raise TypeError(f"DistributedOptimizer: argument `{key}`={value!r} is not supported")
    if op not in (collectives.Average, collectives.Sum):
        raise ValueError(f"DistributedOptimizer: argument `op` must be 'average' or 'sum'; received op={op!r}")
    if (isinstance(backward_passes_per_step, bool) or not isinstance(backward_passes_per_step, int)
            or backward_passes_per_step < 1):
        raise ValueError(f"DistributedOptimizer: argument `backward_passes_per_step` must be an integer >= 1; "
                         f"received backward_passes_per_step={backward_passes_per_step!r}")
    if not hasattr(optimizer, "apply_gradients") or isinstance(optimizer, type):
        raise TypeError(f"DistributedOptimizer: expected an optimizer instance; received {optimizer!r}")
    settings = _Settings(compression=compression_module.get(compression), passes=backward_passes_per_step,
                         average_aggregated=bool(average_aggregated_gradients), overlap=bool(overlap),
                         fusion_threshold=None if fusion_threshold is None else fusion.fusion_threshold(fusion_threshold),
                         cycle_time_ms=None if cycle_time_ms is None else fusion.cycle_time_ms(cycle_time_ms),
                         whole_job_evaluation=bool(whole_job_evaluation))
    base = _base_class(type(optimizer))
    cls = _CLASSES.get(base)
    if cls is None:
        cls = _CLASSES[base] = type(base.__name__, (_DistributedMixin, base),
                                    {"__module__": base.__module__, "__qualname__": base.__qualname__,
                                     "__doc__": base.__doc__})
    wrapped = object.__new__(cls)
    wrapped.__dict__.update({k: v for k, v in optimizer.__dict__.items() if k not in _RUNTIME_ATTRIBUTES})
    wrapped._reduce_op = op
    wrapped.__dict__["_dist_settings"] = settings
    if name is not None:
        wrapped.name = name
    return wrapped


def join() -> int:
    """Declares that this rank has no more batches; returns once every rank has joined.

    Until then this rank takes part in the other ranks' gradient reductions with zeros (the
    average is over the ranks still training) and applies the same updates, so its weights stay
    identical to theirs. Returns the rank that joined last, on every rank.

    Only the DistributedOptimizer's reductions may run while a rank has joined: a rank whose
    data ran out joins after its last step (e.g. after its own loop of ``train_on_batch``, or
    ``fit`` on its shard without callbacks that communicate at the epoch's end), and each rank
    must have taken at least one step of the same model before joining. With one process it
    returns 0 at once.

    Example:
        >>> import kerasette.distributed as hvd
        >>> hvd.init()
        >>> hvd.join()
        0
    """
    world = runtime.world()
    if world.size == 1:
        return 0
    if _active is None:
        raise RuntimeError("kerasette.distributed.join: this rank has not reduced any gradients yet; every rank "
                           "must take at least one DistributedOptimizer step before joining")
    optimizer, reducer = _active
    rounds = 0
    while True:
        rounds += 1
        reducer.begin(None, training=False)
        grads, active = reducer.finish([None] * len(reducer.variables), training=False)
        if active == 0:
            break
        optimizer._apply_reduced(grads, reducer.variables)
    everyone = collectives.allgather_object(rounds)
    fewest = min(everyone)
    return max(r for r, n in enumerate(everyone) if n == fewest)
