"""Kernels of the kw-packed ("row") implicit GEMM for stride-1 convolutions.

The images of a chunk are seen as one stack of zero-padded rows: stacked row ``s`` is padded row
``s % hp`` of image ``s // hp`` (``hp`` = padded height). A row tile ``r0 <= s < r1`` is packed into
``x3[s - r0, ow, j * C + c] = x_padded[s, ow + j, c]`` (``kw * C`` values per output column, a
``kh`` times smaller pack than im2col). One GEMM with the kernel rows side by side,
``p = x3 @ [W[0] | ... | W[kh - 1]]``, gives ``p[s, ow, i, :]`` and the output row starting at
stacked row ``s`` is ``sum_i p[s + i, ow, i, :]``. Padding is implicit: outside reads as zero.

All functions fill preallocated arrays and validate nothing; they are generic over dtype.
"""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel


@kernel
def pack_rows(x, x3, r0, r1, hp, pt, pl, kw):
    """Packs stacked padded rows ``r0:r1`` of ``x`` (N, H, W, C) into ``x3`` (>= r1 - r0, OW, kw * C)."""
    height, width, chans = x.shape[1], x.shape[2], x.shape[3]
    ow_n = x3.shape[1]
    span = kw * chans
    xf = x.reshape(-1)
    tf = x3.reshape(-1)
    for s in range(r0, r1):
        n = s // hp
        h = s - n * hp - pt
        row = (s - r0) * ow_n * span
        if h < 0 or h >= height:
            tf[row : row + ow_n * span] = 0
            continue
        base = (n * height + h) * width * chans
        for ow in range(ow_n):
            w_first = ow - pl
            d = row + ow * span
            if w_first >= 0 and w_first + kw <= width:
                src = base + w_first * chans
                tf[d : d + span] = xf[src : src + span]
            else:
                for j in range(kw):
                    wc = w_first + j
                    dj = d + j * chans
                    if 0 <= wc < width:
                        src = base + wc * chans
                        tf[dj : dj + chans] = xf[src : src + chans]
                    else:
                        tf[dj : dj + chans] = 0


@kernel
def combine_rows(p, y, r0, r1, hp, b, has_bias, relu):
    """``y[n, oh] = act(sum_i p[s + i - r0, :, i, :] + b)`` for the output rows starting in ``r0:r1``.

    ``p`` is (>= r1 - r0 + kh - 1, OW, kh, F); ``y`` is (N, OH, OW, F). Stacked rows ``s`` with
    ``s % hp >= OH`` straddle two images and are skipped.
    """
    oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3]
    kh = p.shape[2]
    for s in range(r0, r1):
        n = s // hp
        oh = s - n * hp
        if oh >= oh_n:
            continue
        for ow in range(ow_n):
            out = y[n, oh, ow]
            for f in range(cout):
                out[f] = p[s - r0, ow, 0, f]
            for i in range(1, kh):
                src = p[s - r0 + i, ow, i]
                for f in range(cout):
                    out[f] += src[f]
            if has_bias:
                for f in range(cout):
                    out[f] += b[f]
            if relu:
                for f in range(cout):
                    if not out[f] > 0:
                        out[f] = 0


@kernel
def gather_dy_rows(dy, d, r0, r1, hp):
    """``d[s - r0] = dy[n, oh]`` for stacked rows ``s`` in ``r0:r1`` (zeros where ``oh >= OH``)."""
    oh_n = dy.shape[1]
    for s in range(r0, r1):
        n = s // hp
        oh = s - n * hp
        if oh >= oh_n:
            d[s - r0] = 0
        else:
            d[s - r0] = dy[n, oh]
