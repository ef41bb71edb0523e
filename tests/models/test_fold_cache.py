"""The folded weights a prediction keeps from one call to the next (`kerasette.models.fold_cache`):
kept while the weights are unchanged, made again for exactly the folds whose weights changed,
whichever way they changed (training, ``assign``, ``set_weights``, a write into ``.data``, a new
array in ``.data``), and never kept while a gradient is recorded; the predictions are those of a
plan that folds on every call, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.backend.tensor import Tensor, no_grad
from kerasette.layers import Activation, BatchNormalization, Conv2D, Dense, Flatten, Input
from kerasette.models import Model
from kerasette.models.planner import Plan


def _model():
    K.set_seed(12)
    inp = Input(shape=(8, 8, 3))
    x = Activation("relu")(BatchNormalization()(Conv2D(5, 3, padding="same")(inp)))
    x = BatchNormalization()(Conv2D(7, 3, use_bias=False)(x))  # 7 channels: weights of odd byte counts
    out = Dense(3)(Flatten()(x))
    model = Model(inp, out)
    rng = np.random.default_rng(13)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):  # a test may know the types
            c = layer.moving_mean.shape
            layer.set_weights([rng.uniform(0.5, 2, c), rng.standard_normal(c), rng.standard_normal(c) * 0.5,
                               rng.uniform(0.2, 3, c)])
    return model


def _fresh(model, x):
    """The outputs of a new plan, which folds from the current weights on its first call."""
    with no_grad():
        return Plan(model.inputs, model.outputs).run([Tensor(x)], training=False)[0].data


def _contexts(model, batch):
    return list(model._plan._inference(batch).ahead._contexts)


X = np.random.default_rng(14).standard_normal((4, 8, 8, 3)).astype("float32")


def test_the_folds_are_kept_while_the_weights_are_unchanged():
    model = _model()
    first = model.predict(X, verbose=0)
    kept = _contexts(model, 4)
    assert len(kept) == 2
    second = model.predict(X, verbose=0)
    assert all(a is b for a, b in zip(kept, _contexts(model, 4)))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(second, _fresh(model, X))


def _conv(model, n):
    return [layer for layer in model.layers if isinstance(layer, Conv2D)][n]


def _norm(model, n):
    return [layer for layer in model.layers if isinstance(layer, BatchNormalization)][n]


CHANGES = {
    "a write into .data": lambda m: _conv(m, 1).kernel.data.__setitem__((0, 0, 0, 6), 0.25),
    "the last byte of a bias": lambda m: _conv(m, 0).bias.data.__setitem__(4, 1e-3),
    "assign": lambda m: _norm(m, 1).moving_mean.assign(np.full(7, 0.5, "float32")),
    "set_weights": lambda m: _norm(m, 0).set_weights([w * 1.5 for w in _norm(m, 0).get_weights()]),
    "a new array in .data": lambda m: setattr(_norm(m, 1).gamma, "data", _norm(m, 1).gamma.data * 2),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_refolds_its_fold_alone(change):
    model = _model()
    model.predict(X, verbose=0)
    kept = _contexts(model, 4)
    before = model.predict(X, verbose=0)
    CHANGES[change](model)
    after = model.predict(X, verbose=0)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, _fresh(model, X))
    now = _contexts(model, 4)
    which = 1 if change in ("a write into .data", "assign", "a new array in .data") else 0
    assert now[which] is not kept[which]
    if change != "a new array in .data":  # (a new array: every fold is made again)
        assert now[1 - which] is kept[1 - which]
    np.testing.assert_array_equal(model.predict(X, verbose=0), after)


def test_training_between_predictions():
    model = _model()
    model.compile(loss="mse", optimizer="sgd")
    before = model.predict(X, verbose=0)
    model.fit(X, np.ones((4, 3), "float32"), epochs=1, batch_size=2, verbose=0)
    after = model.predict(X, verbose=0)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, _fresh(model, X))


def test_nothing_is_kept_while_a_gradient_is_recorded():
    model = _model()
    x = Tensor(X)
    for _ in range(2):
        y = model(x, training=False)
        assert _contexts(model, 4) == []
        kernel = _conv(model, 1).kernel
        kernel.grad = None
        K.sum(y * y).backward()  # the folded weights are ops: gradients reach the real weights
        assert kernel.grad is not None and np.any(kernel.grad)
    with no_grad():
        np.testing.assert_array_equal(model(x, training=False).data, y.data)


def test_a_copied_model_folds_its_own_weights():
    import copy

    model = _model()
    model.predict(X, verbose=0)
    twin = copy.deepcopy(model)
    _conv(twin, 1).kernel.data[...] *= -1  # the copy's weights, not the original's
    np.testing.assert_array_equal(twin.predict(X, verbose=0), _fresh(twin, X))
    np.testing.assert_array_equal(model.predict(X, verbose=0), _fresh(model, X))
    assert not np.array_equal(twin.predict(X, verbose=0), model.predict(X, verbose=0))

