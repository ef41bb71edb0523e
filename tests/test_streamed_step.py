"""The optimizer step applied during the backward pass (`StreamedStep`): the same bits as
`apply_gradients`, a weight still read by the pass waits, and no gradient outlives its use."""

from __future__ import annotations

import sys
import tracemalloc
import weakref

import numpy as np
import pytest

from kerasette.backend import autograd, backprop, ops
from kerasette.backend.graph import stop_gradient
from kerasette.backend.ops.base import Op, apply
from kerasette.backend.tensor import Tensor, Variable, enable_grad
from kerasette.constraints import MaxNorm
from kerasette.layers import Dense, Dropout, Input
from kerasette.models import Sequential
from kerasette.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Ftrl,
    Lion,
    Nadam,
    RMSprop,
    schedules,
)
from kerasette.optimizers.base import Optimizer, StreamedStep

OPTIMIZERS = [
    lambda: SGD(learning_rate=0.05, momentum=0.9, nesterov=True),  # fused kernel for the 300x256 kernel
    lambda: SGD(learning_rate=0.05, clipvalue=0.01),
    lambda: RMSprop(learning_rate=0.01, momentum=0.3, centered=True, clipnorm=0.5),
    lambda: Adagrad(learning_rate=0.1, weight_decay=0.01),
    lambda: Adadelta(learning_rate=1.0),
    lambda: Adam(learning_rate=0.01, amsgrad=True, use_ema=True, ema_overwrite_frequency=2),
    lambda: Adam(learning_rate=schedules.ExponentialDecay(0.01, 1, 0.5)),
    lambda: AdamW(learning_rate=0.01, weight_decay=0.1),
    lambda: Adamax(learning_rate=0.01, decay=0.1),
    lambda: Nadam(learning_rate=0.01),
    lambda: Ftrl(learning_rate=0.1, l1_regularization_strength=0.01),
    lambda: Lion(learning_rate=0.001),
]


def _train(make_optimizer, streamed: bool, monkeypatch, steps=3):
    with monkeypatch.context() as patch:
        if not streamed:
            patch.setattr(Optimizer, "streamed_step", lambda self, variables: None)
        rng = np.random.default_rng(0)
        model = Sequential([Input((300,)), Dense(256, activation="relu", kernel_constraint=MaxNorm(1.5)),
                            Dropout(0.3, seed=1), Dense(4, activation="softmax")])
        for w in model.weights:
            w.assign(rng.normal(0, 0.1, w.shape).astype(w.dtype))
        model.compile(loss="categorical_crossentropy", optimizer=make_optimizer())
        x = rng.normal(size=(16, 300)).astype("float32")
        y = np.eye(4, dtype="float32")[rng.integers(0, 4, 16)]
        losses = [model.train_on_batch(x, y) for _ in range(steps)]
        opt = model.optimizer
        return losses, [w.data.copy() for w in model.weights], opt.get_state(model.trainable_weights), opt.iterations


@pytest.mark.parametrize("make", OPTIMIZERS, ids=range(len(OPTIMIZERS)))
def test_streamed_steps_give_the_same_bits_as_apply_gradients(make, monkeypatch):
    losses, weights, (iters, state), count = _train(make, True, monkeypatch)
    want_losses, want_weights, (want_iters, want_state), want_count = _train(make, False, monkeypatch)
    assert losses == want_losses and iters == want_iters == count == want_count == 3
    for got, want in zip(weights, want_weights, strict=True):
        np.testing.assert_array_equal(got, want)
    assert [k.split("/", 1)[1] for k, _ in state] == [k.split("/", 1)[1] for k, _ in want_state]
    for (_, got), (_, want) in zip(state, want_state, strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_trainer_streams_a_plain_optimizer_only():
    w = Variable(np.ones(3, np.float32))
    assert isinstance(SGD(momentum=0.9).streamed_step([w]), StreamedStep)
    assert SGD(global_clipnorm=1.0).streamed_step([w]) is None  # needs every gradient first
    assert SGD().streamed_step([w, w]) is None  # a variable listed twice is updated twice by apply_gradients
    assert SGD().streamed_step([w, Variable(np.ones(3), dtype="float64")]) is None

    class Overriding(SGD):
        def apply_gradients(self, grads_and_vars):
            super().apply_gradients(grads_and_vars)

    assert Overriding().streamed_step([w]) is None


def test_a_weight_the_pass_still_reads_is_updated_at_the_end():
    """sum(stop_gradient(w) * v) + sum(w * w): the first multiply keeps w's array for its
    backward pass, which runs after w's gradient is final (the walk takes the second sum first)."""
    w = Variable(np.array([1.0, 2.0, 3.0]), dtype="float64")
    v = Variable(np.array([0.5, -1.0, 2.0]), dtype="float64")
    with enable_grad():
        loss = ops.add(ops.sum(ops.multiply(stop_gradient(w), v)), ops.sum(ops.multiply(w, w)))
    step = SGD(learning_rate=0.1).streamed_step([w, v])
    autograd.stream_gradients(loss, [w, v], step.ready)
    step.finish()
    # d/dw = 2 w, d/dv = w, both with the weights before the step
    np.testing.assert_array_equal(w.data, np.array([1.0, 2.0, 3.0]) - 0.1 * np.array([2.0, 4.0, 6.0]))
    np.testing.assert_array_equal(v.data, np.array([0.5, -1.0, 2.0]) - 0.1 * np.array([1.0, 2.0, 3.0]))


def test_a_weight_nothing_else_reads_is_updated_as_its_gradient_arrives():
    w = Variable(np.array([1.0, 2.0]), dtype="float64")
    v = Variable(np.array([3.0, 4.0]), dtype="float64")
    seen = []

    class Probe(Op):
        """Identity that records w's value when its backward pass runs (after w's gradient)."""

        name = "probe"

        def forward(self, x):
            return x.copy()

        def backward(self, grad):
            seen.append(w.data.copy())
            return (grad,)

    with enable_grad():
        loss = ops.sum(ops.matmul(ops.reshape(apply(Probe(), v), (1, 2)), ops.reshape(w, (2, 1))))
    step = SGD(learning_rate=0.5).streamed_step([w, v])
    autograd.stream_gradients(loss, [w, v], step.ready)
    np.testing.assert_array_equal(seen[0], [1.0 - 0.5 * 3.0, 2.0 - 0.5 * 4.0])  # already updated
    step.finish()
    np.testing.assert_array_equal(v.data, [3.0 - 0.5 * 1.0, 4.0 - 0.5 * 2.0])


def test_stream_gradients_keeps_no_gradient():
    w = Variable(np.ones((4, 4)), dtype="float64")
    v = Variable(np.ones((1, 4)), dtype="float64")
    refs, alive = {}, []

    class Probe(Op):
        name = "probe"

        def forward(self, x):
            return x.copy()

        def backward(self, grad):
            alive.append(refs["w"]() is not None)
            return (grad,)

    def on_ready(tensor, grad):
        if tensor is w:
            refs["w"] = weakref.ref(grad)

    with enable_grad():
        loss = ops.sum(ops.matmul(apply(Probe(), v), w))
    autograd.stream_gradients(loss, [w, v], on_ready)
    assert alive == [False]  # w's gradient was freed as soon as on_ready returned


def test_a_streamed_step_lowers_the_peak_by_the_large_gradient():
    """The 1.6 MB gradient of the first kernel is gone before the backward pass's peak."""

    def peak(streamed, monkeypatch):
        with monkeypatch.context() as patch:
            if not streamed:
                patch.setattr(Optimizer, "streamed_step", lambda self, variables: None)
            model = Sequential([Input((1600,)), Dense(256), Dense(1600), Dense(256), Dense(2)])
            model.compile(loss="mse", optimizer=SGD(momentum=0.9))
            x, y = np.ones((8, 1600), np.float32), np.ones((8, 2), np.float32)
            model.train_on_batch(x, y)
            tracemalloc.start()
            try:
                model.train_on_batch(x, y)
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    with pytest.MonkeyPatch.context() as monkeypatch:
        streamed, whole = peak(True, monkeypatch), peak(False, monkeypatch)
    kernel = 256 * 1600 * 4
    assert whole - streamed > 1.5 * kernel  # two of the three large kernels' gradients at the peak


def test_gradients_or_none_still_returns_the_gradients():
    x = Tensor(np.ones((2, 3), np.float32))
    w = Variable(np.ones((3, 1), np.float32))
    with enable_grad():
        loss = ops.sum(ops.matmul(x, w))
    (g,) = autograd.gradients_or_none(loss, [w])
    np.testing.assert_array_equal(g, np.full((3, 1), 2.0, np.float32))


class _KeepsNothing(Op):
    """2 * x, keeping nothing for its backward pass (as a max-pooling keeps only positions)."""

    name = "keeps_nothing"

    def forward(self, x):
        return 2 * x

    def backward(self, grad):
        return (2 * grad,)


class _KeepsOutput(Op):
    """exp(x), keeping its output for its backward pass."""

    name = "keeps_output"

    def forward(self, x):
        self.out = np.exp(x)
        return self.out

    def backward(self, grad):
        return (grad * self.out,)


def test_a_spending_pass_frees_values_no_backward_reads_before_it_starts():
    w = Variable(np.linspace(-1, 1, 6).reshape(2, 3), dtype="float64")
    values = {}

    class Spy(Op):
        """Identity that records, when its backward pass runs, whether the values of the
        tensors upstream are still there (a dropped value is a zero-strided stand-in)."""

        name = "spy"

        def forward(self, x):
            return x.copy()

        def backward(self, grad):
            values.update(dropped=dropped().data.strides != (0, 0), kept=kept().data.strides != (0, 0),
                          held=held.data.strides != (0, 0))
            return (grad,)

    with enable_grad():
        first = apply(_KeepsNothing(), w)  # only the graph holds it, and no backward pass reads it
        dropped = weakref.ref(first)
        second = apply(_KeepsOutput(), first)  # its op keeps the array
        kept = weakref.ref(second)
        held = apply(_KeepsNothing(), second)  # the caller holds this tensor
        loss = ops.sum(apply(Spy(), held))
        del first, second
    got = []
    autograd.stream_gradients(loss, [w], lambda t, g: got.append(g.copy()))
    assert values == {"dropped": False, "kept": True, "held": True}
    np.testing.assert_allclose(got[0], np.exp(2 * w.data) * 4, rtol=1e-15)
    np.testing.assert_array_equal(held.data, 2 * np.exp(2 * w.data))


def test_dropped_values_of_one_shape_and_dtype_share_one_read_only_stand_in(monkeypatch):
    """A dropped value becomes a zero-strided, read-only array of zeros of its shape and dtype,
    one per (shape, dtype), and the kept stand-ins are bounded in number."""
    monkeypatch.setattr(backprop, "_STAND_INS", {})
    stand_ins = {}

    class Spy(Op):
        name = "spy"

        def __init__(self, key):
            self.key = key

        def forward(self, x):
            return x.copy()

        def backward(self, grad):
            stand_ins[self.key] = self.upstream().data
            return (grad,)

    w = Variable(np.ones((2, 3)), dtype="float32")
    with enable_grad():
        total = None
        for key in ("a", "b"):
            spy = Spy(key)
            first = apply(_KeepsNothing(), w)
            spy.upstream = weakref.ref(first)
            out = ops.sum(apply(spy, first))
            total = out if total is None else ops.add(total, out)
        del first, out
    autograd.stream_gradients(total, [w], lambda t, g: None)
    a, b = stand_ins["a"], stand_ins["b"]
    assert a is b and a.shape == (2, 3) and a.dtype == np.float32 and a.strides == (0, 0)
    assert not a.flags.writeable and not a.any()
    monkeypatch.setattr(backprop, "STAND_INS_MAX", 2)
    shapes = [(1,), (2,), (3,)]
    made = [backprop._stand_in(np.ones(shape)) for shape in shapes]
    assert len(backprop._STAND_INS) <= 2 and [m.shape for m in made] == shapes


def test_backward_and_grad_keep_every_value():
    w = Variable(np.ones(3), dtype="float64")
    with enable_grad():
        mid = apply(_KeepsNothing(), w)
        loss = ops.sum(apply(_KeepsNothing(), mid))
    mid_id = id(mid)
    del mid
    (g,) = autograd.grad(loss, [w])
    np.testing.assert_array_equal(g, [4.0, 4.0, 4.0])
    assert [t for t in autograd.topological_order(loss) if id(t) == mid_id][0].data.strides == (8,)


class _TimesThree(Op):
    """3 * x whose backward pass overwrites its output gradient when the walk says it may, and
    records what the walk said."""

    name = "times_three"

    def __init__(self, flags):
        self.flags = flags

    def forward(self, x):
        return 3 * x

    def backward(self, grad):
        self.flags.append(self.grad_is_scratch)
        if self.grad_is_scratch:
            grad *= 3
            return (grad,)
        return (grad * 3,)


def test_an_op_may_overwrite_a_gradient_only_the_walk_holds():
    w = Variable(np.arange(4.0).reshape(2, 2), dtype="float64")
    flags, got = [], []
    with enable_grad():
        # the add's backward pass hands the same array to both branches: the branch taken
        # first must not overwrite it; the second then holds it alone
        shared = ops.add(apply(_TimesThree(flags), w), apply(_TimesThree(flags), w))
        loss = ops.sum(apply(_TimesThree(flags), apply(_KeepsNothing(), shared)))
    autograd.stream_gradients(loss, [w], lambda t, g: got.append(g.copy()))
    assert sorted(flags) == [False, True, True]
    np.testing.assert_array_equal(got[0], np.full((2, 2), 2 * 3 * 3 * 2.0))


def test_a_gradient_an_op_still_holds_is_not_scratch():
    w = Variable(np.ones(3), dtype="float64")
    flags = []

    class KeepsItsGradient(Op):
        name = "keeps_its_gradient"

        def forward(self, x):
            return x.copy()

        def backward(self, grad):
            self.returned = grad * 1.0
            return (self.returned,)

    keeper = KeepsItsGradient()  # outlives the walk's release of it
    with enable_grad():
        loss = ops.sum(apply(keeper, apply(_TimesThree(flags), w)))
    autograd.stream_gradients(loss, [w], lambda t, g: None)
    assert flags == [False]
    np.testing.assert_array_equal(keeper.returned, np.ones(3))


def test_small_weights_are_updated_in_one_group_on_every_step(monkeypatch):
    """SGD with momentum: every step updates the small weights in one group call, none alone
    (the group's address tables refer to the weights' arrays weakly: a strong reference would
    count as a holder, and `StreamedStep.ready` would defer them one by one from the second
    step on)."""
    from kerasette.backend.engine import updates  # deferred: the engine loads numba

    calls = {"group": 0, "alone": 0}
    group_call, alone = updates.SgdGroup.__call__, Optimizer._update_variable

    def counted_group(self, values, *rest):
        calls["group"] += len(values)
        return group_call(self, values, *rest)

    def counted_alone(self, *args):
        calls["alone"] += 1
        return alone(self, *args)

    monkeypatch.setattr(updates.SgdGroup, "__call__", counted_group)
    monkeypatch.setattr(Optimizer, "_update_variable", counted_alone)
    rng = np.random.default_rng(0)
    model = Sequential([Input((30,)), Dense(20, activation="relu"), Dense(4, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.05, momentum=0.9))
    x = rng.normal(size=(16, 30)).astype("float32")
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, 16)]
    for step in range(3):
        before = [sys.getrefcount(w.data) for w in model.trainable_weights]
        model.train_on_batch(x, y)
        assert calls == {"group": 4 * (step + 1), "alone": 0}
        assert [sys.getrefcount(w.data) for w in model.trainable_weights] == before
