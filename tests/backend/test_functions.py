"""kerasette.backend.functions: values against numpy, float64 central-difference gradients of every
differentiable function, the functions without a gradient, and the error messages."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.backend import functions as F
from kerasette.backend import symbolic
from kerasette.backend.tensor import Tensor, Variable
from tests.helpers import check_gradients, positive, spaced


def _normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _sparse_cce_ref(labels, z):
    return -np.take_along_axis(_log_softmax(z), labels[..., None], axis=-1)[..., 0]


def _labels_and(shape, classes, make_output):
    def make(rng):
        return [rng.integers(0, classes, shape), make_output(rng, shape + (classes,))]

    return make


# (id, fn, make inputs, numpy reference, inputs to differentiate (None: every float input))
DIFFERENTIABLE = [
    ("cast", lambda x: F.cast(x, "float64"), _normal((3, 4)), lambda x: x, None),
    ("var-all", F.var, _normal((3, 4)), np.var, None),
    ("var-axis0", lambda x: F.var(x, 0), _normal((3, 4)), lambda x: np.var(x, 0), None),
    ("var-axis-1-keepdims", lambda x: F.var(x, -1, keepdims=True), _normal((2, 3, 4)),
     lambda x: np.var(x, -1, keepdims=True), None),
    ("std-all", F.std, _normal((3, 4)), np.std, None),
    ("std-axes", lambda x: F.std(x, (0, 2)), _normal((2, 3, 4)), lambda x: np.std(x, (0, 2)), None),
    ("prod-with-zero", lambda x: F.prod(x, 1), lambda rng: [np.where(np.eye(3, 4) > 0, 0.0, rng.uniform(0.5, 1.5, (3, 4)))],
     lambda x: np.prod(x, 1), None),
    ("expand_dims-default", F.expand_dims, _normal((2, 3)), lambda x: x[..., None], None),
    ("expand_dims-0", lambda x: F.expand_dims(x, 0), _normal((2, 3)), lambda x: x[None], None),
    ("squeeze", lambda x: F.squeeze(x, 1), _normal((2, 1, 3)), lambda x: x[:, 0], None),
    ("squeeze-last", lambda x: F.squeeze(x, -1), _normal((2, 3, 1)), lambda x: x[..., 0], None),
    ("stack-0", lambda a, b, c: F.stack([a, b, c]), _normal((2, 3), (2, 3), (2, 3)),
     lambda a, b, c: np.stack([a, b, c]), None),
    ("stack-last", lambda a, b: F.stack([a, b], axis=-1), _normal((2, 3), (2, 3)),
     lambda a, b: np.stack([a, b], axis=-1), None),
    ("gather-repeated", lambda r, i: F.gather(r, i), lambda rng: [rng.standard_normal((4, 3)), np.array([3, 0, 3, 1])],
     lambda r, i: r[i], None),
    ("gather-2d-indices", lambda r, i: F.gather(r, i), lambda rng: [rng.standard_normal((4, 2)),
                                                                    np.array([[0, 1], [1, -1]])],
     lambda r, i: r[i], None),
    ("tile", lambda x: F.tile(x, (1, 3)), _normal((2, 3)), lambda x: np.tile(x, (1, 3)), None),
    ("tile-int", lambda x: F.tile(x, 2), _normal((2, 3)), lambda x: np.tile(x, 2), None),
    ("switch-elementwise", F.switch,
     lambda rng: [rng.random((3, 4)) > 0.5, rng.standard_normal((3, 4)), rng.standard_normal((3, 4))],
     np.where, None),
    ("switch-per-row", F.switch,
     lambda rng: [np.array([True, False, True]), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))],
     lambda c, a, b: np.where(c[:, None], a, b), None),
    ("switch-scalar-else", lambda c, a: F.switch(c, a, 0.0),
     lambda rng: [rng.random((2, 3)) > 0.5, rng.standard_normal((2, 3))], lambda c, a: np.where(c, a, 0.0), None),
    ("elu", F.elu, lambda rng: [spaced((3, 4), rng, -3, 2)], lambda x: np.where(x > 0, x, np.expm1(x)), None),
    ("elu-alpha", lambda x: F.elu(x, alpha=0.5), lambda rng: [spaced((3, 4), rng, -3, 2)],
     lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)), None),
    ("log_softmax", F.log_softmax, _normal((3, 4)), _log_softmax, None),
    ("log_softmax-axis0", lambda x: F.log_softmax(x, axis=0), _normal((3, 4)), lambda x: _log_softmax(x, 0), None),
    ("batch_dot-3d", F.batch_dot, _normal((2, 3, 4), (2, 4, 5)), np.matmul, None),
    ("batch_dot-3d-axes-1-1", lambda x, y: F.batch_dot(x, y, axes=(1, 1)), _normal((2, 4, 3), (2, 4, 5)),
     lambda x, y: np.einsum("bkn,bkm->bnm", x, y), None),
    ("batch_dot-3d-axes-2", lambda x, y: F.batch_dot(x, y, axes=2), _normal((2, 3, 4), (2, 5, 4)),
     lambda x, y: np.einsum("bnk,bmk->bnm", x, y), None),
    ("batch_dot-3d-axes-1-2", lambda x, y: F.batch_dot(x, y, axes=[1, 2]), _normal((2, 4, 3), (2, 5, 4)),
     lambda x, y: np.einsum("bkn,bmk->bnm", x, y), None),
    ("batch_dot-2d", F.batch_dot, _normal((4, 3), (4, 3)), lambda x, y: np.sum(x * y, axis=1, keepdims=True), None),
    ("batch_dot-2d-axes-1", lambda x, y: F.batch_dot(x, y, axes=1), _normal((4, 3), (4, 3)),
     lambda x, y: np.sum(x * y, axis=1, keepdims=True), None),
    ("sparse_cce-probs", F.sparse_categorical_crossentropy,
     _labels_and((4,), 3, lambda rng, s: rng.uniform(0.05, 1.0, s)),
     lambda t, p: -np.log(np.take_along_axis(p / p.sum(-1, keepdims=True), t[:, None], -1)[:, 0]), [1]),
    ("sparse_cce-from_logits", lambda t, z: F.sparse_categorical_crossentropy(t, z, from_logits=True),
     _labels_and((2, 3), 4, lambda rng, s: rng.standard_normal(s) * 3), _sparse_cce_ref, [1]),
    ("sparse_cce-softmax", lambda t, z: F.sparse_categorical_crossentropy(t[:, None], K.softmax(z)),
     lambda rng: [rng.integers(0, 3, 4), rng.standard_normal((4, 3)) * 3], _sparse_cce_ref, [1]),
]


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=lambda c: c[0])
def test_forward_matches_numpy(case):
    name, fn, make, reference, _ = case
    arrays = make(np.random.default_rng(zlib.crc32(name.encode())))
    out = fn(*(Tensor(a) for a in arrays))
    expected = reference(*arrays)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=lambda c: c[0])
def test_gradient_matches_central_differences(case):
    name, fn, make, _, wrt = case
    check_gradients(fn, make(np.random.default_rng(zlib.crc32(name.encode()))), wrt=wrt)


def test_all_names_exist():
    assert sorted(F.__all__) == sorted(set(F.__all__))
    for name in F.__all__:
        assert callable(getattr(F, name)), name


@pytest.mark.parametrize("fn", [F.var, F.std, F.elu, F.log_softmax, lambda x: F.prod(x, 0),
                                lambda x: F.switch(x.data > 0, x, 0.0), lambda x: F.tile(x, 2)])
def test_float32_stays_float32(fn):
    x = Variable(np.array([[0.5, -1.0], [2.0, 0.25]], np.float32))
    out = fn(x)
    assert out.dtype == np.float32
    K.sum(out).backward()
    assert x.grad.dtype == np.float32


# -- cast ---------------------------------------------------------------------------------------
def test_cast_between_floats_sends_the_gradient_back_in_the_input_dtype():
    x = Variable(np.array([1.5, -2.0], np.float32))
    y = F.cast(x, "float64")
    assert y.dtype == np.float64 and y.requires_grad
    K.sum(y * Tensor(np.array([2.0, 3.0]))).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])


def test_cast_to_integers_and_booleans_is_constant():
    x = Variable(np.array([1.7, -2.2, 0.0]))
    as_int = F.cast(x, "int32")
    assert as_int.dtype == np.int32 and not as_int.requires_grad
    np.testing.assert_array_equal(as_int.data, [1, -2, 0])
    np.testing.assert_array_equal(F.cast(x, "bool").data, [True, True, False])
    np.testing.assert_array_equal(F.cast(np.array([1, 2]), "float32").data, [1.0, 2.0])


# -- functions without a gradient ---------------------------------------------------------------
@pytest.mark.parametrize("fn, ref", [
    (F.equal, np.equal), (F.not_equal, np.not_equal), (F.greater, np.greater),
    (F.greater_equal, np.greater_equal), (F.less, np.less), (F.less_equal, np.less_equal),
])
def test_comparisons(fn, ref):
    x = Variable(np.array([[1.0, 2.0, 3.0]]))
    y = np.array([[2.0], [2.0]])
    out = fn(x, y)
    assert isinstance(out, Tensor) and out.dtype == np.bool_ and not out.requires_grad
    np.testing.assert_array_equal(out.data, ref(x.data, y))
    np.testing.assert_array_equal(fn(x, 2.0).data, ref(x.data, 2.0))


def test_sign_and_round():
    x = Variable(np.array([-1.5, -0.5, 0.0, 0.5, 1.5, 2.5], np.float32))
    np.testing.assert_array_equal(F.sign(x).data, [-1, -1, 0, 1, 1, 1])
    np.testing.assert_array_equal(F.round(x).data, [-2, -0, 0, 0, 2, 2])  # halves to even, as TF
    assert F.sign(x).dtype == np.float32 and not F.round(x).requires_grad


def test_argmax_and_argmin():
    x = Tensor(np.array([[1.0, 5.0, 3.0], [4.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(F.argmax(x).data, [1, 0])
    np.testing.assert_array_equal(F.argmin(x).data, [0, 1])
    np.testing.assert_array_equal(F.argmax(x, axis=0).data, [1, 0, 0])
    with pytest.raises(ValueError, match=r"argmax: argument `axis` must be an integer in \[-2, 2\) for a "
                                         r"tensor of shape \(2, 3\); received axis=2"):
        F.argmax(x, axis=2)


def test_shape_is_a_tensor_of_ints():
    s = F.shape(Tensor(np.zeros((2, 3, 4))))
    assert isinstance(s, Tensor) and s.dtype == np.int32
    np.testing.assert_array_equal(s.data, [2, 3, 4])


def test_one_hot():
    out = F.one_hot(Tensor(np.array([[0, 2], [1, 1]])), 3)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.data, np.eye(3)[[[0, 2], [1, 1]]])
    with pytest.raises(ValueError, match=r"one_hot: indices must be in \[0, 3\); received indices from 0 to 3"):
        F.one_hot([0, 3], 3)
    with pytest.raises(ValueError, match="one_hot: argument `num_classes` must be a positive integer; received 0"):
        F.one_hot([0], 0)
    with pytest.raises(ValueError, match="one_hot: argument `indices` must hold integers; received dtype float64"):
        F.one_hot([0.5], 2)


def test_random_normal_and_uniform():
    a = F.random_normal((200, 50), mean=1.0, stddev=2.0, seed=3)
    assert isinstance(a, Tensor) and a.shape == (200, 50) and a.dtype == np.float32
    np.testing.assert_array_equal(a.data, F.random_normal((200, 50), 1.0, 2.0, seed=3).data)
    assert abs(a.data.mean() - 1.0) < 0.05 and abs(a.data.std() - 2.0) < 0.05
    u = F.random_uniform((100, 100), minval=-1.0, maxval=3.0, dtype="float64", seed=1)
    assert u.dtype == np.float64 and u.data.min() >= -1.0 and u.data.max() < 3.0
    assert abs(u.data.mean() - 1.0) < 0.05
    K.set_seed(7)
    first = F.random_uniform((3,)).data
    K.set_seed(7)
    np.testing.assert_array_equal(F.random_uniform((3,)).data, first)  # the shared, seeded generator
    with pytest.raises(ValueError, match=r"random_uniform: `maxval` must be >= `minval`; received minval=1.0, "
                                         r"maxval=0.0"):
        F.random_uniform((2,), 1.0, 0.0)


def test_in_train_phase_and_in_test_phase():
    x, alt = Tensor(np.ones(2)), Tensor(np.zeros(2))
    assert F.in_train_phase(x, alt, training=True) is x
    assert F.in_train_phase(x, alt, training=0) is alt
    assert F.in_train_phase(x, alt, training=Tensor(np.array(1))) is x
    assert F.in_train_phase(lambda: x, lambda: alt, training=False) is alt  # callables are called
    assert F.in_test_phase(x, alt, training=False) is x
    assert F.in_train_phase(x, alt) is alt  # the default learning phase is 0 (inference)
    try:
        K.set_learning_phase(1)
        assert F.in_train_phase(x, alt) is x
    finally:
        K.set_learning_phase(0)
    with symbolic.training_phase(True):  # what a running K.function fed with learning phase 1 sets
        assert F.in_train_phase(x, alt) is x
    with pytest.raises(ValueError, match=r"in_train_phase: argument `training` must be a scalar \(bool or "
                                         r"0/1\); received a tensor of shape \(2,\)"):
        F.in_train_phase(x, alt, training=np.ones(2))


def test_switch_with_a_scalar_condition_picks_a_branch():
    a, b = Variable(np.ones(3)), Variable(np.zeros(3))
    assert F.switch(True, a, b) is a
    assert F.switch(Tensor(np.array(False)), lambda: a, lambda: b) is b


# -- errors -------------------------------------------------------------------------------------
def test_error_messages():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"squeeze: axis 1 of a tensor of shape \(2, 3\) has size 3; only an "
                                         "axis of size 1 can be removed"):
        F.squeeze(x, 1)
    with pytest.raises(ValueError, match=r"squeeze: argument `axis` must be an integer in \[-2, 2\)"):
        F.squeeze(x, 2)
    with pytest.raises(ValueError, match=r"stack: every tensor must have the same shape; received shapes "
                                         r"\[\(2, 3\), \(3,\)\]"):
        F.stack([x, np.zeros(3)])
    with pytest.raises(ValueError, match="stack: argument `x` must hold at least one tensor"):
        F.stack([])
    with pytest.raises(ValueError, match=r"expand_dims: argument `axis` must be an integer in \[-3, 3\)"):
        F.expand_dims(x, 3)
    with pytest.raises(ValueError, match=r"gather: indices must be in \[-2, 2\) for a reference of shape "
                                         r"\(2, 3\); received indices from 0 to 2"):
        F.gather(x, [0, 2])
    with pytest.raises(ValueError, match="gather: argument `indices` must hold integers; received dtype float64"):
        F.gather(x, [0.0])
    with pytest.raises(ValueError, match=r"tile: argument `n` must hold non-negative integers; received \(2, -1\)"):
        F.tile(x, (2, -1))
    with pytest.raises(ValueError, match=r"switch: the condition has 3 axes \(shape \(2, 3, 1\)\), more than "
                                         r"the branches \(2\)"):
        F.switch(np.ones((2, 3, 1), bool), x, x)


def test_batch_dot_errors():
    with pytest.raises(ValueError, match=r"batch_dot: supports two 3-D tensors .* received shapes \(2, 3\) and "
                                         r"\(2, 3, 4\)"):
        F.batch_dot(np.ones((2, 3)), np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"batch_dot: for 2-D tensors `axes` must be 1 or \(1, 1\) \(axis 0 is "
                                         r"the batch\); received axes=\(0, 1\)"):
        F.batch_dot(np.ones((2, 3)), np.ones((2, 3)), axes=(0, 1))
    with pytest.raises(ValueError, match=r"batch_dot: 2-D tensors must have the same shape; received \(2, 3\) "
                                         r"and \(2, 4\)"):
        F.batch_dot(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"batch_dot: `axes` must name axis 1 or 2 of each 3-D tensor"):
        F.batch_dot(np.ones((2, 3, 4)), np.ones((2, 4, 5)), axes=(0, 1))
    with pytest.raises(ValueError, match=r"batch_dot: shapes \(2, 3, 4\) and \(2, 5, 4\) do not match on the "
                                         r"batch axis and axes \(2, 1\)"):
        F.batch_dot(np.ones((2, 3, 4)), np.ones((2, 5, 4)))


def test_sparse_categorical_crossentropy_errors():
    probs = Tensor(np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\); received labels from 0 to 3"):
        F.sparse_categorical_crossentropy(np.array([0, 3]), probs)
    with pytest.raises(ValueError, match=r"`target` has shape \(3,\), expected \(2,\)"):
        F.sparse_categorical_crossentropy(np.array([0, 1, 2]), probs)
    with pytest.raises(ValueError, match="`target` must hold integer class labels"):
        F.sparse_categorical_crossentropy(np.array([0.5, 1.0]), probs)


def test_sparse_categorical_crossentropy_checks_the_output_and_the_label_types():
    probs = Tensor(np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=re.escape("sparse_categorical_crossentropy: `output` must have a last "
                                                   "axis of class scores; received a scalar")):
        F.sparse_categorical_crossentropy(np.array(0), Tensor(np.array(0.5)))
    with pytest.raises(ValueError, match=re.escape("sparse_categorical_crossentropy: `target` must hold integer "
                                                   "class labels; received dtype <U1")):
        F.sparse_categorical_crossentropy(np.array(["a", "b"]), probs)
    with pytest.raises(ValueError, match=re.escape("received non-integer values such as 0.5")):
        F.sparse_categorical_crossentropy(np.array([1.0, 0.5]), probs)
    with pytest.raises(ValueError, match=re.escape("sparse_categorical_crossentropy: `target` labels must be in "
                                                   "[0, 3); received labels from -1 to 1 (the output has 3 "
                                                   "classes)")):
        F.sparse_categorical_crossentropy(np.array([[-1], [1]]), probs)
    with pytest.raises(ValueError, match=re.escape("`target` has shape (2, 2), expected (2,) (the output's shape "
                                                   "(2, 3) without its last axis, or with a last axis of 1)")):
        F.sparse_categorical_crossentropy(np.zeros((2, 2)), probs)


def test_sparse_categorical_crossentropy_matches_the_one_hot_loss():
    rng = np.random.default_rng(0)
    probs = Tensor(positive((5, 4), rng))
    labels = rng.integers(0, 4, 5)
    one_hot = F.one_hot(labels, 4)
    np.testing.assert_allclose(F.sparse_categorical_crossentropy(labels, probs).data,
                               K.categorical_crossentropy(Tensor(one_hot.data.astype(np.float64)), probs).data)
