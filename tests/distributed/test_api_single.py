"""One process: the backward-pass hook, bucket plans, compression, accumulation, schedules, load_model."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.distributed as hvd
from kerasette.backend import autograd
from kerasette.backend import random as krandom
from kerasette.backend.tensor import Tensor, Variable, enable_grad
from kerasette.callbacks import Callback
from kerasette.distributed.callbacks import LearningRateScheduleCallback
from kerasette.distributed.fusion import plan_buckets
from kerasette.layers import Dense
from kerasette.models import Sequential
from kerasette.optimizers import SGD
from tests.distributed.test_single_process import data, mlp


def test_backward_hook_reports_each_final_gradient_last_layer_first():
    krandom.set_seed(0)
    model = mlp()
    x, _ = data(6)
    variables = model.trainable_weights
    seen = []
    with enable_grad():
        loss = model.call_graph([Tensor(x)], training=True)[0].sum()
    grads = autograd.gradients_or_none(loss, variables, on_ready=lambda t, g: seen.append((t, g.copy())))
    assert [id(t) for t, _ in seen][:2] in ([id(variables[3]), id(variables[2])],
                                             [id(variables[2]), id(variables[3])])  # the last layer first
    assert {id(t) for t, _ in seen} == {id(v) for v in variables}
    for t, g in seen:  # final: equal to what the pass returns
        np.testing.assert_array_equal(g, grads[[id(v) for v in variables].index(id(t))])


def test_backward_hook_is_not_called_for_unreached_variables():
    w, unused = Variable(np.ones(2), dtype="float64"), Variable(np.ones(2), dtype="float64")
    with enable_grad():
        loss = (w * w).sum()
    seen = []
    grads = autograd.gradients_or_none(loss, [w, unused], on_ready=lambda t, g: seen.append(t))
    assert seen == [w] and grads[1] is None


def test_plan_buckets_threshold_dtype_and_cycle_time():
    assert plan_buckets([3, 2, 1, 0], [4] * 4, ["f4"] * 4, threshold=8) == [[3, 2], [1, 0]]
    assert plan_buckets([3, 2, 1, 0], [4] * 4, ["f4"] * 4, threshold=0) == [[3], [2], [1], [0]]
    assert plan_buckets([0, 1], [100, 4], ["f4"] * 2, threshold=8) == [[0], [1]]  # too big: a bucket alone
    assert plan_buckets([0, 1, 2], [4] * 3, ["f4", "f8", "f8"], threshold=64) == [[0], [1, 2]]
    times = [0.0, 0.0005, 0.004]
    assert plan_buckets([0, 1, 2], [4] * 3, ["f4"] * 3, 64, times, cycle_time_s=0.001) == [[0, 1], [2]]


def test_compression_round_trip():
    x = np.array([1 / 3, 70000.0, -2.5], np.float32)
    with pytest.warns(RuntimeWarning, match="overflow"):  # beyond float16's range: said, and infinite
        sent, ctx = hvd.Compression.fp16.compress(x)
    assert sent.dtype == np.float16
    back = hvd.Compression.fp16.decompress(sent, ctx)
    assert back.dtype == np.float32 and back[2] == -2.5 and np.isinf(back[1])
    assert back[0] == np.float32(np.float16(1 / 3))
    ints = np.array([1, 2])
    assert hvd.Compression.fp16.compress(ints)[0] is ints
    assert hvd.Compression.none.compress(x)[0] is x


@pytest.mark.parametrize("average", [True, False])
def test_accumulation_on_one_process_applies_the_sum_of_k_passes(single_world, average):
    x, y = data(24)
    results = []
    for k in (1, 3):
        krandom.set_seed(4)
        model = Sequential([Dense(3, activation="softmax", input_dim=5)])
        lr = 0.1 if k == 1 else (0.1 if average else 0.1 / 3)
        opt = hvd.DistributedOptimizer(SGD(learning_rate=lr), backward_passes_per_step=k,
                                       average_aggregated_gradients=average)
        model.compile(loss="categorical_crossentropy", optimizer=opt)
        # k passes of 4 samples with the mean loss = one pass of 12 with k times the mean's gradient
        model.fit(x, y, batch_size=12 if k == 1 else 4, epochs=1, shuffle=False, verbose=0)
        results.append((model.get_weights(), opt.iterations))
    (one, it_one), (acc, it_acc) = results
    assert it_one == it_acc == 2
    for a, b in zip(one, acc):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_grouped_and_scaled_collectives_on_one_process(single_world):
    out = hvd.grouped_allreduce([np.ones(2), np.array([3])], op=hvd.Sum, prescale_factor=2.0, postscale_factor=0.25)
    assert [a.tolist() for a in out] == [[0.5, 0.5], [1.5]]
    assert hvd.reducescatter(np.arange(3.0)).tolist() == [0.0, 1.0, 2.0]
    received, counts = hvd.alltoall(np.arange(4))
    assert received.tolist() == [0, 1, 2, 3] and counts.tolist() == [4]
    assert hvd.join() == 0
    assert hvd.unshard([np.arange(3), np.arange(3) * 2], total=2)[1].tolist() == [0, 2]
    with pytest.raises(ValueError, match=r"`op` must be one of .* received op='adasum'"):
        hvd.allreduce(np.ones(2), op="adasum")
    with pytest.raises(ValueError, match=r"alltoall: argument `splits` must give 1 non-negative row counts adding "
                                         r"up to 4; received splits=\[3\]"):
        hvd.alltoall(np.arange(4), splits=[3])
    with pytest.raises(ValueError, match="reducescatter: argument `op` must be 'average' or 'sum'; received op='max'"):
        hvd.reducescatter(np.ones(2), op=hvd.Max)


def test_learning_rate_schedule_staircase_and_smooth(single_world):
    x, y = data(20)
    for staircase, expected in ((True, [0.1] * 4 + [0.05] * 4 + [0.1] * 4),
                                (False, [0.1] * 4 + [0.1 * 0.5 ** (1 + b / 4) for b in range(4)] + [0.1] * 4)):
        model = mlp()
        opt = SGD(learning_rate=0.1)
        model.compile(loss="categorical_crossentropy", optimizer=opt)
        seen = []

        class Record(Callback):
            def on_batch_begin(self, batch, logs=None, seen=seen):
                seen.append(self.model.optimizer.learning_rate)

        schedule = LearningRateScheduleCallback(multiplier=lambda epoch: 0.5 ** epoch, start_epoch=1, end_epoch=2,
                                                staircase=staircase, momentum_correction=False)
        restore = LearningRateScheduleCallback(multiplier=1.0, start_epoch=2)
        model.fit(x, y, batch_size=5, epochs=3, verbose=0, callbacks=[schedule, restore, Record()])
        np.testing.assert_allclose(seen, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="`end_epoch` must be after `start_epoch`; received start_epoch=3, "
                                         "end_epoch=2"):
        LearningRateScheduleCallback(start_epoch=3, end_epoch=2)


def test_load_model_wraps_the_optimizer_and_keeps_its_state(single_world, tmp_path):
    x, y = data()
    model = mlp()
    model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.1, momentum=0.9))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(str(tmp_path / "m.h5"))
    loaded = hvd.load_model(str(tmp_path / "m.h5"), compression=hvd.Compression.fp16)
    assert type(loaded.optimizer).__name__ == "SGD" and hasattr(loaded.optimizer, "gradient_ready_hook")
    assert loaded.optimizer._dist.compression is hvd.Compression.fp16
    assert loaded.optimizer.iterations == model.optimizer.iterations
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)  # trains on


def test_fusion_settings_come_from_horovods_variables(monkeypatch):
    from kerasette.distributed import fusion

    monkeypatch.delenv("HOROVOD_FUSION_THRESHOLD", raising=False)
    monkeypatch.delenv("HOROVOD_CYCLE_TIME", raising=False)
    assert fusion.fusion_threshold() == 64 * 1024 * 1024 and fusion.cycle_time_ms() == 1.0
    monkeypatch.setenv("HOROVOD_FUSION_THRESHOLD", "33554432")
    monkeypatch.setenv("HOROVOD_CYCLE_TIME", "3.5")
    assert fusion.fusion_threshold() == 33554432 and fusion.cycle_time_ms() == 3.5
    assert fusion.fusion_threshold(0) == 0 and fusion.cycle_time_ms(0.0) == 0.0  # arguments win


def test_namespaces_say_why_they_cannot_be_made(monkeypatch):
    from tests.distributed import netns

    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    assert netns.unavailable_reason() == "the `ip` and `tc` commands are missing (Debian: apt-get install iproute2)"
    monkeypatch.setattr(netns.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert netns.unavailable_reason() == "creating network namespaces needs root"


def test_mpiexec_command_puts_each_rank_in_its_namespace_over_tcp():
    from tests.distributed import netns

    net = netns.Network(2, rate="1gbit")  # not brought up: only the command
    command = net.mpiexec_command("mpiexec", ["w.py", "x"], python="py")
    assert command[command.index("MPIR_CVAR_NOLOCAL") + 1] == "1"
    colon = command.index(":")
    assert command[colon - 9: colon] == ["-n", "1", "ip", "netns", "exec", net.namespaces[0], "py", "w.py", "x"]
    assert command[colon + 1:] == ["-n", "1", "ip", "netns", "exec", net.namespaces[1], "py", "w.py", "x"]
