"""Data-parallel training over MPI, the way Horovod does it.

Every process (rank) holds the whole model and trains on its own shard of the data; each step's
gradients are averaged over the ranks with one MPI allreduce before the update, so all ranks
keep identical weights. Start the script with ``mpiexec -n 4 python train.py``; run as
``python train.py`` (with or without mpi4py installed) it trains on one process, and every call
here is then the identity. Install MPI with ``pip install 'kerasette[mpi]'``.

Example:
    >>> import kerasette.distributed as hvd
    >>> from kerasette.optimizers import SGD
    >>> hvd.init()
    >>> opt = hvd.DistributedOptimizer(SGD(learning_rate=0.01 * hvd.size(), momentum=0.9))
    >>> callbacks = [hvd.callbacks.BroadcastGlobalVariablesCallback(0),
    ...              hvd.callbacks.MetricAverageCallback(),
    ...              hvd.callbacks.LearningRateWarmupCallback(warmup_epochs=1)]

A full script is ``examples/distributed_vgg.py``.
"""

from kerasette.distributed import callbacks
from kerasette.distributed.collectives import (
    Average,
    Max,
    Min,
    Sum,
    allgather,
    allgather_object,
    allreduce,
    barrier,
    broadcast,
    broadcast_object,
    broadcast_variables,
)
from kerasette.distributed.optimizer import DistributedOptimizer
from kerasette.distributed.runtime import (
    init,
    is_initialized,
    local_rank,
    local_size,
    mpi_enabled,
    rank,
    shutdown,
    size,
)
from kerasette.distributed.sharding import shard
from kerasette.distributed.threads import set_threads

__all__ = [
    "Average", "DistributedOptimizer", "Max", "Min", "Sum", "allgather", "allgather_object", "allreduce",
    "barrier", "broadcast", "broadcast_object", "broadcast_variables", "callbacks", "init",
    "is_initialized", "local_rank", "local_size", "mpi_enabled", "rank", "set_threads", "shard",
    "shutdown", "size",
]
