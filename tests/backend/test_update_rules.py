"""The SGD rule is written twice: in numpy (`kerasette.optimizers.SGD.update`) and in the fused
kernel (`kerasette.backend.kernels.update`). A golden sequence of steps through both paths."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from kerasette import optimizers
from kerasette.backend import parallel
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


SHAPES = [(3, 3, 16, 16), (64,), (1,), (0,), (255, 257), (7, 5)]


@pytest.fixture
def threads():
    saved = parallel.num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(saved)


def test_array_data_offset_names_the_data_pointer_of_any_array():
    """`SgdGroup` reads gradients through their objects' addresses: on this build the offset is
    found, and holds for views, slices, Fortran-ordered, empty and 0-d arrays."""
    assert updates.ARRAY_DATA_OFFSET is not None
    base = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    for a in (base, base[1], base[:, 2:], base.T, np.asfortranarray(base), np.zeros(0), np.full((), 2.0),
              base.reshape(-1)[7:]):
        assert ctypes.c_void_p.from_address(id(a) + updates.ARRAY_DATA_OFFSET).value == a.ctypes.data


@pytest.mark.parametrize("addressed", [True, False])
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_group_kernel_gives_the_numpy_statements_bits_on_every_weight(dtype, nesterov, split, addressed, threads,
                                                                      monkeypatch):
    """`SgdGroup`: several weights (an empty one among them) in one call, step after step; the
    gradients of any layout; the address tables rebuilt when a weight's array changes. The
    gradients read by their objects' addresses or (``addressed=False``: no offset found)
    concatenated; in one chunk, or split over three threads within the weights."""
    if not addressed:
        monkeypatch.setattr(updates, "ARRAY_DATA_OFFSET", None)
    if split:
        threads(3)
        monkeypatch.setattr(updates, "PASS_MIN", 1000)
        monkeypatch.setattr(parallel, "memory_bound_min", lambda: 1000)
    rng = np.random.default_rng(3)
    ws = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    vs = [np.zeros(s, dtype) for s in SHAPES]
    ref_ws, ref_vs = [w.copy() for w in ws], [v.copy() for v in vs]
    group = updates.SgdGroup()
    for step in range(5):
        if step == 3:  # a new array for one weight (as `Variable.data = ...` would give)
            ws[1], ref_ws[1] = ws[1].copy(), ref_ws[1].copy()
        gs = [(rng.normal(size=s) * 10.0 ** rng.integers(-3, 3)).astype(dtype) for s in SHAPES]
        gs[0] = np.asfortranarray(gs[0])
        lr = 0.05 / (1 + 0.1 * step)
        group(ws, gs, vs, lr, 0.9, nesterov)
        for w, g, v in zip(ref_ws, gs, ref_vs):
            _numpy_sgd_statements(w, g, v, lr, 0.9, nesterov)
        for got, want in zip(ws + vs, ref_ws + ref_vs):
            np.testing.assert_array_equal(got, want)


def test_group_refuses_arrays_it_cannot_address():
    group = updates.SgdGroup()
    w = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="C-contiguous and of one dtype"):
        group([w.T[:, :2]], [np.zeros((4, 2), np.float32)], [np.zeros((4, 2), np.float32)], 0.1, 0.9, False)
    with pytest.raises(ValueError, match="C-contiguous and of one dtype"):
        group([w, np.zeros(3)], [np.zeros((4, 4), np.float32), np.zeros(3)],
              [np.zeros((4, 4), np.float32), np.zeros(3)], 0.1, 0.9, False)
    with pytest.raises(ValueError, match="do not match the weights"):
        group([w], [np.zeros(15, np.float32)], [np.zeros((4, 4), np.float32)], 0.1, 0.9, False)
    with pytest.raises(ValueError, match="do not match the weights"):
        group([w], [np.zeros((4, 4))], [np.zeros((4, 4), np.float32)], 0.1, 0.9, False)
    with pytest.raises(ValueError, match="do not match the weights"):  # (each gradient its weight's size)
        group([w, w[0].copy()], [np.zeros(15, np.float32), np.zeros(5, np.float32)],
              [np.zeros((4, 4), np.float32), np.zeros(4, np.float32)], 0.1, 0.9, False)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_updates_small_weights_in_one_group_call_with_the_bits_of_update(nesterov, monkeypatch):
    """`SGD.apply_gradients` on small C-contiguous float weights makes one group call per dtype;
    the bits are `SGD.update`'s (the numpy statements, given a Fortran-ordered gradient) on each
    weight; a large weight takes the fused kernel, and a weight with weight decay `update`."""
    calls = []
    group_call = updates.SgdGroup.__call__
    monkeypatch.setattr(updates.SgdGroup, "__call__", lambda self, *a: (calls.append(len(a[0])),
                                                                        group_call(self, *a)))
    rng = np.random.default_rng(2)
    shapes = [((30, 40), "float32"), ((40,), "float32"), ((5,), "float64"), ((256, 300), "float32")]
    settings = dict(learning_rate=0.05, momentum=0.9, decay=0.1, nesterov=nesterov)
    grouped, plain = optimizers.SGD(**settings), optimizers.SGD(**settings)
    grouped_ws = [Variable(rng.normal(size=s).astype(d), dtype=d) for s, d in shapes]
    plain_ws = [Variable(w.data, dtype=w.dtype) for w in grouped_ws]
    for step in range(4):
        gs = [rng.normal(size=w.shape).astype(w.dtype) for w in grouped_ws]
        grouped.apply_gradients(list(zip(gs, grouped_ws)))
        lr = plain.current_learning_rate()
        for g, w in zip(gs, plain_ws):
            small = w.size < optimizers.FUSED_UPDATE_MIN_SIZE  # (a large one: the fused kernel on both sides)
            plain.update(w.data, np.asfortranarray(g) if small else g, plain.slots_for(w), lr)
        plain.iterations += 1
        assert calls == [2, 1] * (step + 1)  # float32 (two small weights), float64
        for got, want in zip(grouped_ws, plain_ws):
            np.testing.assert_array_equal(got.data, want.data)
            np.testing.assert_array_equal(grouped.slots_for(got)["momentum"], plain.slots_for(want)["momentum"])
    decaying = optimizers.SGD(momentum=0.9, weight_decay=0.01)
    assert not decaying._joins_group(grouped_ws[0], np.zeros((30, 40), np.float32))
    assert not optimizers.SGD()._joins_group(grouped_ws[0], np.zeros((30, 40), np.float32))  # no momentum
    assert not optimizers.SGD(momentum=0.9)._joins_group(grouped_ws[3], np.zeros((256, 300), np.float32))
    assert optimizers.SGD(momentum=0.9)._joins_group(grouped_ws[0], np.zeros((30, 40), np.float32))
