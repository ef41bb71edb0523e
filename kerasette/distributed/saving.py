"""`load_model` for data-parallel training: a checkpoint whose optimizer is made distributed."""

from __future__ import annotations

from kerasette.distributed import compression as kcompression
from kerasette.distributed.optimizer import DistributedOptimizer


def load_model(filepath, custom_objects: dict | None = None, compression=kcompression.NoneCompressor,
               **distributed_kwargs):
    """Loads a saved model and wraps its optimizer in a `DistributedOptimizer` (Horovod's ``hvd.load_model``).

    Resuming a data-parallel run: every rank loads the same checkpoint (or rank 0 loads it and
    `BroadcastGlobalVariablesCallback` shares it); the optimizer keeps its state (iterations,
    momenta) and its class name, and now averages the gradients over the ranks.

    Args:
        filepath: a file written by ``model.save`` (HDF5 or ``.keras``).
        custom_objects: as for `kerasette.models.load_model`.
        compression: the `DistributedOptimizer`'s compression.
        **distributed_kwargs: other `DistributedOptimizer` arguments
            (``backward_passes_per_step``, ``op``...).

    Returns:
        The model, compiled as saved, with a distributed optimizer (a model saved without an
        optimizer is returned as loaded).
    """
    from kerasette.models import load_model as load  # deferred: kerasette.models pulls in the layers

    model = load(filepath, custom_objects=custom_objects)
    if getattr(model, "optimizer", None) is not None:
        model.optimizer = DistributedOptimizer(model.optimizer, compression=compression, **distributed_kwargs)
    return model
