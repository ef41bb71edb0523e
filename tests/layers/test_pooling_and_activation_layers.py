"""Average and global pooling, the activation layers, and the Keras 1 module paths."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import layers
from kerasette.models import Sequential


def _batch(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@pytest.mark.parametrize("padding,strides", [("valid", (1, 1)), ("same", (2, 2)), ("same", (1, 2))])
def test_average_pooling_channels_first_equals_channels_last(padding, strides):
    x = _batch((2, 5, 6, 3))
    y_last = layers.AveragePooling2D(3, strides=strides, padding=padding)(x).data
    y_first = layers.AveragePooling2D(3, strides=strides, padding=padding, data_format="channels_first")(
        x.transpose(0, 3, 1, 2)).data
    np.testing.assert_allclose(y_first.transpose(0, 2, 3, 1), y_last, rtol=1e-6)


def test_same_average_pooling_leaves_the_padding_out():
    y = layers.AveragePooling2D(3, strides=1, padding="same")(np.ones((1, 3, 3, 1), "float32")).data
    np.testing.assert_array_equal(y, 1.0)  # Keras 3 gives ones too (checked)


@pytest.mark.parametrize("strides,padding", [((2, 2), "same"), ((1, 1), "same"), ((3, 2), "valid"), ((1, 3), "same")])
def test_max_pooling_same_and_any_strides(strides, padding):
    from tests.helpers import max_pool2d_reference

    x = _batch((2, 7, 6, 2))
    y = layers.MaxPooling2D(3, strides=strides, padding=padding)(x).data
    np.testing.assert_array_equal(y, max_pool2d_reference(x, (3, 3), strides, padding))


def test_pooling_layers_in_a_channels_first_model():
    x = _batch((3, 2, 6, 6))
    model = Sequential([layers.Conv2D(4, 3, padding="same", data_format="channels_first", input_shape=(2, 6, 6)),
                        layers.AveragePooling2D(data_format="channels_first"),
                        layers.GlobalMaxPooling2D(data_format="channels_first")])
    assert model.output_shape == (None, 4)
    conv = model.layers[0]
    expected = conv(x).data.transpose(0, 2, 3, 1)
    expected = expected.reshape(3, 3, 2, 3, 2, 4).mean((2, 4)).max((1, 2))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_pooling_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"AveragePooling2D 'ap': input height 1 is smaller than the pool height 2"):
        Sequential([layers.AveragePooling2D(name="ap", input_shape=(1, 4, 3))])
    with pytest.raises(ValueError, match=r"GlobalAveragePooling2D 'gap': .*4-D input.*received input shape"):
        Sequential([layers.GlobalAveragePooling2D(name="gap", input_shape=(4, 3))])
    with pytest.raises(ValueError, match=r"AveragePooling2D '.*': .*padding"):
        layers.AveragePooling2D(padding="full")


@pytest.mark.parametrize("make,message", [
    (lambda: layers.ReLU(max_value=-1), r"ReLU '.*': `max_value` must be a number >= 0; received max_value=-1"),
    (lambda: layers.ReLU(negative_slope=-0.1), r"`negative_slope` must be a number >= 0; received negative_slope=-0.1"),
    (lambda: layers.LeakyReLU(alpha=-1), r"LeakyReLU '.*': `negative_slope` must be a number >= 0; received "
                                         r"negative_slope=-1"),
    (lambda: layers.ThresholdedReLU(theta=-1), r"ThresholdedReLU '.*': `theta` must be a number >= 0"),
    (lambda: layers.ELU(alpha="x"), r"ELU '.*': `alpha` must be a number; received alpha='x'"),
    (lambda: layers.Softmax(axis=1.5), r"Softmax '.*': `axis` must be an int; received axis=1.5"),
    (lambda: layers.PReLU(shared_axes=[0]), r"PReLU '.*': `shared_axes` must be axes >= 1 \(0 is the batch\); "
                                             r"received shared_axes=\[0\]"),
])
def test_activation_layer_argument_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_activation_layer_shape_errors():
    with pytest.raises(ValueError, match=r"PReLU 'p': shared axis 3 is not an axis of the input; received input "
                                         r"shape \(None, 4, 2\)"):
        layers.PReLU(shared_axes=3, name="p").build_for((None, 4, 2))
    with pytest.raises(ValueError, match=r"Softmax 's': axis 2 must be a non-batch axis of the input"):
        layers.Softmax(axis=2, name="s").build_for((None, 4))


def test_prelu_learns_its_slope():
    layer = layers.PReLU(alpha_initializer="constant")
    x = _batch((4, 3))
    layer.build_for((None, 3))
    layer.set_weights([np.full(3, 0.25, "float32")])
    np.testing.assert_allclose(layer(x).data, np.where(x > 0, x, 0.25 * x), rtol=1e-6)


def test_leaky_relu_keras3_and_keras2_names():
    assert layers.LeakyReLU(negative_slope=0.2).get_config()["negative_slope"] == 0.2
    assert layers.LeakyReLU(alpha=0.2).get_config()["negative_slope"] == 0.2
    assert layers.LeakyReLU.from_config({"alpha": 0.1, "name": "l"}).negative_slope == 0.1


def test_value_wise_layers_are_layout_free():
    free = [layers.ReLU(), layers.LeakyReLU(), layers.ELU(), layers.ThresholdedReLU()]
    assert all(layer.layout_free() for layer in free)
    assert not layers.PReLU().layout_free() and not layers.Softmax().layout_free()


def test_keras1_module_paths():
    from kerasette.layers.advanced_activations import ELU, LeakyReLU, PReLU, ThresholdedReLU
    from kerasette.layers.convolutional import Conv2D
    from kerasette.layers.core import Dense
    from kerasette.layers.pooling import (
        AveragePooling2D,
        GlobalAveragePooling2D,
        GlobalMaxPooling2D,
        MaxPooling2D,
    )

    for cls in (ELU, LeakyReLU, PReLU, ThresholdedReLU, Conv2D, Dense, AveragePooling2D, GlobalAveragePooling2D,
                GlobalMaxPooling2D, MaxPooling2D):
        assert getattr(layers, cls.__name__) is cls


def test_prelu_regularizer_and_constraint():
    layer = layers.PReLU(alpha_initializer="ones", alpha_regularizer="l1", alpha_constraint="non_neg")
    layer.build_for((None, 3))
    np.testing.assert_allclose(float(np.asarray(layer.losses[0].data)), 0.01 * 3, rtol=1e-6)
    config = layer.get_config()
    assert config["alpha_constraint"]["class_name"] == "NonNeg"
    assert layers.PReLU.from_config(config).get_config() == config


def test_relu_layer_is_the_relu_activation_with_a_negative_threshold_and_a_cap():
    import kerasette.activations as acts
    from kerasette.layers import ReLU

    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]], "float32")
    layer = ReLU(max_value=1.0, negative_slope=0.1, threshold=-1.0)
    expected = acts.relu(x, negative_slope=0.1, max_value=1.0, threshold=-1.0).data
    np.testing.assert_allclose(layer(x).data, expected)
    np.testing.assert_allclose(expected, [[-0.1, 0.0, 0.0, 0.5, 1.0]], atol=1e-7)  # Keras 3's values
