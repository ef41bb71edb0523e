"""The small weights SGD updates together, remembered from step to step
(`kerasette.optimizers.group_members`): a remembered answer is asked again whenever what it
depends on changes, and the steps keep `apply_gradients`'s bits."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from kerasette.backend.tensor import Variable
from kerasette.layers import Dense, Input
from kerasette.models import Sequential
from kerasette.optimizers import SGD
from kerasette.optimizers.base import Optimizer
from kerasette.optimizers.group_members import GroupMembers


def _fortran_kernel(model, opt):
    kernel = model.layers[0].kernel
    kernel.data = np.asfortranarray(kernel.data)  # (a layout the group's kernel does not take)


def _no_momentum(model, opt):
    opt.momentum = 0.0


def _weight_decay(model, opt):
    opt.weight_decay = 0.1


def _clipping(model, opt):
    opt.clipvalue = 1e-3


CHANGES = [_fortran_kernel, _no_momentum, _weight_decay, _clipping]


def _train(change, streamed: bool, monkeypatch):
    """Two steps, ``change(model, optimizer)``, two more; the weights and the optimizer's state."""
    with monkeypatch.context() as patch:
        if not streamed:
            patch.setattr(Optimizer, "streamed_step", lambda self, variables: None)
        rng = np.random.default_rng(1)
        model = Sequential([Input((30,)), Dense(20, activation="relu"), Dense(4, activation="softmax")])
        for w in model.weights:
            w.assign(rng.normal(0, 0.3, w.shape).astype(w.dtype))
        opt = SGD(learning_rate=0.05, momentum=0.9)
        model.compile(loss="categorical_crossentropy", optimizer=opt)
        x = rng.normal(size=(16, 30)).astype("float32")
        y = np.eye(4, dtype="float32")[rng.integers(0, 4, 16)]
        for step in range(4):
            if step == 2:
                change(model, opt)
            model.train_on_batch(x, y)
        _, state = opt.get_state(model.trainable_weights)
        return [w.data.copy() for w in model.weights], [a.copy() for _, a in state]


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
def test_remembered_members_follow_what_the_answer_depends_on(change, monkeypatch):
    """A weight's array replaced by one the group does not take, momentum turned off, weight decay
    or clipping turned on after two steps: the streamed steps still give `apply_gradients`'s bits
    (remembered answers used regardless: the group's kernel refuses the Fortran-ordered kernel,
    the velocities move without momentum, no decay, no clipping)."""
    weights, state = _train(change, True, monkeypatch)
    want_weights, want_state = _train(change, False, monkeypatch)
    for got, want in zip(weights + state, want_weights + want_state, strict=True):
        np.testing.assert_array_equal(got, want)


def _train_tied(streamed: bool, monkeypatch):
    """Two steps, then the second layer's kernel made the first's array object, four more steps."""
    with monkeypatch.context() as patch:
        if not streamed:
            patch.setattr(Optimizer, "streamed_step", lambda self, variables: None)
        rng = np.random.default_rng(1)
        model = Sequential([Input((8,)), Dense(8, activation="relu"), Dense(8, activation="relu"),
                            Dense(4, activation="softmax")])
        for w in model.weights:
            w.assign(rng.normal(0, 0.3, w.shape).astype(w.dtype))
        model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.05, momentum=0.9, nesterov=True))
        x = rng.normal(size=(16, 8)).astype("float32")
        y = np.eye(4, dtype="float32")[rng.integers(0, 4, 16)]
        for step in range(6):
            if step == 2:
                model.layers[1].kernel.data = model.layers[0].kernel.data
            model.train_on_batch(x, y)
        return [w.data.copy() for w in model.weights]


def test_a_remembered_member_whose_array_another_variable_shares_is_updated_in_order(monkeypatch):
    """Two variables writing one array: both wait for `finish` and are updated in the variables'
    order, as `apply_gradients` does, even the one remembered from the steps before the tie."""
    for got, want in zip(_train_tied(True, monkeypatch), _train_tied(False, monkeypatch), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_member_is_asked_again_when_its_array_or_gradient_differs():
    members = GroupMembers(rule=True)
    w = Variable(np.zeros((3, 4), np.float32))
    grad = np.ones((3, 4), np.float32)
    assert not members.holds(w, grad)
    members.add(w)
    assert members.holds(w, grad)
    assert not members.holds(w, grad.astype(np.float64))  # another dtype: cast first
    assert not members.holds(w, grad.reshape(4, 3))
    assert not members.holds(w, np.ones((3, 4), np.float32).view(np.recarray))  # not an ndarray itself
    w.data.dtype = np.int32  # the same array object, its dtype changed in place
    assert not members.holds(w, grad)
    w.data = np.zeros((3, 4), np.float32)  # a new array
    assert not members.holds(w, grad)


def test_a_subclass_with_its_own_group_rule_is_asked_every_step(monkeypatch):
    """An SGD subclass whose `_joins_group` answers differently from step to step keeps no
    answers: on odd iterations every weight is updated alone."""

    class EvenSteps(SGD):
        def _joins_group(self, var, grad):
            return super()._joins_group(var, grad) and self.iterations % 2 == 0

    alone = []
    plain = Optimizer._update_variable
    monkeypatch.setattr(Optimizer, "_update_variable", lambda self, *a: alone.append(1) or plain(self, *a))
    model = Sequential([Input((5,)), Dense(3)])
    opt = EvenSteps(learning_rate=0.1, momentum=0.9)
    model.compile(loss="mse", optimizer=opt)
    x, y = np.ones((4, 5), np.float32), np.zeros((4, 3), np.float32)
    counts = []
    for _ in range(3):
        model.train_on_batch(x, y)
        counts.append(len(alone))
    assert counts == [0, 2, 2] and opt.group_members() is None


def test_an_optimizer_copies_and_pickles_without_its_members():
    model = Sequential([Input((5,)), Dense(3)])
    opt = SGD(learning_rate=0.1, momentum=0.9)
    model.compile(loss="mse", optimizer=opt)
    model.train_on_batch(np.ones((4, 5), np.float32), np.zeros((4, 3), np.float32))
    assert len(opt.group_members()) == 2
    for other in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        assert len(other.group_members()) == 0 and other.group_members().rule is True
