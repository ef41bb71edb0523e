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

from kerasette.backend.kernels import blas
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


@kernel
def conv_chunk(x, wcat, y, x3, p, kh, kw, pt, pl, b, has_bias, relu):
    """``y = act(conv(x, w) + b)`` for a chunk of images, a tile of stacked rows at a time.

    Per tile: :func:`pack_rows`, ``p = x3 @ wcat`` (numpy's BLAS, called from here; see
    `kerasette.backend.kernels.blas`) and :func:`combine_rows`. Consecutive tiles overlap by
    ``kh - 1`` rows.

    Args:
        x: input, (N, H, W, C), C-contiguous.
        wcat: the kernel rows side by side, (kw * C, kh * F), C-contiguous.
        y: output, (N, OH, OW, F), C-contiguous; overwritten.
        x3, p: scratch, (rows, OW, kw * C) and (rows, OW, kh, F), C-contiguous (rows >= kh).
        kh, kw: kernel size; pt, pl: padding at the top and on the left.
        b, has_bias, relu: as for :func:`combine_rows`.
    """
    oh_n, ow_n = y.shape[1], y.shape[2]
    hp = oh_n + kh - 1
    total = x.shape[0] * hp
    rows, k, n_out = x3.shape[0], wcat.shape[0], wcat.shape[1]
    r0 = 0
    while True:
        r1 = min(r0 + rows, total)
        pack_rows(x, x3, r0, r1, hp, pt, pl, kw)
        blas.gemm(False, False, (r1 - r0) * ow_n, n_out, k, x3, 0, k, wcat, 0, n_out, 0.0, p, 0, n_out)
        combine_rows(p, y, r0, r1 - kh + 1, hp, b, has_bias, relu)
        if r1 >= total:
            return
        r0 = r1 - kh + 1


@kernel
def weight_grad_chunk(dy, x, dw, x3, d, kh, kw, pt, pl):
    """``dw[i] = sum over tiles of x3[i:i + m].T @ dy_rows`` for a chunk of images.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        x: forward input, (N, H, W, C), C-contiguous.
        dw: output, (kh, kw * C, F), C-contiguous; overwritten.
        x3, d: scratch, (rows, OW, kw * C) and (rows, OW, F), C-contiguous (rows >= kh).
        kh, kw, pt, pl: as for :func:`conv_chunk`.
    """
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    hp = oh_n + kh - 1
    total = x.shape[0] * hp
    rows, k = x3.shape[0], dw.shape[1]
    r0 = 0
    while True:
        r1 = min(r0 + rows, total)
        mo = r1 - r0 - kh + 1
        pack_rows(x, x3, r0, r1, hp, pt, pl, kw)
        gather_dy_rows(dy, d, r0, r0 + mo, hp)
        for i in range(kh):
            blas.gemm(True, False, k, cout, mo * ow_n, x3, i * ow_n * k, k, d, 0, cout,
                      0.0 if r0 == 0 else 1.0, dw, i * k * cout, cout)
        if r1 >= total:
            return
        r0 = r1 - kh + 1
