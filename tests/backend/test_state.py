"""The backend's process-wide state (`kerasette.backend.state`) and the API over it: grad mode,
learning phase, automatic names, defaults, the random generator, the operator table."""

from __future__ import annotations

import re

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.backend import config, random, state, symbolic, tensor
from kerasette.backend.tensor import Tensor, Variable


def test_grad_mode_is_read_through_the_state_object():
    assert K.is_grad_enabled() and state.grad_mode.is_enabled()
    with K.no_grad():
        assert not state.grad_mode.is_enabled()
        assert K.sum(Variable(np.ones(2)) * 2)._op is None
        with K.enable_grad():
            assert state.grad_mode.is_enabled()
        assert not K.is_grad_enabled()
    assert state.grad_mode.set(True) is True


def test_learning_phase_scope_sets_and_restores_the_default():
    assert state.learning_phase.default() == 0
    with K.learning_phase_scope(1):
        assert state.learning_phase.default() == 1 and symbolic.learning_phase_value()
        assert K.in_train_phase("train", "test") == "train"
        with K.learning_phase_scope(0):
            assert K.in_train_phase("train", "test") == "test"
        assert state.learning_phase.default() == 1
    assert state.learning_phase.default() == 0
    assert K.in_train_phase("train", "test") == "test"


def test_learning_phase_scope_restores_after_an_error():
    with pytest.raises(RuntimeError), K.learning_phase_scope(1):
        raise RuntimeError("inside")
    assert state.learning_phase.default() == 0


def test_learning_phase_scope_drives_a_function_that_is_not_fed_the_phase():
    x = K.placeholder(shape=(None, 2))
    y = symbolic.trace(lambda v: K.in_train_phase(lambda: v * 2, lambda: v), [x])  # decided when run
    f = K.function([x], [y])
    assert f([np.ones((1, 2))])[0].tolist() == [[1.0, 1.0]]
    with K.learning_phase_scope(1):
        assert f([np.ones((1, 2))])[0].tolist() == [[2.0, 2.0]]


def test_set_learning_phase_and_scope_refuse_other_values():
    with pytest.raises(ValueError, match=re.escape("learning_phase_scope: expected 0 or 1; received 2")):
        with K.learning_phase_scope(2):
            pass
    with pytest.raises(ValueError, match=re.escape("set_learning_phase: expected 0 or 1; received 'on'")):
        K.set_learning_phase("on")
    K.set_learning_phase(1)
    try:
        assert state.learning_phase.default() == 1 and K.learning_phase() is symbolic.LEARNING_PHASE
    finally:
        K.set_learning_phase(0)


def test_running_phase_is_the_one_a_function_runs_in():
    assert not state.learning_phase.running()
    with symbolic.training_phase(True):
        assert state.learning_phase.running() and state.learning_phase.current()
    assert not state.learning_phase.current()


def test_one_unique_name_helper_restarted_by_clear_session():
    assert state.names.unique("dense") == "dense_1"
    assert state.names.unique("dense") == "dense_2"
    assert state.names.unique("conv2d") == "conv2d_1"
    assert Variable(np.ones(1)).name == "variable_1"
    assert Variable(np.ones(1)).name == "variable_2"
    assert K.placeholder(shape=(2,)).name == "placeholder_1"
    K.clear_session()
    assert state.names.unique("dense") == "dense_1"
    assert Variable(np.ones(1)).name == "variable_1"
    assert K.placeholder(shape=(2,)).name == "placeholder_1"


def test_layer_names_come_from_the_backend_helper():
    from kerasette.layers.base import reset_names, unique_name

    assert unique_name("dense") == "dense_1"
    assert state.names.unique("dense") == "dense_2"
    reset_names()
    assert unique_name("dense") == "dense_1"


def test_config_defaults_live_in_the_state():
    config.set_floatx("float64")
    assert state.config.floatx == "float64" and K.floatx() == "float64"
    assert Variable([1.0]).dtype == np.float64
    config.set_epsilon(1e-3)
    assert state.config.epsilon == 1e-3
    K.set_image_data_format("channels_first")
    assert state.config.image_data_format == "channels_first" and K.image_dim_ordering() == "th"


def test_the_random_generator_lives_in_the_state():
    K.set_seed(3)
    assert random.generator() is state.random.generator()
    first = random.generator().random()
    saved = random.get_state()
    second = random.generator().random()
    random.set_state(saved)
    assert random.generator().random() == second != first


def test_operators_without_a_registered_op_say_what_to_do(monkeypatch):
    monkeypatch.setattr(tensor, "_OPERATORS", {})
    with pytest.raises(RuntimeError, match=re.escape("Tensor operator 'add': no op registered for it; import "
                                                     "kerasette.backend (which registers the ops) first")):
        Tensor(np.ones(2)) + 1


def test_tensor_operators_leave_symbolic_tensors_to_their_reflected_operator():
    x = K.placeholder(shape=(None, 3))
    y = Tensor(np.ones(3)) + x
    assert isinstance(y, K.KerasTensor) and y.shape == (None, 3)
    assert (Tensor(np.ones((3, 3))) @ x.T).shape == (3, None)


def test_softplus_and_softsign_are_backend_ops():
    x = np.array([-30.0, -1.0, 0.5, 40.0])
    np.testing.assert_allclose(K.softplus(Tensor(x)).data, np.logaddexp(0, x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(K.softsign(Tensor(x)).data, x / (1 + np.abs(x)))
    assert K.softplus(K.placeholder(shape=(None, 4))).shape == (None, 4)
