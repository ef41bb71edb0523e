"""Op test cases for the 3-D family: `kerasette.backend.ops.conv3d` (valid, same, strided,
dilated, grouped, bias and the fused ReLU), `conv3d_transpose` (valid, same, strided, dilated,
output_padding) and `kerasette.backend.ops.pooling3d` (max_pool3d,
avg_pool3d, valid and same), against slow numpy references written from Keras's definitions, for
`tests/backend/op_cases.py`'s table (forward against the reference, float64 central-difference
gradients).

The references: 'same' pads ``max((out - 1) * s + extent - n, 0)`` along each axis with the
smaller half before; a convolution output is the sum over the kernel's taps of the input volume
seen at that tap (strided slices of the padded input) times the tap's (C // groups, F) matrix,
group by group; a pooling window is clipped to the volume (padded cells take no part).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.utils.conv_transpose import deconv_output_length, transpose_crops
from tests.helpers import spaced


def _same_pads(sizes, extents, strides, padding):
    pads = []
    for n, e, s in zip(sizes, extents, strides):
        if padding == "same":
            out = -(-n // s)
            total = max((out - 1) * s + e - n, 0)
            pads.append((total // 2, total - total // 2))
        else:
            pads.append((0, 0))
    return pads


def conv3d_reference(x, k, b=None, strides=(1, 1, 1), padding="valid", dilation=(1, 1, 1), groups=1, relu=False):
    """Channels-last cross-correlation of x (N, D, H, W, C) with k (kd, kh, kw, C // groups, F)."""
    x = np.asarray(x, np.float64)
    kd, kh, kw, cg, filters = k.shape
    extents = [(t - 1) * d + 1 for t, d in zip(k.shape[:3], dilation)]
    pads = _same_pads(x.shape[1:4], extents, strides, padding)
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out = [(xp.shape[i + 1] - extents[i]) // strides[i] + 1 for i in range(3)]
    y = np.zeros((x.shape[0], *out, filters))
    fg = filters // groups
    for a in range(kd):
        for i in range(kh):
            for j in range(kw):
                starts = (a * dilation[0], i * dilation[1], j * dilation[2])
                view = xp[:, starts[0]:starts[0] + (out[0] - 1) * strides[0] + 1:strides[0],
                          starts[1]:starts[1] + (out[1] - 1) * strides[1] + 1:strides[1],
                          starts[2]:starts[2] + (out[2] - 1) * strides[2] + 1:strides[2]]
                for g in range(groups):
                    y[..., g * fg:(g + 1) * fg] += view[..., g * cg:(g + 1) * cg] @ k[a, i, j, :, g * fg:(g + 1) * fg]
    if b is not None:
        y = y + b
    return np.maximum(y, 0) if relu else y


def pool3d_reference(x, pool, strides, padding, reduce):
    """Max or mean over each window of x (N, D, H, W, C), clipped to the volume."""
    x = np.asarray(x, np.float64)
    strides = strides or pool
    sizes = x.shape[1:4]
    if padding == "same":
        out = [-(-n // s) for n, s in zip(sizes, strides)]
    else:
        out = [(n - p) // s + 1 for n, p, s in zip(sizes, pool, strides)]
    before = [p[0] for p in _same_pads(sizes, pool, strides, padding)]
    y = np.empty((x.shape[0], *out, x.shape[4]))
    for idx in np.ndindex(*out):
        lo = [max(o * s - b, 0) for o, s, b in zip(idx, strides, before)]
        hi = [min(o * s - b + p, n) for o, s, b, p, n in zip(idx, strides, before, pool, sizes)]
        window = x[:, lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        y[(slice(None), *idx)] = window.max(axis=(1, 2, 3)) if reduce == "max" else window.mean(axis=(1, 2, 3))
    return y


def conv3d_transpose_reference(x, w, b=None, strides=(1, 1, 1), padding="valid", output_padding=None,
                               dilation=(1, 1, 1)):
    """Keras 3's transposed convolution, one input cell and kernel tap at a time: input cell
    ``i`` times tap ``t`` lands on output ``i * s + t * d - crop_before`` along each axis
    (`kerasette.utils.conv_transpose` gives the output sizes and crops, Keras's rule)."""
    x = np.asarray(x, np.float64)
    sizes, taps = x.shape[1:4], w.shape[:3]
    pads = output_padding or (None, None, None)
    args = list(zip(sizes, taps, pads, strides, dilation))
    out = [deconv_output_length(n, k, padding, p, s, d) for n, k, p, s, d in args]
    before = [transpose_crops(n, k, padding, p, s, d)[0] for n, k, p, s, d in args]
    y = np.zeros((x.shape[0], *out, w.shape[3]))
    for cell in np.ndindex(*sizes):
        for tap in np.ndindex(*taps):
            o = [cell[a] * strides[a] + tap[a] * dilation[a] - before[a] for a in range(3)]
            if all(0 <= o[a] < out[a] for a in range(3)):
                y[:, o[0], o[1], o[2]] += x[(slice(None), *cell)] @ w[tap].T
    return y if b is None else y + b


#: (tag, x shape, kernel shape (kd, kh, kw, F, C), strides, padding, output_padding, dilation)
TRANSPOSE_SHAPES = (
    ("valid", (2, 2, 3, 2, 3), (2, 3, 2, 4, 3), (1, 1, 1), "valid", None, (1, 1, 1)),
    ("same-strided", (2, 3, 2, 3, 2), (3, 2, 3, 3, 2), (2, 1, 2), "same", None, (1, 1, 1)),
    ("valid-output-padding", (1, 2, 3, 2, 2), (2, 2, 3, 2, 2), (2, 2, 3), "valid", (1, 0, 2), (1, 1, 1)),
    ("same-dilated", (2, 3, 3, 2, 2), (2, 2, 2, 3, 2), (1, 1, 1), "same", None, (2, 1, 2)),
)

#: (tag, x shape, kernel shape, strides, padding, dilation, groups)
CONV_SHAPES = (
    ("valid", (2, 4, 5, 4, 3), (2, 3, 2, 3, 2), (1, 1, 1), "valid", (1, 1, 1), 1),
    ("same-strided", (2, 5, 4, 5, 2), (3, 2, 3, 2, 3), (2, 1, 2), "same", (1, 1, 1), 1),
    ("same-dilated", (1, 5, 5, 6, 2), (2, 2, 3, 2, 2), (1, 1, 1), "same", (2, 1, 2), 1),
    ("valid-grouped", (2, 3, 4, 4, 4), (2, 2, 2, 2, 6), (1, 2, 1), "valid", (1, 1, 1), 2),
    ("same-even-kernel", (2, 3, 3, 4, 1), (2, 2, 2, 1, 2), (1, 1, 1), "same", (1, 1, 1), 1),
    ("pointwise", (2, 3, 4, 3, 3), (1, 1, 1, 3, 4), (1, 1, 1), "same", (1, 1, 1), 1),  # one matrix product
    ("pointwise-strided", (2, 3, 4, 3, 3), (1, 1, 1, 3, 4), (2, 1, 2), "valid", (1, 1, 1), 1),  # patches
)


def _away_from_relu_kink(shapes, strides, padding, dilation, groups):
    """x, kernel, bias whose convolution outputs are all at least 0.05 from 0 (the ReLU's kink)."""

    def make(rng):
        while True:
            arrays = [rng.standard_normal(s) for s in shapes]
            z = conv3d_reference(*arrays, strides, padding, dilation, groups)
            if np.abs(z).min() > 0.05:
                return arrays

    return make


def cases(case):
    out = []
    for tag, xs, ks, strides, padding, dilation, groups in CONV_SHAPES:
        args = dict(strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
        ref = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
        out.append(case(f"conv3d-{tag}", ("conv3d",), lambda x, k, a=args: ops.conv3d(x, k, **a),
                        lambda rng, xs=xs, ks=ks: [rng.standard_normal(xs), rng.standard_normal(ks)],
                        lambda x, k, r=ref: conv3d_reference(x, k, **r)))
        out.append(case(f"conv3d-bias-{tag}", ("conv3d",), lambda x, k, b, a=args: ops.conv3d(x, k, b, **a),
                        lambda rng, xs=xs, ks=ks: [rng.standard_normal(xs), rng.standard_normal(ks),
                                                   rng.standard_normal(ks[-1])],
                        lambda x, k, b, r=ref: conv3d_reference(x, k, b, **r)))
    tag, xs, ks, strides, padding, dilation, groups = CONV_SHAPES[1]
    out.append(case("conv3d-bias-relu-same-strided", ("conv3d",),
                    lambda x, k, b: ops.conv3d(x, k, b, strides, padding, relu=True),
                    _away_from_relu_kink((xs, ks, (ks[-1],)), strides, padding, dilation, groups),
                    lambda x, k, b: conv3d_reference(x, k, b, strides, padding, relu=True)))
    for tag, xs, ks, strides, padding, output_padding, dilation in TRANSPOSE_SHAPES:
        args = (strides, padding, output_padding, dilation)
        out.append(case(f"conv3d_transpose-{tag}", ("conv3d_transpose",),
                        lambda x, k, b, a=args: ops.conv3d_transpose(x, k, b, *a),
                        lambda rng, xs=xs, ks=ks: [rng.standard_normal(xs), rng.standard_normal(ks),
                                                   rng.standard_normal(ks[3])],
                        lambda x, k, b, a=args: conv3d_transpose_reference(x, k, b, *a)))
    out.append(case("conv3d_transpose-no-bias", ("conv3d_transpose",),
                    lambda x, k: ops.conv3d_transpose(x, k, None, 2, "same"),
                    lambda rng: [rng.standard_normal((1, 2, 2, 3, 2)), rng.standard_normal((3, 3, 3, 2, 2))],
                    lambda x, k: conv3d_transpose_reference(x, k, None, (2, 2, 2), "same")))
    # pooling: distinct values, so no window holds a tie for its maximum
    for tag, shape, pool, strides, padding in (("valid", (2, 4, 5, 4, 2), (2, 2, 2), None, "valid"),
                                               ("valid-overlapping", (1, 5, 4, 5, 3), (3, 2, 2), (1, 2, 1), "valid"),
                                               ("same-strided", (2, 5, 5, 3, 2), (3, 3, 2), (2, 2, 2), "same"),
                                               ("same-unit-stride", (1, 3, 4, 3, 2), (2, 3, 2), (1, 1, 1), "same")):
        for op_name, reduce in (("max_pool3d", "max"), ("avg_pool3d", "mean")):
            fn = getattr(ops, op_name)
            out.append(case(f"{op_name}-{tag}", (op_name,),
                            lambda x, f=fn, p=pool, s=strides, pad=padding: f(x, p, s, pad),
                            lambda rng, s=shape: [spaced(s, rng)],
                            lambda x, p=pool, s=strides, pad=padding, r=reduce: pool3d_reference(x, p, s, pad, r)))
    return out
