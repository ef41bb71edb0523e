"""Data-parallel training over MPI, the way Horovod does it.

Every process (rank) holds the whole model and trains on its own shard of the data; each step's
gradients are averaged over the ranks before the update (fused buckets whose allreduces start
during the backward pass, optionally sent as float16), so all ranks keep identical weights. Start the script with ``mpiexec -n 4 python train.py``; run as
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
    Product,
    Sum,
    allgather,
    allgather_object,
    allreduce,
    alltoall,
    barrier,
    broadcast,
    broadcast_object,
    broadcast_variables,
    grouped_allreduce,
    reducescatter,
)
from kerasette.distributed.compression import Compression
from kerasette.distributed.optimizer import DistributedOptimizer, join
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
from kerasette.distributed.saving import load_model
from kerasette.distributed.sharding import predict, shard, unshard
from kerasette.distributed.threads import set_threads

__all__ = [
    "Average", "Compression", "DistributedOptimizer", "Max", "Min", "Product", "Sum", "allgather",
    "allgather_object", "allreduce", "alltoall", "barrier", "broadcast", "broadcast_object",
    "broadcast_variables", "callbacks", "grouped_allreduce", "init", "is_initialized", "join", "load_model",
    "local_rank", "local_size", "mpi_enabled", "predict", "rank", "reducescatter", "set_threads", "shard",
    "shutdown", "size", "unshard",
]
