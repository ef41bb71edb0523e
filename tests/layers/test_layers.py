"""The generic layer harness, run for every layer, and each layer's own behaviour.

For each layer (this file's ``SPECS`` and those of ``tests/layers/specs/``): build, output shape against ``compute_output_shape``, weight count and
parameter count, ``get_config`` -> ``from_config`` round trip, and one training step in a model
that changes its weights.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasette import layers
from kerasette.backend.tensor import Variable
from kerasette.layers import (
    Activation,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    InputLayer,
    MaxPooling2D,
)
from kerasette.models import Sequential
from kerasette.optimizers import SGD
from tests.backend.op_cases import avg_pool2d_reference
from tests.layers.specs import Spec, collected

BN_NAMES = ("gamma", "beta", "moving_mean", "moving_variance")


SPECS = [
    Spec("dense", lambda: Dense(4), (3,), 2, 3 * 4 + 4),
    Spec("dense-relu-no-bias-3d", lambda: Dense(4, activation="relu", use_bias=False), (2, 3), 1, 12),
    Spec("dense-softmax", lambda: Dense(5, activation="softmax", kernel_initializer="he_normal"), (3,), 2, 20),
    Spec("conv2d-valid", lambda: Conv2D(4, 3), (6, 6, 2), 2, 3 * 3 * 2 * 4 + 4),
    Spec("conv2d-same-stride2", lambda: Conv2D(4, (3, 2), strides=2, padding="same"), (7, 6, 2), 2, 52),
    Spec("conv2d-relu-no-bias", lambda: Conv2D(2, 3, activation="relu", use_bias=False), (5, 5, 1), 1, 18),
    Spec("conv2d-channels_first-same", lambda: Conv2D(3, 3, padding="same", data_format="channels_first"),
         (2, 6, 6), 2, 3 * 3 * 2 * 3 + 3),
    Spec("conv2d-channels_first-valid-strides", lambda: Conv2D(3, 2, strides=(2, 1), data_format="channels_first",
                                                               activation="tanh"), (2, 5, 6), 2, 27),
    Spec("maxpool-valid", lambda: MaxPooling2D(), (4, 5, 3), 0, 0),
    Spec("maxpool-same-strides", lambda: MaxPooling2D(3, strides=2, padding="same"), (5, 5, 2), 0, 0),
    Spec("maxpool-channels_first", lambda: MaxPooling2D((2, 2), data_format="channels_first"), (2, 5, 4), 0, 0),
    Spec("dropout", lambda: Dropout(0.5), (6,), 0, 0),
    Spec("dropout-4d", lambda: Dropout(0.25, seed=3), (3, 3, 2), 0, 0),
    Spec("flatten", lambda: Flatten(), (3, 4, 2), 0, 0),
    Spec("flatten-channels_first", lambda: Flatten(data_format="channels_first"), (3, 4, 2), 0, 0),
    Spec("activation-tanh", lambda: Activation("tanh"), (5,), 0, 0),
    Spec("activation-softmax", lambda: Activation("softmax"), (5,), 0, 0),
    Spec("activation-callable", lambda: Activation(lambda x: x * 2.0), (5,), 0, 0),
    Spec("inputlayer", lambda: InputLayer(input_shape=(4,)), (4,), 0, 0),
    Spec("reshape", lambda: layers.Reshape((2, -1)), (3, 4), 0, 0, lambda x: x.reshape(len(x), 2, 6)),
    Spec("permute", lambda: layers.Permute((3, 1, 2)), (2, 3, 4), 0, 0, lambda x: x.transpose(0, 3, 1, 2)),
    Spec("repeat-vector", lambda: layers.RepeatVector(3), (4,), 0, 0, lambda x: np.repeat(x[:, None], 3, axis=1)),
    Spec("identity", lambda: layers.Identity(), (3, 2), 0, 0, lambda x: x),
    Spec("activity-regularization", lambda: layers.ActivityRegularization(l1=0.01, l2=0.1), (4,), 0, 0,
         lambda x: x),
    Spec("zero-padding", lambda: layers.ZeroPadding2D(((1, 2), (0, 1))), (3, 4, 2), 0, 0,
         lambda x: np.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0)))),
    Spec("zero-padding-channels_first", lambda: layers.ZeroPadding2D(1, data_format="channels_first"),
         (2, 3, 4), 0, 0, lambda x: np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))),
    Spec("cropping", lambda: layers.Cropping2D(((1, 0), (1, 2))), (4, 5, 2), 0, 0, lambda x: x[:, 1:, 1:-2]),
    Spec("cropping-channels_first", lambda: layers.Cropping2D(1, data_format="channels_first"), (2, 4, 4), 0, 0,
         lambda x: x[:, :, 1:-1, 1:-1]),
    Spec("upsampling", lambda: layers.UpSampling2D((2, 3)), (2, 3, 2), 0, 0,
         lambda x: x.repeat(2, axis=1).repeat(3, axis=2)),
    Spec("upsampling-channels_first", lambda: layers.UpSampling2D(2, data_format="channels_first"), (2, 2, 3),
         0, 0, lambda x: x.repeat(2, axis=2).repeat(2, axis=3)),
    # normalization
    Spec("batchnorm", lambda: layers.BatchNormalization(), (5,), 4, 20, None, BN_NAMES),
    Spec("batchnorm-image", lambda: layers.BatchNormalization(momentum=0.9, epsilon=1e-5), (4, 4, 3), 4, 12,
         None, BN_NAMES),
    Spec("batchnorm-channels_first", lambda: layers.BatchNormalization(axis=1), (3, 4, 4), 4, 12, None, BN_NAMES),
    Spec("batchnorm-no-center-no-scale", lambda: layers.BatchNormalization(center=False, scale=False), (4, 3), 2, 6,
         None, ("moving_mean", "moving_variance")),
    Spec("layernorm", lambda: layers.LayerNormalization(), (6,), 2, 12,
         lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3), ("gamma", "beta")),
    Spec("layernorm-axes", lambda: layers.LayerNormalization(axis=[1, 2], center=False), (3, 4, 2), 1, 12,
         lambda x: (x - x.mean((1, 2), keepdims=True)) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-3), ("gamma",)),
    # pooling
    Spec("avgpool-valid", lambda: layers.AveragePooling2D(), (4, 5, 3), 0, 0,
         lambda x: avg_pool2d_reference(x, (2, 2), None, "valid")),
    Spec("avgpool-same-strides", lambda: layers.AveragePooling2D(3, strides=(2, 1), padding="same"), (5, 4, 2), 0, 0,
         lambda x: avg_pool2d_reference(x, (3, 3), (2, 1), "same")),
    Spec("avgpool-channels_first", lambda: layers.AveragePooling2D((2, 3), padding="same",
                                                                   data_format="channels_first"), (2, 5, 4), 0, 0,
         lambda x: avg_pool2d_reference(x.transpose(0, 2, 3, 1), (2, 3), None, "same").transpose(0, 3, 1, 2)),
    Spec("global-avgpool", lambda: layers.GlobalAveragePooling2D(), (3, 4, 2), 0, 0, lambda x: x.mean((1, 2))),
    Spec("global-avgpool-channels_first-keepdims",
         lambda: layers.GlobalAveragePooling2D(data_format="channels_first", keepdims=True), (2, 3, 4), 0, 0,
         lambda x: x.mean((2, 3), keepdims=True)),
    Spec("global-maxpool", lambda: layers.GlobalMaxPooling2D(), (3, 4, 2), 0, 0, lambda x: x.max((1, 2))),
    Spec("global-maxpool-keepdims", lambda: layers.GlobalMaxPooling2D(keepdims=True), (3, 4, 2), 0, 0,
         lambda x: x.max((1, 2), keepdims=True)),
    Spec("global-maxpool-channels_first", lambda: layers.GlobalMaxPooling2D(data_format="channels_first"),
         (2, 3, 4), 0, 0, lambda x: x.max((2, 3))),
    # activation layers
    Spec("relu", lambda: layers.ReLU(), (5,), 0, 0, lambda x: np.maximum(x, 0)),
    Spec("relu-options", lambda: layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2), (5,), 0, 0,
         lambda x: np.minimum(np.where(x < 0.2, 0.1 * (x - 0.2), x), 1.0)),
    Spec("leakyrelu", lambda: layers.LeakyReLU(), (5,), 0, 0, lambda x: np.where(x < 0, 0.3 * x, x)),
    Spec("leakyrelu-alpha", lambda: layers.LeakyReLU(alpha=0.1), (2, 3), 0, 0, lambda x: np.where(x < 0, 0.1 * x, x)),
    Spec("prelu", lambda: layers.PReLU(alpha_initializer="ones"), (5,), 1, 5, lambda x: x, ("alpha",)),
    Spec("prelu-shared-axes", lambda: layers.PReLU(shared_axes=[1, 2]), (3, 4, 2), 1, 2,
         lambda x: np.maximum(x, 0), ("alpha",)),
    Spec("elu", lambda: layers.ELU(alpha=0.5), (5,), 0, 0, lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    Spec("thresholdedrelu", lambda: layers.ThresholdedReLU(theta=0.5), (5,), 0, 0, lambda x: np.where(x > 0.5, x, 0)),
    Spec("softmax-layer", lambda: layers.Softmax(), (5,), 0, 0,
         lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    Spec("softmax-layer-axis1", lambda: layers.Softmax(axis=1), (3, 2), 0, 0,
         lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
] + collected()  # the other families' entries: tests/layers/specs/


@pytest.fixture(params=SPECS, ids=lambda s: s.id)
def spec(request):
    return request.param


def _batch(shape, n=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n,) + tuple(shape)).astype("float32")


def test_build_and_weights(spec):
    layer = spec.make()
    layer.build_for((None,) + spec.input_shape)
    assert layer.built
    assert len(layer.weights) == spec.n_weights
    assert layer.count_params() == spec.n_params
    assert all(isinstance(w, Variable) and w.name.startswith(layer.name + "/") for w in layer.weights)
    names = list(spec.weight_names) if spec.weight_names is not None else ["kernel", "bias"][: spec.n_weights]
    assert [w.name.split("/")[-1] for w in layer.weights] == names
    assert len(layer.get_weights()) == spec.n_weights


def test_output_shape_matches_compute_output_shape(spec):
    layer = spec.make()
    x = _batch(spec.input_shape)
    y = layer(x)
    assert y.shape == layer.compute_output_shape(x.shape)
    inferred = layer.compute_output_shape((None,) + spec.input_shape)
    assert inferred[0] is None and inferred[1:] == y.shape[1:]
    assert y.dtype == np.float32


@pytest.mark.parametrize("spec", [s for s in SPECS if s.reference is not None], ids=lambda s: s.id)
def test_output_matches_the_reference(spec):
    """Layers with a numpy reference in the table (the others have their own value tests below)."""
    x = _batch(spec.input_shape)
    np.testing.assert_allclose(spec.make()(x).data, spec.reference(x), rtol=1e-5, atol=1e-6)


def test_config_round_trip(spec):
    layer = spec.make()
    layer.build_for((None,) + spec.input_shape)
    config = layer.get_config()
    if spec.id == "activation-callable":
        return  # a lambda has no name to save; the other checks still apply to it
    json.dumps(config)  # serialisable as is
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == config
    again = layers.deserialize({"class_name": type(layer).__name__, "config": json.loads(json.dumps(config))})
    assert again.get_config() == config


def test_one_training_step_changes_the_weights(spec):
    layer = spec.make()
    stack = [] if isinstance(layer, InputLayer) else [InputLayer(input_shape=spec.input_shape)]
    stack.append(layer)
    if len(layer.compute_output_shape((None,) + spec.input_shape)) > 2:
        stack.append(Flatten())
    stack.append(Dense(2))
    model = Sequential(stack)
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    x, y = _batch(spec.input_shape, n=8), _batch((2,), n=8, seed=1)
    before = model.get_weights()
    own_before = layer.get_weights()
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    after = model.get_weights()
    assert len(after) == spec.n_weights + 2
    for old, new in zip(before, after, strict=True):
        assert not np.array_equal(old, new)
    for old, new in zip(own_before, layer.get_weights(), strict=True):
        assert not np.array_equal(old, new)


# ------------------------------------------------------------------- values of each layer
def test_dense_computes_the_affine_map():
    layer = Dense(3, activation="relu")
    x = _batch((4,))
    y = layer(x).data
    k, b = layer.get_weights()
    np.testing.assert_allclose(y, np.maximum(x @ k + b, 0), rtol=1e-5, atol=1e-6)
    assert layer.kernel.shape == (4, 3)


@pytest.mark.parametrize("padding,strides", [("valid", (1, 1)), ("same", (2, 2)), ("same", (1, 2))])
def test_conv2d_channels_first_equals_channels_last(padding, strides):
    last = Conv2D(3, (3, 2), strides=strides, padding=padding, activation="relu")
    first = Conv2D(3, (3, 2), strides=strides, padding=padding, activation="relu", data_format="channels_first")
    x = _batch((6, 5, 2))
    y_last = last(x).data
    first.build_for((None, 2, 6, 5))
    assert first.kernel.shape == last.kernel.shape == (3, 2, 2, 3)  # (rows, cols, in, filters) always
    first.set_weights(last.get_weights())
    y_first = first(np.transpose(x, (0, 3, 1, 2))).data
    np.testing.assert_allclose(np.transpose(y_first, (0, 2, 3, 1)), y_last, rtol=1e-5, atol=1e-6)


def test_conv2d_matches_the_reference():
    from tests.helpers import conv2d_reference

    layer = Conv2D(4, 3, strides=2, padding="same", bias_initializer="ones")
    x = _batch((7, 7, 3))
    y = layer(x).data
    k, b = (np.asarray(w, np.float64) for w in layer.get_weights())
    np.testing.assert_allclose(y, conv2d_reference(x, k, b, (2, 2), "same"), rtol=1e-4, atol=1e-5)


def test_max_pooling_channels_first_equals_channels_last():
    x = _batch((5, 6, 3))
    y_last = MaxPooling2D(2, padding="same")(x).data
    y_first = MaxPooling2D(2, padding="same", data_format="channels_first")(np.transpose(x, (0, 3, 1, 2))).data
    np.testing.assert_array_equal(np.transpose(y_first, (0, 2, 3, 1)), y_last)
    assert y_last.shape == (3, 3, 3, 3)


def test_flatten_orders():
    x = _batch((2, 3, 4))
    np.testing.assert_array_equal(Flatten()(x).data, x.reshape(3, -1))
    np.testing.assert_array_equal(Flatten(data_format="channels_last")(x).data, x.reshape(3, -1))
    # as in Keras 2/3: a channels-first input (batch, channels, rows, cols) is moved to
    # channels-last first, so both layouts of the same images flatten to the same vector
    x_first = np.transpose(x, (0, 3, 1, 2))
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(x_first).data, x.reshape(3, -1))


def test_dropout_only_in_training():
    layer = Dropout(0.5, seed=1)
    x = np.ones((200, 10), np.float32)
    np.testing.assert_array_equal(layer(x).data, x)
    y = layer(x, training=True).data
    assert set(np.unique(y)) == {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6


def test_activation_by_name():
    x = _batch((5,))
    np.testing.assert_allclose(Activation("relu")(x).data, np.maximum(x, 0))
    np.testing.assert_allclose(Activation("softmax")(x).data.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(Activation("linear")(x).data, x)


def test_initial_weights_argument():
    kernel, bias = np.ones((3, 2), np.float32), np.full(2, 0.5, np.float32)
    layer = Dense(2, weights=[kernel, bias])
    layer.build_for((None, 3))
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    np.testing.assert_array_equal(layer.get_weights()[1], bias)


def test_set_weights_checks_count_and_shape():
    layer = Dense(2)
    layer.build_for((None, 3))
    with pytest.raises(ValueError, match=r"Dense 'dense_1': set_weights expected a list of 2 arrays, received 1"):
        layer.set_weights([np.ones((3, 2))])
    with pytest.raises(ValueError, match=r"weight 'dense_1/kernel' has shape \(3, 2\), received an array of "
                                         r"shape \(2, 3\)"):
        layer.set_weights([np.ones((2, 3)), np.ones(2)])


def test_non_trainable_layer():
    layer = Dense(2, trainable=False)
    layer.build_for((None, 3))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    model = Sequential([layer, Dense(1)])
    model.compile("sgd", "mse")
    before = layer.get_weights()
    model.train_on_batch(_batch((3,), 4), _batch((1,), 4))
    for old, new in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_a_layer_frozen_at_construction_can_be_unfrozen():
    frozen = Dense(2, trainable=False, input_dim=3)
    head = Dense(1)
    model = Sequential([frozen, head])
    model.compile(SGD(learning_rate=0.1), "mse")
    assert model.trainable_weights == head.trainable_weights
    assert model.non_trainable_weights == [frozen.kernel, frozen.bias]
    x, y = _batch((3,), 8), _batch((1,), 8)
    before = frozen.get_weights()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    for old, new in zip(before, frozen.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # fit does not update a frozen layer
    assert frozen.kernel.grad is None  # nor computes gradients for it

    frozen.trainable = True  # Keras semantics: its weights are trainable again
    assert frozen.trainable_weights == [frozen.kernel, frozen.bias] and frozen.non_trainable_weights == []
    assert model.trainable_weights == [frozen.kernel, frozen.bias] + head.trainable_weights
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert not np.array_equal(before[0], frozen.get_weights()[0])

    frozen.trainable = False  # and frozen again
    assert model.trainable_weights == head.trainable_weights
    again = frozen.get_weights()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    np.testing.assert_array_equal(again[0], frozen.get_weights()[0])


def test_a_weight_made_non_trainable_stays_so_when_its_layer_is_unfrozen():
    class WithCounter(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight("scale", (), "ones")
            self.count = self.add_weight("count", (), "zeros", trainable=False)

        def call(self, inputs, training=False):
            return inputs * self.scale

    layer = WithCounter(trainable=False)
    layer.build_for((None, 2))
    assert layer.trainable_weights == [] and layer.non_trainable_weights == [layer.scale, layer.count]
    layer.trainable = True
    assert layer.trainable_weights == [layer.scale] and layer.non_trainable_weights == [layer.count]
    assert layer.scale.requires_grad and not layer.count.requires_grad
    assert layer.get_config()["trainable"] is True


def test_a_model_whose_layers_are_all_frozen_still_fits():
    model = Sequential([Dense(1, input_dim=3, trainable=False)])
    model.compile("sgd", "mse")
    before = model.get_weights()
    history = model.fit(_batch((3,), 4), _batch((1,), 4), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    np.testing.assert_array_equal(before[0], model.get_weights()[0])


def test_activity_regularization_adds_its_penalty_to_the_loss():
    model = Sequential([layers.ActivityRegularization(l1=0.5, input_shape=(2,)), Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=SGD(learning_rate=0.0), loss="mse")
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    assert model.evaluate(x, y, batch_size=4, verbose=0) == pytest.approx(0.5 * 8 / 4)  # l1 * sum|x| / batch


def test_reshaping_layer_errors():
    with pytest.raises(ValueError, match=r"ZeroPadding2D 'zp': argument `padding` must not be negative; "
                                         r"received padding=-1"):
        layers.ZeroPadding2D(-1, name="zp")
    with pytest.raises(ValueError, match=r"Cropping2D 'cr': cropping \(\(2, 2\), \(0, 0\)\) leaves nothing of an "
                                         r"input of shape \(None, 4, 4, 1\)"):
        layers.Cropping2D(((2, 2), (0, 0)), name="cr").compute_output_shape((None, 4, 4, 1))
