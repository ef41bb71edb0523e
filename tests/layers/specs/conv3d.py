"""Layer table entries for the 3-D image family: Conv3D (valid, same, strided, dilated, grouped,
no bias, Keras 1's Convolution3D form), Conv3DTranspose (strided, output_padding, dilated), MaxPooling3D, AveragePooling3D, GlobalMaxPooling3D,
GlobalAveragePooling3D, UpSampling3D, ZeroPadding3D and Cropping3D, in both data formats and with
Keras 1's arguments (``border_mode``, ``subsample``, ``dim_ordering``).

The layers without weights carry their numpy reference in the entry (checked by the table at
1e-6). The convolutions' references read the weights of the layer the entry made last and are
kept in `REFERENCES` (by id): ``tests/layers/test_conv3d_layers.py`` checks them at a
convolution's float32 tolerance. The references are `tests.backend.conv3d_op_cases`'s slow
numpy ones, written from Keras's definitions.
"""

from __future__ import annotations

import warnings

import numpy as np

from kerasette import layers
from tests.backend.conv3d_op_cases import conv3d_reference, conv3d_transpose_reference, pool3d_reference
from tests.layers.specs import Spec

TO_LAST = (0, 2, 3, 4, 1)
TO_FIRST = (0, 4, 1, 2, 3)
CF = "channels_first"


def keras1(make):
    """A Keras 1 form (its DeprecationWarning is tested in test_conv3d_layers.py)."""

    def made():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return make()

    return made


def channels_first(reference):
    """A channels-last reference applied to a channels-first input and output."""
    return lambda x: reference(x.transpose(TO_LAST)).transpose(TO_FIRST)


def _conv(layer, x):
    weights = [np.asarray(w, np.float64) for w in layer.get_weights()]
    y = conv3d_reference(x, weights[0], weights[1] if layer.use_bias else None, layer.strides, layer.padding,
                         layer.dilation_rate, layer.groups)
    return np.maximum(y, 0) if layer.get_config()["activation"] == "relu" else y


def _transpose(layer, x):
    weights = [np.asarray(w, np.float64) for w in layer.get_weights()]
    y = conv3d_transpose_reference(x, weights[0], weights[1] if layer.use_bias else None, layer.strides,
                                   layer.padding, layer.output_padding, layer.dilation_rate)
    return np.maximum(y, 0) if layer.get_config()["activation"] == "relu" else y


#: id -> (make, reference): the reference reads the weights of the layer the latest ``make`` made
REFERENCES: dict = {}


def _conv_spec(id_, make, input_shape, n_weights, n_params, kind=_conv):
    latest = {}

    def make_layer():
        latest["layer"] = make()
        return latest["layer"]

    def reference(x):
        layer = latest["layer"]
        if not layer.built:
            layer.build_for((None,) + x.shape[1:])
        if layer.data_format == CF:
            return kind(layer, x.transpose(TO_LAST)).transpose(TO_FIRST)
        return kind(layer, x)

    REFERENCES[id_] = (make_layer, reference)
    return Spec(id_, make_layer, input_shape, n_weights, n_params)


def _pool(pool, strides, padding, reduce, data_format="channels_last"):
    reference = lambda x: pool3d_reference(x, pool, strides, padding, reduce)  # noqa: E731
    return channels_first(reference) if data_format == CF else reference


def _upsample(x, size, axes):
    for axis, factor in zip(axes, size):
        x = np.repeat(x, factor, axis=axis)
    return x


SPECS = [
    _conv_spec("conv3d-valid", lambda: layers.Conv3D(4, 2), (3, 4, 5, 2), 2, 2 * 2 * 2 * 2 * 4 + 4),
    _conv_spec("conv3d-same-strided-relu", lambda: layers.Conv3D(3, (3, 2, 3), strides=(2, 1, 2), padding="same",
                                                                 activation="relu", bias_initializer="ones"),
               (5, 4, 5, 2), 2, 3 * 2 * 3 * 2 * 3 + 3),
    _conv_spec("conv3d-dilated-same", lambda: layers.Conv3D(2, 2, dilation_rate=(2, 1, 2), padding="same"),
               (4, 4, 5, 3), 2, 8 * 3 * 2 + 2),
    _conv_spec("conv3d-grouped-no-bias", lambda: layers.Conv3D(6, (1, 2, 2), groups=2, use_bias=False),
               (3, 4, 4, 4), 1, 4 * 2 * 6),
    _conv_spec("conv3d-channels_first-same", lambda: layers.Conv3D(4, 3, padding="same", data_format=CF),
               (2, 3, 4, 5), 2, 27 * 2 * 4 + 4),
    _conv_spec("conv3d-channels_first-strided-grouped", lambda: layers.Conv3D(4, 2, strides=2, groups=2,
                                                                              data_format=CF),
               (4, 4, 5, 4), 2, 8 * 2 * 4 + 4),
    _conv_spec("convolution3d-keras1", keras1(lambda: layers.Convolution3D(3, 2, 3, 1, border_mode="same",
                                                                           subsample=(1, 2, 1), init="he_normal",
                                                                           W_regularizer="l2", dim_ordering="tf")),
               (3, 5, 4, 2), 2, 2 * 3 * 1 * 2 * 3 + 3),
    _conv_spec("convolution3d-keras1-th", keras1(lambda: layers.Convolution3D(2, 2, 2, 2, dim_ordering="th",
                                                                              bias=False)),
               (3, 3, 4, 4), 1, 8 * 3 * 2),
    _conv_spec("conv3d-transpose-valid", lambda: layers.Conv3DTranspose(3, 2), (2, 3, 2, 2), 2, 8 * 3 * 2 + 3,
               _transpose),
    _conv_spec("conv3d-transpose-same-strided-relu",
               lambda: layers.Conv3DTranspose(2, (3, 2, 3), strides=(2, 1, 2), padding="same", activation="relu",
                                              bias_initializer="ones"), (2, 3, 2, 3), 2, 18 * 2 * 3 + 2, _transpose),
    _conv_spec("conv3d-transpose-output-padding-channels_first",
               lambda: layers.Conv3DTranspose(2, 2, strides=(2, 3, 2), output_padding=(1, 2, 0), data_format=CF),
               (3, 2, 2, 3), 2, 8 * 2 * 3 + 2, _transpose),
    _conv_spec("conv3d-transpose-dilated-no-bias",
               lambda: layers.Deconvolution3D(2, 2, dilation_rate=(1, 2, 2), padding="same", use_bias=False),
               (3, 3, 3, 2), 1, 8 * 2 * 2, _transpose),
    # -- pooling ----------------------------------------------------------------------------------
    Spec("maxpool3d", lambda: layers.MaxPooling3D(), (4, 5, 4, 2), 0, 0, _pool((2, 2, 2), None, "valid", "max")),
    Spec("maxpool3d-same-strides", lambda: layers.MaxPooling3D((3, 2, 3), strides=(2, 1, 2), padding="same"),
         (5, 4, 5, 2), 0, 0, _pool((3, 2, 3), (2, 1, 2), "same", "max")),
    Spec("maxpool3d-channels_first", lambda: layers.MaxPool3D(2, strides=1, data_format=CF), (2, 3, 4, 3), 0, 0,
         _pool((2, 2, 2), (1, 1, 1), "valid", "max", CF)),
    Spec("maxpool3d-keras1", keras1(lambda: layers.MaxPooling3D((2, 2, 1), border_mode="same", dim_ordering="th")),
         (2, 3, 5, 4), 0, 0, _pool((2, 2, 1), None, "same", "max", CF)),
    Spec("avgpool3d", lambda: layers.AveragePooling3D(2, strides=1), (3, 4, 3, 2), 0, 0,
         _pool((2, 2, 2), (1, 1, 1), "valid", "mean")),
    Spec("avgpool3d-same-partial-window", lambda: layers.AveragePooling3D(3, strides=2, padding="same"),
         (4, 5, 3, 2), 0, 0, _pool((3, 3, 3), (2, 2, 2), "same", "mean")),
    Spec("avgpool3d-channels_first-same", lambda: layers.AvgPool3D((2, 3, 2), padding="same", data_format=CF),
         (2, 3, 5, 4), 0, 0, _pool((2, 3, 2), None, "same", "mean", CF)),
    Spec("global-maxpool3d", lambda: layers.GlobalMaxPooling3D(), (3, 4, 2, 3), 0, 0, lambda x: x.max((1, 2, 3))),
    Spec("global-maxpool3d-channels_first-keepdims", lambda: layers.GlobalMaxPool3D(data_format=CF, keepdims=True),
         (3, 2, 4, 2), 0, 0, lambda x: x.max((2, 3, 4), keepdims=True)),
    Spec("global-avgpool3d", lambda: layers.GlobalAveragePooling3D(), (3, 4, 2, 3), 0, 0,
         lambda x: x.mean((1, 2, 3))),
    Spec("global-avgpool3d-keepdims", lambda: layers.GlobalAvgPool3D(keepdims=True), (2, 3, 2, 3), 0, 0,
         lambda x: x.mean((1, 2, 3), keepdims=True)),
    Spec("global-avgpool3d-keras1-th", keras1(lambda: layers.GlobalAveragePooling3D(dim_ordering="th")),
         (3, 2, 4, 2), 0, 0, lambda x: x.mean((2, 3, 4))),
    # -- padding, cropping, upsampling --------------------------------------------------------------
    Spec("zero-padding3d", lambda: layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1))), (2, 3, 2, 2), 0, 0,
         lambda x: np.pad(x, ((0, 0), (1, 0), (0, 2), (1, 1), (0, 0)))),
    Spec("zero-padding3d-channels_first-int", lambda: layers.ZeroPadding3D(1, data_format=CF), (2, 2, 3, 2), 0, 0,
         lambda x: np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1), (1, 1)))),
    Spec("zero-padding3d-keras1", keras1(lambda: layers.ZeroPadding3D((2, 1, 0), dim_ordering="tf")),
         (2, 2, 2, 1), 0, 0, lambda x: np.pad(x, ((0, 0), (2, 2), (1, 1), (0, 0), (0, 0)))),
    Spec("cropping3d", lambda: layers.Cropping3D(((1, 0), (0, 2), (1, 1))), (3, 4, 4, 2), 0, 0,
         lambda x: x[:, 1:, :-2, 1:-1]),
    Spec("cropping3d-channels_first-ints", lambda: layers.Cropping3D((1, 0, 2), data_format=CF), (2, 4, 3, 5),
         0, 0, lambda x: x[:, :, 1:-1, :, 2:-2]),
    Spec("upsampling3d", lambda: layers.UpSampling3D((1, 2, 3)), (2, 3, 2, 2), 0, 0,
         lambda x: _upsample(x, (1, 2, 3), (1, 2, 3))),
    Spec("upsampling3d-channels_first", lambda: layers.UpSampling3D(2, data_format=CF), (2, 2, 3, 2), 0, 0,
         lambda x: _upsample(x, (2, 2, 2), (2, 3, 4))),
    Spec("upsampling3d-keras1-th", keras1(lambda: layers.UpSampling3D((2, 1, 2), dim_ordering="th")),
         (2, 2, 3, 2), 0, 0, lambda x: _upsample(x, (2, 1, 2), (2, 3, 4))),
]
