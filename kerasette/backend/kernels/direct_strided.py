"""The input gradient of a strided convolution, phase by phase, in SIMD registers.

At stride (sh, sw), the input pixel (h, w) receives gradient only through the kernel taps
(i, j) with ``h + pt - i`` a multiple of sh and ``w + pl - j`` a multiple of sw. Those taps
depend only on the pixel's *phase* ``(h mod sh, w mod sw)``: on each phase, the input gradient
is a stride-1 correlation of the (zero-padded) output gradient with a sub-kernel of the
flipped kernel (``ceil(kh / sh) x ceil(kw / sw)`` taps at most: 2x2 for a 3x3 kernel at stride
2, 1x1 for a 1x1 kernel, whose other three phases receive nothing). The kernel here computes
every phase straight into the input gradient's pixels of that phase (every ``sw``-th pixel of
every ``sh``-th row), with the register blocking of the direct forward kernel
(`kerasette.backend.kernels.direct`): the input channels are the output vectors, the output
gradient's channels the reduced axis. Nothing is scattered, nothing is added twice, and no
patch matrix is built, unlike GEMM and col2im.

:func:`strided_input_grad_chunk` computes :data:`PIXELS` neighbouring pixels of a phase row x 2
vectors of input channels (8 x 2 in 16 accumulators with AVX-512's 32 vector registers, else
4 x 2), and a last single vector of channels 8 pixels at a time; per tap, one or two kernel
vector loads, a broadcast of the gradient value per pixel and an FMA per accumulator. The last
block of a row overlaps its neighbour rather than passing the end.
`kerasette.backend.engine.direct_conv` builds the phase plan and the sub-kernels and pads.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import inline as _inline
from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.direct import _check_width
from kerasette.backend.kernels.simd import VECTOR_BYTES, vbroadcast, vfma, vload, vstore, vzeros

#: Pixels of a phase row computed at once for two vectors of channels: 8 (16 accumulators)
#: with AVX-512's 32 vector registers, else 4 (8 of 16).
PIXELS = 8 if VECTOR_BYTES == 64 else 4

#: Whether a phase's pairs of vectors go in blocks of 6 pixels in the phase's row order, a block
#: crossing the end of a row (:func:`_block_six`: 12 accumulators of 16 vector registers, 8 loads
#: for 12 fused multiply-adds where 4 pixels took 6 for 8), with vectors narrower than AVX-512's.
#: A constant: numba prunes the branch from the kernel compiled for 64-byte vectors.
WRAPPED_SIX = VECTOR_BYTES < 64

#: The columns of a phase plan row (see :func:`strided_input_grad_chunk`).
PLAN_COLUMNS = 9


@_inline
def _four_two(xf, xt, step, w0, w1, a0, a1, a2, a3, b0, b1, b2, b3):
    """4 pixels' accumulators (input values ``step`` apart from ``xf[xt]``) x 2 vectors of
    channels (``a*`` with ``w0``, ``b*`` with ``w1``), plus the products."""
    v = vbroadcast(xf, xt)
    a0, b0 = vfma(v, w0, a0), vfma(v, w1, b0)
    v = vbroadcast(xf, xt + step)
    a1, b1 = vfma(v, w0, a1), vfma(v, w1, b1)
    v = vbroadcast(xf, xt + 2 * step)
    a2, b2 = vfma(v, w0, a2), vfma(v, w1, b2)
    v = vbroadcast(xf, xt + 3 * step)
    a3, b3 = vfma(v, w0, a3), vfma(v, w1, b3)
    return a0, a1, a2, a3, b0, b1, b2, b3


@_inline
def _four_one(xf, xt, step, w0, a0, a1, a2, a3):
    """4 pixels' accumulators x 1 vector of channels, plus the products."""
    return (vfma(vbroadcast(xf, xt), w0, a0), vfma(vbroadcast(xf, xt + step), w0, a1),
            vfma(vbroadcast(xf, xt + 2 * step), w0, a2), vfma(vbroadcast(xf, xt + 3 * step), w0, a3))


@_inline
def _store4(yf, at, step, a0, a1, a2, a3):
    """Stores 4 vectors at ``yf[at:]``, ``step`` apart."""
    vstore(yf, at, a0)
    vstore(yf, at + step, a1)
    vstore(yf, at + 2 * step, a2)
    vstore(yf, at + 3 * step, a3)


@_inline
def _block_two(xf, wf, yf, offsets, taps, corner, xstep, w0row, chans, at, ystep, nl):
    """:data:`PIXELS` pixels x the 2 vectors of channels from the kernel column ``w0row``'s
    offset: taps ``offsets[:taps]`` from each pixel's corner (``corner`` + k * ``xstep``),
    kernel rows of ``chans`` values; stored at ``yf[at + k * ystep:]``."""
    zero = vzeros(xf)
    a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = zero
    c0 = c1 = c2 = c3 = d0 = d1 = d2 = d3 = zero
    for t in range(taps):
        xt = corner + offsets[t]
        w0 = vload(wf, w0row + t * chans)
        w1 = vload(wf, w0row + t * chans + nl)
        a0, a1, a2, a3, b0, b1, b2, b3 = _four_two(xf, xt, xstep, w0, w1, a0, a1, a2, a3, b0, b1, b2, b3)
        if PIXELS == 8:
            c0, c1, c2, c3, d0, d1, d2, d3 = _four_two(xf, xt + 4 * xstep, xstep, w0, w1,
                                                       c0, c1, c2, c3, d0, d1, d2, d3)
    _store4(yf, at, ystep, a0, a1, a2, a3)
    _store4(yf, at + nl, ystep, b0, b1, b2, b3)
    if PIXELS == 8:
        _store4(yf, at + 4 * ystep, ystep, c0, c1, c2, c3)
        _store4(yf, at + 4 * ystep + nl, ystep, d0, d1, d2, d3)


@_inline
def _block_six(xf, wf, yf, offsets, taps, corners, w0row, chans, outs, nl):
    """6 pixels (window corners ``corners``, outputs at ``outs``: anywhere in the phase) x the
    2 vectors of channels from the kernel column ``w0row``'s offset, as :func:`_block_two`."""
    c0, c1, c2, c3, c4, c5 = corners
    zero = vzeros(xf)
    a0 = a1 = a2 = a3 = a4 = a5 = b0 = b1 = b2 = b3 = b4 = b5 = zero
    for t in range(taps):
        o = offsets[t]
        w0 = vload(wf, w0row + t * chans)
        w1 = vload(wf, w0row + t * chans + nl)
        v = vbroadcast(xf, c0 + o)
        a0, b0 = vfma(v, w0, a0), vfma(v, w1, b0)
        v = vbroadcast(xf, c1 + o)
        a1, b1 = vfma(v, w0, a1), vfma(v, w1, b1)
        v = vbroadcast(xf, c2 + o)
        a2, b2 = vfma(v, w0, a2), vfma(v, w1, b2)
        v = vbroadcast(xf, c3 + o)
        a3, b3 = vfma(v, w0, a3), vfma(v, w1, b3)
        v = vbroadcast(xf, c4 + o)
        a4, b4 = vfma(v, w0, a4), vfma(v, w1, b4)
        v = vbroadcast(xf, c5 + o)
        a5, b5 = vfma(v, w0, a5), vfma(v, w1, b5)
    o0, o1, o2, o3, o4, o5 = outs
    vstore(yf, o0, a0), vstore(yf, o0 + nl, b0)
    vstore(yf, o1, a1), vstore(yf, o1 + nl, b1)
    vstore(yf, o2, a2), vstore(yf, o2 + nl, b2)
    vstore(yf, o3, a3), vstore(yf, o3 + nl, b3)
    vstore(yf, o4, a4), vstore(yf, o4 + nl, b4)
    vstore(yf, o5, a5), vstore(yf, o5 + nl, b5)


@_inline
def _next_pixel(corner, out, q, wq_n, xstep, xwrap, ystep, ywrap):
    """The window corner, output place and column of the pixel after the one at ``corner``,
    ``out`` (column ``q``) in a phase's row order: one step along the row, or the wrap to the
    next row's first pixel."""
    if q + 1 < wq_n:
        return corner + xstep, out + ystep, q + 1
    return corner + xwrap, out + ywrap, 0


@_inline
def _wrapped_pairs(xf, wf, yf, offs, taps, phase, t0row, chans, pairs, nl):
    """A phase's pairs of vectors of channels, :func:`_block_six` over its ``hq * wq`` pixels in
    row order (the last block overlapping its neighbour: the same values again). ``phase`` =
    (``hq``, ``wq``, the first pixel's window corner, the window rows' step, the pixels' step
    in ``xf``; the first output, the output rows' step, the pixels' step in ``yf``)."""
    hq, wq_n, corner0, xrow, xstep, out0, yrow, ystep = phase
    xwrap, ywrap = xrow - (wq_n - 1) * xstep, yrow - (wq_n - 1) * ystep
    pixels = hq * wq_n
    p = 0
    while p < pixels:
        p = min(p, pixels - 6)
        r = p // wq_n
        q = p - r * wq_n
        c0, u0 = corner0 + r * xrow + q * xstep, out0 + r * yrow + q * ystep
        c1, u1, q = _next_pixel(c0, u0, q, wq_n, xstep, xwrap, ystep, ywrap)
        c2, u2, q = _next_pixel(c1, u1, q, wq_n, xstep, xwrap, ystep, ywrap)
        c3, u3, q = _next_pixel(c2, u2, q, wq_n, xstep, xwrap, ystep, ywrap)
        c4, u4, q = _next_pixel(c3, u3, q, wq_n, xstep, xwrap, ystep, ywrap)
        c5, u5, q = _next_pixel(c4, u4, q, wq_n, xstep, xwrap, ystep, ywrap)
        for f0 in range(0, pairs, 2 * nl):
            _block_six(xf, wf, yf, offs, taps, (c0, c1, c2, c3, c4, c5), t0row + f0, chans,
                       (u0 + f0, u1 + f0, u2 + f0, u3 + f0, u4 + f0, u5 + f0), nl)
        p += 6


@_inline
def _block_one(xf, wf, yf, offsets, taps, corner, xstep, w0row, chans, at, ystep):
    """8 pixels x 1 vector of channels (the last one): as :func:`_block_two`."""
    zero = vzeros(xf)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
    for t in range(taps):
        xt = corner + offsets[t]
        w0 = vload(wf, w0row + t * chans)
        a0, a1, a2, a3 = _four_one(xf, xt, xstep, w0, a0, a1, a2, a3)
        a4, a5, a6, a7 = _four_one(xf, xt + 4 * xstep, xstep, w0, a4, a5, a6, a7)
    _store4(yf, at, ystep, a0, a1, a2, a3)
    _store4(yf, at + 4 * ystep, ystep, a4, a5, a6, a7)


@_inline
def _pixel(xf, wf, yf, offsets, taps, corner, w0row, chans, at, count, nl):
    """One pixel x ``count`` channels (whole vectors) from the kernel column ``w0row``'s offset."""
    for f0 in range(0, count, nl):
        a0 = vzeros(xf)
        for t in range(taps):
            a0 = vfma(vbroadcast(xf, corner + offsets[t]), vload(wf, w0row + t * chans + f0), a0)
        vstore(yf, at + f0, a0)


@kernel
def strided_input_grad_chunk(dyp, wq, dx, plan, sh, sw, nl):
    """The input gradient of a strided convolution, phase by phase, for a chunk of images.

    Phase row ``p`` of ``plan`` = (a, b, hq, wq, r0, c0, ki, kj, t0): the phase's pixels are
    ``dx[n, a + sh * r, b + sw * q]`` for ``r < hq``, ``q < wq``; each is the stride-1
    correlation ``sum over (m, k, f) of dyp[n, r0 + r + m, c0 + q + k, f] *
    wq[t0 * F + (m * kj + k) * F + f, :]`` over its ``ki x kj`` sub-kernel (``ki * kj == 0``: the
    phase receives nothing, its pixels are zeroed).

    Args:
        dyp: output gradient, zero-padded so that every phase's window lies inside, (N, OHp, OWp,
            F), C-contiguous.
        wq: the phases' sub-kernels, flipped and transposed, as rows of C values, C-contiguous,
            of ``dyp``'s dtype; C a multiple of ``nl``.
        dx: input gradient, (N, H, W, C), C-contiguous; overwritten.
        plan: (phases, :data:`PLAN_COLUMNS`) int64.
        sh, sw: the strides.
    """
    n_img, hp, wp, fch = dyp.shape
    height, width, chans = dx.shape[1], dx.shape[2], dx.shape[3]
    xf, wf, yf = dyp.reshape(-1), wq.reshape(-1), dx.reshape(-1)
    _check_width(nl, dyp.itemsize, chans)
    phases = plan.shape[0]
    most = 1
    for p in range(phases):
        most = max(most, plan[p, 6] * plan[p, 7] * fch)
    offsets = np.zeros((phases, most), np.int64)  # each phase's taps, from a pixel's window corner
    for p in range(phases):
        for m in range(plan[p, 6]):
            for k in range(plan[p, 7]):
                for f in range(fch):
                    offsets[p, (m * plan[p, 7] + k) * fch + f] = (m * wp + k) * fch + f
    pairs = chans - chans % (2 * nl)
    ystep = sw * chans
    zero = vzeros(xf)
    for n in range(n_img):
        for p in range(phases):
            a, b, hq, wq_n = plan[p, 0], plan[p, 1], plan[p, 2], plan[p, 3]
            r0, c0, taps, t0 = plan[p, 4], plan[p, 5], plan[p, 6] * plan[p, 7] * fch, plan[p, 8] * fch
            offs = offsets[p]
            wrapped = WRAPPED_SIX and taps > 0 and pairs > 0 and hq * wq_n >= 6
            if WRAPPED_SIX:
                if wrapped:
                    _wrapped_pairs(xf, wf, yf, offs, taps, (hq, wq_n, ((n * hp + r0) * wp + c0) * fch, wp * fch, fch,
                                                            ((n * height + a) * width + b) * chans,
                                                            sh * width * chans, ystep), t0 * chans, chans, pairs, nl)
            for r in range(hq):
                out = ((n * height + a + sh * r) * width + b) * chans
                if taps == 0:
                    for q in range(wq_n):
                        for f0 in range(0, chans, nl):
                            vstore(yf, out + q * ystep + f0, zero)
                    continue
                corner0 = ((n * hp + r0 + r) * wp + c0) * fch
                done = pairs if wrapped else 0  # the channels computed in blocks of pixels
                if wq_n >= PIXELS and pairs and not wrapped:
                    done = pairs
                    q = 0
                    while q < wq_n:
                        q = min(q, wq_n - PIXELS)  # the last block overlaps: the same values again
                        for f0 in range(0, pairs, 2 * nl):
                            _block_two(xf, wf, yf, offs, taps, corner0 + q * fch, fch, t0 * chans + f0, chans,
                                       out + q * ystep + f0, ystep, nl)
                        q += PIXELS
                if wq_n >= 8 and pairs < chans:
                    done = chans
                    q = 0
                    while q < wq_n:
                        q = min(q, wq_n - 8)
                        _block_one(xf, wf, yf, offs, taps, corner0 + q * fch, fch, t0 * chans + pairs, chans,
                                   out + q * ystep + pairs, ystep)
                        q += 8
                if done < chans:  # rows too short for a block: one pixel at a time
                    for q in range(wq_n):
                        _pixel(xf, wf, yf, offs, taps, corner0 + q * fch, t0 * chans + done, chans,
                               out + q * ystep + done, chans - done, nl)
