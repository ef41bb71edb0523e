"""Op test cases for the convolution variants: dilated and grouped ``conv2d``, ``depthwise_conv2d``.

`tests/backend/op_cases.py` appends these to its table (forward against the plain numpy
references below, float64 central-difference gradient checks). The shapes reach every path of
the engine: the phases of a stride-1 dilated convolution (with Winograd on enough channels), the
zero-spread kernel of a strided one, groups one convolution each, one input channel per group
(the depthwise kernels), depth multipliers, strides with dilation, channels in whole vectors and
a tail (float64 vectors hold 8 values with AVX-512, 4 with AVX).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.utils.conv_utils import padding_amounts


def conv_reference(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1, relu=False):
    """Slow NHWC cross-correlation with dilation and groups, in float64, one tap at a time.

    ``kernel`` is (kh, kw, C // groups, F); output channel ``f`` of group ``f // (F // groups)``
    reads input channels ``g * C // groups`` onwards, as in Keras.
    """
    x = np.asarray(x, np.float64)
    kh, kw, cin_g, cout = kernel.shape
    extent = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    top, bottom, left, right = padding_amounts(x.shape[1], x.shape[2], extent, strides, padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    rows = (xp.shape[1] - extent[0]) // strides[0] + 1
    cols = (xp.shape[2] - extent[1]) // strides[1] + 1
    out = np.zeros((x.shape[0], rows, cols, cout))
    f_g = cout // groups
    for i in range(kh):
        for k in range(kw):
            r0, c0 = i * dilation[0], k * dilation[1]
            tap = xp[:, r0 : r0 + (rows - 1) * strides[0] + 1 : strides[0],
                     c0 : c0 + (cols - 1) * strides[1] + 1 : strides[1]]
            for g in range(groups):
                out[..., g * f_g : (g + 1) * f_g] += (tap[..., g * cin_g : (g + 1) * cin_g]
                                                      @ kernel[i, k, :, g * f_g : (g + 1) * f_g])
    if bias is not None:
        out += bias
    return np.maximum(out, 0) if relu else out


def depthwise_reference(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation=(1, 1), relu=False):
    """Depthwise convolution with a (kh, kw, C, m) kernel: the grouped convolution with one group
    per input channel and the kernel seen as (kh, kw, 1, C * m)."""
    kh, kw, chans, m = kernel.shape
    return conv_reference(x, kernel.reshape(kh, kw, 1, chans * m), bias, strides, padding, dilation, chans, relu)


# (id, x shape, kernel shape, strides, padding, dilation, groups)
CONV_SETTINGS = [
    ("dilated-same", (2, 7, 6, 2), (3, 3, 2, 3), (1, 1), "same", (2, 2), 1),
    ("dilated-valid-uneven", (1, 9, 8, 3), (2, 3, 3, 2), (1, 1), "valid", (3, 2), 1),
    ("dilated-winograd", (1, 10, 9, 16), (3, 3, 16, 4), (1, 1), "same", (2, 2), 1),
    ("dilated-strided", (1, 9, 9, 2), (3, 2, 2, 3), (2, 1), "same", (2, 2), 1),
    ("grouped", (2, 5, 6, 4), (3, 3, 2, 6), (1, 1), "same", (1, 1), 2),
    ("grouped-strided-valid", (1, 7, 6, 6), (2, 3, 2, 3), (2, 2), "valid", (1, 1), 3),
    ("grouped-dilated", (1, 8, 8, 4), (3, 3, 2, 4), (1, 1), "same", (2, 1), 2),
    ("one-channel-groups", (2, 6, 5, 3), (3, 3, 1, 6), (1, 1), "same", (1, 1), 3),
    ("one-channel-groups-dilated-strided", (1, 9, 8, 2), (3, 2, 1, 2), (2, 2), "same", (2, 2), 2),
]

# (id, x shape, kernel shape (kh, kw, C, m), strides, padding, dilation)
DEPTHWISE_SETTINGS = [
    ("3x3-same", (2, 6, 7, 3), (3, 3, 3, 1), (1, 1), "same", (1, 1)),
    ("3x3-same-vectors-and-tail", (1, 5, 6, 11), (3, 3, 11, 1), (1, 1), "same", (1, 1)),
    ("3x3-valid-strided", (1, 7, 8, 9), (3, 3, 9, 1), (2, 2), "valid", (1, 1)),
    ("3x3-dilated", (1, 9, 9, 9), (3, 3, 9, 1), (1, 1), "same", (2, 3)),
    ("2x3-multiplier", (2, 5, 6, 3), (2, 3, 3, 2), (1, 1), "same", (1, 1)),
    ("multiplier-strided-dilated", (1, 9, 8, 2), (3, 2, 2, 3), (2, 3), "same", (2, 2)),
    ("5x5-valid", (1, 8, 7, 4), (5, 5, 4, 1), (1, 2), "valid", (1, 1)),
]


def _normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _away_from_zero(make, reference, margin=1e-3):
    """Inputs whose pre-activations keep ``margin`` from 0 (the ReLU's kink), by moving the bias."""

    def made(rng):
        x, k, b = make(rng)
        pre = reference(x, k, b)
        near = np.abs(pre) < margin
        while near.any():
            b = b + margin * 3
            pre = reference(x, k, b)
            near = np.abs(pre) < margin
        return [x, k, b]

    return made


#: The central differences' step for the settings that run Winograd's algorithm. A convolution
#: is linear in each input (piecewise with the ReLU, whose kinks the inputs keep 1e-3 from), so
#: the differences have no truncation error and only the forward pass's rounding, divided by the
#: step, is left; Winograd's float64 rounding (about 1e-13 in these outputs) over the default 1e-6
#: step came to 2e-7, at the tolerance (279cfb3's summation order of the kernel transform crossed
#: it; its analytic gradient of x is the bits of the one before). With 1e-4 both cases agree with
#: the analytic gradients to rtol 1e-7, atol 1e-9.
WINOGRAD_EPS = 1e-4


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    out = []
    for tag, x_shape, k_shape, strides, padding, dilation, groups in CONV_SETTINGS:
        kw = dict(strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
        rk = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
        eps = WINOGRAD_EPS if "winograd" in tag else None
        out.append(Case(f"conv2d-{tag}", ("conv2d",),
                        lambda x, k, b, kw=kw: ops.conv2d(x, k, b, **kw),
                        _normal(x_shape, k_shape, (k_shape[3],)),
                        lambda x, k, b, rk=rk: conv_reference(x, k, b, **rk), eps=eps))
        out.append(Case(f"conv2d-{tag}-relu", ("conv2d",),
                        lambda x, k, b, kw=kw: ops.conv2d(x, k, b, relu=True, **kw),
                        _away_from_zero(_normal(x_shape, k_shape, (k_shape[3],)),
                                        lambda x, k, b, rk=rk: conv_reference(x, k, b, **rk)),
                        lambda x, k, b, rk=rk: conv_reference(x, k, b, relu=True, **rk), eps=eps))
    for tag, x_shape, k_shape, strides, padding, dilation in DEPTHWISE_SETTINGS:
        kw = dict(strides=strides, padding=padding, dilation_rate=dilation)
        rk = dict(strides=strides, padding=padding, dilation=dilation)
        out.append(Case(f"depthwise_conv2d-{tag}", ("depthwise_conv2d",),
                        lambda x, k, kw=kw: ops.depthwise_conv2d(x, k, **kw),
                        _normal(x_shape, k_shape),
                        lambda x, k, rk=rk: depthwise_reference(x, k, **rk)))
        out.append(Case(f"depthwise_conv2d-{tag}-bias-relu", ("depthwise_conv2d",),
                        lambda x, k, b, kw=kw: ops.depthwise_conv2d(x, k, b, relu=True, **kw),
                        _away_from_zero(_normal(x_shape, k_shape, (k_shape[2] * k_shape[3],)),
                                        lambda x, k, b, rk=rk: depthwise_reference(x, k, b, **rk)),
                        lambda x, k, b, rk=rk: depthwise_reference(x, k, b, relu=True, **rk)))
    return out
