"""Float64 central-difference gradient checks for every op in kerasette.backend.ops."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from kerasette.backend import ops
from kerasette.backend.tensor import Tensor, Variable, no_grad
from tests.backend.op_cases import CASES
from tests.helpers import check_gradients, spaced


def test_every_op_has_a_case():
    covered = {name for case in CASES for name in case.ops}
    assert set(ops.__all__) <= covered, f"ops without a gradient check: {set(ops.__all__) - covered}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradient(case):
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    check_gradients(case.fn, case.make(rng), wrt=case.wrt, **({} if case.eps is None else {"eps": case.eps}))


def test_checker_catches_a_wrong_gradient():
    class Doubled(ops.elementwise.Square):  # right forward, backward twice too large
        def derivative(self):
            return 4 * self.x

    from kerasette.backend.autograd import apply

    with pytest.raises(AssertionError, match="does not match central differences"):
        check_gradients(lambda x: apply(Doubled(), x), [np.arange(1.0, 5.0)])


def test_checker_refuses_a_step_across_a_kink():
    with pytest.raises(AssertionError, match="crosses a kink"):
        check_gradients(ops.relu, [np.array([1.0, 0.0, -1.0])])


def test_dropout_mask_is_applied_consistently():
    x = np.random.default_rng(0).standard_normal((40, 50))
    rate = 0.4
    t = Variable(x, dtype="float64")
    out = ops.dropout(t, rate, np.random.default_rng(11))
    out.backward(np.ones_like(x))
    kept = out.data != 0
    # forward: kept values are scaled by 1 / (1 - rate), the others are zero
    np.testing.assert_allclose(out.data[kept], x[kept] / (1 - rate))
    # backward: the same mask and scale
    np.testing.assert_allclose(t.grad, kept / (1 - rate))
    assert abs((~kept).mean() - rate) < 0.05
    # the same seed gives the same mask; another seed a different one
    again = ops.dropout(Tensor(x), rate, np.random.default_rng(11)).data
    other = ops.dropout(Tensor(x), rate, np.random.default_rng(12)).data
    np.testing.assert_array_equal(again, out.data)
    assert not np.array_equal(other != 0, kept)


def test_dropout_rate_zero_is_the_identity():
    x = Tensor(np.ones((2, 3)))
    assert ops.dropout(x, 0.0) is x


def test_max_ties_share_the_gradient():
    x = Variable(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), dtype="float64")
    ops.max(x, axis=1).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


def test_maximum_ties_send_the_gradient_to_the_first_input():
    a = Variable(np.array([1.0, 2.0]), dtype="float64")
    b = Variable(np.array([1.0, 3.0]), dtype="float64")
    ops.sum(ops.maximum(a, b)).backward()
    np.testing.assert_array_equal(a.grad, [1, 0])
    np.testing.assert_array_equal(b.grad, [0, 1])


def test_categorical_crossentropy_fuses_with_softmax():
    target = np.eye(3)[[0, 2]]
    logits = Variable(np.array([[200.0, 0.0, -200.0], [0.0, 300.0, -100.0]]), dtype="float64")
    loss = ops.categorical_crossentropy(Tensor(target), ops.softmax(logits))
    assert loss._op.name == "softmax_cross_entropy"
    # exact from the logits: sample 2 has log-probability -400 for its class, which clipping the
    # rounded-to-zero probability at epsilon would turn into -log(1e-7) ~ 16.1
    np.testing.assert_allclose(loss.data, [0.0, 400.0], atol=1e-9)
    ops.sum(loss).backward()
    np.testing.assert_allclose(logits.grad, [[0, 0, 0], [0, 1, -1]], atol=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_categorical_crossentropy_of_a_softmax_is_the_same_without_recording(dtype):
    # the true class has probability ~1e-12: clipping it at epsilon would give -log(1e-7) ~ 16.1
    logits = np.array([[0.0, -27.6, -3.0], [2.0, 0.5, -1.0]], dtype)
    target = Tensor(np.eye(3, dtype=dtype)[[1, 0]])
    recorded = ops.categorical_crossentropy(target, ops.softmax(Variable(logits, dtype=dtype)))
    assert recorded._op.name == "softmax_cross_entropy"
    with no_grad():
        probs = ops.softmax(Tensor(logits))
        assert probs._op is None  # not recorded: the loss cannot see the softmax op
        evaluated = ops.categorical_crossentropy(target, probs)
    np.testing.assert_allclose(evaluated.data, recorded.data, rtol=1e-6)
    np.testing.assert_allclose(evaluated.data[0], 27.6 + np.log1p(np.exp(-27.6) + np.exp(-3.0)), rtol=1e-6)
    assert evaluated.dtype == dtype


def test_binary_crossentropy_of_a_sigmoid_is_the_same_without_recording():
    logits = np.array([[-27.6, 30.0, 0.5]])
    target = Tensor(np.array([[1.0, 0.0, 1.0]]))
    recorded = ops.binary_crossentropy(target, ops.sigmoid(Variable(logits, dtype="float64")))
    with no_grad():
        evaluated = ops.binary_crossentropy(target, ops.sigmoid(Tensor(logits)))
    np.testing.assert_allclose(evaluated.data, recorded.data, rtol=1e-12)
    np.testing.assert_allclose(evaluated.data[0, :2], [27.6, 30.0], rtol=1e-9)


def test_a_softmax_over_another_axis_is_not_taken_for_logits():
    logits = Tensor(np.array([[0.0, 1.0], [2.0, -1.0]]))
    target = Tensor(np.eye(2))
    with no_grad():
        probs = ops.softmax(logits, axis=0)
        loss = ops.categorical_crossentropy(target, probs)
    p = probs.data / probs.data.sum(-1, keepdims=True)
    np.testing.assert_allclose(loss.data, -np.log(np.diag(p)), rtol=1e-6)


def test_categorical_crossentropy_on_probabilities_clips():
    target = np.array([[0.0, 1.0]])
    probs = Variable(np.array([[1.0, 0.0]]), dtype="float64")
    loss = ops.categorical_crossentropy(Tensor(target), probs)
    assert loss._op.name == "categorical_crossentropy"
    np.testing.assert_allclose(loss.data, [-np.log(1e-7)], rtol=1e-6)
    ops.sum(loss).backward()
    assert np.all(np.isfinite(probs.grad))


def test_binary_crossentropy_fuses_with_sigmoid_and_stays_finite():
    logits = Variable(np.array([[-800.0, 800.0, 0.5]]), dtype="float64")
    target = Tensor(np.array([[1.0, 0.0, 1.0]]))
    loss = ops.binary_crossentropy(target, ops.sigmoid(logits))
    assert loss._op.name == "sigmoid_binary_cross_entropy"
    np.testing.assert_allclose(loss.data, [[800.0, 800.0, np.log1p(np.exp(-0.5))]], rtol=1e-12)
    ops.sum(loss).backward()
    np.testing.assert_allclose(logits.grad, [[-1.0, 1.0, 1 / (1 + np.exp(-0.5)) - 1]], atol=1e-12)


def test_binary_crossentropy_on_probabilities_clips():
    probs = Variable(np.array([[0.0, 1.0]]), dtype="float64")
    loss = ops.binary_crossentropy(Tensor(np.array([[1.0, 0.0]])), probs)
    np.testing.assert_allclose(loss.data, [[-np.log(1e-7)] * 2], rtol=1e-6)
    ops.sum(loss).backward()
    np.testing.assert_array_equal(probs.grad, [[0.0, 0.0]])  # outside the clip range


def test_matmul_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"at least 2 dimensions; received shapes \(3,\) and \(3, 2\)"):
        ops.matmul(np.ones(3), np.ones((3, 2)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_and_pool_keep_the_dtype(dtype):
    rng = np.random.default_rng(0)
    x = Variable(spaced((1, 4, 4, 2), rng), dtype=dtype)
    k = Variable(rng.standard_normal((3, 3, 2, 2)), dtype=dtype)
    y = ops.max_pool2d(ops.conv2d(x, k, padding="same"), (2, 2))
    assert y.dtype == dtype
    ops.sum(y).backward()
    assert x.grad.dtype == dtype and k.grad.dtype == dtype
