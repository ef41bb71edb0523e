"""The 1-D convolution family as layers: values against numpy references, causal padding, float64
gradient checks through the layers (views, causal pads, kernels reshaped for the 2-D ops), both
data formats, Keras 1 forms and weights, masks in GlobalAveragePooling1D, and every error the
layers raise (each message matched)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kerasette import activations, layers
from kerasette.layers import (
    AveragePooling1D,
    Conv1D,
    Conv1DTranspose,
    Cropping1D,
    DepthwiseConv1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
    SeparableConv1D,
    UpSampling1D,
    ZeroPadding1D,
)
from kerasette.models import Sequential
from tests.helpers import check_gradients
from tests.layers.specs.conv1d import REFERENCES, SPECS, SWAP, conv1d_reference


def _batch(shape, n=3, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal((n,) + tuple(shape)).astype(dtype)


@pytest.mark.parametrize("entry", sorted(REFERENCES))
def test_layer_matches_its_reference(entry):
    spec = next(s for s in SPECS if s.id == entry)
    make, reference = REFERENCES[entry]
    x = _batch(spec.input_shape)
    np.testing.assert_allclose(make()(x).data, reference(x), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------ causal padding
@pytest.mark.parametrize("kernel_size, dilation", [(2, 1), (3, 2), (4, 3)])
def test_causal_outputs_never_see_later_inputs(kernel_size, dilation):
    layer = Conv1D(3, kernel_size, padding="causal", dilation_rate=dilation)
    x = _batch((12, 2), n=1)
    y = layer(x).data
    assert y.shape == (1, 12, 3)
    for t in range(12):
        changed = x.copy()
        changed[:, t + 1:] += 10.0  # every later step changes
        np.testing.assert_array_equal(layer(changed).data[:, :t + 1], y[:, :t + 1])
    # and the first output sees the first input (through the last tap), not only padding
    changed = x.copy()
    changed[:, 0] += 1.0
    assert not np.allclose(layer(changed).data[:, 0], y[:, 0])


def test_causal_is_left_padding_then_valid():
    layer = Conv1D(2, 3, padding="causal", dilation_rate=2, use_bias=False)
    x = _batch((7, 2))
    y = layer(x).data
    (kernel,) = layer.get_weights()
    padded = np.pad(x, ((0, 0), (4, 0), (0, 0)))
    np.testing.assert_allclose(y, conv1d_reference(padded, kernel, dilation=2), rtol=1e-5, atol=1e-6)


def test_causal_strided_output_length_is_ceil_of_steps_over_stride():
    assert Conv1D(2, 3, padding="causal", strides=2).compute_output_shape((None, 9, 1)) == (None, 5, 2)
    assert Conv1D(2, 3, padding="causal", strides=3).compute_output_shape((None, None, 1)) == (None, None, 2)


# ------------------------------------------------------------------- float64 gradient checks
def _through(layer, names):
    """``fn(x, *weights)`` computing ``layer`` with its weights replaced by the given tensors."""

    def fn(x, *weights):
        saved = [getattr(layer, n) for n in names]
        for name, w in zip(names, weights, strict=True):
            object.__setattr__(layer, name, w)
        try:
            return layer.call(x)
        finally:
            for name, w in zip(names, saved, strict=True):
                object.__setattr__(layer, name, w)

    return fn


GRADIENT_LAYERS = [
    ("conv1d-causal-dilated-grouped", lambda: Conv1D(4, 3, padding="causal", dilation_rate=2, groups=2,
                                                     dtype="float64"), (9, 4), ("kernel", "bias")),
    ("conv1d-same-strided-channels_first", lambda: Conv1D(3, 2, strides=2, padding="same",
                                                          data_format="channels_first", dtype="float64"),
     (2, 7), ("kernel", "bias")),
    ("depthwise1d", lambda: DepthwiseConv1D(3, depth_multiplier=2, padding="same", dtype="float64"), (6, 2),
     ("kernel", "bias")),
    ("separable1d", lambda: SeparableConv1D(3, 3, dilation_rate=2, dtype="float64"), (9, 2),
     ("depthwise_kernel", "pointwise_kernel", "bias")),
    ("conv1d-transpose", lambda: Conv1DTranspose(3, 3, strides=2, output_padding=1, dtype="float64"), (4, 2),
     ("kernel", "bias")),
]


@pytest.mark.parametrize("make, shape, names", [g[1:] for g in GRADIENT_LAYERS], ids=[g[0] for g in GRADIENT_LAYERS])
def test_gradients_through_the_layer(make, shape, names):
    layer = make()
    layer.build_for((None,) + shape)
    weights = [np.asarray(getattr(layer, n).data) + 0.1 for n in names]  # biases away from 0
    check_gradients(_through(layer, names), [_batch(shape, n=2, dtype="float64"), *weights])


@pytest.mark.parametrize("make", [lambda: MaxPooling1D(3, strides=2, padding="same", dtype="float64"),
                                  lambda: AveragePooling1D(2, padding="same", dtype="float64"),
                                  lambda: UpSampling1D(2, dtype="float64"),
                                  lambda: ZeroPadding1D((1, 2), dtype="float64"),
                                  lambda: Cropping1D((1, 1), dtype="float64"),
                                  lambda: GlobalMaxPooling1D(dtype="float64"),
                                  lambda: GlobalAveragePooling1D(dtype="float64")])
def test_gradients_through_weightless_layers(make):
    layer = make()
    x = _batch((7, 2), n=2, dtype="float64")
    check_gradients(lambda t: layer.call(t), [x])


# ------------------------------------------------------------------------------ data formats
FORMAT_PAIRS = [
    lambda df: Conv1D(4, 3, padding="causal", dilation_rate=2, data_format=df),
    lambda df: Conv1D(4, 3, strides=2, groups=2, padding="same", data_format=df),
    lambda df: DepthwiseConv1D(3, depth_multiplier=2, data_format=df),
    lambda df: SeparableConv1D(3, 2, padding="same", data_format=df),
    lambda df: Conv1DTranspose(3, 3, strides=2, padding="same", data_format=df),
    lambda df: MaxPooling1D(2, data_format=df),
    lambda df: AveragePooling1D(3, strides=2, padding="same", data_format=df),
    lambda df: GlobalMaxPooling1D(data_format=df, keepdims=True),
    lambda df: GlobalAveragePooling1D(data_format=df),
    lambda df: ZeroPadding1D((2, 1), data_format=df),
]


@pytest.mark.parametrize("make", FORMAT_PAIRS)
def test_channels_first_equals_channels_last(make):
    x = _batch((9, 4))
    last, first = make("channels_last"), make("channels_first")
    y_last = last(x).data
    first.build_for((None, 4, 9))
    first.set_weights(last.get_weights())
    y_first = first(x.transpose(SWAP)).data
    if y_first.ndim == 3:
        y_first = y_first.transpose(SWAP)
    np.testing.assert_allclose(y_first, y_last, rtol=1e-5, atol=1e-6)
    assert first.compute_output_shape((None, 4, 9)) == (
        (None,) + y_first.shape[1:] if y_first.ndim == 2 else (None, y_first.shape[2], y_first.shape[1]))


def test_conv1d_relu_fuses_into_the_convolution():
    layer = Conv1D(4, 3, bias_initializer="ones")
    x = _batch((8, 2))
    plain = layer(x).data
    assert layer.fuses(activations.relu)
    assert not Conv1D(4, 3, activation="tanh").fuses(activations.relu)
    np.testing.assert_allclose(layer.call_with_activation(x, activations.relu).data, np.maximum(plain, 0), rtol=1e-6)


# ------------------------------------------------------------------------------ masks
def test_global_average_pooling_averages_unmasked_steps_only():
    x = _batch((4, 3), n=2)
    mask = np.array([[True, True, False, False], [True, False, True, True]])
    y = GlobalAveragePooling1D()(x, mask=mask).data
    expected = np.stack([x[0, :2].mean(0), x[1, [0, 2, 3]].mean(0)])
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    first = GlobalAveragePooling1D(data_format="channels_first", keepdims=True)(x.transpose(SWAP), mask=mask).data
    np.testing.assert_allclose(first[:, :, 0], expected, rtol=1e-6)
    assert GlobalAveragePooling1D().compute_mask(x, mask) is None


# ------------------------------------------------------------------------------ Keras 1
def _keras1(make):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = make()
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    return layer


def test_keras1_convolution1d_arguments():
    layer = _keras1(lambda: layers.Convolution1D(nb_filter=8, filter_length=3, init="he_normal", border_mode="same",
                                                 subsample_length=2, W_regularizer="l2", bias=False,
                                                 input_dim=5, input_length=20))
    assert isinstance(layer, Conv1D)
    config = layer.get_config()
    assert (config["filters"], config["kernel_size"], config["padding"], config["strides"]) == (8, [3], "same", [2])
    assert config["use_bias"] is False and config["kernel_initializer"]["class_name"] == "HeNormal"
    assert config["kernel_regularizer"] is not None
    assert layer.batch_input_shape == (None, 20, 5)
    model = Sequential([layer])
    assert model.output_shape == (None, 10, 8)


def test_keras1_positional_form_and_atrous():
    layer = _keras1(lambda: layers.Convolution1D(4, 3, "uniform", "relu", None, "same", 1))
    assert (layer.get_config()["activation"], layer.padding) == ("relu", "same")
    atrous = _keras1(lambda: layers.AtrousConvolution1D(4, 3, atrous_rate=2, border_mode="same"))
    assert isinstance(atrous, Conv1D) and atrous.dilation_rate == (2,)
    from kerasette.layers.convolutional import AtrousConvolution1D, Convolution1D

    assert Convolution1D is Conv1D and AtrousConvolution1D is Conv1D


def test_keras1_pooling_padding_upsampling_arguments():
    pool = _keras1(lambda: layers.MaxPooling1D(pool_length=3, stride=1, border_mode="same"))
    assert (pool.pool_size, pool.strides, pool.padding) == ((3,), (1,), "same")
    avg = _keras1(lambda: layers.AveragePooling1D(pool_length=2))
    assert avg.strides == (2,)
    assert _keras1(lambda: UpSampling1D(length=3)).size == 3
    assert ZeroPadding1D({"left_pad": 2, "right_pad": 1}).padding == (2, 1)
    assert ZeroPadding1D(3).padding == (3, 3)
    from kerasette.layers.convolutional import MaxPooling1D as FromConvolutional

    assert FromConvolutional is MaxPooling1D


def test_keras1_configs_translate():
    conv = Conv1D.from_config(Conv1D.translate_config(
        {"name": "c", "nb_filter": 6, "filter_length": 2, "init": "glorot_uniform", "activation": "tanh",
         "border_mode": "valid", "subsample_length": 1, "W_regularizer": None, "b_regularizer": None,
         "activity_regularizer": None, "W_constraint": None, "b_constraint": None, "bias": True,
         "input_dim": 3, "input_length": 10}))
    assert (conv.filters, conv.kernel_size, conv.batch_input_shape) == (6, (2,), (None, 10, 3))
    # Keras 1 writes input_dim and input_length on every 1-D layer: None past the first, and
    # beside batch_input_shape on the first
    middle = Conv1D.from_config(Conv1D.translate_config({"name": "m", "nb_filter": 2, "filter_length": 3,
                                                         "input_dim": None, "input_length": None}))
    assert middle.batch_input_shape is None
    first = Conv1D.from_config(Conv1D.translate_config({"name": "f", "nb_filter": 2, "filter_length": 3,
                                                        "input_dim": 3, "input_length": None,
                                                        "batch_input_shape": [None, None, 3]}))
    assert first.batch_input_shape == (None, None, 3)
    pool = MaxPooling1D.from_config(MaxPooling1D.translate_config(
        {"name": "p", "pool_length": 4, "stride": None, "border_mode": "valid"}))
    assert (pool.pool_size, pool.strides) == ((4,), (4,))


class _Origin:
    """What a Keras file tells a layer's converter (see `kerasette.saving`)."""

    def __init__(self, keras1: bool, theano: bool):
        self.is_keras1, self.theano = keras1, theano

    def flip_for(self, layer, theano_order):
        return self.theano


@pytest.mark.parametrize("theano", [False, True])
def test_keras1_kernel_layout_loads(theano):
    layer = Conv1D(4, 3)
    layer.build_for((None, 8, 2))
    stored = np.arange(3 * 1 * 2 * 4, dtype="float32").reshape(3, 1, 2, 4)
    convert = layer.stored_weight_converter(layer.kernel, stored.shape, _Origin(True, theano))
    expected = stored[:, 0][::-1] if theano else stored[:, 0]
    np.testing.assert_array_equal(convert(stored), expected)
    assert layer.stored_weight_converter(layer.bias, (4,), _Origin(True, theano)) is None
    assert layer.stored_weight_converter(layer.kernel, (4, 2, 3), _Origin(False, False)) is None


def test_keras2_separable_and_depthwise_configs_with_groups():
    config = SeparableConv1D(4, 3, name="s").get_config()
    assert SeparableConv1D.translate_config({**config, "groups": 1}) == config
    config = DepthwiseConv1D(3, name="d").get_config()
    assert DepthwiseConv1D.translate_config({**config, "groups": 1}) == config


def test_registered_aliases():
    from kerasette import registry

    for alias, cls in [("Convolution1D", Conv1D), ("AtrousConvolution1D", Conv1D), ("MaxPool1D", MaxPooling1D),
                       ("AvgPool1D", AveragePooling1D), ("GlobalMaxPool1D", GlobalMaxPooling1D),
                       ("GlobalAvgPool1D", GlobalAveragePooling1D), ("SeparableConvolution1D", SeparableConv1D),
                       ("Convolution1DTranspose", Conv1DTranspose)]:
        assert registry.get("layer", alias) is cls


# ------------------------------------------------------------------------------ errors
ERRORS = [
    (lambda: SeparableConv1D(2, 3, padding="causal"), r"SeparableConv1D '.*': argument `padding` must be one of "
                                                      r"\('valid', 'same'\); received padding='causal'"),
    (lambda: DepthwiseConv1D(3, padding="causal"), r"DepthwiseConv1D .*padding='causal'"),
    (lambda: Conv1DTranspose(2, 3, padding="causal"), r"Conv1DTranspose .*padding='causal'"),
    (lambda: Conv1D(2, 3, padding="full"), r"Conv1D '.*': argument `padding` must be one of "
                                           r"\('valid', 'same', 'causal'\); received padding='full'"),
    (lambda: MaxPooling1D(padding="causal"), r"MaxPooling1D '.*': argument `padding` must be one of"),
    (lambda: Conv1D(2, 3, strides=2, dilation_rate=2), r"strides greater than 1 cannot be combined with a "
                                                       r"dilation_rate greater than 1; received strides=\(2,\)"),
    (lambda: Conv1D(3, 3, groups=2), r"the number of filters must be divisible by the number of groups; "
                                     r"received filters=3, groups=2"),
    (lambda: Conv1D(0, 3), r"argument `filters` of Conv1D '.*'. Expected a strictly positive integer. "
                           r"Received filters=0"),
    (lambda: Conv1D(2, (3, 3)), r"Conv1D '.*': argument `kernel_size` must be an int or a tuple of 1 ints; "
                                r"received kernel_size=\(3, 3\)"),
    (lambda: Conv1D(2, 3, data_format="channels_middle"), r"Conv1D '.*': argument `data_format` must be "
                                                          r"'channels_last' or 'channels_first'"),
    (lambda: GlobalMaxPooling1D(data_format="nhwc"), r"GlobalMaxPooling1D '.*': argument `data_format`"),
    (lambda: SeparableConv1D(2, 3, depth_multiplier=0), r"`depth_multiplier` of SeparableConv1D"),
    (lambda: Conv1DTranspose(2, 3, strides=2, output_padding=2), r"Conv1DTranspose '.*': `output_padding` must "
                                                                 r"be smaller than the stride; received "
                                                                 r"output_padding=2 with strides=\(2,\)"),
    (lambda: Conv1DTranspose(2, 3, output_padding=(1, 1)), r"`output_padding` must be None, an int >= 0 or a "
                                                           r"tuple of one; received output_padding=\(1, 1\)"),
    (lambda: Conv1DTranspose(2, 3, strides=2, dilation_rate=2), r"Conv1DTranspose .*strides greater than 1"),
    (lambda: ZeroPadding1D(-1), r"ZeroPadding1D '.*': argument `padding` must not be negative; received "
                                r"padding=-1"),
    (lambda: ZeroPadding1D((1, 2, 3)), r"argument `padding` must be an int or two ints \(before, after\); "
                                       r"received padding=\(1, 2, 3\)"),
    (lambda: Cropping1D("1"), r"Cropping1D '.*': argument `cropping` must be an int or two ints"),
    (lambda: UpSampling1D(0), r"argument `size` of UpSampling1D '.*'. Expected a strictly positive integer"),
    (lambda: MaxPooling1D(pool_size=0), r"argument `pool_size` must hold strictly positive ints"),
]


@pytest.mark.parametrize("make, message", ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_argument_errors(make, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises((ValueError, TypeError), match=message):
            make()


SHAPE_ERRORS = [
    (lambda: Conv1D(2, 5), (None, 4, 3), r"Conv1D '.*': input length 4 is shorter than the kernel length 5 "
                                          r"\(input shape \(None, 4, 3\)\)\. If your input_shape is \(channels, "
                                          r"steps\), use data_format='channels_first'"),
    (lambda: Conv1D(2, 3, dilation_rate=3), (None, 6, 3), r"input length 6 is shorter than the kernel length 7"),
    (lambda: MaxPooling1D(4), (None, 3, 2), r"MaxPooling1D '.*': input length 3 is shorter than the pool length 4"),
    (lambda: Conv1D(2, 3), (None, 8), r"Conv1D '.*': expected a 3-D input \(batch, steps, channels\) or "
                                      r"\(batch, channels, steps\), received input shape \(None, 8\)"),
    (lambda: GlobalAveragePooling1D(), (None, 4, 4, 2), r"GlobalAveragePooling1D '.*': expected a 3-D input"),
    (lambda: Conv1D(2, 3, groups=2), (None, 8, 3), r"Conv1D '.*': the number of input channels must be divisible "
                                                   r"by the number of groups; received groups=2 for an input of "
                                                   r"shape \(None, 8, 3\) \(3 channels\)"),
    (lambda: Conv1D(2, 3), (None, 8, None), r"Conv1D '.*': the channel axis must be known"),
    (lambda: Cropping1D((2, 3)), (None, 5, 2), r"Cropping1D '.*': cropping \(2, 3\) leaves nothing of an input of "
                                               r"shape \(None, 5, 2\)"),
    (lambda: Conv1DTranspose(2, 2, padding="same", output_padding=0), (None, 1, 2),
     r"Conv1DTranspose '.*': an input of shape \(None, 1, 2\) gives an empty output \(0 steps\)"),
]


@pytest.mark.parametrize("make, shape, message", SHAPE_ERRORS, ids=[m[:40] for _, _, m in SHAPE_ERRORS])
def test_input_shape_errors(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make().build_for(shape)


def test_built_layer_refuses_other_channels():
    layer = Conv1D(2, 3)
    layer(_batch((6, 3)))
    with pytest.raises(ValueError, match=r"Conv1D '.*': expected 3 input channels \(channels_last\), received "
                                         r"input shape \(None, 6, 4\)"):
        layer(_batch((6, 4)))
    with pytest.raises(ValueError, match=r"input length 2 is shorter than the kernel length 3"):
        layer(_batch((2, 3)))


@pytest.mark.parametrize("name", ["kerasette.layers.convolutional.conv1d", "kerasette.layers.convolutional.separable1d",
                                  "kerasette.layers.convolutional.transpose1d", "kerasette.layers.pooling1d"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_inference_batch_normalization_folds_into_conv1d(data_format):
    from kerasette.backend.tensor import Tensor
    from kerasette.models.planner import Plan

    axis = 1 if data_format == "channels_first" else -1
    shape = (4, 12) if data_format == "channels_first" else (12, 4)
    model = Sequential([layers.Input(shape=shape), Conv1D(6, 3, padding="causal", data_format=data_format),
                        layers.BatchNormalization(axis=axis), layers.Activation("relu"),
                        Conv1D(3, 2, activation="tanh", data_format=data_format),
                        layers.BatchNormalization(axis=axis)])
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):  # statistics far from the initial ones
            c = layer.moving_mean.shape
            layer.set_weights([rng.uniform(0.5, 2, c), rng.standard_normal(c), rng.standard_normal(c),
                               rng.uniform(0.2, 3, c)])
    plan = Plan(model.inputs, model.outputs)
    assert sum(step.fold is not None for step in plan.inference_steps) == 1  # not into the tanh one
    x = _batch(shape, n=32)
    unfolded = Plan(model.inputs, model.outputs, fold=False).run([Tensor(x)], training=False)[0].data
    np.testing.assert_allclose(model.predict(x, verbose=0), unfolded, rtol=1e-5, atol=1e-5)


def _keras1_sequence_file(path, weights, backend=None):
    """A Keras 1.2 full-model file, written in its exact layout: Convolution1D (kernel stored
    (k, 1, in, filters), ``input_dim``/``input_length`` beside ``batch_input_shape``),
    ZeroPadding1D, AtrousConvolution1D, MaxPooling1D with ``pool_length``, UpSampling1D with
    ``length``, GlobalMaxPooling1D, Dense."""
    import json

    import h5py

    common = {"init": "glorot_uniform", "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
              "W_constraint": None, "b_constraint": None, "bias": True, "trainable": True}
    config = [
        {"class_name": "Convolution1D", "config": {**common, "name": "convolution1d_1", "nb_filter": 4,
                                                   "filter_length": 3, "activation": "relu", "border_mode": "same",
                                                   "subsample_length": 1, "input_dim": 3, "input_length": 10,
                                                   "batch_input_shape": [None, 10, 3], "input_dtype": "float32"}},
        {"class_name": "ZeroPadding1D", "config": {"name": "zeropadding1d_1", "trainable": True, "padding": 1}},
        {"class_name": "AtrousConvolution1D", "config": {**common, "name": "atrousconvolution1d_1", "nb_filter": 2,
                                                         "filter_length": 2, "activation": "linear",
                                                         "border_mode": "valid", "subsample_length": 1,
                                                         "atrous_rate": 2, "input_dim": None, "input_length": None}},
        {"class_name": "MaxPooling1D", "config": {"name": "maxpooling1d_1", "trainable": True, "pool_length": 2,
                                                  "stride": None, "border_mode": "valid"}},
        {"class_name": "UpSampling1D", "config": {"name": "upsampling1d_1", "trainable": True, "length": 2}},
        {"class_name": "GlobalMaxPooling1D", "config": {"name": "globalmaxpooling1d_1", "trainable": True}},
        {"class_name": "Dense", "config": {**common, "name": "dense_1", "output_dim": 2, "activation": "softmax",
                                           "input_dim": None}},
    ]
    stored = {"convolution1d_1": [("convolution1d_1_W", weights[0][:, None]), ("convolution1d_1_b", weights[1])],
              "zeropadding1d_1": [],
              "atrousconvolution1d_1": [("atrousconvolution1d_1_W", weights[2][:, None]),
                                        ("atrousconvolution1d_1_b", weights[3])],
              "maxpooling1d_1": [], "upsampling1d_1": [], "globalmaxpooling1d_1": [],
              "dense_1": [("dense_1_W", weights[4]), ("dense_1_b", weights[5])]}

    def names(group, key, values):
        group.attrs[key] = [v.encode("utf8") for v in values] if values else np.zeros((0,), "float64")

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        if backend is not None:
            f.attrs["backend"] = backend.encode("utf8")
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": config}).encode("utf8")
        group = f.create_group("model_weights")
        names(group, "layer_names", list(stored))
        for layer, items in stored.items():
            g = group.create_group(layer)
            names(g, "weight_names", [name for name, _ in items])
            for name, value in items:
                g.create_dataset(name, data=value)


@pytest.mark.parametrize("backend", [None, "tensorflow", "theano"])
def test_keras1_sequence_model_file_loads(tmp_path, backend):
    from kerasette.models import load_model

    rng = np.random.default_rng(3)
    weights = [rng.uniform(-0.5, 0.5, s).astype("float32") for s in [(3, 3, 4), (4,), (2, 4, 2), (2,), (2, 2), (2,)]]
    _keras1_sequence_file(tmp_path / "k1.h5", weights, backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader says when it flips Theano's kernels
        model = load_model(tmp_path / "k1.h5")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv1D", "ZeroPadding1D", "Conv1D", "MaxPooling1D", "UpSampling1D", "GlobalMaxPooling1D", "Dense"]
    assert model.input_shape == (None, 10, 3) and model.layers[2].dilation_rate == (2,)
    x = _batch((10, 3), n=4)
    flip = backend == "theano"  # Theano's true convolution: the taps reversed
    k1, k2 = (weights[0][::-1], weights[2][::-1]) if flip else (weights[0], weights[2])
    h = np.maximum(conv1d_reference(x, k1, weights[1], padding="same"), 0)
    h = conv1d_reference(np.pad(h, ((0, 0), (1, 1), (0, 0))), k2, weights[3], dilation=2)
    h = h[:, : h.shape[1] // 2 * 2].reshape(4, -1, 2, 2).max(axis=2)
    h = np.repeat(h, 2, axis=1).max(axis=1) @ weights[4] + weights[5]
    expected = np.exp(h) / np.exp(h).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
