"""The direct kernel gradient with the layer's output pass inside: a first layer's whole backward.

A network's first convolution needs no input gradient, so its backward pass is the output pass
(the ReLU's mask ``dz = dy * (out > 0)`` and the bias gradient ``db = sum of dz``) and the kernel
gradient. Run one after the other, the output pass reads the output gradient and the output and
writes ``dz`` (three arrays as large as the layer's output: 11 MB each for MNIST's 1 -> 32 layer
at batch 128), and the kernel gradient reads ``dz`` again. Here the kernel gradient masks each
vector of ``dy`` as it loads it and adds it into the bias gradient's accumulators: ``dz`` is never
stored. The sums are those of `kerasette.backend.kernels.direct`'s
:func:`~kerasette.backend.kernels.direct.weight_grad_chunk` (the same register blocking and
order: the same bits) and of the output pass (each channel's values added pixel by pixel, in
the batch's order).

With 16 vector registers (AVX2, SSE) the pair kernel's 18 accumulators, two gradient vectors,
the broadcast and the bias sums do not fit: its loop spilled to memory (1x1 64 -> 64 at 32x32,
batch 32, AVX2: 7 ms, against 1.4 ms with AVX-512's 32 registers). :func:`weight_grad_chunk_split`
takes each group of 9 taps in two passes over the row (5 taps, then 4: 10 and 8 accumulators)
and the bias gradient in a pass of its own; each sum is the same sequence of additions, so the
bits are those of the one-pass kernels. Without the output pass (``bias`` and ``relu`` off) it is
`direct.weight_grad_chunk` on those machines.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

from kerasette.backend.kernels._jit import inline as _inline
from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.direct import TAP_GROUP, _check_width, _load_pair, _put_pair, _tap_offsets
from kerasette.backend.kernels.simd import Vector, vadd, vbroadcast, vfma, vload, vstore

#: Output pixels :func:`weight_grad_chunk_split`'s tap passes take at least (whole output rows)
#: where they read ``dy`` in place (no ReLU): the accumulators are loaded and stored once per band
#: of rows instead of once per row. AVX2, one thread, batch 32, ms, the kernel gradient alone,
#: one row / bands of 32 / 64 / 256 pixels: ResNet-20's 32 -> 64 3x3 stride 2 (8-pixel rows)
#: 0.93-1.00 / 0.85-0.91 / 0.82-0.90 / 0.85-0.88, 16 -> 32 (16-pixel rows) 0.95-0.99 / 0.97-1.03 /
#: 0.93-0.99 / 1.13-1.16 (whole images leave the L1 cache). With a ReLU the passes read a masked
#: copy of one row: bands of it measured slower for MNIST's 1 -> 32 (backward 1.23-1.27 -> 1.27-1.40).
BAND_PIXELS = 64


@intrinsic
def vrelu_grad(typingctx, d, o):
    """``d`` where ``o > 0``, else 0, lane by lane (a NaN in ``o`` gives 0): the ReLU's gradient
    for its output ``o``."""
    if not (isinstance(d, Vector) and d == o):
        return None

    def codegen(context, builder, sig, args):
        zero = ir.Constant(args[0].type, None)
        return builder.select(builder.fcmp_ordered(">", args[1], zero), args[0], zero)

    return d(d, o), codegen


@_inline
def _dz(dyf, outf, at, relu):
    """The vector of ``dz`` at ``at``: ``dy``, masked by the ReLU's output when ``relu``."""
    d = vload(dyf, at)
    return vrelu_grad(d, vload(outf, at)) if relu else d


@kernel
def weight_grad_chunk_masked(dy, out, x, dw, db, relu, sh, sw, kh, kw, nl):
    """``dw += sum over the chunk of x_window (outer) dz`` and ``db += sum of dz`` with ``dz =
    dy * (out > 0)`` (``dy`` itself without ``relu``): `direct.weight_grad_chunk` and the output
    pass in one, for the pairs of vectors of output channels.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous; F a multiple of ``lanes``.
        out: the layer's output (read when ``relu``), as ``dy``.
        x, dw, sh, sw, kh, kw: as for `direct.weight_grad_chunk`.
        db: bias gradient accumulator, (F,); not zeroed here.
        relu: whether the forward pass applied a ReLU.
    """
    n_img, height, width, chans = x.shape
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    xf, dyf, outf, dwf = x.reshape(-1), dy.reshape(-1), out.reshape(-1), dw.reshape(-1)
    _check_width(nl, x.itemsize, cout)
    offsets = _tap_offsets(kh, kw, chans, width, dw.shape[0])
    step = sw * chans
    for n in range(n_img):
        for oh in range(oh_n):
            corner0 = (n * height + oh * sh) * width * chans
            out0 = (n * oh_n + oh) * ow_n * cout
            for f0 in range(0, cout - cout % (2 * nl), 2 * nl):
                for t0 in range(0, dw.shape[0], TAP_GROUP):  # 9 taps x 2 vectors of channels
                    o0, o1, o2 = offsets[t0], offsets[t0 + 1], offsets[t0 + 2]
                    o3, o4, o5 = offsets[t0 + 3], offsets[t0 + 4], offsets[t0 + 5]
                    o6, o7, o8 = offsets[t0 + 6], offsets[t0 + 7], offsets[t0 + 8]
                    r = t0 * cout + f0
                    a00, a01 = _load_pair(dwf, r, nl)
                    a10, a11 = _load_pair(dwf, r + cout, nl)
                    a20, a21 = _load_pair(dwf, r + 2 * cout, nl)
                    a30, a31 = _load_pair(dwf, r + 3 * cout, nl)
                    a40, a41 = _load_pair(dwf, r + 4 * cout, nl)
                    a50, a51 = _load_pair(dwf, r + 5 * cout, nl)
                    a60, a61 = _load_pair(dwf, r + 6 * cout, nl)
                    a70, a71 = _load_pair(dwf, r + 7 * cout, nl)
                    a80, a81 = _load_pair(dwf, r + 8 * cout, nl)
                    s0, s1 = _load_pair(db, f0, nl)
                    first = t0 == 0  # the bias gradient is taken with the first group of taps
                    corner, at = corner0, out0 + f0
                    for _ in range(ow_n):
                        d0, d1 = _dz(dyf, outf, at, relu), _dz(dyf, outf, at + nl, relu)
                        if first:
                            s0, s1 = vadd(s0, d0), vadd(s1, d1)
                        v = vbroadcast(xf, corner + o0)
                        a00, a01 = vfma(v, d0, a00), vfma(v, d1, a01)
                        v = vbroadcast(xf, corner + o1)
                        a10, a11 = vfma(v, d0, a10), vfma(v, d1, a11)
                        v = vbroadcast(xf, corner + o2)
                        a20, a21 = vfma(v, d0, a20), vfma(v, d1, a21)
                        v = vbroadcast(xf, corner + o3)
                        a30, a31 = vfma(v, d0, a30), vfma(v, d1, a31)
                        v = vbroadcast(xf, corner + o4)
                        a40, a41 = vfma(v, d0, a40), vfma(v, d1, a41)
                        v = vbroadcast(xf, corner + o5)
                        a50, a51 = vfma(v, d0, a50), vfma(v, d1, a51)
                        v = vbroadcast(xf, corner + o6)
                        a60, a61 = vfma(v, d0, a60), vfma(v, d1, a61)
                        v = vbroadcast(xf, corner + o7)
                        a70, a71 = vfma(v, d0, a70), vfma(v, d1, a71)
                        v = vbroadcast(xf, corner + o8)
                        a80, a81 = vfma(v, d0, a80), vfma(v, d1, a81)
                        corner += step
                        at += cout
                    if first:
                        _put_pair(db, f0, s0, s1)
                    _put_pair(dwf, r, a00, a01)
                    _put_pair(dwf, r + cout, a10, a11)
                    _put_pair(dwf, r + 2 * cout, a20, a21)
                    _put_pair(dwf, r + 3 * cout, a30, a31)
                    _put_pair(dwf, r + 4 * cout, a40, a41)
                    _put_pair(dwf, r + 5 * cout, a50, a51)
                    _put_pair(dwf, r + 6 * cout, a60, a61)
                    _put_pair(dwf, r + 7 * cout, a70, a71)
                    _put_pair(dwf, r + 8 * cout, a80, a81)


@kernel
def weight_grad_chunk_masked_last(dy, out, x, dw, db, relu, sh, sw, kh, kw, nl):
    """:func:`weight_grad_chunk_masked` for the last vector of output channels when they are an
    odd number of vectors (`direct.weight_grad_chunk_last` with the output pass). Arguments as
    for :func:`weight_grad_chunk_masked`."""
    n_img, height, width, chans = x.shape
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    xf, dyf, outf, dwf = x.reshape(-1), dy.reshape(-1), out.reshape(-1), dw.reshape(-1)
    _check_width(nl, x.itemsize, cout)
    offsets = _tap_offsets(kh, kw, chans, width, dw.shape[0])
    step = sw * chans
    f0 = cout - nl
    for n in range(n_img):
        for oh in range(oh_n):
            corner0 = (n * height + oh * sh) * width * chans
            out0 = (n * oh_n + oh) * ow_n * cout
            for t0 in range(0, dw.shape[0], TAP_GROUP):
                o0, o1, o2 = offsets[t0], offsets[t0 + 1], offsets[t0 + 2]
                o3, o4, o5 = offsets[t0 + 3], offsets[t0 + 4], offsets[t0 + 5]
                o6, o7, o8 = offsets[t0 + 6], offsets[t0 + 7], offsets[t0 + 8]
                r = t0 * cout + f0
                a0, a1, a2 = vload(dwf, r), vload(dwf, r + cout), vload(dwf, r + 2 * cout)
                a3, a4, a5 = vload(dwf, r + 3 * cout), vload(dwf, r + 4 * cout), vload(dwf, r + 5 * cout)
                a6, a7, a8 = vload(dwf, r + 6 * cout), vload(dwf, r + 7 * cout), vload(dwf, r + 8 * cout)
                s0 = vload(db, f0)
                first = t0 == 0
                corner, at = corner0, out0 + f0
                for _ in range(ow_n):
                    d = _dz(dyf, outf, at, relu)
                    if first:
                        s0 = vadd(s0, d)
                    a0 = vfma(vbroadcast(xf, corner + o0), d, a0)
                    a1 = vfma(vbroadcast(xf, corner + o1), d, a1)
                    a2 = vfma(vbroadcast(xf, corner + o2), d, a2)
                    a3 = vfma(vbroadcast(xf, corner + o3), d, a3)
                    a4 = vfma(vbroadcast(xf, corner + o4), d, a4)
                    a5 = vfma(vbroadcast(xf, corner + o5), d, a5)
                    a6 = vfma(vbroadcast(xf, corner + o6), d, a6)
                    a7 = vfma(vbroadcast(xf, corner + o7), d, a7)
                    a8 = vfma(vbroadcast(xf, corner + o8), d, a8)
                    corner += step
                    at += cout
                if first:
                    vstore(db, f0, s0)
                vstore(dwf, r, a0)
                vstore(dwf, r + cout, a1)
                vstore(dwf, r + 2 * cout, a2)
                vstore(dwf, r + 3 * cout, a3)
                vstore(dwf, r + 4 * cout, a4)
                vstore(dwf, r + 5 * cout, a5)
                vstore(dwf, r + 6 * cout, a6)
                vstore(dwf, r + 7 * cout, a7)
                vstore(dwf, r + 8 * cout, a8)


@_inline
def _bias_row(dyf, outf, db, at0, ow_n, cout, pairs_end, nl, relu):
    """``db[:pairs_end] += the row's dz``, pixel by pixel, a pair of vectors at a time."""
    for f0 in range(0, pairs_end, 2 * nl):
        s0, s1 = _load_pair(db, f0, nl)
        at = at0 + f0
        for _ in range(ow_n):
            s0, s1 = vadd(s0, _dz(dyf, outf, at, relu)), vadd(s1, _dz(dyf, outf, at + nl, relu))
            at += cout
        _put_pair(db, f0, s0, s1)


@_inline
def _mask_row(dyf, outf, row, db, at0, ow_n, cout, pairs_end, nl, relu, bias):
    """Stores the row's ``dz`` (channels ``:pairs_end``, at offsets from ``at0``) into ``row``
    and, when ``bias``, adds it into ``db[:pairs_end]`` pixel by pixel, a pair of vectors at a
    time: each value masked once, where the tap groups each masked it again."""
    for f0 in range(0, pairs_end, 2 * nl):
        s0, s1 = _load_pair(db, f0, nl)
        at = f0
        for _ in range(ow_n):
            d0, d1 = _dz(dyf, outf, at0 + at, relu), _dz(dyf, outf, at0 + at + nl, relu)
            _put_pair(row, at, d0, d1)
            if bias:
                s0, s1 = vadd(s0, d0), vadd(s1, d1)
            at += cout
        if bias:
            _put_pair(db, f0, s0, s1)


@_inline
def _five_taps(xf, dyf, outf, dwf, offsets, t, r, cout, corner, at, ow_n, step, nl, relu, rows, wrap):
    """Taps ``t .. t + 4`` of ``rows`` output rows (consecutive in ``dyf``; ``wrap``: from a row's
    last window to the next row's first) for a pair of vectors of channels (10 accumulators)."""
    o0, o1, o2, o3, o4 = offsets[t], offsets[t + 1], offsets[t + 2], offsets[t + 3], offsets[t + 4]
    a00, a01 = _load_pair(dwf, r, nl)
    a10, a11 = _load_pair(dwf, r + cout, nl)
    a20, a21 = _load_pair(dwf, r + 2 * cout, nl)
    a30, a31 = _load_pair(dwf, r + 3 * cout, nl)
    a40, a41 = _load_pair(dwf, r + 4 * cout, nl)
    for _ in range(rows):
        for _ in range(ow_n):
            d0, d1 = _dz(dyf, outf, at, relu), _dz(dyf, outf, at + nl, relu)
            v = vbroadcast(xf, corner + o0)
            a00, a01 = vfma(v, d0, a00), vfma(v, d1, a01)
            v = vbroadcast(xf, corner + o1)
            a10, a11 = vfma(v, d0, a10), vfma(v, d1, a11)
            v = vbroadcast(xf, corner + o2)
            a20, a21 = vfma(v, d0, a20), vfma(v, d1, a21)
            v = vbroadcast(xf, corner + o3)
            a30, a31 = vfma(v, d0, a30), vfma(v, d1, a31)
            v = vbroadcast(xf, corner + o4)
            a40, a41 = vfma(v, d0, a40), vfma(v, d1, a41)
            corner += step
            at += cout
        corner += wrap - step
    _put_pair(dwf, r, a00, a01)
    _put_pair(dwf, r + cout, a10, a11)
    _put_pair(dwf, r + 2 * cout, a20, a21)
    _put_pair(dwf, r + 3 * cout, a30, a31)
    _put_pair(dwf, r + 4 * cout, a40, a41)


@_inline
def _four_taps(xf, dyf, outf, dwf, offsets, t, r, cout, corner, at, ow_n, step, nl, relu, rows, wrap):
    """Taps ``t .. t + 3`` of ``rows`` output rows (as :func:`_five_taps`) for a pair of vectors of
    channels (8 accumulators)."""
    o0, o1, o2, o3 = offsets[t], offsets[t + 1], offsets[t + 2], offsets[t + 3]
    a00, a01 = _load_pair(dwf, r, nl)
    a10, a11 = _load_pair(dwf, r + cout, nl)
    a20, a21 = _load_pair(dwf, r + 2 * cout, nl)
    a30, a31 = _load_pair(dwf, r + 3 * cout, nl)
    for _ in range(rows):
        for _ in range(ow_n):
            d0, d1 = _dz(dyf, outf, at, relu), _dz(dyf, outf, at + nl, relu)
            v = vbroadcast(xf, corner + o0)
            a00, a01 = vfma(v, d0, a00), vfma(v, d1, a01)
            v = vbroadcast(xf, corner + o1)
            a10, a11 = vfma(v, d0, a10), vfma(v, d1, a11)
            v = vbroadcast(xf, corner + o2)
            a20, a21 = vfma(v, d0, a20), vfma(v, d1, a21)
            v = vbroadcast(xf, corner + o3)
            a30, a31 = vfma(v, d0, a30), vfma(v, d1, a31)
            corner += step
            at += cout
        corner += wrap - step
    _put_pair(dwf, r, a00, a01)
    _put_pair(dwf, r + cout, a10, a11)
    _put_pair(dwf, r + 2 * cout, a20, a21)
    _put_pair(dwf, r + 3 * cout, a30, a31)


@kernel
def weight_grad_chunk_split(dy, out, x, dw, db, relu, bias, sh, sw, kh, kw, nl):
    """:func:`weight_grad_chunk_masked` for machines with 16 vector registers: each group of 9
    taps in two passes over the row (5 taps, then 4), the bias gradient in a pass of its own
    (when ``bias``); the same sums, the same bits. With ``relu``, that pass masks the row once
    into a buffer of one row (in L1) that the tap passes read, where each of them masked it
    again (7 masks a value for a 3x3 kernel: cifar32's 3 -> 32 layer, batch 32, AVX2, 2 threads,
    0.728 -> 0.641 ms). Without ``relu`` a pass takes a band of rows (:data:`BAND_PIXELS`), its
    accumulators loaded and stored once for them. With ``bias`` and ``relu`` off, ``out`` and
    ``db`` are not read and it is `direct.weight_grad_chunk`. Arguments as for
    :func:`weight_grad_chunk_masked`; ``bias``: whether to add the bias gradient into ``db``."""
    n_img, height, width, chans = x.shape
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    xf, dyf, outf, dwf = x.reshape(-1), dy.reshape(-1), out.reshape(-1), dw.reshape(-1)
    _check_width(nl, x.itemsize, cout)
    offsets = _tap_offsets(kh, kw, chans, width, dw.shape[0])
    step = sw * chans
    wrap = sh * width * chans - (ow_n - 1) * step  # from a row's last window to the next row's first
    pairs_end = cout - cout % (2 * nl)
    band = 1 if relu else max(1, BAND_PIXELS // ow_n)  # output rows a pass takes
    row = np.empty(ow_n * cout, dy.dtype)  # a row's dz: masked once, read by every pass over it
    for n in range(n_img):
        for oh in range(0, oh_n, band):
            rows = min(band, oh_n - oh)
            corner0 = (n * height + oh * sh) * width * chans
            out0 = (n * oh_n + oh) * ow_n * cout
            if relu:
                _mask_row(dyf, outf, row, db, out0, ow_n, cout, pairs_end, nl, relu, bias)
                src, at0 = row, 0
            else:  # dz is dy: read in place, the band's rows one after the other
                if bias:
                    _bias_row(dyf, outf, db, out0, rows * ow_n, cout, pairs_end, nl, relu)
                src, at0 = dyf, out0
            for f0 in range(0, pairs_end, 2 * nl):
                for t0 in range(0, dw.shape[0], TAP_GROUP):
                    r = t0 * cout + f0
                    _five_taps(xf, src, src, dwf, offsets, t0, r, cout, corner0, at0 + f0, ow_n, step, nl, False,
                               rows, wrap)
                    _four_taps(xf, src, src, dwf, offsets, t0 + 5, r + 5 * cout, cout, corner0, at0 + f0, ow_n,
                               step, nl, False, rows, wrap)
