"""The programs the distributed tests start under ``mpiexec -n 2``: ``python mpi_worker.py SCENARIO OUT``.

Each rank writes what it saw to ``OUT/SCENARIO.rank<R>.npz`` (or ``.json``); the tests read
those files and compare. Small models only, so that each run takes a few seconds.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

import kerasette.distributed as hvd
from kerasette.backend import random as krandom
from kerasette.callbacks import Callback, ModelCheckpoint
from kerasette.layers import Conv2D, Dense, Flatten, MaxPooling2D
from kerasette.models import Sequential
from kerasette.optimizers import SGD


def tiny_convnet() -> Sequential:
    """A convnet without dropout: every rank computes exactly what one process would."""
    return Sequential([
        Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(16, activation="relu"),
        Dense(3, activation="softmax"),
    ])


def tiny_data(n: int = 100):
    rng = np.random.default_rng(42)
    x = rng.standard_normal((n, 8, 8, 1)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, n)]
    return x, y


def flat(weights) -> np.ndarray:
    return np.concatenate([np.asarray(w, dtype=np.float64).ravel() for w in weights])


def sgd() -> SGD:
    return SGD(learning_rate=0.05, momentum=0.9, nesterov=True, decay=1e-3)


class RecordLogs(Callback):
    """Keeps a copy of each epoch's logs as this callback sees them."""

    def __init__(self):
        super().__init__()
        self.seen: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(dict(logs or {}))


def equivalence(out: Path) -> None:
    """N ranks with batch b on strided shards vs one process with batch N*b, same data order."""
    x, y = tiny_data(100)
    krandom.set_seed(1234 + hvd.rank())  # different initial draws: the broadcast must fix them
    model = tiny_convnet()
    model.compile(loss="categorical_crossentropy", optimizer=hvd.DistributedOptimizer(sgd()),
                  metrics=["accuracy"])
    before, after = RecordLogs(), RecordLogs()
    xs, ys = hvd.shard(x, y)
    history = model.fit(xs, ys, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0), before,
                                   hvd.callbacks.MetricAverageCallback(), after])
    initial = None
    result = {"weights": flat(model.get_weights()), "loss_before": [e["loss"] for e in before.seen],
              "loss_after": [e["loss"] for e in after.seen], "loss_history": history.history["loss"]}
    if hvd.rank() == 0:  # the one-process reference, from the same initial weights
        krandom.set_seed(1234)
        reference = tiny_convnet()
        initial = reference.get_weights()
        reference.compile(loss="categorical_crossentropy", optimizer=sgd(), metrics=["accuracy"])
        reference.fit(x, y, batch_size=8 * hvd.size(), epochs=3, shuffle=False, verbose=0)
        result["reference"] = flat(reference.get_weights())
        result["initial"] = flat(initial)
    result["all_ranks"] = hvd.allgather(result["weights"][None])
    np.savez(out / f"equivalence.rank{hvd.rank()}.npz", **result)


def collectives(out: Path) -> None:
    """Each collective's result on each rank, and the thread counts `init` set."""
    from kerasette.distributed import threads

    r, n = hvd.rank(), hvd.size()
    optimizer = sgd()
    model = tiny_convnet()
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)
    if r == 0:  # a resumed run: only rank 0 holds trained state
        optimizer.iterations = 7
        for var in model.trainable_weights:
            optimizer.slots_for(var)["momentum"][...] = 0.5
    hvd.callbacks.broadcast_model(model, 0)
    import numba

    record = {
        "rank": r, "size": n, "local_rank": hvd.local_rank(), "local_size": hvd.local_size(),
        "average": hvd.allreduce(np.array([r, 10.0 * r])).tolist(),
        "sum": hvd.allreduce(np.array([r + 1, 2], dtype=np.int32), op=hvd.Sum).tolist(),
        "min": hvd.allreduce(float(r + 3), op=hvd.Min), "max": hvd.allreduce(r, op=hvd.Max),
        "average_int": hvd.allreduce(np.array([r]), average=True).tolist(),
        "broadcast": hvd.broadcast(np.full((2, 2), float(r)), root_rank=1).tolist(),
        "broadcast_object": hvd.broadcast({"from": r}, root_rank=0),
        "allgather": hvd.allgather(np.full((r + 1, 2), r, dtype=np.int64)).tolist(),
        "allgather_object": hvd.allgather_object(f"rank{r}"),
        "weights_sum": float(flat(model.get_weights()).sum()),
        "iterations": optimizer.iterations,
        "momentum_mean": float(np.mean([optimizer.slots_for(v)["momentum"].mean()
                                        for v in model.trainable_weights])),
        "numba_threads": numba.get_num_threads(), "blas_threads": threads.blas_threads(),
    }
    record["missing_gradients"] = missing_gradients(r)
    hvd.barrier()
    (out / f"collectives.rank{r}.json").write_text(json.dumps(record))


def missing_gradients(r: int) -> list:
    """A gradient None on rank 1 only counts as zeros there; None on every rank stays None."""
    from kerasette.backend.tensor import Variable

    variables = [Variable(np.zeros(2, np.float32)), Variable(np.zeros(3, np.float32)),
                 Variable(np.ones(1, np.float32))]
    grads = [np.full(2, r + 1.0, np.float32), np.full(3, 4.0, np.float32) if r == 0 else None, None]
    hvd.DistributedOptimizer(SGD(learning_rate=1.0)).apply_gradients(zip(grads, variables))
    return [v.data.tolist() for v in variables]


class FailOnRank(Callback):
    """Raises on rank ``rank`` at batch ``batch`` of the first epoch."""

    def __init__(self, rank: int, batch: int):
        super().__init__()
        self.rank, self.batch = rank, batch

    def on_batch_end(self, batch, logs=None):
        if hvd.rank() == self.rank and batch == self.batch:
            raise ValueError(f"boom from rank {self.rank} at batch {batch}")


def fault(out: Path, failing_rank: int = 1) -> None:
    """One rank fails in the middle of an epoch while the other waits in the next allreduce."""
    x, y = tiny_data(200)
    model = tiny_convnet()
    model.compile(loss="categorical_crossentropy", optimizer=hvd.DistributedOptimizer(sgd()))
    xs, ys = hvd.shard(x, y)
    model.fit(xs, ys, batch_size=4, epochs=50, verbose=0, callbacks=[FailOnRank(failing_rank, 3)])
    (out / f"fault.rank{hvd.rank()}.json").write_text("finished")  # must never happen


def uneven(out: Path) -> None:
    """Ranks holding different numbers of samples (no shard): same step count, no hang."""
    x, y = tiny_data(100 - 7 * hvd.rank())
    model = tiny_convnet()
    model.compile(loss="categorical_crossentropy", optimizer=hvd.DistributedOptimizer(sgd()))
    steps = []

    class Count(Callback):
        def on_epoch_end(self, epoch, logs=None):
            steps.append(self.params["steps"])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                  callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0), Count()])
    record = {"steps": steps, "warnings": [str(w.message) for w in caught],
              "identical": bool(np.all(hvd.allgather(flat(model.get_weights())[None]) == flat(model.get_weights())))}
    (out / f"uneven.rank{hvd.rank()}.json").write_text(json.dumps(record))


def checkpoint(out: Path) -> None:
    """The documented pattern: every rank trains, only rank 0 writes the checkpoint."""
    x, y = tiny_data(64)
    krandom.set_seed(hvd.rank())
    model = tiny_convnet()
    opt = hvd.DistributedOptimizer(SGD(learning_rate=0.05 * hvd.size(), momentum=0.9, nesterov=True))
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    callbacks = [hvd.callbacks.BroadcastGlobalVariablesCallback(0), hvd.callbacks.MetricAverageCallback()]
    if hvd.rank() == 0:
        callbacks.append(ModelCheckpoint(str(out / "ckpt.h5"), monitor="loss"))
    xs, ys = hvd.shard(x, y)
    model.fit(xs, ys, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    np.savez(out / f"checkpoint.rank{hvd.rank()}.npz", *model.get_weights(),
             predictions=model.predict(x[:5]))


def warmup(out: Path) -> None:
    """The learning rate and momentum seen by each batch under LearningRateWarmupCallback."""
    x, y = tiny_data(64)
    optimizer = hvd.DistributedOptimizer(SGD(learning_rate=0.1 * hvd.size(), momentum=0.9))
    model = tiny_convnet()
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)
    seen = []

    class Watch(Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append((optimizer.learning_rate, optimizer.momentum))

    xs, ys = hvd.shard(x, y)
    model.fit(xs, ys, batch_size=8, epochs=3, verbose=0,
              callbacks=[hvd.callbacks.LearningRateWarmupCallback(warmup_epochs=2), Watch()])
    (out / f"warmup.rank{hvd.rank()}.json").write_text(json.dumps({"seen": seen, "final": optimizer.momentum}))


def mismatched_logs(out: Path) -> None:
    """Only rank 0 asks for a metric: MetricAverageCallback must refuse, not reduce garbage or hang."""
    x, y = tiny_data(32)
    model = tiny_convnet()
    model.compile(loss="categorical_crossentropy", optimizer=hvd.DistributedOptimizer(sgd()),
                  metrics=["accuracy"] if hvd.rank() == 0 else [])
    xs, ys = hvd.shard(x, y)
    model.fit(xs, ys, batch_size=8, epochs=1, verbose=0, callbacks=[hvd.callbacks.MetricAverageCallback()])


def digits_convnet() -> Sequential:
    """The digits convnet of tests/test_integration.py (channels-last)."""
    return Sequential([
        Conv2D(16, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        MaxPooling2D(2),
        Flatten(),
        Dense(10, activation="softmax"),
    ])


def digits_data():
    from kerasette.datasets import digits
    from kerasette.utils import to_categorical

    (x_train, y_train), (x_test, y_test) = digits.load_data()
    scale = np.float32(1 / 16)
    return ((x_train[..., None].astype("float32") * scale, to_categorical(y_train, 10)),
            (x_test[..., None].astype("float32") * scale, to_categorical(y_test, 10)))


OVERLAP_MODES = {  # name: DistributedOptimizer arguments
    "blocking": {"overlap": False},
    "overlap_small_buckets": {"fusion_threshold": 256, "cycle_time_ms": 0.0},
    # the default fusion threshold, with a cycle time long enough that only the threshold cuts
    # buckets (the default 1 ms cycle splits them by timing, which varies on a loaded machine)
    "overlap_default": {"cycle_time_ms": 10_000.0},
    "overlap_threshold_0": {"fusion_threshold": 0},
    "blocking_fp16": {"overlap": False, "compression": hvd.Compression.fp16},
    "overlap_fp16": {"fusion_threshold": 256, "compression": hvd.Compression.fp16},
}


def overlap(out: Path) -> None:
    """The same training in each mode of OVERLAP_MODES, from the same weights; what each produced."""
    x, y = tiny_data(96)
    xs, ys = hvd.shard(x, y)
    result = {}
    for mode, kwargs in OVERLAP_MODES.items():
        krandom.set_seed(99)
        model = tiny_convnet()
        opt = hvd.DistributedOptimizer(sgd(), **kwargs)
        model.compile(loss="categorical_crossentropy", optimizer=opt)
        model.fit(xs, ys, batch_size=8, epochs=2, shuffle=False, verbose=0)
        reducer = opt._reducer
        result[mode] = flat(model.get_weights())
        result[mode + "_all_ranks"] = hvd.allgather(result[mode][None])
        result[mode + "_buckets"] = len(reducer.buckets)
        result[mode + "_launched_during_pass"] = reducer.launched_during_pass
        result[mode + "_wire_bytes"] = opt.allreduce_timer.bytes
    np.savez(out / f"overlap.rank{hvd.rank()}.npz", **result)


def accumulation(out: Path) -> None:
    """backward_passes_per_step=2 on 2 ranks vs one process with 4 times the batch."""
    x, y = tiny_data(96)
    xs, ys = hvd.shard(x, y)
    result = {}
    for average in (True, False):
        krandom.set_seed(5)
        model = tiny_convnet()
        opt = hvd.DistributedOptimizer(SGD(learning_rate=0.05, momentum=0.9), backward_passes_per_step=2,
                                       average_aggregated_gradients=average)
        model.compile(loss="categorical_crossentropy", optimizer=opt)
        model.fit(xs, ys, batch_size=4, epochs=2, shuffle=False, verbose=0)
        result[f"weights_{average}"] = flat(model.get_weights())
        result[f"iterations_{average}"] = opt.iterations
        if hvd.rank() == 0:  # summed passes = averaged passes with twice the learning rate (plain SGD)
            krandom.set_seed(5)
            reference = tiny_convnet()
            reference.compile(loss="categorical_crossentropy",
                              optimizer=SGD(learning_rate=0.05 * (1 if average else 2), momentum=0.9))
            reference.fit(x, y, batch_size=4 * 2 * hvd.size(), epochs=2, shuffle=False, verbose=0)
            result[f"reference_{average}"] = flat(reference.get_weights())
    np.savez(out / f"accumulation.rank{hvd.rank()}.npz", **result)


def api(out: Path) -> None:
    """Horovod's other collectives, unshard, and join after unequal numbers of steps."""
    r = hvd.rank()
    rec = {
        "is_initialized": hvd.is_initialized(),
        "scaled": hvd.allreduce(np.array([1.0, 2.0]) * (r + 1), op=hvd.Sum, prescale_factor=2.0,
                                postscale_factor=0.5, name="scaled").tolist(),
        "scaled_average_int": hvd.allreduce(np.array([r + 1]), prescale_factor=3.0).tolist(),
        "product": hvd.allreduce(np.array([r + 2.0]), op=hvd.Product).tolist(),
        "fp16": hvd.allreduce(np.array([1.0 / 3.0, 1000.0 + r], np.float32), op=hvd.Sum,
                              compression=hvd.Compression.fp16).tolist(),
        "grouped": [a.tolist() for a in hvd.grouped_allreduce(
            [np.full(2, r + 1.0, np.float32), np.array([r], np.int64), np.full((1, 2), 10.0 * r)], op=hvd.Sum)],
        "reducescatter": hvd.reducescatter(np.arange(10.0).reshape(5, 2) * (r + 1), op=hvd.Sum).tolist(),
        "reducescatter_average": hvd.reducescatter(np.arange(4) + r).tolist(),
    }
    received, counts = hvd.alltoall(np.arange(3) + 10 * r, splits=[1, 2] if r == 0 else [2, 1])
    rec["alltoall"], rec["alltoall_counts"] = received.tolist(), counts.tolist()
    rec["unshard"] = hvd.unshard(hvd.shard(np.arange(7) * 10), total=7).tolist()
    # join: rank 0 has 5 batches, rank 1 only 3; rank 1 joins early and keeps step with rank 0
    x, y = tiny_data(40)
    krandom.set_seed(3)
    model = tiny_convnet()
    opt = hvd.DistributedOptimizer(sgd(), fusion_threshold=512)
    model.compile(loss="categorical_crossentropy", optimizer=opt)
    for step in range(5 if r == 0 else 3):
        model.train_on_batch(x[8 * step: 8 * step + 8], y[8 * step: 8 * step + 8])
    rec["last_joined"] = hvd.join()
    rec["iterations"] = opt.iterations
    weights = flat(model.get_weights())
    rec["identical_after_join"] = bool(np.all(hvd.allgather(weights[None]) == weights))
    rec["after_join_allreduce"] = hvd.allreduce(float(r), op=hvd.Sum)
    (out / f"api.rank{r}.json").write_text(json.dumps(rec))


def digits_training(out: Path, fp16: int = 1) -> None:
    """The digits convnet on 2 ranks (fp16 gradients), whole-job evaluation and gathered predictions."""
    (x, y), (x_test, y_test) = digits_data()
    krandom.set_seed(0)
    model = digits_convnet()
    opt = hvd.DistributedOptimizer(SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
                                   compression=hvd.Compression.fp16 if fp16 else hvd.Compression.none)
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    xs, ys = hvd.shard(x, y)
    model.fit(xs, ys, batch_size=32 // hvd.size(), epochs=6, verbose=0,
              callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0)])
    even = len(x_test) - len(x_test) % hvd.size()
    xt, yt = hvd.shard(x_test[:even], y_test[:even])
    loss, accuracy = model.evaluate(xt, yt, batch_size=50, verbose=0)
    # shards of unequal sizes (rank 0 the first 200 samples, rank 1 the other 160): each rank's
    # figures weigh by its samples
    part = slice(0, 200) if hvd.rank() == 0 else slice(200, even)
    xu, yu = x_test[part], y_test[part]
    rec = {"loss": loss, "accuracy": accuracy, "own": None,
           "uneven": model.evaluate(xu, yu, batch_size=50, verbose=0), "uneven_sizes": hvd.allgather_object(len(xu))}
    predictions = hvd.predict(model, hvd.shard(x_test), total=len(x_test), batch_size=64)
    if hvd.rank() == 0:  # the same figures from one process
        opt._dist.whole_job_evaluation = False
        rec["own"] = model.evaluate(x_test[:even], y_test[:even], batch_size=50, verbose=0)
        rec["predictions_match"] = float(np.max(np.abs(predictions - model.predict(x_test, batch_size=64))))
    (out / f"digits_training.rank{hvd.rank()}.json").write_text(json.dumps(rec))


def digits_equivalence(out: Path) -> None:
    """The digits convnet on N ranks with batch 8 each vs one process with batch 8 N (the multi-host test)."""
    (x, y), _ = digits_data()
    x, y = x[:512], y[:512]
    krandom.set_seed(11 + hvd.rank())
    model = digits_convnet()
    model.compile(loss="categorical_crossentropy",
                  optimizer=hvd.DistributedOptimizer(SGD(learning_rate=0.05, momentum=0.9)))
    xs, ys = hvd.shard(x, y)
    model.fit(xs, ys, batch_size=8, epochs=1, shuffle=False, verbose=0,
              callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0)])
    result = {"weights": flat(model.get_weights())}
    result["all_ranks"] = hvd.allgather(result["weights"][None])
    if hvd.rank() == 0:
        krandom.set_seed(11)
        reference = digits_convnet()
        result["initial"] = flat(reference.get_weights())
        reference.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.05, momentum=0.9))
        reference.fit(x, y, batch_size=8 * hvd.size(), epochs=1, shuffle=False, verbose=0)
        result["reference"] = flat(reference.get_weights())
    np.savez(out / f"digits_equivalence.rank{hvd.rank()}.npz", **result)


def ring(out: Path) -> None:
    """The float16 ring allreduce on arrays of several sizes (fewer elements than ranks too)."""
    from kerasette.distributed import ring as kring

    result = {}
    for size in (1, 3, 4, 1000, 40_001):
        values = np.random.default_rng(size * 10 + hvd.rank()).standard_normal(size).astype(np.float16)
        everyone = hvd.allgather(values[None].astype(np.float32))  # every rank's input, exactly
        summed = kring.sum_half(values.copy())
        result[f"sum_{size}"] = summed.astype(np.float32)
        result[f"reference_{size}"] = everyone.sum(axis=0)
        result[f"all_ranks_{size}"] = hvd.allgather(summed[None].view(np.uint16))
    np.savez(out / f"ring.rank{hvd.rank()}.npz", **result)


def endless(out: Path) -> None:
    """Trains until killed; each rank writes its process id first (the multi-host kill test)."""
    import os

    x, y = tiny_data(64)
    model = tiny_convnet()
    model.compile(loss="categorical_crossentropy", optimizer=hvd.DistributedOptimizer(sgd()))
    model.train_on_batch(x[:8], y[:8])
    (out / f"endless.rank{hvd.rank()}.pid").write_text(str(os.getpid()))
    while True:
        model.train_on_batch(x[:8], y[:8])


SCENARIOS = {f.__name__: f for f in (equivalence, collectives, fault, uneven, checkpoint, warmup,
                                     mismatched_logs, overlap, accumulation, api, digits_training,
                                     digits_equivalence, ring, endless)}

if __name__ == "__main__":
    hvd.init()
    SCENARIOS[sys.argv[1]](Path(sys.argv[2]), *map(int, sys.argv[3:]))
