"""The convolution variants as layers: values against numpy references, Keras 1 forms, the
errors Keras raises (each message matched), layouts, Keras 2 configs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kerasette import layers
from kerasette.layers import Conv2D, DepthwiseConv2D, SeparableConv2D
from kerasette.models import Sequential
from tests.layers.specs.conv_variants import REFERENCES


def _batch(shape, n=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n,) + tuple(shape)).astype("float32")


@pytest.mark.parametrize("entry", sorted(REFERENCES))
def test_layer_matches_its_reference(entry):
    from tests.layers.specs.conv_variants import SPECS

    spec = next(s for s in SPECS if s.id == entry)
    make, reference = REFERENCES[entry]
    x = _batch(spec.input_shape)
    np.testing.assert_allclose(make()(x).data, reference(x), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- layouts and fused activations
@pytest.mark.parametrize("make", [
    lambda f: Conv2D(4, 3, dilation_rate=2, groups=2, padding="same", activation="relu", data_format=f),
    lambda f: DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same", data_format=f),
    lambda f: SeparableConv2D(3, 3, dilation_rate=(1, 2), activation="relu", data_format=f),
], ids=["conv2d", "depthwise", "separable"])
def test_channels_first_equals_channels_last(make):
    x = _batch((9, 8, 4))
    last, first = make("channels_last"), make("channels_first")
    y_last = last(x).data
    first.build_for((None, 4, 9, 8))
    first.set_weights(last.get_weights())
    y_first = first(np.transpose(x, (0, 3, 1, 2))).data
    np.testing.assert_allclose(np.transpose(y_first, (0, 2, 3, 1)), y_last, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer_class", [DepthwiseConv2D, SeparableConv2D])
def test_a_following_relu_is_fused_with_the_same_result(layer_class):
    args = (3,) if layer_class is DepthwiseConv2D else (4, 3)
    x = _batch((6, 6, 3), n=4)
    model = Sequential([layers.InputLayer(input_shape=(6, 6, 3)), layer_class(*args, padding="same"),
                        layers.Activation("relu")])
    inner = model.layers[0]
    assert inner.fuses(layers.Activation("relu").activation)
    expected = np.maximum(inner(x).data, 0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)


def test_weights_shapes_and_names_as_keras():
    conv = Conv2D(6, (3, 2), groups=3)
    conv.build_for((None, 8, 8, 9))
    assert conv.kernel.shape == (3, 2, 3, 6)
    depthwise = DepthwiseConv2D(3, depth_multiplier=2, name="dw")
    depthwise.build_for((None, 8, 8, 4))
    assert [(w.name, w.shape) for w in depthwise.weights] == [("dw/kernel", (3, 3, 4, 2)), ("dw/bias", (8,))]
    assert depthwise.depthwise_kernel is depthwise.kernel  # Keras 2's attribute name
    separable = SeparableConv2D(5, 3, depth_multiplier=2, name="sep")
    separable.build_for((None, 8, 8, 4))
    assert [(w.name, w.shape) for w in separable.weights] == [
        ("sep/depthwise_kernel", (3, 3, 4, 2)), ("sep/pointwise_kernel", (1, 1, 8, 5)), ("sep/bias", (5,))]


def test_regularizers_and_constraints_reach_their_weights():
    layer = SeparableConv2D(2, 3, depthwise_regularizer="l2", pointwise_regularizer="l1", bias_regularizer="l2",
                            depthwise_constraint="non_neg", pointwise_constraint="max_norm",
                            bias_constraint="non_neg", activity_regularizer="l2")
    layer.build_for((None, 5, 5, 2))
    assert len(layer.losses) == 3
    assert [w.constraint is not None for w in layer.weights] == [True, True, True]
    layer(_batch((5, 5, 2)))
    assert len(layer.losses) == 4  # the activity penalty of the latest call
    depthwise = DepthwiseConv2D(3, depthwise_regularizer="l1", depthwise_constraint="non_neg")
    depthwise.build_for((None, 5, 5, 2))
    assert len(depthwise.losses) == 1 and depthwise.kernel.constraint is not None


# ---------------------------------------------------------------- Keras 1 and Keras 2 forms
def test_keras1_atrous_convolution():
    with pytest.warns(DeprecationWarning, match="atrous_rate -> dilation_rate"):
        layer = layers.AtrousConvolution2D(8, 3, 3, atrous_rate=(2, 2), border_mode="same")
    assert type(layer) is Conv2D
    assert (layer.filters, layer.kernel_size, layer.dilation_rate, layer.padding) == (8, (3, 3), (2, 2), "same")
    from kerasette.layers.convolutional import AtrousConvolution2D  # Keras 1's module path

    assert AtrousConvolution2D is Conv2D
    keras1 = {"class_name": "AtrousConvolution2D",
              "config": {"name": "atrous", "nb_filter": 4, "nb_row": 3, "nb_col": 2, "atrous_rate": [2, 3],
                         "border_mode": "valid", "subsample": [1, 1], "dim_ordering": "tf", "init": "he_normal",
                         "activation": "relu", "W_regularizer": None, "b_regularizer": None, "bias": True}}
    from kerasette.saving.layer_config import layer_from_spec

    loaded = layer_from_spec(keras1)
    assert (loaded.kernel_size, loaded.dilation_rate, loaded.filters) == ((3, 2), (2, 3), 4)


def test_keras1_separable_convolution():
    with pytest.warns(DeprecationWarning, match="init -> depthwise_initializer, pointwise_initializer"):
        layer = layers.SeparableConvolution2D(6, 3, 3, init="he_normal", subsample=(2, 2), depth_multiplier=2,
                                              b_regularizer="l2", bias=False)
    assert type(layer) is SeparableConv2D
    config = layer.get_config()
    assert config["depthwise_initializer"] == config["pointwise_initializer"]
    assert config["depthwise_initializer"]["class_name"] == "HeNormal"
    assert (layer.filters, layer.kernel_size, layer.strides, layer.depth_multiplier, layer.use_bias) == \
        (6, (3, 3), (2, 2), 2, False)
    from kerasette.saving.layer_config import layer_from_spec

    keras1 = {"class_name": "SeparableConvolution2D",
              "config": {"name": "sep", "nb_filter": 4, "nb_row": 3, "nb_col": 3, "init": "glorot_uniform",
                         "activation": "linear", "border_mode": "same", "subsample": [1, 1],
                         "depth_multiplier": 1, "dim_ordering": "tf", "depthwise_regularizer": None,
                         "pointwise_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
                         "depthwise_constraint": None, "pointwise_constraint": None, "b_constraint": None,
                         "bias": True}}
    loaded = layer_from_spec(keras1)
    assert (loaded.filters, loaded.padding, loaded.kernel_size) == (4, "same", (3, 3))
    with pytest.raises(TypeError, match="both the Keras 1 argument `init` and `pointwise_initializer`"):
        layers.SeparableConvolution2D(4, 3, 3, init="zeros", pointwise_initializer="ones")


def test_keras2_depthwise_config_with_groups_loads():
    from kerasette.saving.layer_config import layer_from_spec

    config = DepthwiseConv2D(3, depth_multiplier=2).get_config()
    keras2 = dict(config, groups=1)  # tf.keras 2.x wrote the convolution's groups too
    assert layer_from_spec({"class_name": "DepthwiseConv2D", "config": keras2}).get_config() == config


def test_configs_as_keras3_writes_them():
    assert list(Conv2D(4, 3, dilation_rate=2, groups=2).get_config())[3:11] == [
        "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation"]
    depthwise = DepthwiseConv2D(3).get_config()
    assert [k for k in depthwise if k not in ("name", "trainable", "dtype")] == [
        "depth_multiplier", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
        "use_bias", "depthwise_initializer", "bias_initializer", "depthwise_regularizer", "bias_regularizer",
        "activity_regularizer", "depthwise_constraint", "bias_constraint"]
    separable = SeparableConv2D(4, 3).get_config()
    assert [k for k in separable if k not in ("name", "trainable", "dtype")] == [
        "depth_multiplier", "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
        "activation", "use_bias", "depthwise_initializer", "pointwise_initializer", "bias_initializer",
        "depthwise_regularizer", "pointwise_regularizer", "bias_regularizer", "activity_regularizer",
        "depthwise_constraint", "pointwise_constraint", "bias_constraint"]


# ---------------------------------------------------------------- errors
def test_strides_and_dilation_together_are_refused():
    with pytest.raises(ValueError, match=r"Conv2D 'c': strides greater than 1 cannot be combined with a "
                                         r"dilation_rate greater than 1; received strides=\(2, 2\), "
                                         r"dilation_rate=\(2, 2\)"):
        Conv2D(4, 3, strides=2, dilation_rate=2, name="c")
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"strides greater than 1 cannot"):
        layers.AtrousConvolution2D(4, 3, 3, subsample=(1, 2), atrous_rate=(2, 1))


def test_group_errors():
    with pytest.raises(ValueError, match=r"Conv2D 'g': the number of filters must be divisible by the number of "
                                         r"groups; received filters=5, groups=2"):
        Conv2D(5, 3, groups=2, name="g")
    with pytest.raises(ValueError, match=r"Invalid value for argument `groups` of Conv2D 'g0'. Expected a strictly "
                                         r"positive integer. Received groups=0"):
        Conv2D(4, 3, groups=0, name="g0")
    with pytest.raises(ValueError, match=r"Conv2D 'g3': the number of input channels must be divisible by the "
                                         r"number of groups; received groups=2 for an input of shape "
                                         r"\(None, 8, 8, 3\) \(3 channels\)"):
        Conv2D(4, 3, groups=2, name="g3").build_for((None, 8, 8, 3))


def test_depthwise_and_separable_argument_errors():
    with pytest.raises(ValueError, match=r"Invalid value for argument `depth_multiplier` of DepthwiseConv2D 'd'. "
                                         r"Expected a strictly positive integer. Received depth_multiplier=0"):
        DepthwiseConv2D(3, depth_multiplier=0, name="d")
    with pytest.raises(ValueError, match=r"Invalid value for argument `filters` of SeparableConv2D 's'. Expected a "
                                         r"strictly positive integer. Received filters=0"):
        SeparableConv2D(0, 3, name="s")
    with pytest.raises(ValueError, match=r"DepthwiseConv2D 'dp': argument `padding` must be one of "
                                         r"\('valid', 'same'\); received padding='full'"):
        DepthwiseConv2D(3, padding="full", name="dp")
    with pytest.raises(ValueError, match=r"SeparableConv2D 'sd': argument `dilation_rate` must hold strictly "
                                         r"positive ints; received dilation_rate=0"):
        SeparableConv2D(2, 3, dilation_rate=0, name="sd")


def test_a_dilated_kernel_larger_than_the_input_is_refused():
    with pytest.raises(ValueError, match=r"Conv2D 'big': input height 4 is smaller than the kernel height 5 "
                                         r"\(input shape \(None, 4, 9, 1\)\)"):
        Conv2D(1, 3, dilation_rate=2, name="big").compute_output_shape((None, 4, 9, 1))
    with pytest.raises(ValueError, match=r"DepthwiseConv2D 'dbig': input width 6 is smaller than the kernel "
                                         r"width 7"):
        DepthwiseConv2D(3, dilation_rate=3, name="dbig").build_for((None, 9, 6, 1))
    assert Conv2D(1, 3, dilation_rate=2, padding="same").compute_output_shape((None, 4, 9, 1)) == (None, 4, 9, 1)


def test_strided_dilated_depthwise_runs_as_keras3_on_torch_does():
    """Keras 3 refuses strides with dilation only in Conv2D; depthwise layers compute it."""
    layer = DepthwiseConv2D(3, strides=2, dilation_rate=2, padding="same")
    assert layer(_batch((9, 9, 2))).shape == (3, 5, 5, 2)


def test_the_channel_count_is_checked_at_call():
    layer = DepthwiseConv2D(3, name="dc")
    layer.build_for((None, 6, 6, 2))
    with pytest.raises(ValueError, match=r"dc"):
        layer(_batch((6, 6, 3)))


def test_keras1_translations_warn_once_and_no_other_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SeparableConv2D(2, 3, depthwise_initializer="ones")
        DepthwiseConv2D(3)
