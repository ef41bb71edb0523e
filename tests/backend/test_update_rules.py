"""The SGD rule is written twice: in numpy (`kerasette.optimizers.SGD.update`) and in the fused
kernel (`kerasette.backend.kernels.update`). A golden sequence of steps through both paths."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import optimizers
from kerasette.backend.engine import updates
from kerasette.backend.tensor import Variable

SHAPE = (256, 300)  # above FUSED_UPDATE_MIN_SIZE: C-contiguous gradients take the fused kernel
TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-13, "atol": 1e-13}}


def _keras_sgd(w, v, g, lr, momentum, nesterov):
    """Keras's rule, written out here: ``v = m * v - lr * g``, then ``w += v`` (or, with
    Nesterov, ``w += m * v - lr * g``)."""
    v = momentum * v - lr * g
    return w + (momentum * v - lr * g if nesterov else v), v


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_and_numpy_sgd_agree_on_every_step(nesterov, dtype, monkeypatch):
    assert np.prod(SHAPE) >= optimizers.FUSED_UPDATE_MIN_SIZE
    fused_calls = []
    kernel = updates.sgd_momentum
    monkeypatch.setattr(updates, "sgd_momentum", lambda *a: (fused_calls.append(1), kernel(*a)))
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=SHAPE).astype(dtype)
    grads = [rng.normal(size=SHAPE).astype(dtype) for _ in range(6)]
    settings = dict(learning_rate=0.05, momentum=0.9, decay=0.1, nesterov=nesterov)
    fused, plain = optimizers.SGD(**settings), optimizers.SGD(**settings)
    fused_w, plain_w = Variable(w0, dtype=dtype), Variable(w0, dtype=dtype)
    ref_w, ref_v = w0.astype(np.float64), np.zeros(SHAPE)
    for step, g in enumerate(grads):
        lr = 0.05 / (1 + 0.1 * step)  # the learning rate decays every step
        fused.apply_gradients([(g, fused_w)])
        plain.apply_gradients([(np.asfortranarray(g), plain_w)])  # not C-contiguous: the numpy rule
        ref_w, ref_v = _keras_sgd(ref_w, ref_v, g.astype(np.float64), lr, 0.9, nesterov)
        assert len(fused_calls) == step + 1
        np.testing.assert_allclose(fused_w.data, plain_w.data, **TOL[dtype])
        np.testing.assert_allclose(fused.slots_for(fused_w)["momentum"], plain.slots_for(plain_w)["momentum"],
                                   **TOL[dtype])
        np.testing.assert_allclose(fused_w.data, ref_w, **TOL[dtype])
        np.testing.assert_allclose(plain_w.data, ref_w, **TOL[dtype])
    assert fused_w.dtype == plain_w.dtype == dtype


def _numpy_sgd_statements(value, grad, v, lr, momentum, nesterov):
    """`SGD.update`'s numpy statements, in place: the rule the small-weight kernel must match bit for bit."""
    kind = value.dtype.type
    step = kind(lr) * grad
    v *= kind(momentum)
    v -= step
    if nesterov:
        value += kind(momentum) * v
        value -= step
    else:
        value += v


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3, 3, 16, 16), (64,), (1,), (0,), (255, 257)])
def test_small_weight_kernel_gives_the_numpy_statements_bits(shape, dtype, nesterov):
    assert np.prod(shape) < optimizers.FUSED_UPDATE_MIN_SIZE
    rng = np.random.default_rng(1)
    w = rng.normal(size=shape).astype(dtype)
    v = np.zeros(shape, dtype)
    ref_w, ref_v = w.copy(), v.copy()
    for step in range(5):
        g = (rng.normal(size=shape) * 10.0 ** rng.integers(-3, 3)).astype(dtype)
        lr = 0.05 / (1 + 0.1 * step)
        updates.sgd_momentum_small(w, g, v, lr, 0.9, nesterov)
        _numpy_sgd_statements(ref_w, g, ref_v, lr, 0.9, nesterov)
        np.testing.assert_array_equal(w, ref_w)
        np.testing.assert_array_equal(v, ref_v)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_takes_the_small_weight_kernel_and_keeps_the_bits(nesterov, monkeypatch):
    """`SGD` on small C-contiguous float weights calls the kernel; a Fortran-ordered gradient
    takes the numpy statements; both give the same bits."""
    calls = []
    kernel = updates.sgd_momentum_small
    monkeypatch.setattr(updates, "sgd_momentum_small", lambda *a: (calls.append(1), kernel(*a)))
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=(30, 40)).astype("float32")
    settings = dict(learning_rate=0.05, momentum=0.9, decay=0.1, nesterov=nesterov)
    small, plain = optimizers.SGD(**settings), optimizers.SGD(**settings)
    small_w, plain_w = Variable(w0, dtype="float32"), Variable(w0, dtype="float32")
    for step in range(4):
        g = rng.normal(size=w0.shape).astype("float32")
        small.apply_gradients([(g, small_w)])
        plain.apply_gradients([(np.asfortranarray(g), plain_w)])
        assert len(calls) == step + 1
        np.testing.assert_array_equal(small_w.data, plain_w.data)
        np.testing.assert_array_equal(small.slots_for(small_w)["momentum"], plain.slots_for(plain_w)["momentum"])
