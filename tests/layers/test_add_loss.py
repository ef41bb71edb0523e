"""``add_loss`` in custom layers and models, with Keras semantics: a tensor added inside ``call``
belongs to that call (replaced at the next one), a zero-argument function added outside ``call`` is
evaluated at every step; the terms are in ``layer.losses``/``model.losses``, in the training and
evaluation loss (and so in the logged loss), and their gradients reach the weights."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import backend as K
from kerasette.layers import Dense, Input, Lambda, Layer
from kerasette.models import Model, Sequential
from kerasette.optimizers import SGD


class L1Activity(Layer):
    """Returns its input; adds ``rate * sum(|x|) / batch`` to the loss (a term of each call)."""

    def __init__(self, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * K.sum(K.abs(inputs)) / float(inputs.shape[0]))
        return inputs


class ShrinkingScale(Layer):
    """Returns its input unchanged and adds ``sum(w ** 2)`` of a weight the output does not use:
    only the added loss moves ``w``."""

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(2,), initializer="ones")

    def call(self, inputs):
        self.add_loss(K.square(self.w))  # not a scalar: counts as its sum
        return inputs


def test_a_term_of_a_call_is_replaced_at_the_next_call():
    layer = L1Activity(rate=1.0)
    assert layer.losses == []
    layer(np.ones((2, 3), "float32"))
    assert [float(t.data) for t in layer.losses] == [3.0]
    layer(np.full((2, 3), 2.0, "float32"))
    assert [float(t.data) for t in layer.losses] == [6.0]


def test_the_terms_are_in_the_training_and_evaluation_loss():
    model = Sequential([Input(shape=(3,)), L1Activity(rate=0.5), Dense(1, kernel_initializer="zeros")])
    model.compile(SGD(learning_rate=0.0), "mse")
    x, y = np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    expected = 1.0 + 0.5 * 12 / 4  # mse of predictions 0 against 1, plus the term
    assert model.evaluate(x, y, batch_size=4, verbose=0) == pytest.approx(expected)
    assert model.train_on_batch(x, y) == pytest.approx(expected)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected)  # the logged loss includes it
    assert len(model.losses) == 1 and float(model.losses[0].data) == pytest.approx(1.5)


def test_the_gradient_of_a_term_reaches_the_weights():
    scale = ShrinkingScale()
    model = Sequential([Input(shape=(2,)), scale, Dense(1, kernel_initializer="zeros", use_bias=False)])
    model.compile(SGD(learning_rate=0.1), "mse")
    x, y = np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32")
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(2.0)  # sum(w ** 2) with w = [1, 1]; the mse is 0
    np.testing.assert_allclose(scale.w.data, [0.8, 0.8], rtol=1e-6)  # w - 0.1 * 2w
    model.train_on_batch(x, y)
    np.testing.assert_allclose(scale.w.data, [0.64, 0.64], rtol=1e-6)


def test_a_function_added_outside_call_is_evaluated_at_every_step():
    dense = Dense(1, input_dim=2, kernel_initializer="ones", use_bias=False)
    model = Sequential([dense])
    dense.add_loss(lambda: 0.5 * K.sum(K.square(dense.kernel)))
    model.compile(SGD(learning_rate=0.1), "mse")
    x, y = np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32")
    assert model.train_on_batch(x, y) == pytest.approx(1.0)
    np.testing.assert_allclose(dense.kernel.data, [[0.9], [0.9]], rtol=1e-6)
    assert model.train_on_batch(x, y) == pytest.approx(0.81)  # evaluated again, with the new kernel
    np.testing.assert_allclose(dense.kernel.data, [[0.81], [0.81]], rtol=1e-6)
    assert [float(t.data) for t in model.losses] == [pytest.approx(0.6561)]


def test_add_loss_in_a_subclassed_model_and_in_a_functional_graph():
    class WithPenalty(Model):
        def __init__(self):
            super().__init__()
            self.hidden = Dense(3)
            self.out = Dense(1)

        def call(self, inputs):
            h = self.hidden(inputs)
            self.add_loss(0.01 * K.sum(K.square(h)))
            return self.out(h)

    model = WithPenalty()
    model.compile(SGD(learning_rate=0.01), "mse")
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    pred = model.predict(x)  # a call: the term is now that of the current weights
    assert len(model.losses) == 1
    penalty = float(model.losses[0].data)
    assert penalty > 0
    assert model.evaluate(x, y, verbose=0) == pytest.approx(float((pred**2).mean()) + penalty, rel=1e-5)
    assert np.all(np.isfinite(history.history["loss"]))

    inp = Input(shape=(3,))
    act = L1Activity(rate=1.0)
    functional = Model(inp, Dense(1)(act(inp)))
    assert act.losses == [] and functional.losses == []  # building the graph is not a call
    functional.predict(np.ones((2, 3), "float32"))
    assert [float(t.data) for t in functional.losses] == [3.0]


def test_add_loss_errors():
    layer = L1Activity(name="act")

    class CallableInCall(Layer):
        def call(self, inputs):
            self.add_loss(lambda: K.sum(inputs))
            return inputs

    with pytest.raises(ValueError, match=r"CallableInCall 'cic': add_loss inside call\(\) takes a tensor; a function "
                                         r"\(evaluated at every step\) is added outside call\(\)"):
        CallableInCall(name="cic")(np.ones((1, 2), "float32"))
    with pytest.raises(ValueError, match=r"L1Activity 'act': add_loss received a symbolic tensor .* is not "
                                         r"supported; call self.add_loss\(...\) inside a layer's call\(\) instead"):
        layer.add_loss(K.mean(Input(shape=(3,))))
    with pytest.raises(ValueError, match=r"L1Activity 'act': add_loss takes a tensor, a number or a zero-argument "
                                         r"function; received 'big'"):
        layer.add_loss("big")
    layer.add_loss(2.0)  # a number outside call: kept until the next call (Keras 3)
    assert [float(t.data) for t in layer.losses] == [2.0]
    layer(np.zeros((1, 2), "float32"))
    assert [float(t.data) for t in layer.losses] == [0.0]


def _vae_like():
    """A Keras 2 style model trained on its add_loss term only (the term is computed from the
    model's symbolic tensors, here inside a Lambda)."""
    x = Input(shape=(6,))
    h = Dense(4, activation="relu")(x)
    z_mean, z_log_var = Dense(2)(h), Dense(2)(h)
    decoded = Dense(6, activation="sigmoid")(Dense(4, activation="relu")(z_mean))
    model = Model(x, decoded)
    term = Lambda(lambda a: K.mean(K.square(a[0] - a[1])) * 6.0
                  - 0.5 * K.mean(K.sum(1 + a[3] - K.square(a[2]) - K.exp(a[3]), axis=-1)))(
        [x, decoded, z_mean, z_log_var])
    model.add_loss(term)
    return model


def test_a_functional_model_trained_on_symbolic_add_loss_terms_only():
    model = _vae_like()
    model.compile(optimizer=SGD(learning_rate=0.1))  # no loss: the added term is the loss
    data = np.random.default_rng(0).uniform(0, 1, (32, 6)).astype("float32")
    history = model.fit(data, epochs=4, batch_size=8, verbose=0, validation_data=(data[:8], None))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert len(history.history["val_loss"]) == 4
    model.predict(data, batch_size=32)  # one call on all the data: the term of that call
    assert len(model.losses) == 1
    assert model.evaluate(data, batch_size=32, verbose=0) == pytest.approx(float(model.losses[0].data), rel=1e-6)
    assert model.predict(data[:3]).shape == (3, 6)  # the outputs only


def test_a_symbolic_term_with_an_output_loss():
    x = Input(shape=(3,))
    model = Model(x, Dense(1, kernel_initializer="zeros")(x))
    model.add_loss(K.mean(K.square(x)))  # a term of the inputs: constant for the weights
    model.compile(SGD(learning_rate=0.0), "mse")
    xs, y = np.full((4, 3), 2.0, "float32"), np.ones((4, 1), "float32")
    assert model.evaluate(xs, y, verbose=0) == pytest.approx(1.0 + 4.0)


def test_no_loss_to_compute():
    model = Sequential([Dense(1, input_dim=2)])
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"Model 'sequential_\d+': no loss to compute: pass loss=\.\.\. to "
                                         r"compile\(\), or add loss terms with add_loss\(\)"):
        model.fit(np.ones((2, 2), "float32"), epochs=1, verbose=0)
