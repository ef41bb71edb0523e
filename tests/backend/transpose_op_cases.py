"""Op test cases for `kerasette.backend.ops.conv_transpose` (conv2d_transpose) and
`kerasette.backend.ops.resize` (resize2d): a slow numpy reference for each, and the cases
`tests/backend/op_cases.py` adds to its table (forward against the reference, float64
central-difference gradients).
"""

from __future__ import annotations

import math

import numpy as np

from kerasette.backend import ops
from kerasette.utils.conv_transpose import deconv_output_length, transpose_crops


def conv_transpose_reference(x, w, b=None, strides=(1, 1), padding="valid", output_padding=None,
                             dilation=(1, 1), relu=False):
    """Keras 3's transposed convolution, one input pixel and kernel tap at a time: input (i, j)
    times tap (a, b) lands on output (i * sh + a * dh - crop_top, j * sw + b * dw - crop_left)."""
    n, h, wd, _ = x.shape
    kh, kw, f, _ = w.shape
    (sh, sw), (dh, dw) = strides, dilation
    pads = (None, None) if output_padding is None else tuple(output_padding)
    oh = deconv_output_length(h, kh, padding, pads[0], sh, dh)
    ow = deconv_output_length(wd, kw, padding, pads[1], sw, dw)
    top = transpose_crops(h, kh, padding, pads[0], sh, dh)[0]
    left = transpose_crops(wd, kw, padding, pads[1], sw, dw)[0]
    y = np.zeros((n, oh, ow, f), np.result_type(x, w))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for c in range(kw):
                    o, p = i * sh + a * dh - top, j * sw + c * dw - left
                    if 0 <= o < oh and 0 <= p < ow:
                        y[:, o, p] += x[:, i, j] @ w[a, c].T
    if b is not None:
        y = y + b
    return np.maximum(y, 0) if relu else y


# -- resize -------------------------------------------------------------------------------------
def _cubic(t, a=-0.75):
    """PyTorch's (and Keras 3 on torch's) bicubic convolution kernel, A = -0.75."""
    t = abs(t)
    if t <= 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def resize_matrix(size_in: int, size_out: int, interpolation: str) -> np.ndarray:
    """The (size_out, size_in) matrix of a 1-D resize with half-pixel centres: output ``o`` samples
    the input at ``(o + 0.5) * size_in / size_out - 0.5``; taps outside the input read its edge."""
    m = np.zeros((size_out, size_in))
    scale = size_in / size_out
    for o in range(size_out):
        if interpolation == "nearest":
            m[o, min(int(math.floor(o * scale)), size_in - 1)] = 1
            continue
        src = (o + 0.5) * scale - 0.5
        if interpolation == "bilinear":
            src = max(src, 0.0)
            i0 = int(math.floor(src))
            t = src - i0
            m[o, min(i0, size_in - 1)] += 1 - t
            m[o, min(i0 + 1, size_in - 1)] += t
        else:
            i0 = int(math.floor(src))
            t = src - i0
            for tap in range(-1, 3):
                m[o, min(max(i0 + tap, 0), size_in - 1)] += _cubic(tap - t)
    return m


def resize_reference(x, size, interpolation="bilinear"):
    """Upsampling of NHWC ``x`` by integer ``size`` as two 1-D resize matrices."""
    mh = resize_matrix(x.shape[1], x.shape[1] * size[0], interpolation)
    mw = resize_matrix(x.shape[2], x.shape[2] * size[1], interpolation)
    return np.einsum("ph,nhwc,qw->npqc", mh, x, mw)


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    out = []
    settings = [  # (input hw, kernel, strides, padding, output_padding, dilation)
        ((3, 4), (3, 3), (1, 1), "valid", None, (1, 1)),
        ((3, 4), (3, 3), (1, 1), "same", None, (1, 1)),
        ((3, 3), (3, 3), (2, 2), "same", None, (1, 1)),
        ((3, 3), (3, 3), (2, 2), "same", (0, 1), (1, 1)),
        ((2, 3), (2, 3), (2, 1), "valid", (1, 0), (1, 1)),
        ((2, 2), (2, 2), (3, 3), "valid", None, (1, 1)),  # stride above the kernel: zero columns
        ((3, 3), (4, 2), (2, 3), "same", None, (1, 1)),
        ((4, 3), (2, 3), (1, 1), "same", None, (2, 2)),
        ((3, 3), (2, 2), (2, 2), "valid", None, (2, 1)),  # kerasette allows what Keras refuses
    ]
    cin, filters = 3, 2
    for hw, k, s, p, op, d in settings:
        tag = f"{hw[0]}x{hw[1]}-k{k[0]}x{k[1]}-s{s[0]}{s[1]}-{p}-op{op}-d{d[0]}{d[1]}".replace(" ", "")
        out.append(Case(
            f"conv2d_transpose-{tag}", ("conv2d_transpose",),
            lambda x, w, b, s=s, p=p, op=op, d=d: ops.conv2d_transpose(x, w, b, s, p, op, d),
            lambda rng, hw=hw, k=k: [rng.standard_normal((2, *hw, cin)), rng.standard_normal((*k, filters, cin)),
                                     rng.standard_normal(filters)],
            lambda x, w, b, s=s, p=p, op=op, d=d: conv_transpose_reference(x, w, b, s, p, op, d)))
    out.append(Case(
        "conv2d_transpose-no-bias", ("conv2d_transpose",),
        lambda x, w: ops.conv2d_transpose(x, w, strides=(2, 2), padding="same"),
        lambda rng: [rng.standard_normal((2, 3, 2, 17)), rng.standard_normal((3, 3, 16, 17))],
        lambda x, w: conv_transpose_reference(x, w, strides=(2, 2), padding="same")))

    def relu_inputs(rng):
        for _ in range(1000):
            arrays = [rng.standard_normal((2, 3, 3, 2)), rng.standard_normal((3, 3, 3, 2)), rng.standard_normal(3)]
            if np.abs(conv_transpose_reference(*arrays, strides=(2, 2), padding="same")).min() > 1e-2:
                return arrays
        raise RuntimeError("could not draw inputs away from the ReLU kink")

    out.append(Case(
        "conv2d_transpose-relu", ("conv2d_transpose",),
        lambda x, w, b: ops.conv2d_transpose(x, w, b, (2, 2), "same", relu=True), relu_inputs,
        lambda x, w, b: conv_transpose_reference(x, w, b, (2, 2), "same", relu=True)))
    for interpolation in ("nearest", "bilinear", "bicubic"):
        for size in ((2, 2), (3, 1), (1, 4)):
            out.append(Case(
                f"resize2d-{interpolation}-{size[0]}x{size[1]}", ("resize2d",),
                lambda x, size=size, i=interpolation: ops.resize2d(x, size, i),
                lambda rng: [rng.standard_normal((2, 3, 4, 3))],
                lambda x, size=size, i=interpolation: resize_reference(x, size, i)))
    return out
