"""Layer table entries for the 1-D convolution family: Conv1D (valid, same, causal, strided,
dilated, grouped), DepthwiseConv1D, SeparableConv1D, Conv1DTranspose, the 1-D pooling layers,
ZeroPadding1D, Cropping1D and UpSampling1D, in both data formats where Keras has them.

The layers without weights carry their numpy reference in the entry (checked by the table at
1e-6). The convolutions' references read the weights of the layer the entry made last, and are
kept in `REFERENCES` (by id): ``tests/layers/test_conv1d_layers.py`` checks them at a
convolution's float32 tolerance (rtol 1e-4, atol 1e-5).

The references are plain numpy, one tap at a time, written from Keras's definitions (not from
the layers' code): 'same' pads ``max((out - 1) * s + k - n, 0)`` with the smaller half before,
'causal' pads ``(k - 1) * d`` before; a transposed convolution scatters each input step over
``k`` output steps and keeps Keras 3's window of the full result.
"""

from __future__ import annotations

import numpy as np

from kerasette import layers
from kerasette.utils.conv_transpose import transpose_crops
from tests.layers.specs import Spec

SWAP = (0, 2, 1)  # (batch, steps, channels) <-> (batch, channels, steps)


def _pad_steps(x, kernel_extent: int, stride: int, padding: str):
    """``x`` (N, W, C) padded along the steps as ``padding`` asks, in float64."""
    x = np.asarray(x, np.float64)
    steps = x.shape[1]
    if padding == "causal":
        before, after = kernel_extent - 1, 0
    elif padding == "same":
        out = -(-steps // stride)
        total = max((out - 1) * stride + kernel_extent - steps, 0)
        before, after = total // 2, total - total // 2
    else:
        before, after = 0, 0
    return np.pad(x, ((0, 0), (before, after), (0, 0))), before


def conv1d_reference(x, kernel, bias=None, stride=1, padding="valid", dilation=1, groups=1):
    """Channels-last cross-correlation of x (N, W, C) with kernel (k, C // groups, F)."""
    k, cin_g, filters = kernel.shape
    extent = (k - 1) * dilation + 1
    xp, _ = _pad_steps(x, extent, stride, padding)
    out_steps = (xp.shape[1] - extent) // stride + 1
    out = np.zeros((x.shape[0], out_steps, filters))
    f_g = filters // groups
    for t in range(out_steps):
        for j in range(k):
            step = xp[:, t * stride + j * dilation]
            for g in range(groups):
                out[:, t, g * f_g:(g + 1) * f_g] += step[:, g * cin_g:(g + 1) * cin_g] @ kernel[j, :, g * f_g:(g + 1) * f_g]
    return out if bias is None else out + bias


def depthwise1d_reference(x, kernel, stride=1, padding="valid", dilation=1):
    """Depthwise: the grouped convolution with one group per channel, kernel (k, C, m) seen as
    (k, 1, C * m) (output channel c * m + j from input channel c)."""
    k, channels, m = kernel.shape
    return conv1d_reference(x, kernel.reshape(k, 1, channels * m), None, stride, padding, dilation, channels)


def conv1d_transpose_reference(x, kernel, bias=None, stride=1, padding="valid", output_padding=None, dilation=1):
    """Channels-last transposed convolution of x (N, W, C) with kernel (k, F, C)."""
    x = np.asarray(x, np.float64)
    k, filters, _ = kernel.shape
    extent = (k - 1) * dilation + 1
    steps = x.shape[1]
    full = np.zeros((x.shape[0], (steps - 1) * stride + extent, filters))
    for i in range(steps):
        for j in range(k):
            full[:, i * stride + j * dilation] += x[:, i] @ kernel[j].T
    before, after = transpose_crops(steps, k, padding, output_padding, stride, dilation)
    if after < 0:
        full = np.pad(full, ((0, 0), (0, -after), (0, 0)))
        after = 0
    out = full[:, before:full.shape[1] - after]
    return out if bias is None else out + bias


def pool1d_reference(x, pool: int, stride: int | None, padding: str, reduce: str):
    """Max or mean over windows of x (N, W, C); 'same' leaves padded steps out of each window."""
    x = np.asarray(x, np.float64)
    stride = stride or pool
    steps = x.shape[1]
    if padding == "same":
        out_steps = -(-steps // stride)
        before = max((out_steps - 1) * stride + pool - steps, 0) // 2
    else:
        out_steps, before = (steps - pool) // stride + 1, 0
    out = np.empty((x.shape[0], out_steps, x.shape[2]))
    for t in range(out_steps):
        start = t * stride - before
        window = x[:, max(start, 0):min(start + pool, steps)]
        out[:, t] = window.max(axis=1) if reduce == "max" else window.mean(axis=1)
    return out


def _channels_first(reference):
    """A channels-last reference applied to a channels-first input and output."""
    return lambda x: reference(x.transpose(SWAP)).transpose(SWAP)


def _weights(layer):
    return [np.asarray(w, np.float64) for w in layer.get_weights()]


def _relu_if(layer, y):
    return np.maximum(y, 0) if layer.get_config()["activation"] == "relu" else y


def _conv(layer, x):
    k, b = _weights(layer) if layer.use_bias else (_weights(layer)[0], None)
    return _relu_if(layer, conv1d_reference(x, k, b, layer.strides[0], layer.padding, layer.dilation_rate[0],
                                            layer.groups))


def _depthwise(layer, x):
    weights = _weights(layer)
    z = depthwise1d_reference(x, weights[0], layer.strides[0], layer.padding, layer.dilation_rate[0])
    if isinstance(layer, layers.SeparableConv1D):
        z = z @ weights[1][0]
    if layer.use_bias:
        z = z + weights[-1]
    return _relu_if(layer, z)


def _transpose(layer, x):
    k, b = _weights(layer) if layer.use_bias else (_weights(layer)[0], None)
    pad = None if layer.output_padding is None else layer.output_padding[0]
    return _relu_if(layer, conv1d_transpose_reference(x, k, b, layer.strides[0], layer.padding, pad,
                                                      layer.dilation_rate[0]))


#: id -> (make, reference): the reference reads the weights of the layer the latest ``make`` made
REFERENCES: dict = {}


def _spec(id_, kind, make, input_shape, n_weights, n_params, names=None):
    """One convolution entry, and its reference (in either data format) in `REFERENCES`."""
    latest = {}

    def make_layer():
        latest["layer"] = make()
        return latest["layer"]

    def reference(x):
        layer = latest["layer"]
        if not layer.built:
            layer.build_for((None,) + x.shape[1:])
        if layer.data_format == "channels_first":
            return kind(layer, x.transpose(SWAP)).transpose(SWAP)
        return kind(layer, x)

    REFERENCES[id_] = (make_layer, reference)
    return Spec(id_, make_layer, input_shape, n_weights, n_params, None, names)


SEP_NAMES = ("depthwise_kernel", "pointwise_kernel", "bias")
CF = "channels_first"

SPECS = [
    _spec("conv1d-valid", _conv, lambda: layers.Conv1D(4, 3), (7, 3), 2, 3 * 3 * 4 + 4),
    _spec("conv1d-same-strides", _conv, lambda: layers.Conv1D(4, 3, strides=2, padding="same"), (8, 3), 2, 40),
    _spec("conv1d-same-even-kernel", _conv, lambda: layers.Conv1D(2, 4, padding="same"), (7, 3), 2, 4 * 3 * 2 + 2),
    _spec("conv1d-causal-dilated-relu", _conv,
          lambda: layers.Conv1D(3, 2, padding="causal", dilation_rate=2, activation="relu", bias_initializer="ones"),
          (9, 2), 2, 2 * 2 * 3 + 3),
    _spec("conv1d-causal-strided", _conv, lambda: layers.Conv1D(3, 3, padding="causal", strides=2), (8, 2), 2, 21),
    _spec("conv1d-grouped-no-bias", _conv, lambda: layers.Conv1D(6, 3, groups=2, padding="same", use_bias=False),
          (7, 4), 1, 3 * 2 * 6),
    _spec("conv1d-channels_first-causal-dilated", _conv,
          lambda: layers.Conv1D(4, 3, padding="causal", dilation_rate=2, data_format=CF), (3, 9), 2, 40),
    _spec("conv1d-channels_first-valid-grouped", _conv,
          lambda: layers.Conv1D(4, 2, groups=2, strides=2, data_format=CF), (4, 9), 2, 2 * 2 * 4 + 4),
    _spec("depthwise1d", _depthwise, lambda: layers.DepthwiseConv1D(3, depth_multiplier=2, padding="same"),
          (7, 3), 2, 3 * 3 * 2 + 6),
    _spec("depthwise1d-channels_first-strided", _depthwise,
          lambda: layers.DepthwiseConv1D(2, strides=2, data_format=CF, activation="relu", bias_initializer="ones"),
          (3, 8), 2, 2 * 3 + 3),
    _spec("depthwise1d-dilated-no-bias", _depthwise,
          lambda: layers.DepthwiseConv1D(3, dilation_rate=2, use_bias=False), (9, 2), 1, 6, ("kernel",)),
    _spec("separable1d", _depthwise, lambda: layers.SeparableConv1D(5, 3, depth_multiplier=2, activation="relu",
                                                                    bias_initializer="ones"),
          (8, 3), 3, 3 * 3 * 2 + 6 * 5 + 5, SEP_NAMES),
    _spec("separable1d-channels_first-dilated-no-bias", _depthwise,
          lambda: layers.SeparableConv1D(4, 3, dilation_rate=2, padding="same", data_format=CF, use_bias=False),
          (3, 9), 2, 9 + 12, SEP_NAMES[:2]),
    _spec("separable1d-strided", _depthwise, lambda: layers.SeparableConv1D(2, 2, strides=2, padding="same"),
          (7, 3), 3, 6 + 6 + 2, SEP_NAMES),
    _spec("conv1d-transpose-output-padding", _transpose, lambda: layers.Conv1DTranspose(4, 3, strides=2, output_padding=1),
          (5, 3), 2, 3 * 4 * 3 + 4),
    _spec("conv1d-transpose-same-even-channels_first", _transpose,
          lambda: layers.Conv1DTranspose(3, 4, strides=2, padding="same", data_format=CF), (2, 5), 2, 4 * 3 * 2 + 3),
    _spec("conv1d-transpose-dilated-same", _transpose,
          lambda: layers.Conv1DTranspose(2, 3, dilation_rate=2, padding="same"), (6, 3), 2, 3 * 2 * 3 + 2),
    _spec("conv1d-transpose-valid-stride-above-kernel", _transpose,
          lambda: layers.Conv1DTranspose(2, 2, strides=3, activation="relu", bias_initializer="ones"),
          (4, 2), 2, 2 * 2 * 2 + 2),
    # -- pooling ----------------------------------------------------------------------------------
    Spec("maxpool1d", lambda: layers.MaxPooling1D(), (7, 3), 0, 0, lambda x: pool1d_reference(x, 2, None, "valid", "max")),
    Spec("maxpool1d-same-strides", lambda: layers.MaxPooling1D(3, strides=2, padding="same"), (8, 2), 0, 0,
         lambda x: pool1d_reference(x, 3, 2, "same", "max")),
    Spec("maxpool1d-channels_first", lambda: layers.MaxPooling1D(2, strides=1, data_format=CF), (3, 6), 0, 0,
         _channels_first(lambda x: pool1d_reference(x, 2, 1, "valid", "max"))),
    Spec("avgpool1d-valid-strides1", lambda: layers.AveragePooling1D(3, strides=1), (6, 2), 0, 0,
         lambda x: pool1d_reference(x, 3, 1, "valid", "mean")),
    Spec("avgpool1d-same-partial-window", lambda: layers.AveragePooling1D(2, padding="same"), (7, 3), 0, 0,
         lambda x: pool1d_reference(x, 2, None, "same", "mean")),
    Spec("avgpool1d-channels_first-same", lambda: layers.AveragePooling1D(3, strides=2, padding="same",
                                                                           data_format=CF), (2, 8), 0, 0,
         _channels_first(lambda x: pool1d_reference(x, 3, 2, "same", "mean"))),
    Spec("global-maxpool1d", lambda: layers.GlobalMaxPooling1D(), (5, 3), 0, 0, lambda x: x.max(1)),
    Spec("global-maxpool1d-channels_first-keepdims", lambda: layers.GlobalMaxPooling1D(data_format=CF, keepdims=True),
         (3, 5), 0, 0, lambda x: x.max(2, keepdims=True)),
    Spec("global-avgpool1d", lambda: layers.GlobalAveragePooling1D(), (5, 3), 0, 0, lambda x: x.mean(1)),
    Spec("global-avgpool1d-keepdims", lambda: layers.GlobalAveragePooling1D(keepdims=True), (5, 3), 0, 0,
         lambda x: x.mean(1, keepdims=True)),
    Spec("global-avgpool1d-channels_first", lambda: layers.GlobalAveragePooling1D(data_format=CF), (3, 5), 0, 0,
         lambda x: x.mean(2)),
    # -- padding, cropping, upsampling --------------------------------------------------------------
    Spec("zero-padding1d", lambda: layers.ZeroPadding1D((1, 2)), (4, 3), 0, 0,
         lambda x: np.pad(x, ((0, 0), (1, 2), (0, 0)))),
    Spec("zero-padding1d-channels_first", lambda: layers.ZeroPadding1D(2, data_format=CF), (3, 4), 0, 0,
         lambda x: np.pad(x, ((0, 0), (0, 0), (2, 2)))),
    Spec("cropping1d", lambda: layers.Cropping1D((1, 2)), (6, 3), 0, 0, lambda x: x[:, 1:-2]),
    Spec("cropping1d-start-only", lambda: layers.Cropping1D((2, 0)), (5, 2), 0, 0, lambda x: x[:, 2:]),
    Spec("upsampling1d", lambda: layers.UpSampling1D(3), (4, 2), 0, 0, lambda x: np.repeat(x, 3, axis=1)),
]
