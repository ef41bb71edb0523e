"""A layer's ``trainable_weights`` kept between calls (`layers.layer_weights.WeightsKept`): the
same list as made afresh after every change that can change it."""

from __future__ import annotations

import numpy as np

from kerasette import regularizers
from kerasette.backend import ops
from kerasette.backend.tensor import Tensor, Variable
from kerasette.layers import BatchNormalization, Dense, Input, Layer
from kerasette.models import Model, Sequential


def _names(weights):
    return [w.name for w in weights]


def _fresh(layer):
    """The list made afresh, without the kept one."""
    return _names(layer._trainable_weights())


def _model():
    x = Input((4,))
    y = BatchNormalization()(Dense(3, name="kept_a")(x))
    return Model(x, Dense(2, name="kept_b")(y))


def test_kept_list_is_a_new_list_each_call():
    model = _model()
    first = model.trainable_weights
    first.append("junk")
    assert _names(model.trainable_weights) == _fresh(model)
    assert model.trainable_weights is not model.trainable_weights


def test_freezing_a_layer_inside_changes_the_list():
    model = _model()
    before = _names(model.trainable_weights)
    model.get_layer("kept_a").trainable = False
    assert _names(model.trainable_weights) == _fresh(model) == before[2:]
    model.get_layer("kept_a").trainable = True
    assert _names(model.trainable_weights) == before
    model.trainable = False
    assert model.trainable_weights == []


def test_a_variables_own_flag_changes_the_list():
    model = _model()
    kernel = model.get_layer("kept_b").kernel
    assert kernel in model.trainable_weights
    kernel.trainable = False
    assert kernel not in model.trainable_weights
    kernel.trainable = True
    assert _names(model.trainable_weights) == _fresh(model)
    stats = model.layers[2].moving_mean
    stats.trainable = True  # a weight made untrainable becoming trainable
    assert stats in model.trainable_weights


class _Holder(Layer):
    def call(self, inputs):
        return inputs


def test_weights_and_layers_added_later_are_listed():
    holder = _Holder()
    assert holder.trainable_weights == []
    w = holder.add_weight(name="w", shape=(2,), initializer="ones")
    assert holder.trainable_weights == [w]
    inner = Dense(2)
    inner.build((None, 3))
    holder.inner = inner
    assert _names(holder.trainable_weights) == _fresh(holder) == [w.name, inner.kernel.name, inner.bias.name]
    v = Variable(np.zeros(2, "float32"), name="direct")
    holder._weights.append(v)  # appended without add_weight
    assert v in holder.trainable_weights
    inner.extra = Variable(np.ones(1, "float32"), name="not_tracked")  # a Tensor attribute: not a weight
    assert _names(holder.trainable_weights) == _fresh(holder)
    holder.trainable_weights = [Variable(np.ones(1, "float32"), name="adopted")]  # Keras 1's assignment
    assert "adopted" in _names(holder.trainable_weights)


def test_sequential_add_and_pop_change_the_list():
    model = Sequential([Dense(3, input_shape=(4,))])
    assert len(model.trainable_weights) == 2
    model.add(Dense(2))
    assert _names(model.trainable_weights) == _fresh(model)
    assert len(model.trainable_weights) == 4
    model.pop()
    assert len(model.trainable_weights) == 2


def test_set_weights_keeps_the_same_variables():
    model = _model()
    listed = model.trainable_weights
    model.set_weights([w + 1 for w in model.get_weights()])
    assert all(a is b for a, b in zip(model.trainable_weights, listed, strict=True))
    np.testing.assert_array_equal(model.trainable_weights[0].data, listed[0].data)


def test_sequential_without_input_shape_lists_built_layers_added_later():
    first, second = Dense(3), Dense(2)
    first.build((None, 4))
    second.build((None, 3))
    model = Sequential()
    model.add(first)  # no input shape: appended to the model's list, nothing else changes
    assert len(model.trainable_weights) == 2
    model.add(second)
    assert _names(model.trainable_weights) == _fresh(model) == _names(first.weights + second.weights)


def _values(terms):
    return [round(float(t.data), 6) for t in terms]


class _Penalized(Layer):
    def call(self, inputs):
        self.add_loss(ops.sum(inputs) * 0.0 + 5.0)
        return inputs


def test_losses_follow_new_sources():
    """`losses` kept between calls (`layers.layer_losses.LossSources`): terms of layers that
    got penalties, call terms, loss functions or nested layers after a first look."""
    holder = _Holder()
    assert holder.losses == []
    holder.add_weight(name="w", shape=(2,), initializer="ones", regularizer=regularizers.l2(0.5))
    assert _values(holder.losses) == [1.0]
    holder.add_loss(lambda: Tensor(np.asarray(2.0, "float32")))
    assert _values(holder.losses) == [1.0, 2.0]
    inner = _Penalized()
    holder.inner = inner
    assert _values(holder.losses) == [1.0, 2.0]
    inner(np.ones((1, 2), "float32"))  # its call adds a term where it had none
    assert _values(holder.losses) == [1.0, 2.0, 5.0]
    dense = Dense(1, kernel_regularizer=regularizers.l1(1.0), kernel_initializer="ones", activity_regularizer="l1")
    holder.more = [dense]
    dense(np.ones((1, 2), "float32"))  # built (its penalty) and called (its activity term)
    assert _values(holder.losses) == [1.0, 2.0, 5.0, 2.0, 0.02]
    inner._clear_call_losses()
    assert _values(holder.losses) == [1.0, 2.0, 2.0, 0.02]


def test_a_model_adding_a_penalized_layer_lists_its_term():
    model = Sequential()
    model.add(Dense(2, input_shape=(3,)))
    assert model.losses == []
    model.add(Dense(1, kernel_regularizer=regularizers.l1(1.0), kernel_initializer="ones"))
    assert _values(model.losses) == [2.0]
