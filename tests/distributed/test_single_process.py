"""With one process and no MPI, every call is the identity and training is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.distributed as hvd
from kerasette.backend import random as krandom
from kerasette.distributed import runtime
from kerasette.distributed.callbacks import LearningRateWarmupCallback
from kerasette.layers import Dense
from kerasette.models import Sequential
from kerasette.optimizers import SGD, Adam, serialize


def mlp() -> Sequential:
    return Sequential([Dense(8, activation="relu", input_dim=5), Dense(3, activation="softmax")])


def data(n=40):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 5)).astype("float32"), np.eye(3, dtype="float32")[rng.integers(0, 3, n)]


def test_world_of_one_without_mpi4py(single_world):
    assert (hvd.rank(), hvd.size(), hvd.local_rank(), hvd.local_size()) == (0, 1, 0, 1)
    assert hvd.is_initialized() and not hvd.mpi_enabled()
    hvd.init()  # a second call does nothing
    assert hvd.size() == 1


def test_collectives_are_the_identity(single_world):
    a = np.arange(6.0).reshape(2, 3)
    for op in (hvd.Average, hvd.Sum, hvd.Min, hvd.Max):
        out = hvd.allreduce(a, op=op)
        np.testing.assert_array_equal(out, a)
        assert out is not a
    assert hvd.allreduce(2.5) == 2.5
    np.testing.assert_array_equal(hvd.broadcast(a, 0), a)
    assert hvd.broadcast({"k": 1}) == {"k": 1}
    np.testing.assert_array_equal(hvd.allgather(a), a)
    assert hvd.allgather_object("x") == ["x"]
    w = np.ones(3)
    hvd.broadcast_variables([w])
    hvd.barrier()
    np.testing.assert_array_equal(w, 1.0)


def test_calls_before_init_say_what_to_do():
    runtime.shutdown()
    with pytest.raises(ValueError, match=r"call kerasette.distributed.init\(\) first"):
        hvd.rank()


def test_launched_as_several_ranks_without_mpi4py_is_an_error(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "mpi4py", None)
    monkeypatch.setenv("PMI_SIZE", "4")
    runtime.shutdown()
    with pytest.raises(RuntimeError, match=r"one of 4 ranks, but mpi4py cannot be imported.*kerasette\[mpi\]"):
        hvd.init()
    assert not hvd.is_initialized()


def test_argument_errors(single_world):
    with pytest.raises(ValueError, match=r"`op` must be one of .* received op='mean'"):
        hvd.allreduce(np.ones(2), op="mean")
    with pytest.raises(ValueError, match=r"`root_rank` must be a rank in \[0, 1\); received root_rank=1"):
        hvd.broadcast(np.ones(2), root_rank=1)
    with pytest.raises(TypeError, match="expected Variables or numpy arrays; received list"):
        hvd.broadcast_variables([[1.0]])
    with pytest.raises(ValueError, match=r"`compression` must be hvd.Compression.none or hvd.Compression.fp16; "
                                         r"received compression='bf16'"):
        hvd.DistributedOptimizer(SGD(), compression="bf16")
    with pytest.raises(TypeError, match="`device_dense`='/gpu:0' is not supported"):
        hvd.DistributedOptimizer(SGD(), device_dense="/gpu:0")
    with pytest.raises(ValueError, match="`backward_passes_per_step` must be an integer >= 1; received "
                                         "backward_passes_per_step=0"):
        hvd.DistributedOptimizer(SGD(), backward_passes_per_step=0)
    with pytest.raises(ValueError, match=r"`fusion_threshold` must be a number of bytes >= 0; received "
                                         r"fusion_threshold=-1"):
        hvd.DistributedOptimizer(SGD(), fusion_threshold=-1)
    with pytest.raises(ValueError, match=r"`cycle_time_ms` must be >= 0; received cycle_time_ms=-1"):
        hvd.DistributedOptimizer(SGD(), cycle_time_ms=-1)
    with pytest.raises(ValueError, match="warmup_epochs"):
        LearningRateWarmupCallback(warmup_epochs=0)


def test_shard_is_strided_and_even():
    x = np.arange(10)
    shards = [hvd.shard(x, rank=r, size=4) for r in range(4)]
    assert [s.tolist() for s in shards] == [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]
    dropped = [hvd.shard(x, rank=r, size=4, drop_remainder=True).tolist() for r in range(4)]
    assert dropped == [[0, 4], [1, 5], [2, 6], [3, 7]]
    (xs, ys), zs = hvd.shard([x, x * 2], x * 3, rank=1, size=2)
    assert xs.tolist() == [1, 3, 5, 7, 9] and ys.tolist() == [2, 6, 10, 14, 18] and zs.tolist() == [3, 9, 15, 21, 27]


def test_shard_errors():
    with pytest.raises(ValueError, match=r"same number of samples; received lengths \[3, 4\]"):
        hvd.shard(np.arange(3), np.arange(4), rank=0, size=2)
    with pytest.raises(ValueError, match="3 samples cannot give each of 4 ranks"):
        hvd.shard(np.arange(3), rank=0, size=4, drop_remainder=True)


@pytest.mark.parametrize("make", [lambda: SGD(learning_rate=0.05, momentum=0.9, nesterov=True, decay=1e-3),
                                  lambda: Adam(learning_rate=0.01)])
def test_distributed_optimizer_on_one_process_trains_exactly_as_the_original(single_world, make):
    x, y = data()
    weights = []
    for wrap in (False, True):
        krandom.set_seed(3)
        model = mlp()
        opt = hvd.DistributedOptimizer(make()) if wrap else make()
        model.compile(loss="categorical_crossentropy", optimizer=opt)
        model.fit(x, y, batch_size=7, epochs=2, verbose=0, shuffle=False,
                  callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0),
                             hvd.callbacks.MetricAverageCallback(),
                             hvd.callbacks.LearningRateWarmupCallback(warmup_epochs=1)])
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_distributed_optimizer_keeps_the_class_name_config_and_state(single_world):
    base = SGD(learning_rate=0.2, momentum=0.5)
    opt = hvd.DistributedOptimizer(base)
    assert isinstance(opt, SGD) and type(opt).__name__ == "SGD"
    assert serialize(opt) == serialize(base)
    assert hvd.DistributedOptimizer(opt).__class__ is type(opt)  # wrapping twice does not nest
    opt.learning_rate = 0.4
    assert opt.lr == 0.4


def test_warmup_multiplier_follows_goyal(single_world, monkeypatch):
    monkeypatch.setattr(single_world, "size", 4)
    cb = LearningRateWarmupCallback(warmup_epochs=2, steps_per_epoch=10)
    assert cb.multiplier(0, 0) == pytest.approx(0.25)
    assert cb.multiplier(1, 0) == pytest.approx(0.25 * (1 * 3 / 2 + 1))
    assert cb.multiplier(1, 9) == pytest.approx(0.25 * (1.9 * 3 / 2 + 1))
    assert cb.multiplier(2, 0) == 1.0


def test_set_threads_validates():
    with pytest.raises(ValueError, match="threads must be a positive integer; received threads=0"):
        hvd.set_threads(0)


def test_distributed_optimizer_pickles_and_deep_copies(single_world):
    import copy
    import pickle

    opt = hvd.DistributedOptimizer(SGD(learning_rate=0.3, momentum=0.9), op=hvd.Sum)
    opt.iterations = 4
    for clone in (pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)):
        assert type(clone) is type(opt)
        assert (clone.learning_rate, clone.momentum, clone.iterations, clone._reduce_op) == (0.3, 0.9, 4, hvd.Sum)
