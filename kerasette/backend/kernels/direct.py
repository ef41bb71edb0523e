"""Direct convolution for layers with few input channels (an RGB input layer), in SIMD registers.

With C input channels, a k x k convolution does only k * k * C multiply-adds per output value:
27 for a 3x3 kernel on RGB images. im2col GEMM then multiplies matrices with a 27-long inner
dimension, which BLAS runs far below its peak, and Winograd's output transform alone costs about
as much per output as those 27 multiply-adds. Here each output value is accumulated in a
register instead: the kernels are outer products over the output channels, written with the
explicit vectors of `kerasette.backend.kernels.simd` (one fused multiply-add per input value,
kernel row and vector of output channels).

* :func:`conv_chunk`: :data:`PIXELS` output pixels (8 with AVX-512, else 6), consecutive in
  the image's row order, x 2 vectors of output channels in 16 (12) accumulators; per kernel
  tap, 2 vector loads of the kernel, a broadcast of an input value per pixel and 2 FMAs per
  pixel. A block crosses the end of a row, so that no pixel is computed twice whatever the
  width (blocks within rows computed 12 pixels for rows of 8, 36 for 32). Bias and ReLU are
  applied as the accumulators are stored. A last single vector of channels (16 float32
  channels with AVX-512) is :func:`conv_chunk_last`'s: 8 pixels at a time.
* :func:`weight_grad_chunk`: for each output row, 9 kernel taps x 2 vectors of output channels in
  18 accumulators; per output pixel, 2 vector loads of ``dy``, 9 broadcasts of input values and
  18 FMAs (a last single vector: :func:`weight_grad_chunk_last`, 9 accumulators). The row of
  ``dy`` is read once per group of 9 taps, from the L1 cache.

The stride-1 input gradient of a few-channel layer (a sum along the vectors) is
`kerasette.backend.kernels.direct_input`'s.

The kernels take unpadded ('valid') geometry: the caller pads the input. The number of output
channels must be a multiple of ``simd.lanes(itemsize)`` (16 float32 values with AVX-512);
`kerasette.backend.engine.direct_conv` pads, checks and dispatches.
"""

from __future__ import annotations

import numpy as np
from numba.core import types
from numba.extending import intrinsic

from kerasette.backend.kernels._jit import inline as _inline
from kerasette.backend.kernels._jit import kernel, linked
from kerasette.backend.kernels.simd import (  # and simd's own helpers, for the pair intrinsics
    VECTOR_BYTES,
    _contiguous,
    _element_pointer,
    _vector_of,
    lanes,
    vadd,
    vbroadcast,
    vfma,
    vload,
    vmax,
    vstore,
    vzeros,
)

#: Kernel taps accumulated at once by :func:`weight_grad_chunk`; the unrolled loop body has this
#: many, so changing it means changing the kernel.
TAP_GROUP = 9

#: Output pixels :func:`conv_chunk` computes at once (x 2 vectors of channels): 8 (16
#: accumulators) with AVX-512's 32 vector registers, else 6 (12 of 16 registers).
PIXELS = 8 if VECTOR_BYTES == 64 else 6

@_inline
def _check_width(nl, itemsize, cout):
    """Refuses to run when the vectors compiled in (a cached kernel compiled for other CPU
    features, see `kerasette.backend.kernels.simd`) are not the ``nl`` lanes the caller
    planned for, or when ``cout`` does not fill whole vectors: either would write outside the
    output."""
    if nl != lanes(itemsize) or cout % nl != 0:
        raise ValueError("direct convolution kernel: the output channels must fill whole compiled "
                         "vectors; a numba cache compiled for other CPU features? Clear the "
                         "__pycache__ folder beside kerasette/backend/kernels")


@kernel
def _tap_offsets(kh, kw, chans, width, count):
    """Flat offsets, within the input, of each kernel tap ``(i, j, c)`` from the window's corner,
    in the kernel's (kh, kw, C) order, followed by zeros up to ``count`` entries."""
    offsets = np.zeros(count, np.int64)
    for i in range(kh):
        for j in range(kw):
            for c in range(chans):
                offsets[(i * kw + j) * chans + c] = (i * width + j) * chans + c
    return offsets


@kernel
def conv_chunk(x, w, y, b, has_bias, relu, sh, sw, nl):
    """``y = act(conv(x, w) + b)`` ('valid' geometry, strides ``sh``, ``sw``) for a chunk of images.

    Args:
        x: input, (N, H, W, C), C-contiguous, already padded.
        w: kernel, (kh, kw, C, F), C-contiguous; F a multiple of ``lanes``.
        y: output, (N, OH, OW, F), C-contiguous; overwritten.
        b: bias, (F,) (read when ``has_bias``).
        relu: apply a ReLU after the bias.
    """
    n_img, height, width, chans = x.shape
    kh, kw = w.shape[0], w.shape[1]
    oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3]
    xf, wf, yf = x.reshape(-1), w.reshape(-1), y.reshape(-1)
    _check_width(nl, x.itemsize, cout)
    # The taps (i, j, c) of kernel row i are kw * C consecutive input values from the window's
    # corner plus i input rows (no table of offsets: one kernel less to compile on a first run).
    window = (kh, kw * chans, width * chans)  # kernel rows, taps per kernel row, input row length
    step = sw * chans  # from one output pixel's window to the next one's
    row_step = sh * width * chans  # from one output row's first window to the next row's
    wrap = row_step - (ow_n - 1) * step  # from a row's last window to the next row's first
    pixels = oh_n * ow_n
    zero = vzeros(xf)
    for n in range(n_img):
        image = n * height * width * chans
        for f0 in range(0, cout - cout % (2 * nl), 2 * nl):
            b0 = vload(b, f0) if has_bias else zero
            b1 = vload(b, f0 + nl) if has_bias else zero
            p = 0
            while p < pixels and pixels >= PIXELS:  # PIXELS pixels x 2 vectors of channels
                p = min(p, pixels - PIXELS)  # the image's last block overlaps its neighbour: same values again
                oh = p // ow_n
                ow = p - oh * ow_n
                _block_pair(xf, wf, yf, window, (image + oh * row_step + ow * step, ow, ow_n, step, wrap),
                            (n * pixels + p) * cout, (cout, f0, nl), b0, b1, relu, zero)
                p += PIXELS
            while p < pixels:  # images of fewer pixels, one at a time
                oh = p // ow_n
                corner = image + oh * row_step + (p - oh * ow_n) * step
                a00 = a01 = zero
                for i in range(kh):
                    for r in range(kw * chans):
                        v = vbroadcast(xf, corner + i * width * chans + r)
                        t = (i * kw * chans + r) * cout + f0
                        a00 = vfma(v, vload(wf, t), a00)
                        a01 = vfma(v, vload(wf, t + nl), a01)
                at = (n * pixels + p) * cout + f0
                vstore(yf, at, _act(a00, b0, relu, zero))
                vstore(yf, at + nl, _act(a01, b1, relu, zero))
                p += 1


@linked
def _next_window(corner, ow, ow_n, step, wrap):
    """The window corner and column of the output pixel after the one at ``corner`` (column
    ``ow``) in the image's row order: ``step`` further along the row, or ``wrap`` further to
    the next row's first window."""
    if ow + 1 < ow_n:
        return corner + step, ow + 1
    return corner + wrap, 0


@linked
def _act(a, b, relu, zero):
    """``act(a + b)``: the vector ``a`` plus the bias vector ``b``, through a ReLU when ``relu``
    (``zero``: a vector of zeros)."""
    a = vadd(a, b)
    return vmax(a, zero) if relu else a


@_inline
def _block_pair(xf, wf, yf, window, where, at, channels, b0, b1, relu, zero):
    """:func:`conv_chunk`'s block of :data:`PIXELS` output pixels, consecutive in the image's
    row order, x 2 vectors of channels: per kernel tap, 2 vector loads of the kernel, one
    broadcast per pixel, 2 FMAs per pixel.

    ``window`` = (kernel rows, taps per kernel row, input row length); ``where`` = (the first
    pixel's window corner in ``xf``, its column, OW, the step from one window to the next along
    a row, from a row's last window to the next row's first); ``at``: the first pixel in ``yf``;
    ``channels`` = (F, the first channel, lanes). The helpers it calls more than once are
    :data:`linked` ones (``_inline`` copies would cost their compile at each call).
    """
    rows, row_taps, row_len = window
    cout, f0, nl = channels
    c0, ow, ow_n, step, wrap = where
    c1, ow = _next_window(c0, ow, ow_n, step, wrap)
    c2, ow = _next_window(c1, ow, ow_n, step, wrap)
    c3, ow = _next_window(c2, ow, ow_n, step, wrap)
    c4, ow = _next_window(c3, ow, ow_n, step, wrap)
    c5, ow = _next_window(c4, ow, ow_n, step, wrap)
    c6, ow = _next_window(c5, ow, ow_n, step, wrap)
    c7, ow = _next_window(c6, ow, ow_n, step, wrap)
    a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = zero
    a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = zero
    for i in range(rows):
        for r in range(row_taps):
            o = i * row_len + r  # the tap's input value, from a window's corner
            t = (i * row_taps + r) * cout + f0  # its kernel vectors
            w0 = vload(wf, t)
            w1 = vload(wf, t + nl)
            v = vbroadcast(xf, c0 + o)
            a00, a01 = vfma(v, w0, a00), vfma(v, w1, a01)
            v = vbroadcast(xf, c1 + o)
            a10, a11 = vfma(v, w0, a10), vfma(v, w1, a11)
            v = vbroadcast(xf, c2 + o)
            a20, a21 = vfma(v, w0, a20), vfma(v, w1, a21)
            v = vbroadcast(xf, c3 + o)
            a30, a31 = vfma(v, w0, a30), vfma(v, w1, a31)
            v = vbroadcast(xf, c4 + o)
            a40, a41 = vfma(v, w0, a40), vfma(v, w1, a41)
            v = vbroadcast(xf, c5 + o)
            a50, a51 = vfma(v, w0, a50), vfma(v, w1, a51)
            if PIXELS == 8:
                v = vbroadcast(xf, c6 + o)
                a60, a61 = vfma(v, w0, a60), vfma(v, w1, a61)
                v = vbroadcast(xf, c7 + o)
                a70, a71 = vfma(v, w0, a70), vfma(v, w1, a71)
    at += f0
    vstore(yf, at, _act(a00, b0, relu, zero))
    vstore(yf, at + nl, _act(a01, b1, relu, zero))
    vstore(yf, at + cout, _act(a10, b0, relu, zero))
    vstore(yf, at + cout + nl, _act(a11, b1, relu, zero))
    vstore(yf, at + 2 * cout, _act(a20, b0, relu, zero))
    vstore(yf, at + 2 * cout + nl, _act(a21, b1, relu, zero))
    vstore(yf, at + 3 * cout, _act(a30, b0, relu, zero))
    vstore(yf, at + 3 * cout + nl, _act(a31, b1, relu, zero))
    vstore(yf, at + 4 * cout, _act(a40, b0, relu, zero))
    vstore(yf, at + 4 * cout + nl, _act(a41, b1, relu, zero))
    vstore(yf, at + 5 * cout, _act(a50, b0, relu, zero))
    vstore(yf, at + 5 * cout + nl, _act(a51, b1, relu, zero))
    if PIXELS == 8:
        vstore(yf, at + 6 * cout, _act(a60, b0, relu, zero))
        vstore(yf, at + 6 * cout + nl, _act(a61, b1, relu, zero))
        vstore(yf, at + 7 * cout, _act(a70, b0, relu, zero))
        vstore(yf, at + 7 * cout + nl, _act(a71, b1, relu, zero))


@kernel
def conv_chunk_last(x, w, y, b, has_bias, relu, sh, sw, nl):
    """:func:`conv_chunk` for the last vector of output channels when they are an odd number
    of vectors (16 float32 channels with AVX-512), which :func:`conv_chunk` leaves: 8 pixels
    at a time. A kernel of its own, compiled only for the layers that need it. Arguments as for
    :func:`conv_chunk`."""
    n_img, height, width, chans = x.shape
    kh, kw = w.shape[0], w.shape[1]
    oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3]
    xf, wf, yf = x.reshape(-1), w.reshape(-1), y.reshape(-1)
    _check_width(nl, x.itemsize, cout)
    taps = kh * kw * chans
    offsets = _tap_offsets(kh, kw, chans, width, taps)
    zero = vzeros(xf)
    for n in range(n_img):
        for oh in range(oh_n):
            row = (n * height + oh * sh) * width
            out = (n * oh_n + oh) * ow_n
            _row_one_vector(xf, wf, yf, offsets, taps, (row * chans, sw * chans, out, ow_n, cout, cout - nl),
                            b, has_bias, relu, zero)


@_inline
def _row_one_vector(xf, wf, yf, offsets, taps, where, b, has_bias, relu, zero):
    """One output row's last vector of channels: 8 pixels x 1 vector in 8 accumulators (one
    kernel load and 8 broadcasts per tap), the last block overlapping its neighbour; rows of
    fewer than 8 pixels go 4 at a time, then one at a time.

    ``where`` = (the row's first window corner in ``xf``, the step from one pixel's window to
    the next, the row's first pixel in ``yf``, pixels in the row, F, the vector's first channel).
    """
    corner0, step, out, ow_n, cout, f0 = where
    b0 = vload(b, f0) if has_bias else zero
    ow = 0
    while ow < ow_n and ow_n >= 8:
        ow = min(ow, ow_n - 8)
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
        corner = corner0 + ow * step
        for t in range(taps):
            xt = corner + offsets[t]
            w0 = vload(wf, t * cout + f0)
            a0, a1, a2, a3 = _four_one(xf, xt, step, w0, a0, a1, a2, a3)
            a4, a5, a6, a7 = _four_one(xf, xt + 4 * step, step, w0, a4, a5, a6, a7)
        at = (out + ow) * cout + f0
        _store_four(yf, at, cout, a0, a1, a2, a3, b0, relu, zero)
        _store_four(yf, at + 4 * cout, cout, a4, a5, a6, a7, b0, relu, zero)
        ow += 8
    while ow + 4 <= ow_n:
        a0 = a1 = a2 = a3 = zero
        corner = corner0 + ow * step
        for t in range(taps):
            a0, a1, a2, a3 = _four_one(xf, corner + offsets[t], step, vload(wf, t * cout + f0), a0, a1, a2, a3)
        _store_four(yf, (out + ow) * cout + f0, cout, a0, a1, a2, a3, b0, relu, zero)
        ow += 4
    while ow < ow_n:
        a0 = zero
        corner = corner0 + ow * step
        for t in range(taps):
            a0 = vfma(vbroadcast(xf, corner + offsets[t]), vload(wf, t * cout + f0), a0)
        _store_one(yf, (out + ow) * cout + f0, a0, b0, relu, zero)
        ow += 1


@_inline
def _four_one(xf, xt, step, w0, a0, a1, a2, a3):
    """The accumulators of 4 pixels (windows ``step`` apart from ``xf[xt]``) plus their input
    value times the kernel vector ``w0``."""
    return (vfma(vbroadcast(xf, xt), w0, a0), vfma(vbroadcast(xf, xt + step), w0, a1),
            vfma(vbroadcast(xf, xt + 2 * step), w0, a2), vfma(vbroadcast(xf, xt + 3 * step), w0, a3))


@_inline
def _store_four(yf, at, cout, a0, a1, a2, a3, b0, relu, zero):
    """Stores 4 pixels' ``act(a + b0)`` at ``yf[at:]``, ``cout`` apart."""
    _store_one(yf, at, a0, b0, relu, zero)
    _store_one(yf, at + cout, a1, b0, relu, zero)
    _store_one(yf, at + 2 * cout, a2, b0, relu, zero)
    _store_one(yf, at + 3 * cout, a3, b0, relu, zero)


@_inline
def _store_one(yf, at, a0, b0, relu, zero):
    """Stores ``act(a0 + b0)`` at ``yf[at:]``."""
    a0 = vadd(a0, b0)
    vstore(yf, at, vmax(a0, zero) if relu else a0)


@intrinsic
def _load_pair(typingctx, a, at, nl):
    """The two vectors at ``a[at:]``, one after the other (``nl``: the lanes of a vector, which
    the calling kernels check against the compiled width with `_check_width`).

    Intrinsics, this and :func:`_put_pair`, rather than ``_inline`` helpers over
    `kerasette.backend.kernels.simd`'s: numba types an intrinsic's call once, where it copies
    an inline helper's IR into each of the kernel-gradient kernels' 10 to 20 call sites and
    types it again there (with arrays among their arguments, they cannot be `_jit.linked`).
    """
    if not _contiguous(a):
        return None
    vector = _vector_of(a.dtype)
    pair = types.UniTuple(vector, 2)

    def codegen(context, builder, sig, args):
        first = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        vptr = context.get_value_type(vector).as_pointer()
        align = a.dtype.bitwidth // 8
        second = builder.gep(first, [context.get_constant(types.intp, vector.count)])
        v0 = builder.load(builder.bitcast(first, vptr), align=align)
        v1 = builder.load(builder.bitcast(second, vptr), align=align)
        return context.make_tuple(builder, pair, [v0, v1])

    return pair(a, at, nl), codegen


@intrinsic
def _put_pair(typingctx, a, at, v0, v1):
    """Stores the vectors ``v0`` and ``v1`` at ``a[at:]``, one after the other (see
    :func:`_load_pair`)."""
    if not (_contiguous(a) and v0 == v1 == _vector_of(a.dtype)):
        return None

    def codegen(context, builder, sig, args):
        first = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        vptr = args[2].type.as_pointer()
        align = a.dtype.bitwidth // 8
        second = builder.gep(first, [context.get_constant(types.intp, v0.count)])
        builder.store(args[2], builder.bitcast(first, vptr), align=align)
        builder.store(args[3], builder.bitcast(second, vptr), align=align)
        return context.get_dummy_value()

    return types.none(a, at, v0, v1), codegen


@kernel
def weight_grad_chunk(dy, x, dw, sh, sw, kh, kw, nl):
    """``dw += sum over the chunk of x_window (outer) dy``, a kernel gradient as (taps, F) rows.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous; F a multiple of ``lanes``.
        x: forward input, (N, H, W, C), C-contiguous, already padded.
        dw: accumulator, (R, F) with R the taps ``kh * kw * C`` rounded up to a multiple of
            :data:`TAP_GROUP`; rows beyond the taps receive scratch sums. Not zeroed here.
        sh, sw: strides; kh, kw: kernel size.
    """
    n_img, height, width, chans = x.shape
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    xf, dyf, dwf = x.reshape(-1), dy.reshape(-1), dw.reshape(-1)
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
                    corner, at = corner0, out0 + f0
                    for _ in range(ow_n):
                        d0, d1 = vload(dyf, at), vload(dyf, at + nl)
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
def weight_grad_chunk_last(dy, x, dw, sh, sw, kh, kw, nl):
    """:func:`weight_grad_chunk` for the last vector of output channels when they are an odd
    number of vectors, which :func:`weight_grad_chunk` leaves: 9 taps x 1 vector. A kernel of
    its own, compiled only for the layers that need it. Arguments as for
    :func:`weight_grad_chunk`."""
    n_img, height, width, chans = x.shape
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    xf, dyf, dwf = x.reshape(-1), dy.reshape(-1), dw.reshape(-1)
    _check_width(nl, x.itemsize, cout)
    offsets = _tap_offsets(kh, kw, chans, width, dw.shape[0])
    step = sw * chans
    for n in range(n_img):
        for oh in range(oh_n):
            corner0 = (n * height + oh * sh) * width * chans
            out0 = (n * oh_n + oh) * ow_n * cout
            for t0 in range(0, dw.shape[0], TAP_GROUP):
                _taps_one_vector(xf, dyf, dwf, offsets, t0, corner0, out0, cout - nl, ow_n, step, cout)


@_inline
def _taps_one_vector(xf, dyf, dwf, offsets, t0, corner, out, f0, ow_n, step, cout):
    """:func:`weight_grad_chunk` for one output row (its first window corner in ``xf`` and first
    pixel in ``dyf``: ``corner``, ``out``), taps ``t0:t0 + 9`` and the vector of channels from
    ``f0``: 9 accumulators; per output pixel, one vector load of ``dy``, 9 broadcasts, 9 FMAs."""
    o0, o1, o2 = offsets[t0], offsets[t0 + 1], offsets[t0 + 2]
    o3, o4, o5 = offsets[t0 + 3], offsets[t0 + 4], offsets[t0 + 5]
    o6, o7, o8 = offsets[t0 + 6], offsets[t0 + 7], offsets[t0 + 8]
    r, at = t0 * cout + f0, out + f0
    a0, a1, a2 = vload(dwf, r), vload(dwf, r + cout), vload(dwf, r + 2 * cout)
    a3, a4, a5 = vload(dwf, r + 3 * cout), vload(dwf, r + 4 * cout), vload(dwf, r + 5 * cout)
    a6, a7, a8 = vload(dwf, r + 6 * cout), vload(dwf, r + 7 * cout), vload(dwf, r + 8 * cout)
    for _ in range(ow_n):
        d = vload(dyf, at)
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
    vstore(dwf, r, a0)
    vstore(dwf, r + cout, a1)
    vstore(dwf, r + 2 * cout, a2)
    vstore(dwf, r + 3 * cout, a3)
    vstore(dwf, r + 4 * cout, a4)
    vstore(dwf, r + 5 * cout, a5)
    vstore(dwf, r + 6 * cout, a6)
    vstore(dwf, r + 7 * cout, a7)
    vstore(dwf, r + 8 * cout, a8)
