"""The engine: graph recording, the iterative backward pass, accumulation, no_grad, errors."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from kerasette.backend import autograd, backprop, ops
from kerasette.backend.autograd import Op, apply, postorder, topological_order, unbroadcast
from kerasette.backend.parallel import parallel_settings
from kerasette.backend.tensor import Tensor, Variable, enable_grad, is_grad_enabled, no_grad


def var(values):
    return Variable(np.asarray(values, dtype=np.float64), dtype="float64")


class Tagged(Op):
    """The identity, recording its label in ``log`` when its backward runs."""

    name = "tagged"

    def __init__(self, label, log):
        self.label, self.log = label, log

    def forward(self, *xs):
        return sum(xs[1:], xs[0].copy())

    def backward(self, grad):
        self.log.append(self.label)
        return (grad,) * len(self.needs_grad)


def test_deep_chain_needs_no_recursion():
    x = var([1.0, 2.0])
    y = x
    for _ in range(10000):
        y = ops.add(y, 1.0)
    ops.sum(y).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    np.testing.assert_array_equal(y.data, [10001.0, 10002.0])


def _branchy_graph(log):
    x = var(np.ones(2))
    a = apply(Tagged("a", log), x)
    b = apply(Tagged("b", log), x)
    c = apply(Tagged("c", log), a, b)
    d = apply(Tagged("d", log), b)
    e = apply(Tagged("e", log), c, d, a)
    return x, e


def test_backward_order_is_deterministic_and_topological():
    orders = []
    for _ in range(3):
        log: list[str] = []
        _junk = [Tensor(np.zeros(1)) for _ in range(50)]  # different ids on each build
        x, e = _branchy_graph(log)
        e.backward(np.ones(2))
        orders.append(log)
        # every op runs after all the ops that consume its output
        position = {label: i for i, label in enumerate(log)}
        for consumer, producers in {"e": "cda", "c": "ab", "d": "b"}.items():
            assert all(position[consumer] < position[p] for p in producers)
        np.testing.assert_array_equal(x.grad, [4.0, 4.0])  # four paths: e-c-a, e-c-b, e-d-b, e-a
    assert orders[0] == orders[1] == orders[2]
    assert sorted(orders[0]) == ["a", "b", "c", "d", "e"]  # each op's backward runs once


def test_topological_order_lists_inputs_before_outputs():
    x = var([1.0])
    a = ops.multiply(x, 2.0)
    b = ops.add(a, x)
    order = topological_order(b)
    assert [id(t) for t in order] == [id(x), id(a), id(b)]


class _Node:
    """What the walk reads of a tensor: its inputs and whether it needs a gradient."""

    def __init__(self, inputs, requires_grad=True):
        self._inputs, self.requires_grad = tuple(inputs), requires_grad


@pytest.mark.parametrize("seed", range(20))
def test_the_walk_order_and_consumer_counts_are_postorder_and_the_plain_count(seed):
    """`backprop._order_and_consumers` (the walk's one-pass search) gives `postorder`'s order
    and the consumer counts `_drop_unread_values` would count, on random graphs with repeated
    inputs (x * x), inputs needing no gradient and shared subgraphs."""
    rng = np.random.default_rng(seed)
    nodes = [_Node((), requires_grad=bool(rng.random() < 0.8)) for _ in range(4)]
    for _ in range(40):
        picks = rng.integers(0, len(nodes), rng.integers(1, 4))
        nodes.append(_Node([nodes[i] for i in picks], requires_grad=bool(rng.random() < 0.95)))
    root = _Node(nodes[-6:])
    order, consumers = backprop._order_and_consumers(root)
    want = postorder([root], lambda t: [p for p in t._inputs if p.requires_grad])
    assert [id(t) for t in order] == [id(t) for t in want]
    assert [id(t) for t in topological_order(root)] == [id(t) for t in want]
    counted: dict[int, int] = {}
    for node in want:
        for parent in node._inputs:
            counted[id(parent)] = counted.get(id(parent), 0) + 1
    assert consumers == counted


def test_shared_input_gradients_accumulate():
    x = var([1.0, -2.0, 3.0])
    ops.sum(ops.multiply(x, x)).backward()
    np.testing.assert_array_equal(x.grad, [2.0, -4.0, 6.0])

    y = var([1.0, 2.0])
    ops.sum(ops.add(y, y)).backward()
    np.testing.assert_array_equal(y.grad, [2.0, 2.0])


def test_diamond_graph():
    x = var([1.0, 2.0])
    a = ops.multiply(x, 2.0)
    b = ops.multiply(x, 3.0)
    ops.sum(ops.multiply(a, b)).backward()  # 6 x^2
    np.testing.assert_allclose(x.grad, 12 * x.data)


def test_input_used_at_several_depths():
    x = var([0.5, 2.0])
    y = ops.add(ops.multiply(ops.multiply(x, 2.0), x), x)  # 2 x^2 + x
    ops.sum(y).backward()
    np.testing.assert_allclose(x.grad, 4 * x.data + 1)


def test_backward_twice_accumulates_into_grad():
    x = var([1.0, 2.0])
    ops.sum(ops.multiply(x, 3.0)).backward()
    ops.sum(ops.multiply(x, 3.0)).backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None


def test_constants_get_no_gradient():
    x = var([1.0])
    c = Tensor(np.array([2.0]))
    ops.sum(ops.multiply(x, c)).backward()
    assert c.grad is None and not c.requires_grad
    np.testing.assert_array_equal(x.grad, [2.0])


def test_no_grad_records_nothing_and_restores_the_mode():
    x = var([1.0, 2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = ops.multiply(x, x)
        with enable_grad():
            z = ops.multiply(x, x)
        assert not is_grad_enabled()
    assert is_grad_enabled()
    assert y._op is None and not y.requires_grad
    assert z.requires_grad
    with pytest.raises(ValueError, match="does not depend on any variable that requires a gradient"):
        ops.sum(y).backward()
    with pytest.raises(KeyError), no_grad():
        raise KeyError("boom")
    assert is_grad_enabled()


def test_backward_on_a_non_scalar_needs_a_gradient():
    x = var([1.0, 2.0])
    y = ops.multiply(x, 2.0)
    with pytest.raises(ValueError, match=r"shape \(2,\) needs a `gradient` argument"):
        y.backward()
    with pytest.raises(ValueError, match=r"`gradient` has shape \(3,\) but the tensor has shape \(2,\)"):
        y.backward(np.ones(3))
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


class Broken(Op):
    """Forward is fine, backward returns a gradient of the wrong shape."""

    name = "broken"

    def forward(self, x):
        return x * 2

    def backward(self, grad):
        return (grad[:-1],)


def test_gradient_shape_error_names_the_op():
    x = var([1.0, 2.0, 3.0])
    y = ops.sum(apply(Broken(), x))
    with pytest.raises(RuntimeError, match=r"op 'broken' returned a gradient of shape \(2,\) for an input "
                                           r"of shape \(3,\)"):
        y.backward()


def test_unbroadcast():
    g = np.ones((2, 3, 4))
    assert unbroadcast(g, (2, 3, 4)) is g
    np.testing.assert_array_equal(unbroadcast(g, (4,)), np.full(4, 6.0))
    np.testing.assert_array_equal(unbroadcast(g, (3, 1)), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(unbroadcast(g, ()), 24.0)


def test_grad_returns_gradients_without_touching_dot_grad():
    x, w = var([1.0, 2.0]), var([3.0, 4.0])
    loss = ops.sum(ops.multiply(x, w))
    gx, gw = autograd.grad(loss, [x, w])
    np.testing.assert_array_equal(gx, [3.0, 4.0])
    np.testing.assert_array_equal(gw, [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_operators_build_the_graph_and_keep_float32():
    x = Variable(np.array([1.0, 2.0], np.float32))
    y = (2.0 * x + 1.0 - x / 2.0) ** 2.0 - (-x)
    assert isinstance(y, Tensor) and y.dtype == np.float32
    y2 = np.ones(2, np.float32) + x  # ndarray on the left still gives a Tensor
    assert isinstance(y2, Tensor)
    ops.sum(y).backward()
    # d/dx (1.5 x + 1)^2 + x = 3 (1.5 x + 1) + 1
    np.testing.assert_allclose(x.grad, 3 * (1.5 * x.data + 1) + 1, rtol=1e-6)


def test_tensor_methods():
    x = var(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.T.data, x.data.T)
    np.testing.assert_array_equal(x.reshape(3, 2).data, x.data.reshape(3, 2))
    np.testing.assert_array_equal(x.sum(axis=0).data, [3.0, 5.0, 7.0])
    assert x.mean().item() == 2.5
    np.testing.assert_array_equal(x[1].data, [3.0, 4.0, 5.0])
    assert x.detach()._op is None and not x.detach().requires_grad


def test_variable_assign_checks_the_shape():
    v = Variable(np.zeros((2, 2)), name="w")
    v.assign(np.ones((2, 2)))
    np.testing.assert_array_equal(v.data, np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"Variable 'w': cannot assign a value of shape \(3,\) to a variable "
                                         r"of shape \(2, 2\)"):
        v.assign(np.ones(3))


def test_variable_copies_its_initial_value_and_uses_floatx():
    value = np.ones(3)
    v = Variable(value)
    value[0] = 5
    assert v.data[0] == 1 and v.dtype == np.float32 and v.requires_grad


def test_python_scalars_take_the_dtype_of_the_float_tensor():
    import kerasette.backend as K
    from kerasette import activations

    a = Variable(np.array([-1.5, 0.5, 2.0], np.float32))
    results = {
        "K.pow(a, 2)": K.pow(a, 2),
        "ops.power(a, 0.5)": ops.power(ops.abs(a), 0.5),
        "ops.maximum(a, 0.)": ops.maximum(a, 0.0),
        "ops.minimum(1, a)": ops.minimum(1, a),
        "ops.multiply(a, np.asarray(2.0))": ops.multiply(a, np.asarray(2.0)),  # a 0-d float64 array
        "ops.add(np.float64(1), a)": ops.add(np.float64(1.0), a),
        "softplus": activations.softplus(a),
        "softsign": activations.softsign(a),
    }
    for label, out in results.items():
        assert out.dtype == np.float32, f"{label} gave {out.dtype}"


def test_a_float32_variable_gets_a_float32_gradient_through_scalars():
    a = Variable(np.array([1.0, 2.0], np.float32))
    loss = ops.sum(ops.add(ops.multiply(ops.power(a, 2), np.asarray(3.0)), ops.divide(1.0, a)))
    loss.backward()
    assert a.grad.dtype == np.float32
    np.testing.assert_allclose(a.grad, 6 * a.data - 1 / a.data**2, rtol=1e-6)


def test_scalars_do_not_change_float64_or_integer_computations():
    x = Tensor(np.array([1.0, 2.0]))
    assert ops.multiply(x, 2).dtype == np.float64
    assert ops.add(Tensor(np.array([1, 2])), 1).dtype == np.int64  # no floating tensor: numpy's rule
    # a float64 array that is not 0-d is a real operand and promotes, as in numpy
    assert ops.add(Tensor(np.ones(2, np.float32)), np.ones(2)).dtype == np.float64


def test_as_tensor_gives_weak_scalars_the_requested_dtype():
    assert autograd.as_tensor(2.0, like=np.dtype("float32")).dtype == np.float32
    assert autograd.as_tensor(np.asarray(2.0), like=np.dtype("float32")).dtype == np.float32
    assert autograd.as_tensor(np.ones(2), like=np.dtype("float32")).dtype == np.float64
    assert autograd.as_tensor(2.0).dtype == np.float64
    t = Tensor(np.ones(2))
    assert autograd.as_tensor(t, like=np.dtype("float32")) is t


class _Keeps(Op):
    """``2 * x``, whose backward keeps the gradient it returns (as an op may keep an array)."""

    name = "keeps"

    def forward(self, x):
        return 2.0 * x

    def backward(self, grad):
        self.kept = grad * 2.0
        return (self.kept,)


class _Scaled(Op):
    """``3 * x``, returning a new array (nothing else refers to it)."""

    name = "scaled"

    def forward(self, x):
        return 3.0 * x

    def backward(self, grad):
        return (grad * 3.0,)


@pytest.mark.parametrize("walk", ["gradients_or_none", "grad", "backward"])
def test_a_shared_input_sums_its_gradients_in_place_only_when_nothing_else_holds_them(walk, monkeypatch):
    """A tensor read by several ops gets the sum of their gradients, written into the first when no
    one else refers to it: a gradient an op kept, or one that is also another tensor's, is left
    as it was; the sums are the bits of ``a + b``."""
    from kerasette.backend import backprop

    sums = []
    add = np.add
    monkeypatch.setattr(backprop.np, "add", lambda a, b, out=None: (sums.append(out is a), add(a, b, out=out))[1])
    rng = np.random.default_rng(0)
    w = var(rng.normal(size=(4, 5)))
    keeps = _Keeps()
    with enable_grad():
        h = ops.multiply(w, w)  # read by four ops below
        kept = apply(keeps, h)
        total = ops.sum(ops.add(ops.add(apply(_Scaled(), h), apply(_Scaled(), h)), ops.add(kept, h)))
    if walk == "gradients_or_none":
        (g,) = autograd.gradients_or_none(total, [w])
    elif walk == "grad":
        (g,) = autograd.grad(total, [w])
    else:
        autograd.backward(total)
        g = w.grad
    # d total / d h = 3 + 3 + 2 + 1 for every value; the gradient the op kept is still its own 2s
    expected = 2.0 * w.data * (3.0 + 3.0 + 2.0 + 1.0)
    np.testing.assert_array_equal(g, expected)
    np.testing.assert_array_equal(keeps.kept, np.full((4, 5), 2.0))
    assert True in sums  # at least one sum went in place


@pytest.mark.parametrize("threads", [1, 2])
def test_a_large_shared_input_sums_its_gradients_in_place_split_over_threads(threads, monkeypatch):
    """A residual block's shortcut: the gradients of a large tensor read by two ops are summed in
    place in pieces over the thread pool, the same bits as ``a + b``."""
    from kerasette.backend import backprop, parallel

    monkeypatch.setattr(backprop, "SPLIT_ADD_MIN", 1000)
    monkeypatch.setattr(backprop, "ADD_PIECE", 300)
    split = []
    pieces = parallel.map_pieces
    monkeypatch.setattr(parallel, "map_pieces", lambda fn, n, *a, **k: (split.append(n), pieces(fn, n, *a, **k))[1])
    previous = parallel.num_threads()
    parallel.set_num_threads(threads)
    try:
        rng = np.random.default_rng(1)
        w = var(rng.normal(size=(50, 41)).astype(np.float32))
        with enable_grad():
            h = ops.multiply(w, w)
            total = ops.sum(ops.add(apply(_Scaled(), h), ops.multiply(h, h)))
        with parallel.parallel_settings(memory_bound_min=0):
            (g,) = autograd.gradients_or_none(total, [w])
    finally:
        parallel.set_num_threads(previous)
    hd = w.data * w.data
    expected = (np.float32(3.0) * np.ones_like(hd) + (hd + hd)) * (w.data + w.data)
    np.testing.assert_allclose(g, expected, rtol=1e-6)
    assert split == [50 * 41]


class _Summing(Op):
    """``relu(x)`` that records how the walk handed it its gradient (`backward` or `backward_sum`)."""

    name = "summing"

    def __init__(self, calls):
        self.calls = calls

    def forward(self, x):
        self.out = np.maximum(x, 0)
        return self.out

    def backward(self, grad):
        self.calls.append("backward")
        return (grad * (self.out > 0),)

    def backward_sum(self, grad, addend):
        self.calls.append("backward_sum")
        assert grad is not addend and grad.flags.writeable
        np.add(grad, addend, out=grad)
        grad *= self.out > 0
        return (grad,)


@pytest.mark.parametrize("consumers", [2, 3])
@pytest.mark.parametrize("walk", ["gradients_or_none", "grad", "grad of the sum", "backward"])
def test_an_op_that_takes_a_sum_gets_both_gradients_of_a_shared_output(consumers, walk):
    """A tensor read by several ops whose op has ``backward_sum`` gets its gradient as two
    (the first the walk's own, earlier ones added into it): the same values as the sum; a
    tensor whose gradient the caller asked for gets the sum itself."""
    rng = np.random.default_rng(2)
    w = var(rng.normal(size=(6, 7)))
    calls = []
    with enable_grad():
        h = apply(_Summing(calls), ops.multiply(w, w))
        branches = [apply(_Scaled(), h), ops.multiply(h, h), apply(_Scaled(), apply(_Scaled(), h))][:consumers]
        total = ops.sum(functools.reduce(ops.add, branches))
    hd = np.maximum(w.data * w.data, 0)
    dh = (3.0 + 2 * hd + (9.0 if consumers == 3 else 0.0)) * (hd > 0)
    if walk == "gradients_or_none":
        (g,) = autograd.gradients_or_none(total, [w])
    elif walk == "grad":
        (g,) = autograd.grad(total, [w])
    elif walk == "grad of the sum":
        g, gh = autograd.grad(total, [w, h])
        np.testing.assert_allclose(gh, 3.0 + 2 * hd + (9.0 if consumers == 3 else 0.0))
    else:
        autograd.backward(total)
        g = w.grad
    np.testing.assert_allclose(g, dh * 2 * w.data)
    assert calls == (["backward"] if walk == "grad of the sum" else ["backward_sum"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_grad_of_a_sum_is_the_sum_then_the_mask(dtype):
    """The ReLU ops' ``backward_sum``: the bits of ``np.add`` then the mask, in one pass (written
    into the first gradient), split over pieces or not; an infinite sum where the ReLU was off is 0."""
    from kerasette.backend.ops.nn import AddRelu, Relu

    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, 40, 33)).astype(dtype)
    g, h = rng.standard_normal((2, 40, 33)).astype(dtype)
    g[0, 0], h[0, 0] = np.inf, 1
    for op, args in ((Relu(), (x,)), (AddRelu(), (x, y))):
        op.needs_grad = (True,) * len(args)
        out = op.forward(*args)
        out[0, 0] = 0
        want = np.where(out > 0, g + h, 0)
        for split in (False, True):
            with parallel_settings(memory_bound_min=0 if split else 10**9):
                first = g.copy()
                got = op.backward_sum(first, h)
            for grad in got:
                np.testing.assert_array_equal(grad, want)
            assert np.shares_memory(got[0], first)
