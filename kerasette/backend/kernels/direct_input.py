"""The input gradient of a stride-1 convolution with few input channels, in SIMD registers.

The gradient of a direct convolution (`kerasette.backend.kernels.direct`) with respect to its
input is a sum over the output channels, so along the vectors: :func:`input_grad_chunk`
accumulates :data:`PIXEL_BLOCK` pixels x 3 input channels (24 accumulators with AVX-512, 12
where the CPU has 16 vector registers), whose lanes are added together, as a transpose, once per
block. It reads ``dy`` as zero outside its border itself (no padded copy). The number of output
channels must be a multiple of ``simd.lanes(itemsize)``; `kerasette.backend.engine.direct_conv`
checks and dispatches.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import inline as _inline
from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.direct import _check_width
from kerasette.backend.kernels.simd import VECTOR_BYTES, vcount, vfma, vload, vsums_store, vzeros

#: Input channels computed at once by :func:`input_grad_chunk` (its loop body is unrolled for
#: this many).
CHANNEL_GROUP = 3

#: Neighbouring pixels whose input gradients :func:`input_grad_chunk` accumulates at once: 8
#: (24 accumulators) with AVX-512's 32 vector registers, else 4 (12 of 16 registers).
PIXEL_BLOCK = 8 if VECTOR_BYTES == 64 else 4


@kernel
def input_grad_chunk(dy, wf, dx, pt, pl, nl):
    """``dx[n, h, w, c] = sum over i, j of dy[n, h + i - pt, w + j - pl, :] . wf[i, c, j, :]``
    (``dy`` read as zero outside), the input gradient of a stride-1 convolution as a 'valid'
    correlation of the zero-padded output gradient.

    The sums run over the output channels, along the vectors: :data:`PIXEL_BLOCK` neighbouring
    pixels x 3 input channels accumulate in vectors whose lanes are added together at the end
    (``vsums_store``). For one kernel row ``i``, the ``kw`` output-gradient pixels a pixel's
    window covers are ``kw * F`` contiguous values, and so are ``wf[i, c]``: one flat loop over
    them. The blocks cover the pixels whose windows lie inside ``dy``'s row (the last block
    overlapping its neighbour rather than passing the end); the few pixels at the left and right
    borders go one at a time, over the part of their window inside.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous; F a multiple of ``lanes``.
        wf: the kernel flipped in both spatial axes, as (kh, C3, kw, F), C-contiguous, with C3
            the input channels rounded up to a multiple of :data:`CHANNEL_GROUP` (zeros beyond C).
        dx: input gradient, (N, H, W, C), C-contiguous; overwritten.
        pt, pl: the 'full' padding of ``dy`` at the top and on the left (``kh - 1 - top``, ...).
    """
    n_img, height, width, chans = dx.shape
    kh, chans3, kw, cout = wf.shape
    oh_n, ow_n = dy.shape[1], dy.shape[2]
    dyf, wff, dxf = dy.reshape(-1), wf.reshape(-1), dx.reshape(-1)
    _check_width(nl, dy.itemsize, cout)
    block = PIXEL_BLOCK
    run = kw * cout  # one kernel row's values in wf[i, c], and one pixel's window row in dy
    sums = np.empty(block * CHANNEL_GROUP, dy.dtype)
    # the pixels w in [lo, hi) have their whole window inside dy's row; with fewer than a block
    # of them, every pixel goes alone
    lo, hi = max(0, pl), min(width, ow_n + pl - kw + 1)
    if hi - lo < block:
        lo = hi = width
    for n in range(n_img):
        for h in range(height):
            i0, i1 = max(0, pt - h), min(kh, oh_n + pt - h)  # the kernel rows whose dy rows exist
            top = (n * oh_n + h - pt) * ow_n  # the pixel index in dy of kernel row 0's row
            for c in range(0, chans3, CHANNEL_GROUP):
                wt = (i0 * chans3 + c) * run
                for w in range(lo, hi, block):
                    w = min(w, hi - block)
                    vectors = _block(dyf, (top + i0 * ow_n + w - pl) * cout, ow_n * cout, wff, wt, chans3 * run,
                                     run, cout, i1 - i0)
                    if chans == CHANNEL_GROUP:  # the values are contiguous in dx
                        vsums_store(dxf, ((n * height + h) * width + w) * chans, vectors)
                    else:
                        vsums_store(sums, 0, vectors)
                        _copy_sums(sums, dx, n, h, w, c, block)
                for q in range(lo + width - hi):  # the pixels left of lo, then those from hi on
                    w = q if q < lo else q - lo + hi
                    j0, j1 = max(0, pl - w), min(kw, ow_n + pl - w)  # the window's columns inside dy
                    vectors = _pixel(dyf, (top + i0 * ow_n + w - pl) * cout, ow_n * cout, wff, wt, chans3 * run,
                                     run, i1 - i0, j0 * cout, j1 * cout)
                    if chans == CHANNEL_GROUP:  # the values are contiguous in dx
                        vsums_store(dxf, ((n * height + h) * width + w) * chans, vectors)
                    else:
                        vsums_store(sums, 0, vectors)
                        _copy_sums(sums, dx, n, h, w, c, 1)


@_inline
def _copy_sums(sums, dx, n, h, w, c, pixels):
    """``dx[n, h, w:w + pixels, c:c + 3] = sums`` (``pixels`` x 3 values, pixel-major), the
    channels that exist. (A helper that takes arrays costs reference counting: kept off the
    path of the 3-channel layers.)"""
    for q in range(pixels):
        for k in range(min(CHANNEL_GROUP, dx.shape[3] - c)):
            dx[n, h, w + q, c + k] = sums[q * CHANNEL_GROUP + k]


@_inline
def _pixel(src, at, stride, wff, wt, wrow, run, rows, e0, e1):
    """The 3 accumulators of one pixel (window row ``r`` at ``src[at + r * stride + e0:]``,
    ``e1 - e0`` values) x 3 input channels (``wff[wt + r * wrow + e0:]``, ``run`` apart)."""
    c0 = c1 = c2 = vzeros(src)
    for r in range(rows):
        a, u = at + r * stride, wt + r * wrow
        for e in range(e0, e1, vcount(src)):
            d = vload(src, a + e)
            c0, c1, c2 = vfma(d, vload(wff, u + e), c0), vfma(d, vload(wff, u + run + e), c1), vfma(
                d, vload(wff, u + 2 * run + e), c2)
    return c0, c1, c2


@_inline
def _four_pixels(src, a, cout, u0, u1, u2, p0c0, p0c1, p0c2, p1c0, p1c1, p1c2, p2c0, p2c1, p2c2, p3c0, p3c1, p3c2):
    """One step of :func:`_block4`: the accumulators of 4 pixels (``src[a:]``, ``cout`` apart)
    x 3 input channels, plus the gradient values times the kernel values ``u0``, ``u1``, ``u2``."""
    d = vload(src, a)
    p0c0, p0c1, p0c2 = vfma(d, u0, p0c0), vfma(d, u1, p0c1), vfma(d, u2, p0c2)
    d = vload(src, a + cout)
    p1c0, p1c1, p1c2 = vfma(d, u0, p1c0), vfma(d, u1, p1c1), vfma(d, u2, p1c2)
    d = vload(src, a + 2 * cout)
    p2c0, p2c1, p2c2 = vfma(d, u0, p2c0), vfma(d, u1, p2c1), vfma(d, u2, p2c2)
    d = vload(src, a + 3 * cout)
    p3c0, p3c1, p3c2 = vfma(d, u0, p3c0), vfma(d, u1, p3c1), vfma(d, u2, p3c2)
    return p0c0, p0c1, p0c2, p1c0, p1c1, p1c2, p2c0, p2c1, p2c2, p3c0, p3c1, p3c2


@_inline
def _block4(src, at, stride, wff, wt, wrow, run, cout, rows):
    """The 12 accumulators of 4 pixels (``src[at:]``, ``cout`` apart; window row ``r`` at
    ``at + r * stride``) x 3 input channels (``wff[wt + r * wrow:]``, ``run`` apart),
    pixel-major: one kernel load per channel and one gradient load per pixel for 12 FMAs."""
    p0c0 = p0c1 = p0c2 = p1c0 = p1c1 = p1c2 = p2c0 = p2c1 = p2c2 = p3c0 = p3c1 = p3c2 = vzeros(src)
    for r in range(rows):
        a, u = at + r * stride, wt + r * wrow
        for e in range(0, run, vcount(src)):
            u0, u1, u2 = vload(wff, u + e), vload(wff, u + run + e), vload(wff, u + 2 * run + e)
            p0c0, p0c1, p0c2, p1c0, p1c1, p1c2, p2c0, p2c1, p2c2, p3c0, p3c1, p3c2 = _four_pixels(
                src, a + e, cout, u0, u1, u2, p0c0, p0c1, p0c2, p1c0, p1c1, p1c2, p2c0, p2c1, p2c2, p3c0, p3c1, p3c2)
    return p0c0, p0c1, p0c2, p1c0, p1c1, p1c2, p2c0, p2c1, p2c2, p3c0, p3c1, p3c2


@_inline
def _block8(src, at, stride, wff, wt, wrow, run, cout, rows):
    """:func:`_block4` for 8 pixels, in 24 accumulators (for CPUs with 32 vector registers):
    the kernel values loaded once for twice the FMAs."""
    p0c0 = p0c1 = p0c2 = p1c0 = p1c1 = p1c2 = p2c0 = p2c1 = p2c2 = p3c0 = p3c1 = p3c2 = vzeros(src)
    p4c0 = p4c1 = p4c2 = p5c0 = p5c1 = p5c2 = p6c0 = p6c1 = p6c2 = p7c0 = p7c1 = p7c2 = vzeros(src)
    for r in range(rows):
        a, u = at + r * stride, wt + r * wrow
        for e in range(0, run, vcount(src)):
            u0, u1, u2 = vload(wff, u + e), vload(wff, u + run + e), vload(wff, u + 2 * run + e)
            p0c0, p0c1, p0c2, p1c0, p1c1, p1c2, p2c0, p2c1, p2c2, p3c0, p3c1, p3c2 = _four_pixels(
                src, a + e, cout, u0, u1, u2, p0c0, p0c1, p0c2, p1c0, p1c1, p1c2, p2c0, p2c1, p2c2, p3c0, p3c1, p3c2)
            p4c0, p4c1, p4c2, p5c0, p5c1, p5c2, p6c0, p6c1, p6c2, p7c0, p7c1, p7c2 = _four_pixels(
                src, a + 4 * cout + e, cout, u0, u1, u2, p4c0, p4c1, p4c2, p5c0, p5c1, p5c2, p6c0, p6c1, p6c2,
                p7c0, p7c1, p7c2)
    return (p0c0, p0c1, p0c2, p1c0, p1c1, p1c2, p2c0, p2c1, p2c2, p3c0, p3c1, p3c2,
            p4c0, p4c1, p4c2, p5c0, p5c1, p5c2, p6c0, p6c1, p6c2, p7c0, p7c1, p7c2)


_block = _block8 if PIXEL_BLOCK == 8 else _block4
