"""The three programming models of issue 5: graph mode, eager, and dynamic graphs with backward()."""

import numpy as np
import pytest

import kerasette.backend as K


def numerical_grad(f, x, eps=1e-6):
    """Central differences of scalar f at float64 array x."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def test_graph_mode_relu_dense_values_and_gradients():
    rng = np.random.default_rng(0)
    b = K.variable(rng.normal(size=(5,)), dtype="float64")
    W = K.variable(rng.uniform(-1, 1, (7, 5)), dtype="float64")
    x = K.placeholder(shape=(None, 7), dtype="float64")
    h = K.relu(K.dot(x, W) + b)
    assert h.shape == (None, 5)
    xv = rng.random((4, 7))
    out = K.function([x], [h])([xv])[0]
    np.testing.assert_allclose(out, np.maximum(xv @ W.data + b.data, 0))
    gW, gb = K.function([x], K.gradients(K.sum(h), [W, b]))([xv])
    mask = (xv @ W.data + b.data) > 0
    np.testing.assert_allclose(gW, xv.T @ mask)
    np.testing.assert_allclose(gb, mask.sum(axis=0))
    numeric = numerical_grad(lambda: np.maximum(xv @ W.data + b.data, 0).sum(), W.data)
    np.testing.assert_allclose(gW, numeric, atol=1e-6)


def test_graph_mode_issue_snippet_shapes():
    b = K.variable(np.zeros((100,)))
    W = K.variable(np.random.uniform(-1, 1, (784, 100)))
    x = K.placeholder(shape=(None, 784))
    h = K.relu(K.dot(x, W) + b)
    f = K.function([x], [h])
    assert f([np.random.random((64, 784))])[0].shape == (64, 100)
    grads = K.function([x], K.gradients(K.sum(h), [W, b]))([np.random.random((64, 784))])
    assert [g.shape for g in grads] == [(784, 100), (100,)]


def test_gradient_with_respect_to_placeholder():
    x = K.placeholder(shape=(None, 3), dtype="float64")
    y = K.sum(K.square(x))
    (g,) = K.function([x], K.gradients(y, [x]))([np.array([[1.0, -2.0, 3.0]])])
    np.testing.assert_allclose(g, [[2.0, -4.0, 6.0]])


def test_function_updates_assign_variables():
    v = K.variable(np.zeros(3), dtype="float64")
    x = K.placeholder(shape=(3,), dtype="float64")
    f = K.function([x], [v + x], updates=[K.update_add(v, x)])
    f([np.ones(3)])
    f([np.ones(3)])
    np.testing.assert_allclose(K.get_value(v), [2.0, 2.0, 2.0])


def test_symbolic_operators_and_indexing():
    x = K.placeholder(shape=(None, 4), dtype="float64")
    y = (x * 2 - 1) / 4 + x @ np.eye(4) - (-x)[:, :4]
    xv = np.arange(8.0).reshape(2, 4)
    np.testing.assert_allclose(K.function([x], [y.T])([xv])[0], ((xv * 2 - 1) / 4 + 2 * xv).T)


def test_eager_tensor_prints_values_shape_dtype():
    a = K.constant([[1, 2], [3, 4]])
    text = str(a)
    assert "[[1. 2.]" in text and "[3. 4.]]" in text
    assert "shape=(2, 2)" in text and "dtype=float32" in text


def test_symbolic_tensor_repr_names_shape_dtype():
    x = K.placeholder(shape=(None, 784), name="images")
    text = repr(x)
    assert "images" in text and "(None, 784)" in text and "float32" in text


def test_dynamic_graph_backward_matches_numpy_and_finite_differences():
    rng = np.random.default_rng(1)
    x = K.variable(rng.normal(size=(1, 10)), dtype="float64")
    prev_h = K.variable(rng.normal(size=(1, 20)), dtype="float64")
    W_h = K.variable(rng.normal(size=(20, 20)) * 0.2, dtype="float64")
    W_x = K.variable(rng.normal(size=(20, 10)) * 0.2, dtype="float64")
    next_h = K.tanh(K.dot(W_x, K.transpose(x)) + K.dot(W_h, K.transpose(prev_h)))
    next_h.backward(K.ones((20, 1), dtype="float64"))
    pre = W_x.data @ x.data.T + W_h.data @ prev_h.data.T
    np.testing.assert_allclose(W_x.grad, (1 - np.tanh(pre) ** 2) @ x.data)
    numeric = numerical_grad(
        lambda: np.tanh(W_x.data @ x.data.T + W_h.data @ prev_h.data.T).sum(), W_x.data)
    np.testing.assert_allclose(W_x.grad, numeric, atol=1e-6)
    assert x.grad.shape == (1, 10) and prev_h.grad.shape == (1, 20)


def test_backward_accumulates_and_zero_grad_resets():
    w = K.variable(np.array([1.0, 2.0]), dtype="float64")
    K.sum(w * w).backward()
    K.sum(w * w).backward()
    np.testing.assert_allclose(w.grad, [4.0, 8.0])
    w.zero_grad()
    assert w.grad is None


def test_no_grad_records_nothing():
    w = K.variable(np.ones(2))
    with K.no_grad():
        y = K.sum(w * 3)
    assert not y.requires_grad
    with pytest.raises(ValueError, match="does not depend on any variable"):
        y.backward()


def test_stop_gradient_blocks_the_gradient():
    w = K.variable(np.array([3.0]), dtype="float64")
    y = K.sum(w * K.stop_gradient(w))
    y.backward()
    np.testing.assert_allclose(w.grad, [3.0])


def test_conv2d_and_pool2d_on_placeholders():
    x = K.placeholder(shape=(None, 6, 6, 2), dtype="float64")
    k = K.variable(np.random.default_rng(0).normal(size=(3, 3, 2, 4)), dtype="float64")
    y = K.pool2d(K.conv2d(x, k, padding="same"), (2, 2), strides=(2, 2))
    assert y.shape == (None, 3, 3, 4)
    assert K.function([x], [y])([np.ones((2, 6, 6, 2))])[0].shape == (2, 3, 3, 4)


# -- errors -----------------------------------------------------------------------------------
def test_feeding_wrong_shape_names_the_placeholder():
    x = K.placeholder(shape=(None, 3), name="features")
    f = K.function([x], [x * 2])
    with pytest.raises(ValueError, match=r"placeholder 'features' expects shape \(None, 3\); fed a value of shape \(2, 4\)"):
        f([np.ones((2, 4))])


def test_feeding_wrong_dtype_names_the_placeholder():
    x = K.placeholder(shape=(None, 3), dtype="int32", name="ids")
    f = K.function([x], [x])
    with pytest.raises(TypeError, match="placeholder 'ids' has dtype int32; fed a value of dtype float64"):
        f([np.ones((2, 3))])


def test_function_without_a_needed_placeholder():
    x = K.placeholder(shape=(None, 3), name="a")
    y = K.placeholder(shape=(None, 3), name="b")
    with pytest.raises(ValueError, match="placeholder 'b'.*not among the inputs"):
        K.function([x], [x + y])


def test_backward_on_non_scalar_without_gradient():
    w = K.variable(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"backward\(\) on a tensor of shape \(2, 3\) needs a `gradient`"):
        (w * 2).backward()


def test_wrong_number_of_fed_values():
    x = K.placeholder(shape=(2,), name="only")
    with pytest.raises(ValueError, match="expected 1 input value"):
        K.function([x], [x])([np.ones(2), np.ones(2)])


def test_gradients_are_never_stale_across_calls():
    x = K.placeholder(shape=(None, 3), dtype="float64")
    W = K.variable(np.ones((3, 2)), dtype="float64")
    g = K.function([x], K.gradients(K.sum(K.dot(x, W)), [W]))
    for i in range(200):
        (dW,) = g([np.full((4, 3), float(i))])
        np.testing.assert_allclose(dW, np.full((3, 2), 4.0 * i))


def test_gradient_with_respect_to_an_intermediate_and_a_frozen_variable():
    x = K.placeholder(shape=(None, 2), dtype="float64")
    frozen = K.variable(np.array([3.0, 4.0]), dtype="float64", trainable=False)
    h = x * 2.0
    loss = K.sum(K.square(h) * frozen)
    gh, gf = K.function([x], K.gradients(loss, [h, frozen]))([np.array([[1.0, 1.0]])])
    np.testing.assert_allclose(gh, [[12.0, 16.0]])
    np.testing.assert_allclose(gf, [4.0, 4.0])
    assert not frozen.requires_grad


def test_learning_phase_switches_dropout_in_functions():
    from kerasette.layers import Dropout
    from kerasette.models import Sequential

    model = Sequential([Dropout(0.5, input_shape=(1000,))])
    f = K.function([model.input, K.learning_phase()], [model.output])
    ones = np.ones((1, 1000))
    np.testing.assert_allclose(f([ones, 0])[0], ones)
    trained = f([ones, 1])[0]
    assert 300 < (trained == 0).sum() < 700 and np.allclose(trained[trained != 0], 2.0)


def test_symbolic_tensor_cannot_be_iterated_and_single_input_functions_work():
    x = K.placeholder(shape=(None, 3), name="x")
    with pytest.raises(TypeError, match="symbolic tensor 'x' .* cannot be iterated"):
        list(x)
    assert K.function(x, [x * 2])([np.ones((1, 3))])[0].tolist() == [[2.0, 2.0, 2.0]]


def test_function_whose_outputs_ignore_its_inputs():
    x = K.placeholder(shape=(None, 3), name="unused_input")
    W = K.variable(np.ones(3))
    with pytest.raises(ValueError, match=r"do not depend on any of the inputs \['unused_input'\]"):
        K.function([x], [K.sum(W)])
