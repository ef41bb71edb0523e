"""The 3-D image family as layers: values against numpy references, float64 gradient checks
through the layers, both data formats, Keras 1 forms, configs and weights (Theano's kernel order),
the Keras 1 module paths, a folded BatchNormalization at inference, and every error the layers
raise (each message matched)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kerasette import layers, registry
from kerasette.layers import (
    AveragePooling3D,
    BatchNormalization,
    Conv3D,
    Conv3DTranspose,
    Convolution3D,
    Cropping3D,
    GlobalAveragePooling3D,
    GlobalMaxPooling3D,
    MaxPooling3D,
    UpSampling3D,
    ZeroPadding3D,
)
from kerasette.models import Sequential
from tests.helpers import check_gradients
from tests.layers.specs.conv3d import REFERENCES, SPECS, TO_FIRST, TO_LAST


def _batch(shape, n=3, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal((n,) + tuple(shape)).astype(dtype)


@pytest.mark.parametrize("entry", sorted(REFERENCES))
def test_layer_matches_its_reference(entry):
    spec = next(s for s in SPECS if s.id == entry)
    make, reference = REFERENCES[entry]
    x = _batch(spec.input_shape)
    np.testing.assert_allclose(make()(x).data, reference(x), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------ gradients
def _through(layer, names):
    """A function of (x, *weights) calling the layer with those weights swapped in."""

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


@pytest.mark.parametrize("make, shape", [
    (lambda: Conv3D(4, (2, 3, 2), strides=(1, 2, 1), padding="same", groups=2, dtype="float64"), (3, 5, 4, 4)),
    (lambda: Conv3D(2, 2, dilation_rate=(1, 2, 2), data_format="channels_first", dtype="float64"), (2, 3, 5, 4)),
    (lambda: Conv3DTranspose(3, (2, 3, 2), strides=(2, 1, 2), padding="same", output_padding=(1, 0, 0),
                             dtype="float64"), (2, 3, 2, 2)),
    (lambda: Conv3DTranspose(2, 2, dilation_rate=2, data_format="channels_first", dtype="float64"), (2, 2, 3, 2)),
], ids=["grouped-strided-same", "dilated-channels_first", "transpose-strided", "transpose-dilated-channels_first"])
def test_gradients_through_conv3d(make, shape):
    layer = make()
    layer.build_for((None,) + shape)
    weights = [np.asarray(layer.kernel.data), np.asarray(layer.bias.data) + 0.1]
    check_gradients(_through(layer, ("kernel", "bias")), [_batch(shape, n=2, dtype="float64"), *weights])


@pytest.mark.parametrize("make", [
    lambda: MaxPooling3D((2, 3, 2), strides=(1, 2, 2), padding="same", dtype="float64"),
    lambda: AveragePooling3D(2, padding="same", data_format="channels_first", dtype="float64"),
    lambda: UpSampling3D((2, 1, 2), dtype="float64"),
    lambda: UpSampling3D(2, data_format="channels_first", dtype="float64"),
    lambda: ZeroPadding3D(((1, 0), (0, 1), (2, 1)), dtype="float64"),
    lambda: Cropping3D(((1, 0), (0, 1), (1, 1)), data_format="channels_first", dtype="float64"),
    lambda: GlobalMaxPooling3D(dtype="float64"),
    lambda: GlobalAveragePooling3D(keepdims=True, dtype="float64"),
], ids=["maxpool", "avgpool-cf", "upsampling", "upsampling-cf", "zero-padding", "cropping-cf", "global-max",
        "global-avg"])
def test_gradients_through_weightless_layers(make):
    layer = make()
    rng = np.random.default_rng(1)
    x = rng.permutation(2 * 3 * 4 * 5 * 3).reshape(2, 3, 4, 5, 3) / 10.0  # distinct: no ties in max pooling
    check_gradients(lambda t: layer.call(t), [x])


# ------------------------------------------------------------------------------ data formats
@pytest.mark.parametrize("make", [
    lambda df: Conv3D(4, (2, 3, 2), strides=(2, 1, 1), padding="same", activation="relu", data_format=df),
    lambda df: Conv3DTranspose(2, (2, 3, 2), strides=(2, 1, 3), output_padding=(1, 0, 2), data_format=df),
    lambda df: MaxPooling3D((2, 2, 3), strides=(1, 2, 1), padding="same", data_format=df),
    lambda df: AveragePooling3D(3, strides=2, padding="same", data_format=df),
    lambda df: UpSampling3D((1, 2, 3), data_format=df),
    lambda df: ZeroPadding3D(((0, 1), (2, 0), (1, 1)), data_format=df),
    lambda df: Cropping3D(((0, 1), (2, 0), (1, 1)), data_format=df),
    lambda df: GlobalMaxPooling3D(data_format=df),
    lambda df: GlobalAveragePooling3D(data_format=df, keepdims=True),
])
def test_channels_first_equals_channels_last(make):
    x = _batch((5, 6, 4, 3), n=2)
    last, first = make("channels_last"), make("channels_first")
    last.build_for((None, 5, 6, 4, 3))
    first.build_for((None, 3, 5, 6, 4))
    first.set_weights(last.get_weights())
    y_last, y_first = last(x).data, first(x.transpose(TO_FIRST)).data
    if y_last.ndim == 5:
        y_first = y_first.transpose(TO_LAST)
    np.testing.assert_allclose(y_first, y_last, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ Keras 1 and configs
def test_keras1_convolution3d_forms_and_their_warning():
    with pytest.warns(DeprecationWarning, match=r"Convolution3D\(nb_filter, kernel_dim1, kernel_dim2, kernel_dim3\)"):
        layer = Convolution3D(8, 3, 2, 1, border_mode="same", subsample=(2, 1, 1), dim_ordering="th",
                              W_regularizer="l2", bias=False, init="he_normal")
    assert type(layer) is Conv3D
    assert (layer.filters, layer.kernel_size, layer.padding, layer.strides) == (8, (3, 2, 1), "same", (2, 1, 1))
    assert (layer.data_format, layer.use_bias, layer.kernel_regularizer is not None) == ("channels_first", False, True)
    with pytest.warns(DeprecationWarning, match=r"init -> kernel_initializer.*border_mode -> padding"):
        layer = Convolution3D(4, 2, 2, 2, "he_normal", "relu", None, "same", (1, 2, 2))
    assert (layer.kernel_size, layer.padding, layer.strides) == ((2, 2, 2), "same", (1, 2, 2))
    assert layer.get_config()["activation"] == "relu"
    assert layer.get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    with pytest.warns(DeprecationWarning, match="kernel_dim1/kernel_dim2/kernel_dim3"):
        layer = Convolution3D(nb_filter=2, kernel_dim1=1, kernel_dim2=2, kernel_dim3=3)
    assert (layer.filters, layer.kernel_size) == (2, (1, 2, 3))
    config = {"name": "c", "nb_filter": 4, "kernel_dim1": 2, "kernel_dim2": 2, "kernel_dim3": 2, "border_mode": "valid",
              "subsample": [1, 1, 1], "dim_ordering": "tf", "init": "glorot_uniform", "activation": "relu",
              "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
              "b_constraint": None, "bias": True, "trainable": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        layer = Conv3D.from_config(Conv3D.translate_config(config))
    assert (layer.filters, layer.kernel_size, layer.data_format) == (4, (2, 2, 2), "channels_last")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pool = MaxPooling3D.from_config(MaxPooling3D.translate_config(
            {"name": "p", "pool_size": [2, 2, 2], "strides": None, "border_mode": "same", "dim_ordering": "th"}))
    assert (pool.padding, pool.data_format, pool.strides) == ("same", "channels_first", (2, 2, 2))


class _Origin:
    """What a Keras file tells a layer's converter (see `kerasette.saving`)."""

    def __init__(self, keras1: bool, theano: bool):
        self.is_keras1, self.theano = keras1, theano

    def flip_for(self, layer, theano_order):
        return self.theano


@pytest.mark.parametrize("theano", [False, True])
def test_keras1_theano_kernel_order_loads(theano):
    layer = Conv3D(4, (3, 2, 1), data_format="channels_first")
    layer.build_for((None, 2, 5, 5, 5))
    stored = np.arange(4 * 2 * 3 * 2 * 1, dtype="float32").reshape(4, 2, 3, 2, 1)  # (filters, in, d, r, c)
    convert = layer.stored_weight_converter(layer.kernel, stored.shape, _Origin(True, theano))
    expected = stored.transpose(2, 3, 4, 1, 0)
    if theano:
        expected = expected[::-1, ::-1, ::-1]
    np.testing.assert_array_equal(convert(stored), expected)
    same = layer.stored_weight_converter(layer.kernel, (3, 2, 1, 2, 4), _Origin(False, False))
    np.testing.assert_array_equal(same(expected), expected)
    assert layer.stored_weight_converter(layer.bias, (4,), _Origin(True, theano)) is None
    assert layer.stored_weight_converter(layer.kernel, (4, 2, 3), _Origin(False, False)) is None


def test_keras3_config_of_conv3d():
    config = Conv3D(4, 3, name="c", groups=2, dilation_rate=2).get_config()
    assert {k: config[k] for k in ("kernel_size", "strides", "dilation_rate", "groups", "padding")} == {
        "kernel_size": [3, 3, 3], "strides": [1, 1, 1], "dilation_rate": [2, 2, 2], "groups": 2, "padding": "valid"}


def test_registered_names_and_keras1_module_paths():
    from kerasette.layers import convolutional, pooling

    for alias, cls in [("Convolution3D", Conv3D), ("Deconvolution3D", Conv3DTranspose),
                       ("Convolution3DTranspose", Conv3DTranspose), ("MaxPool3D", MaxPooling3D), ("AvgPool3D", AveragePooling3D),
                       ("GlobalMaxPool3D", GlobalMaxPooling3D), ("GlobalAvgPool3D", GlobalAveragePooling3D)]:
        assert registry.get("layer", alias) is cls
        assert getattr(layers, alias) is cls
    for name in ("Conv3D", "Convolution3D", "Conv3DTranspose", "Deconvolution3D", "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D",
                 "GlobalAveragePooling3D", "UpSampling3D", "ZeroPadding3D", "Cropping3D"):
        assert getattr(convolutional, name) is getattr(layers, name)
        assert name in convolutional.__all__
    for name in ("MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D", "GlobalAveragePooling3D"):
        assert getattr(pooling, name) is getattr(layers, name)


def test_inference_batch_normalization_after_conv3d_is_folded_and_exact():
    model = Sequential([layers.InputLayer(input_shape=(4, 5, 4, 2)), Conv3D(3, 2, padding="same"),
                        BatchNormalization(), GlobalAveragePooling3D()])
    rng = np.random.default_rng(0)
    bn = model.layers[-2]
    bn.set_weights([rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3), rng.uniform(0.5, 2, 3)])
    x = _batch((4, 5, 4, 2), n=2)
    gamma, beta, mean, var = bn.get_weights()
    z = model.layers[0](x).data
    expected = ((z - mean) / np.sqrt(var + bn.epsilon) * gamma + beta).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    assert model.layers[0].output_affine_folder(4, 5) is not None
    assert model.layers[0].output_affine_folder(3, 5) is None


def test_a_small_volume_classifier_learns():
    from kerasette.utils import set_random_seed

    set_random_seed(1)  # the weights too: the test must not depend on what ran before it
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 32).astype("float32")
    x = (rng.standard_normal((32, 4, 6, 6, 1)) + (2 * y - 1)[:, None, None, None, None] * 0.3).astype("float32")
    model = Sequential([layers.InputLayer(input_shape=(4, 6, 6, 1)), Conv3D(4, 3, padding="same", activation="relu"),
                        MaxPooling3D((1, 2, 2)), Conv3D(4, (2, 1, 1)), GlobalAveragePooling3D(),
                        layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * first


# ------------------------------------------------------------------------------ errors
ERRORS = [
    (lambda: Conv3D(0, 3), r"argument `filters` of Conv3D '.*'. Expected a strictly positive integer. Received filters=0"),
    (lambda: Conv3D(2, (3, 3)), r"Conv3D '.*': argument `kernel_size` must be an int or a tuple of 3 ints; "
                                r"received kernel_size=\(3, 3\)"),
    (lambda: Conv3D(2, 3, padding="full"), r"Conv3D '.*': argument `padding` must be one of \('valid', 'same'\); "
                                           r"received padding='full'"),
    (lambda: Conv3D(2, 3, data_format="nchw"), r"Conv3D '.*': argument `data_format` must be 'channels_last' or "
                                               r"'channels_first'; received data_format='nchw'"),
    (lambda: Conv3D(2, 3, strides=2, dilation_rate=2), r"Conv3D '.*': strides greater than 1 cannot be combined with "
                                                       r"a dilation_rate greater than 1; received strides=\(2, 2, 2\), "
                                                       r"dilation_rate=\(2, 2, 2\)"),
    (lambda: Conv3D(3, 3, groups=2), r"Conv3D '.*': the number of filters must be divisible by the number of groups; "
                                     r"received filters=3, groups=2"),
    (lambda: Conv3D(2, 3, groups=0), r"argument `groups` of Conv3D '.*'. Expected a strictly positive integer. "
                                     r"Received groups=0"),
    (lambda: Conv3D(4, 3, groups=2).build_for((None, 5, 5, 5, 3)),
     r"Conv3D '.*': the number of input channels must be divisible by the number of groups; received groups=2 for "
     r"an input of shape \(None, 5, 5, 5, 3\) \(3 channels\)"),
    (lambda: Conv3D(4, 3).build_for((None, 5, 5, 5, None)),
     r"Conv3D '.*': the channel axis must be known; received input shape \(None, 5, 5, 5, None\)"),
    (lambda: Conv3D(4, 3).build_for((None, 5, 2, 5, 3)),
     r"Conv3D '.*': input height 2 is smaller than the kernel height 3 \(input shape \(None, 5, 2, 5, 3\)\). If "
     r"your input_shape is \(channels, depth, rows, cols\), use data_format='channels_first'."),
    (lambda: Conv3D(4, (1, 1, 3), dilation_rate=(1, 1, 2)).build_for((None, 5, 5, 4, 3)),
     r"Conv3D '.*': input width 4 is smaller than the kernel width 5"),
    (lambda: Conv3D(4, 3).build_for((None, 5, 5, 3)),
     r"Conv3D '.*': expected a 5-D input \(batch, depth, rows, cols, channels\) or \(batch, channels, depth, rows, "
     r"cols\), received input shape \(None, 5, 5, 3\)"),
    (lambda: Convolution3D(4, kernel_dim1=3, kernel_dim2=3),
     r"Convolution3D: Keras 1's kernel size needs kernel_dim1, kernel_dim2 and kernel_dim3; missing kernel_dim3"),
    (lambda: Conv3DTranspose(2, 3, strides=2, dilation_rate=2),
     r"Conv3DTranspose '.*': strides above 1 and dilation_rate above 1 cannot be used together \(Keras's rule\); "
     r"received strides=2, dilation_rate=2"),
    (lambda: Conv3DTranspose(2, 3, strides=2, output_padding=(1, 1)),
     r"Conv3DTranspose '.*': argument `output_padding` must be None, an int or three ints >= 0; received "
     r"output_padding=\(1, 1\)"),
    (lambda: Conv3DTranspose(2, 3, strides=(2, 1, 2), output_padding=1),
     r"Conv3DTranspose '.*': each value of `output_padding` must be smaller than its stride; received "
     r"output_padding=1 with strides=\(2, 1, 2\) \(axis 1: 1 >= 1\)"),
    (lambda: Conv3DTranspose(2, 3).build_for((None, 4, 4, 4, None)),
     r"Conv3DTranspose '.*': the channel axis must be known; received input shape \(None, 4, 4, 4, None\)"),
    (lambda: Conv3DTranspose(2, 3).build_for((None, 4, 4, 4)), r"Conv3DTranspose '.*': expected a 5-D input"),
    (lambda: Conv3DTranspose(2, (2, 2)), r"Conv3DTranspose '.*': argument `kernel_size` must be an int or a tuple "
                                         r"of 3 ints; received kernel_size=\(2, 2\)"),
    (lambda: Convolution3D(4, 2, 2, 2, "zero", init="zero"), r"Convolution3D: got `init` both positionally and as "
                                                             r"a keyword"),
    (lambda: Convolution3D(4, 2, 2, 2, "zero", None, None, "valid", 1, "tf", None),
     r"Convolution3D takes at most 10 positional arguments in Keras 1's form; received 11"),
    (lambda: MaxPooling3D(pool_size=(2, 2)), r"MaxPooling3D '.*': argument `pool_size` must be an int or a tuple of 3 "
                                             r"ints; received pool_size=\(2, 2\)"),
    (lambda: MaxPooling3D(padding="causal"), r"MaxPooling3D '.*': argument `padding` must be one of \('valid', "
                                             r"'same'\); received padding='causal'"),
    (lambda: AveragePooling3D(strides=0), r"AveragePooling3D '.*': argument `strides` must hold strictly positive "
                                          r"ints; received strides=0"),
    (lambda: MaxPooling3D(3).build_for((None, 2, 5, 5, 1)),
     r"MaxPooling3D '.*': input depth 2 is smaller than the pool depth 3 \(input shape \(None, 2, 5, 5, 1\)\)"),
    (lambda: AveragePooling3D(2, data_format="channels_first").build_for((None, 3, 1, 5, 5)),
     r"AveragePooling3D '.*': input depth 1 is smaller than the pool depth 2 \(input shape \(None, 3, 1, 5, 5\)\)\.$"),
    (lambda: GlobalMaxPooling3D(data_format="x"), r"GlobalMaxPooling3D '.*': argument `data_format` must be "
                                                  r"'channels_last' or 'channels_first'; received data_format='x'"),
    (lambda: GlobalAveragePooling3D().build_for((None, 3, 3, 3)),
     r"GlobalAveragePooling3D '.*': expected a 5-D input .*received input shape \(None, 3, 3, 3\)"),
    (lambda: ZeroPadding3D((1, 2)), r"ZeroPadding3D '.*': argument `padding` must be an int, three ints or three "
                                    r"pairs of ints; received padding=\(1, 2\)"),
    (lambda: ZeroPadding3D(-1), r"ZeroPadding3D '.*': argument `padding` must not be negative; received padding=-1"),
    (lambda: ZeroPadding3D(((1, 2), (1,), (0, 0))), r"ZeroPadding3D '.*': argument `padding` must be an int, three "
                                                    r"ints or three pairs of ints; received padding=\(\(1, 2\), \(1,\)"),
    (lambda: ZeroPadding3D(1).build_for((None, 3, 3, 3)), r"ZeroPadding3D '.*': expected a 5-D input"),
    (lambda: Cropping3D(((2, 2), (0, 0), (0, 0))).build_for((None, 4, 5, 5, 1)),
     r"Cropping3D '.*': cropping \(\(2, 2\), \(0, 0\), \(0, 0\)\) leaves nothing of an input of shape "
     r"\(None, 4, 5, 5, 1\); each axis must keep at least one value"),
    (lambda: Cropping3D("a"), r"Cropping3D '.*': argument `cropping` must be an int, three ints or three pairs of "
                              r"ints; received cropping='a'"),
    (lambda: Cropping3D(((0, -1), (0, 0), (0, 0))), r"Cropping3D '.*': argument `cropping` must not be negative"),
    (lambda: UpSampling3D((2, 2)), r"UpSampling3D '.*': argument `size` must be an int or three ints; "
                                   r"received size=\(2, 2\)"),
    (lambda: UpSampling3D(0), r"argument `size` of UpSampling3D '.*'. Expected a strictly positive integer. "
                              r"Received size=0"),
    (lambda: UpSampling3D(2, data_format="bad"), r"UpSampling3D '.*': argument `data_format` must be "
                                                 r"'channels_last' or 'channels_first'; received data_format='bad'"),
]


@pytest.mark.parametrize("make, message", ERRORS, ids=[f"error-{i}" for i in range(len(ERRORS))])
def test_errors(make, message):
    error = TypeError if message.startswith("Convolution3D") else ValueError
    with pytest.raises(error, match=message):
        make()


def test_a_cropping_too_large_for_the_data_is_refused_at_call():
    layer = Cropping3D(1)
    layer.build_for((None, None, 5, 5, 1))
    with pytest.raises(ValueError, match=r"Cropping3D '.*': cropping .* leaves nothing of an input of shape "
                                         r"\(None, 2, 5, 5, 1\)"):
        layer(np.ones((1, 2, 5, 5, 1), "float32"))
