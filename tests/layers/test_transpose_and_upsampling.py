"""Conv2DTranspose, Keras 1's Deconvolution2D and UpSampling2D's interpolations: values with the
layers' own weights against the numpy references, Keras 1 arguments, configs and stored kernels,
and every error message."""

from __future__ import annotations

import json
import types
import warnings

import h5py
import numpy as np
import pytest

from kerasette import activations, constraints, layers, registry, regularizers
from kerasette.backend.tensor import Variable
from kerasette.models import Sequential, load_model
from tests.backend.transpose_op_cases import conv_transpose_reference, resize_reference

KERAS3_CONFIG_KEYS = {  # Conv2DTranspose.get_config() of Keras 3.15.1
    "name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding", "output_padding", "data_format",
    "dilation_rate", "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
    "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"}


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@pytest.mark.parametrize("kwargs,input_shape", [
    (dict(filters=4, kernel_size=3), (5, 4, 2)),
    (dict(filters=3, kernel_size=3, strides=2, padding="same"), (4, 5, 2)),
    (dict(filters=2, kernel_size=(3, 2), strides=(2, 3), output_padding=(1, 2)), (3, 4, 3)),
    (dict(filters=3, kernel_size=4, strides=2, padding="same", output_padding=1, activation="relu"), (3, 3, 2)),
    (dict(filters=2, kernel_size=3, dilation_rate=(2, 1), use_bias=False), (4, 4, 3)),
    (dict(filters=2, kernel_size=2, strides=4, padding="valid"), (3, 2, 3)),
])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_values_match_the_reference_with_the_layers_weights(kwargs, input_shape, data_format):
    layer = layers.Conv2DTranspose(**kwargs, data_format=data_format, bias_initializer="random_normal")
    x = _x((3, *input_shape))
    x_in = x.transpose(0, 3, 1, 2) if data_format == "channels_first" else x
    y = layer(x_in).data
    weights = layer.get_weights()
    kernel, bias = weights[0], (weights[1] if len(weights) > 1 else None)
    assert kernel.shape == (*layer.kernel_size, kwargs["filters"], input_shape[-1])
    s = layer.strides
    expected = conv_transpose_reference(x.astype(np.float64), kernel.astype(np.float64), bias, s, layer.padding,
                                        layer.output_padding, layer.dilation_rate,
                                        relu=kwargs.get("activation") == "relu")
    if data_format == "channels_first":
        expected = expected.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert y.shape == layer.compute_output_shape(x_in.shape)


def test_gradients_flow_to_the_input_and_the_weights():
    layer = layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu")
    x = Variable(_x((2, 4, 4, 2)))
    layer(x).sum().backward()
    assert x.grad.shape == x.shape and np.abs(x.grad).sum() > 0
    assert layer.kernel.grad.shape == layer.kernel.shape and layer.bias.grad.shape == (3,)


def test_a_following_relu_is_fused_with_the_same_result():
    x = _x((4, 3, 3, 2))
    fused = Sequential([layers.InputLayer(input_shape=(3, 3, 2)),
                        layers.Conv2DTranspose(3, 3, strides=2, bias_initializer="random_normal"),
                        layers.Activation("relu")])
    conv = fused.layers[0]
    plain = conv(x).data
    np.testing.assert_allclose(fused.predict(x, verbose=0), np.maximum(plain, 0), rtol=1e-6, atol=1e-6)


def test_config_is_keras3s_and_round_trips():
    layer = layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1, name="up")
    config = layer.get_config()
    assert set(config) == KERAS3_CONFIG_KEYS
    assert config["output_padding"] == [1, 1] and config["kernel_size"] == [3, 3]
    assert layers.Conv2DTranspose.from_config(config).get_config() == config
    keras2 = {**config, "output_padding": None, "dtype": "float32"}
    assert layers.deserialize({"class_name": "Conv2DTranspose", "config": keras2}).output_padding is None


def test_regularizers_constraints_and_activity_penalty():
    layer = layers.Conv2DTranspose(2, 3, strides=2, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.1),
                                   activity_regularizer=regularizers.L1(0.01),
                                   kernel_constraint=constraints.MaxNorm(2.0, axis=[0, 1, 3]),
                                   bias_constraint="non_neg", bias_initializer="ones")
    x = _x((3, 4, 4, 2))
    y = layer(x).data
    kernel_penalty, bias_penalty, activity = (p.data for p in layer.losses)
    np.testing.assert_allclose(kernel_penalty, 0.01 * np.square(layer.get_weights()[0]).sum(), rtol=1e-5)
    np.testing.assert_allclose(bias_penalty, 0.1 * 2, rtol=1e-6)  # two ones
    np.testing.assert_allclose(activity, 0.01 * np.abs(y).sum() / 3, rtol=1e-5)
    assert not layer.fuses(activations.relu)  # the activity penalty reads the output before any activation
    assert layer.kernel.constraint is not None and layer.bias.constraint is not None
    config = layer.get_config()
    assert config["kernel_constraint"] == {"class_name": "MaxNorm", "config": {"max_value": 2.0, "axis": [0, 1, 3]}}
    assert layers.Conv2DTranspose.from_config(config).get_config() == config


# ------------------------------------------------------------------------------ Keras 1
def test_deconvolution2d_positional_keras1_form():
    with pytest.warns(DeprecationWarning, match=r"Deconvolution2D\(nb_filter, nb_row, nb_col\)"):
        layer = layers.Deconvolution2D(3, 3, 3, (None, 10, 10, 3), subsample=(2, 2), border_mode="same")
    assert type(layer) is layers.Conv2DTranspose
    assert (layer.filters, layer.kernel_size, layer.strides, layer.padding) == (3, (3, 3), (2, 2), "same")
    assert layer.compute_output_shape((None, 5, 5, 2)) == (None, 10, 10, 3)
    assert layer.output_padding is None  # the size 'same' gives anyway


@pytest.mark.parametrize("border_mode,output_shape,input_hw,padding", [
    ("same", (None, 9, 10, 3), (5, 5), (0, 1)),
    ("same", (8, 9, 9, 3), (5, 5), (0, 0)),
    ("valid", (None, 12, 9, 3), (5, 4), (1, 0)),
    ("valid", (None, 11, 12, 3), (5, 5), (0, 1)),
])
def test_deconvolution2d_output_shape_becomes_output_padding(border_mode, output_shape, input_hw, padding):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        layer = layers.Deconvolution2D(3, 3, 3, output_shape=output_shape, subsample=(2, 2), border_mode=border_mode)
    x = _x((2, *input_hw, 2))
    y = layer(x).data
    assert y.shape[1:] == tuple(output_shape[1:])
    assert layer.output_padding == padding
    assert layer.get_config()["output_padding"] == list(padding) and "output_shape" not in layer.get_config()
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(y, conv_transpose_reference(x, kernel, bias, (2, 2), border_mode, padding),
                               rtol=1e-5, atol=1e-5)


def test_deconvolution2d_channels_first_output_shape():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        layer = layers.Deconvolution2D(4, 2, 2, output_shape=(None, 4, 7, 7), subsample=(2, 2), dim_ordering="th")
    assert layer.data_format == "channels_first"
    assert layer.compute_output_shape((None, 2, 3, 3)) == (None, 4, 7, 7)
    assert layer.output_padding == (1, 1)


def test_deconvolution2d_keras1_config_loads():
    config = {"name": "deconvolution2d_1", "trainable": True, "nb_filter": 3, "nb_row": 3, "nb_col": 3,
              "init": "glorot_uniform", "activation": "linear", "border_mode": "same", "subsample": [2, 2],
              "dim_ordering": "tf", "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
              "W_constraint": None, "b_constraint": None, "bias": True, "output_shape": [None, 8, 8, 3]}
    cls = registry.get("layer", "Deconvolution2D")
    layer = cls.from_config(cls.translate_config(config))  # as the file loader does: silently
    assert layer.compute_output_shape((None, 4, 4, 2)) == (None, 8, 8, 3)
    assert (layer.filters, layer.kernel_size, layer.strides, layer.use_bias) == (3, (3, 3), (2, 2), True)


def _origin(keras1, flip=False):
    return types.SimpleNamespace(is_keras1=keras1, flip_for=lambda layer, theano_order: flip)


@pytest.mark.parametrize("data_format,stored_order,flip", [
    ("channels_last", "tf", False), ("channels_first", "th", False), ("channels_first", "th", True),
    ("channels_last", "th", False),
])
def test_keras1_stored_kernels_are_converted(data_format, stored_order, flip):
    layer = layers.Conv2DTranspose(3, (3, 2), data_format=data_format)
    layer.build_for((None, 4, 5, 4) if data_format == "channels_last" else (None, 4, 5, 5))
    kernel = np.arange(3 * 2 * 3 * 4, dtype=np.float32).reshape(3, 2, 3, 4)  # (rows, cols, filters, in)
    stored = kernel.transpose(0, 1, 3, 2) if stored_order == "tf" else kernel.transpose(2, 3, 0, 1)
    convert = layer.stored_weight_converter(layer.kernel, stored.shape, _origin(True, flip))
    expected = kernel[::-1, ::-1] if flip else kernel
    np.testing.assert_array_equal(convert(stored), expected)


def test_keras2_stored_kernels_are_taken_as_they_are():
    layer = layers.Conv2DTranspose(3, 3)
    layer.build_for((None, 4, 4, 3))
    kernel = np.arange(81, dtype=np.float32).reshape(3, 3, 3, 3)
    convert = layer.stored_weight_converter(layer.kernel, kernel.shape, _origin(False))
    np.testing.assert_array_equal(convert(kernel), kernel)
    assert layer.stored_weight_converter(layer.kernel, (3, 3, 3, 2), _origin(False)) is None


# ------------------------------------------------------------------------------ UpSampling2D
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "BILINEAR"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_upsampling_interpolations(interpolation, data_format):
    x = _x((2, 3, 4, 5))
    layer = layers.UpSampling2D((2, 3), data_format=data_format, interpolation=interpolation)
    x_in = x.transpose(0, 3, 1, 2) if data_format == "channels_first" else x
    y = layer(x_in).data
    expected = resize_reference(x.astype(np.float64), (2, 3), interpolation.lower())
    if data_format == "channels_first":
        expected = expected.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert layer.get_config()["interpolation"] == interpolation.lower()


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("kwargs,message", [
    (dict(output_padding=2, strides=2),
     r"Conv2DTranspose '.*': each value of `output_padding` must be smaller than its stride; received "
     r"output_padding=2 with strides=\(2, 2\) \(axis 0: 2 >= 2\)"),
    (dict(output_padding=(0, 1)),
     r"each value of `output_padding` must be smaller than its stride; received output_padding=\(0, 1\) "
     r"with strides=\(1, 1\) \(axis 1: 1 >= 1\)"),
    (dict(output_padding=(1, 1, 1), strides=2),
     r"argument `output_padding` must be None, an int or two ints >= 0; received output_padding=\(1, 1, 1\)"),
    (dict(output_padding=-1, strides=2), r"must be None, an int or two ints >= 0; received output_padding=-1"),
    (dict(strides=2, dilation_rate=2),
     r"strides above 1 and dilation_rate above 1 cannot be used together \(Keras's rule\); received strides=2, "
     r"dilation_rate=2"),
    (dict(padding="full"), r"argument `padding` must be one of \('valid', 'same'\); received padding='full'"),
    (dict(output_shape=(8, 8)), r"Keras 1 argument `output_shape` must be the output's shape"),
    (dict(output_shape=(None, 8, 8, 5)),
     r"Keras 1 argument `output_shape`=\(None, 8, 8, 5\) has 5 channels \(channels_last\), but the layer has "
     r"nb_filter=3"),
])
def test_conv2d_transpose_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.Conv2DTranspose(3, 3, **kwargs)


def test_filters_must_be_positive():
    with pytest.raises(ValueError, match=r"Invalid value for argument `filters` of Conv2DTranspose '.*'\. Expected a "
                                         r"strictly positive integer\. Received filters=0"):
        layers.Conv2DTranspose(0, 3)


def test_an_empty_output_is_refused():
    layer = layers.Conv2DTranspose(2, 2, padding="same", output_padding=0, strides=1)
    with pytest.raises(ValueError, match=r"Conv2DTranspose '.*': an input of shape \(None, 1, 3, 2\) gives an empty "
                                         r"output \(0 x 2\) with kernel \(2, 2\), strides \(1, 1\), padding 'same' "
                                         r"and output_padding \(0, 0\)"):
        layer.compute_output_shape((None, 1, 3, 2))


def test_the_channel_axis_must_be_known():
    with pytest.raises(ValueError, match=r"Conv2DTranspose '.*': the channel axis must be known; received input "
                                         r"shape \(None, 4, 4, None\)"):
        layers.Conv2DTranspose(2, 3).build((None, 4, 4, None))


def test_a_non_image_input_is_refused():
    with pytest.raises(ValueError, match="Conv2DTranspose"):
        layers.Conv2DTranspose(2, 3)(_x((2, 4, 3)))


def test_deconvolution2d_output_shape_no_padding_gives():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        layer = layers.Deconvolution2D(3, 3, 3, output_shape=(None, 12, 10, 3), subsample=(2, 2), border_mode="same")
    with pytest.raises(ValueError, match=r"Deconvolution2D '.*': Keras 1 argument `output_shape` \(None, 12, 10, 3\) "
                                         r"asks for rows 12, but an input of shape \(None, 5, 5, 2\) with kernel "
                                         r"\(3, 3\), strides \(2, 2\) and padding 'same' gives 9 to 10 rows"):
        layer(_x((1, 5, 5, 2)))


def test_deconvolution2d_output_shape_not_one_output_padding():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        layer = layers.Deconvolution2D(3, 2, 2, output_shape=(None, 9, 10, 3), subsample=(2, 2), border_mode="same")
    with pytest.raises(ValueError, match=r"Deconvolution2D '.*': Keras 1 argument `output_shape` \(None, 9, 10, 3\) "
                                         r"cannot be written as one `output_padding` for an input of shape "
                                         r"\(None, 5, 5, 2\); give `output_padding` \(Keras 2\) instead"):
        layer.compute_output_shape((None, 5, 5, 2))


def test_deconvolution2d_output_shape_given_twice():
    with pytest.raises(TypeError, match="Deconvolution2D: got `output_shape` both as the fourth positional argument "
                                        "and as a keyword"):
        layers.Deconvolution2D(3, 3, 3, (None, 8, 8, 3), output_shape=(None, 8, 8, 3))


@pytest.mark.parametrize("interpolation,why", [
    ("lanczos3", r"is not supported by kerasette \(nor by Keras 3 on the torch backend\)"),
    ("area", r"is Keras 2's \(TensorFlow's resize\) and not supported by kerasette"),
    ("cubic", r"is not an interpolation Keras knows"),
])
def test_upsampling_refuses_other_interpolations(interpolation, why):
    with pytest.raises(ValueError, match=rf"UpSampling2D '.*': argument `interpolation`='{interpolation}' {why}; "
                                         r"supported interpolations: 'nearest', 'bilinear', 'bicubic'"):
        layers.UpSampling2D(2, interpolation=interpolation)


# ------------------------------------------------------------------------------ Keras 1 files
def _write_keras1_deconvolution_file(path, dim_ordering, kernel_stored, bias):
    """A Keras 1.2 full-model file (Keras 1's layout, written by hand) with one Deconvolution2D."""
    shape = [None, 2, 4, 3] if dim_ordering == "th" else [None, 4, 3, 2]
    out_shape = [None, 3, 9, 7] if dim_ordering == "th" else [None, 10, 7, 3]  # 'tf': output_padding (1, 0)
    config = [{"class_name": "Deconvolution2D", "config": {
        "name": "deconvolution2d_1", "trainable": True, "batch_input_shape": shape, "input_dtype": "float32",
        "nb_filter": 3, "nb_row": 3, "nb_col": 3, "output_shape": out_shape, "init": "glorot_uniform",
        "activation": "linear", "border_mode": "valid", "subsample": [2, 2], "dim_ordering": dim_ordering,
        "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
        "b_constraint": None, "bias": True}}]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": config}).encode("utf8")
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = [b"deconvolution2d_1"]
        layer = group.create_group("deconvolution2d_1")
        layer.attrs["weight_names"] = [b"deconvolution2d_1_W", b"deconvolution2d_1_b"]
        layer.create_dataset("deconvolution2d_1_W", data=kernel_stored)
        layer.create_dataset("deconvolution2d_1_b", data=bias)


@pytest.mark.parametrize("dim_ordering", ["tf", "th"])
def test_a_keras1_file_with_deconvolution2d_loads(tmp_path, dim_ordering):
    """Keras 1 stored the kernel as its Convolution2D did: (rows, cols, in, filters) for 'tf', and
    (filters, in, rows, cols) for 'th', whose Theano kernels are flipped (true convolution)."""
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((3, 3, 3, 2)).astype("float32")  # (rows, cols, filters, in) as Keras 2
    bias = rng.standard_normal(3).astype("float32")
    if dim_ordering == "tf":
        stored, used = kernel.transpose(0, 1, 3, 2), kernel
    else:
        stored, used = kernel.transpose(2, 3, 0, 1), kernel[::-1, ::-1]
    path = tmp_path / f"deconv_{dim_ordering}.h5"
    _write_keras1_deconvolution_file(path, dim_ordering, stored, bias)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model(path)
    x = _x((2, 4, 3, 2))
    x_in = x.transpose(0, 3, 1, 2) if dim_ordering == "th" else x
    y = model.predict(x_in, verbose=0)
    padding = (0, 0) if dim_ordering == "th" else (1, 0)
    expected = conv_transpose_reference(x.astype(np.float64), used.astype(np.float64), bias, (2, 2), "valid", padding)
    if dim_ordering == "th":
        expected = expected.transpose(0, 3, 1, 2)
    assert y.shape == ((2, 3, 9, 7) if dim_ordering == "th" else (2, 10, 7, 3))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
