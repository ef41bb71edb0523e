"""Layer table entries for the convolution variants: dilated and grouped Conv2D, DepthwiseConv2D,
SeparableConv2D, in both data formats.

Each entry has a numpy reference (`REFERENCES`, by id), which ``tests/layers/test_conv_variants.py``
checks at the float32 tolerance of a convolution (rtol 1e-4, atol 1e-5: a sum of dozens of float32
products is off by a few 1e-6 where its terms cancel, beyond the table's generic 1e-6)."""

from __future__ import annotations

import numpy as np

from kerasette import layers
from tests.backend.conv_variants_op_cases import conv_reference, depthwise_reference
from tests.layers.specs import Spec

CF = (0, 3, 1, 2)  # channels-last -> channels-first
CL = (0, 2, 3, 1)


def _weights(layer):
    return [np.asarray(w, np.float64) for w in layer.get_weights()]


def _conv(make, data_format="channels_last"):
    """A Spec reference: the layer's own weights through `conv_reference`."""
    layer = make()

    def reference(x):
        if not layer.built:
            layer.build_for((None,) + x.shape[1:])
        k, b = _weights(layer) if layer.use_bias else (_weights(layer)[0], None)
        xl = x.transpose(CL) if data_format == "channels_first" else x
        y = conv_reference(xl, k, b, layer.strides, layer.padding, layer.dilation_rate, layer.groups)
        y = np.maximum(y, 0) if layer.get_config()["activation"] == "relu" else y
        return y.transpose(CF) if data_format == "channels_first" else y

    return (lambda: layer), reference


def _depthwise(make, data_format="channels_last"):
    layer = make()

    def reference(x):
        if not layer.built:
            layer.build_for((None,) + x.shape[1:])
        weights = _weights(layer)
        xl = x.transpose(CL) if data_format == "channels_first" else x
        z = depthwise_reference(xl, weights[0], None, layer.strides, layer.padding, layer.dilation_rate)
        if isinstance(layer, layers.SeparableConv2D):
            z = z @ weights[1][0, 0]
        if layer.use_bias:
            z = z + weights[-1]
        z = np.maximum(z, 0) if layer.get_config()["activation"] == "relu" else z
        return z.transpose(CF) if data_format == "channels_first" else z

    return (lambda: layer), reference


#: id -> (make, reference): the reference reads the weights of the layer the latest ``make`` made
REFERENCES: dict = {}


def _spec(id_, kind, make, input_shape, n_weights, n_params, names=None, data_format="channels_last"):
    """One entry, and its reference in `REFERENCES`."""
    latest = {}

    def make_layer():
        latest["layer"], latest["reference"] = kind(make, data_format)
        return latest["layer"]()

    REFERENCES[id_] = (make_layer, lambda x: latest["reference"](x))
    return Spec(id_, make_layer, input_shape, n_weights, n_params, None, names)


SEP_NAMES = ("depthwise_kernel", "pointwise_kernel", "bias")

SPECS = [
    _spec("conv2d-dilated-same", _conv, lambda: layers.Conv2D(4, 3, dilation_rate=2, padding="same"),
          (7, 8, 3), 2, 3 * 3 * 3 * 4 + 4),
    _spec("conv2d-dilated-valid-uneven", _conv, lambda: layers.Conv2D(2, (2, 3), dilation_rate=(3, 2),
                                                                      activation="relu"), (8, 9, 2), 2, 26),
    _spec("conv2d-grouped", _conv, lambda: layers.Conv2D(6, 3, groups=2, padding="same", strides=2),
          (6, 7, 4), 2, 3 * 3 * 2 * 6 + 6),
    _spec("conv2d-grouped-one-channel-each", _conv, lambda: layers.Conv2D(6, 3, groups=3, use_bias=False),
          (5, 5, 3), 1, 54),
    _spec("conv2d-grouped-dilated-channels_first", _conv,
          lambda: layers.Conv2D(4, 3, groups=2, dilation_rate=2, padding="same", data_format="channels_first"),
          (4, 7, 6), 2, 3 * 3 * 2 * 4 + 4, data_format="channels_first"),
    _spec("depthwise", _depthwise, lambda: layers.DepthwiseConv2D(3, padding="same", bias_initializer="ones"),
          (6, 5, 3), 2, 27 + 3),
    _spec("depthwise-multiplier-strides-relu", _depthwise,
          lambda: layers.DepthwiseConv2D((3, 2), strides=2, depth_multiplier=2, activation="relu"), (7, 6, 3),
          2, 3 * 2 * 3 * 2 + 6),
    _spec("depthwise-dilated-no-bias", _depthwise,
          lambda: layers.DepthwiseConv2D(3, dilation_rate=2, use_bias=False, padding="same"), (8, 7, 2), 1, 18,
          ("kernel",)),
    _spec("depthwise-channels_first", _depthwise,
          lambda: layers.DepthwiseConv2D(3, depth_multiplier=3, data_format="channels_first"), (2, 5, 6), 2,
          3 * 3 * 2 * 3 + 6, data_format="channels_first"),
    _spec("separable", _depthwise, lambda: layers.SeparableConv2D(5, 3, padding="same"), (6, 6, 3), 3,
          27 + 3 * 5 + 5, SEP_NAMES),
    _spec("separable-multiplier-strides-relu", _depthwise,
          lambda: layers.SeparableConv2D(4, (2, 3), strides=(2, 1), depth_multiplier=2, activation="relu"),
          (7, 6, 2), 3, 2 * 3 * 2 * 2 + 4 * 4 + 4, SEP_NAMES),
    _spec("separable-dilated-no-bias", _depthwise,
          lambda: layers.SeparableConv2D(3, 3, dilation_rate=2, use_bias=False), (7, 7, 2), 2, 18 + 6,
          SEP_NAMES[:2]),
    _spec("separable-channels_first", _depthwise,
          lambda: layers.SeparableConv2D(4, 3, padding="same", data_format="channels_first"), (3, 5, 5), 3,
          27 + 12 + 4, SEP_NAMES, data_format="channels_first"),
]
