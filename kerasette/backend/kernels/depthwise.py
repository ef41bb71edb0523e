"""Depthwise convolution kernels on NHWC images: each input channel has its own filters.

With ``m`` filters per input channel (the depth multiplier), output channel ``c * m + j`` is input
channel ``c`` correlated with filter ``j`` of channel ``c``::

    y[n, oh, ow, c*m + j] = sum_{i, k} x[n, oh*sh + i*dh - pt, ow*sw + k*dw - pl, c] * w[i, k, c*m + j]

(``w`` is the (kh, kw, C, m) kernel seen flat as (kh, kw, C * m); input positions outside the image
read as zero). There is no reduction over channels, so the work is memory-bound: each kernel
walks one row at a time and works on whole vectors of contiguous channels (explicit vectors of
`kerasette.backend.kernels.simd`), finding the range of columns each tap touches once per row, so
no bounds test sits inside the column loops.

* :func:`forward_rows`: output rows. With one filter per channel each pixel's taps are summed in
  registers and stored once; a 3x3 kernel keeps its nine weight vectors in registers across the
  row's interior (:func:`_row_3x3`). With several filters per channel, each tap is added into the
  output row in place. Bias and ReLU are applied as the row is written.
* :func:`input_grad_rows`: input-gradient rows, gathered: for each row of ``dx`` the output rows
  and taps that read it, any strides and dilation. (At stride 1 with one filter per channel the
  engine runs :func:`forward_rows` with the flipped kernel instead: the same sums, in registers.)
* :func:`kernel_grad_rows`: the kernel gradient of a range of output rows, added into ``dw``; a
  3x3 kernel sums its nine taps in registers across the row's interior (:func:`_row_3x3_grad`).

Each function takes a range of rows of the flattened (n, row) axis, so a caller can split a
batch between threads; they fill preallocated arrays and validate nothing.
"""

from __future__ import annotations

import numba
import numpy as np

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.simd import vadd, vcount, vfma, vload, vmax, vstore, vzeros

_inline = numba.njit(inline="always", nogil=True)


@_inline
def _axpy(a, a_at, b, b_at, out, out_at, n):
    """``out[out_at:out_at + n] += a[a_at:...] * b[b_at:...]`` on flat C-contiguous arrays, in
    whole vectors and then one value at a time (explicit vectors: numba's indexing, which
    allows negative indices, keeps LLVM from vectorising the plain loop)."""
    lanes = vcount(out)
    c = 0
    while c + lanes <= n:
        vstore(out, out_at + c, vfma(vload(a, a_at + c), vload(b, b_at + c), vload(out, out_at + c)))
        c += lanes
    while c < n:
        out[out_at + c] += a[a_at + c] * b[b_at + c]
        c += 1


@_inline
def _first_last(k, d, s, p, n_in, n_out):
    """The output columns ``o`` (``first <= o < last``) for which tap ``k`` (dilation ``d``,
    stride ``s``, padding ``p``) reads a column inside an input of ``n_in`` columns."""
    offset = k * d - p  # input column = o * s + offset
    first = 0 if offset >= 0 else (-offset + s - 1) // s
    last = (n_in - 1 - offset) // s + 1 if n_in - 1 - offset >= 0 else 0
    return first, max(first, min(last, n_out))


@_inline
def _tap_range(o, s, d, p, n_in, k_n):
    """The taps ``k`` (``first <= k < last``) of output position ``o`` that read inside an input
    of ``n_in`` positions (input position ``o * s + k * d - p``)."""
    start = o * s - p
    first = 0 if start >= 0 else (-start + d - 1) // d
    last = (n_in - 1 - start) // d + 1 if n_in - 1 - start >= 0 else 0
    return first, max(first, min(last, k_n))


@_inline
def _pixel(xf, x_at, wf, yf, y_at, chans, width, kw, i0, i1, k0, k1, dh, dw, b, has_bias, relu, c0):
    """One output pixel of a depth-multiplier-1 convolution, channels ``c0:``: for each vector of
    channels, the taps ``i0 <= i < i1``, ``k0 <= k < k1`` accumulated in a register, then bias,
    ReLU and one store (the last channels one at a time). ``x_at`` is the flat index of the
    pixel's window corner (tap (0, 0), maybe outside ``x``)."""
    lanes = vcount(yf)
    zero = vzeros(yf)
    c = c0
    while c + lanes <= chans:
        acc = vload(b, c) if has_bias else zero
        for i in range(i0, i1):
            row = x_at + i * dh * width * chans + c
            w_row = i * kw * chans + c
            for k in range(k0, k1):
                acc = vfma(vload(xf, row + k * dw * chans), vload(wf, w_row + k * chans), acc)
        if relu:
            acc = vmax(acc, zero)
        vstore(yf, y_at + c, acc)
        c += lanes
    while c < chans:
        v = b[c] if has_bias else 0.0
        for i in range(i0, i1):
            for k in range(k0, k1):
                v += xf[x_at + (i * dh * width + k * dw) * chans + c] * wf[(i * kw + k) * chans + c]
        if relu and not v > 0:
            v = 0.0
        yf[y_at + c] = v
        c += 1


@_inline
def _row_3x3(xf, x_at, x_step, wf, yf, y_at, chans, c_end, offsets, b, has_bias, relu, count):
    """``count`` output pixels of a 3x3 depth-multiplier-1 convolution whose windows lie wholly
    inside the image, channels ``0:c_end`` (whole vectors): for each vector of channels the nine
    kernel vectors stay in registers while the pixels pass, so each multiply-add loads one input
    vector. ``x_at`` is the flat index of the first window's corner, ``x_step`` the distance
    between neighbouring windows; ``offsets`` those of the taps from the corner."""
    lanes = vcount(yf)
    zero = vzeros(yf)
    o0, o1, o2, o3, o4, o5, o6, o7, o8 = (offsets[0], offsets[1], offsets[2], offsets[3], offsets[4],
                                          offsets[5], offsets[6], offsets[7], offsets[8])
    for c in range(0, c_end, lanes):
        w0, w1, w2 = vload(wf, c), vload(wf, chans + c), vload(wf, 2 * chans + c)
        w3, w4, w5 = vload(wf, 3 * chans + c), vload(wf, 4 * chans + c), vload(wf, 5 * chans + c)
        w6, w7, w8 = vload(wf, 6 * chans + c), vload(wf, 7 * chans + c), vload(wf, 8 * chans + c)
        start = vload(b, c) if has_bias else zero
        for p in range(count):
            at = x_at + p * x_step + c
            acc = vfma(vload(xf, at + o0), w0, start)
            acc = vfma(vload(xf, at + o1), w1, acc)
            acc = vfma(vload(xf, at + o2), w2, acc)
            acc = vfma(vload(xf, at + o3), w3, acc)
            acc = vfma(vload(xf, at + o4), w4, acc)
            acc = vfma(vload(xf, at + o5), w5, acc)
            acc = vfma(vload(xf, at + o6), w6, acc)
            acc = vfma(vload(xf, at + o7), w7, acc)
            acc = vfma(vload(xf, at + o8), w8, acc)
            if relu:
                acc = vmax(acc, zero)
            vstore(yf, y_at + p * chans + c, acc)


@kernel
def forward_rows(x, w, b, y, g0, g1, sh, sw, dh, dw, pt, pl, has_bias, relu):
    """Fills output rows ``g0:g1`` of the flattened (n, oh) axis of ``y``.

    With one filter per channel each output pixel's taps are summed in registers, a vector of
    channels at a time; with several, the taps are added into the output row in place.

    Args:
        x: input, (N, H, W, C), C-contiguous.
        w: kernel, (kh, kw, C * m), C-contiguous.
        b: bias, (C * m,), C-contiguous (read when ``has_bias``).
        y: output, (N, OH, OW, C * m), C-contiguous; rows ``g0:g1`` are overwritten.
        sh, sw: strides; dh, dw: dilation; pt, pl: padding at the top and on the left.
        relu: apply a ReLU after the bias.
    """
    height, width, chans = x.shape[1], x.shape[2], x.shape[3]
    oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3]
    kh, kw = w.shape[0], w.shape[1]
    m = cout // chans
    xf, wf, yf = x.reshape(-1), w.reshape(-1), y.reshape(-1)
    offsets = np.empty(kh * kw, np.int64)  # of each tap from the window's corner, in x
    for i in range(kh):
        for k in range(kw):
            offsets[i * kw + k] = (i * dh * width + k * dw) * chans
    c_end = chans - chans % vcount(yf)  # the channels in whole vectors
    for g in range(g0, g1):
        n = g // oh_n
        oh = g - n * oh_n
        row = g * ow_n * cout
        if m == 1:
            i0, i1 = _tap_range(oh, sh, dh, pt, height, kh)
            corner = ((n * height + oh * sh - pt) * width - pl) * chans  # of output column 0
            lo, hi = 0, 0  # the columns handled by _row_3x3
            if kh == 3 and kw == 3 and i1 - i0 == 3 and c_end > 0:
                lo = min((pl + sw - 1) // sw, ow_n)
                hi = max(lo, min((width - 1 - 2 * dw + pl) // sw + 1, ow_n))
                _row_3x3(xf, corner + lo * sw * chans, sw * chans, wf, yf, row + lo * cout, chans, c_end,
                         offsets, b, has_bias, relu, hi - lo)
            for ow in range(ow_n):
                k0, k1 = _tap_range(ow, sw, dw, pl, width, kw)
                at = corner + ow * sw * chans
                _pixel(xf, at, wf, yf, row + ow * cout, chans, width, kw, i0, i1, k0, k1, dh, dw, b,
                       has_bias, relu, c_end if lo <= ow < hi else 0)
            continue
        for p in range(ow_n):
            at = row + p * cout
            for c in range(cout):
                yf[at + c] = b[c] if has_bias else 0
        for i in range(kh):
            h = oh * sh + i * dh - pt
            if h < 0 or h >= height:
                continue
            x_row = (n * height + h) * width
            for k in range(kw):
                first, last = _first_last(k, dw, sw, pl, width, ow_n)
                w_at = (i * kw + k) * cout
                for ow in range(first, last):
                    x_at = (x_row + ow * sw + k * dw - pl) * chans
                    y_at = row + ow * cout
                    for c in range(chans):
                        v = xf[x_at + c]
                        for j in range(c * m, c * m + m):
                            yf[y_at + j] += v * wf[w_at + j]
        if relu:
            for q in range(row, row + ow_n * cout):
                if not yf[q] > 0:
                    yf[q] = 0


@kernel
def input_grad_rows(dy, w, dx, g0, g1, sh, sw, dh, dw, pt, pl):
    """Fills input-gradient rows ``g0:g1`` of the flattened (n, h) axis of ``dx``.

    Args:
        dy: output gradient, (N, OH, OW, C * m), C-contiguous.
        w: kernel, (kh, kw, C * m), C-contiguous.
        dx: input gradient, (N, H, W, C), C-contiguous; rows ``g0:g1`` are overwritten.
        sh, sw, dh, dw, pt, pl: as for :func:`forward_rows`.
    """
    height, width, chans = dx.shape[1], dx.shape[2], dx.shape[3]
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    kh, kw = w.shape[0], w.shape[1]
    m = cout // chans
    dyf, wf, dxf = dy.reshape(-1), w.reshape(-1), dx.reshape(-1)
    for g in range(g0, g1):
        n = g // height
        h = g - n * height
        row = g * width * chans
        for q in range(row, row + width * chans):
            dxf[q] = 0
        for i in range(kh):
            t = h + pt - i * dh  # = oh * sh for the output row oh that reads row h through tap i
            if t < 0 or t % sh != 0 or t // sh >= oh_n:
                continue
            dy_row = (n * oh_n + t // sh) * ow_n
            for k in range(kw):
                first, last = _first_last(k, dw, sw, pl, width, ow_n)
                w_at = (i * kw + k) * cout
                for ow in range(first, last):
                    dx_at = row + (ow * sw + k * dw - pl) * chans
                    dy_at = (dy_row + ow) * cout
                    if m == 1:
                        _axpy(dyf, dy_at, wf, w_at, dxf, dx_at, chans)
                    else:
                        for c in range(chans):
                            s = dxf[dx_at + c]
                            for j in range(c * m, c * m + m):
                                s += dyf[dy_at + j] * wf[w_at + j]
                            dxf[dx_at + c] = s


@_inline
def _row_3x3_grad(xf, x_at, x_step, dyf, dy_at, gf, chans, c_end, offsets, count):
    """Adds the kernel gradient of ``count`` output pixels of a 3x3 depth-multiplier-1 convolution
    whose windows lie wholly inside the image (channels ``0:c_end``, whole vectors) into ``gf``:
    the nine taps' sums stay in registers while the pixels pass, so each multiply-add loads one
    input vector (and each pixel its gradient once). Arguments as for :func:`_row_3x3`."""
    lanes = vcount(gf)
    zero = vzeros(gf)
    o0, o1, o2, o3, o4, o5, o6, o7, o8 = (offsets[0], offsets[1], offsets[2], offsets[3], offsets[4],
                                          offsets[5], offsets[6], offsets[7], offsets[8])
    for c in range(0, c_end, lanes):
        a0, a1, a2, a3, a4, a5, a6, a7, a8 = zero, zero, zero, zero, zero, zero, zero, zero, zero
        for p in range(count):
            at = x_at + p * x_step + c
            d = vload(dyf, dy_at + p * chans + c)
            a0 = vfma(vload(xf, at + o0), d, a0)
            a1 = vfma(vload(xf, at + o1), d, a1)
            a2 = vfma(vload(xf, at + o2), d, a2)
            a3 = vfma(vload(xf, at + o3), d, a3)
            a4 = vfma(vload(xf, at + o4), d, a4)
            a5 = vfma(vload(xf, at + o5), d, a5)
            a6 = vfma(vload(xf, at + o6), d, a6)
            a7 = vfma(vload(xf, at + o7), d, a7)
            a8 = vfma(vload(xf, at + o8), d, a8)
        vstore(gf, c, vadd(vload(gf, c), a0))
        vstore(gf, chans + c, vadd(vload(gf, chans + c), a1))
        vstore(gf, 2 * chans + c, vadd(vload(gf, 2 * chans + c), a2))
        vstore(gf, 3 * chans + c, vadd(vload(gf, 3 * chans + c), a3))
        vstore(gf, 4 * chans + c, vadd(vload(gf, 4 * chans + c), a4))
        vstore(gf, 5 * chans + c, vadd(vload(gf, 5 * chans + c), a5))
        vstore(gf, 6 * chans + c, vadd(vload(gf, 6 * chans + c), a6))
        vstore(gf, 7 * chans + c, vadd(vload(gf, 7 * chans + c), a7))
        vstore(gf, 8 * chans + c, vadd(vload(gf, 8 * chans + c), a8))


@kernel
def kernel_grad_rows(dy, x, dw_out, g0, g1, sh, sw, dh, dw, pt, pl):
    """Adds the kernel gradient of output rows ``g0:g1`` (flattened (n, oh) axis) into ``dw_out``.

    For a 3x3 kernel with one filter per channel, the columns whose windows lie inside the image
    go through :func:`_row_3x3_grad` (sums in registers); the other columns, rows and kernels add
    each tap's products into ``dw_out`` in place.

    Args:
        dy: output gradient, (N, OH, OW, C * m), C-contiguous.
        x: forward input, (N, H, W, C), C-contiguous.
        dw_out: kernel gradient to add into, (kh, kw, C * m), C-contiguous.
        sh, sw, dh, dw, pt, pl: as for :func:`forward_rows`.
    """
    height, width, chans = x.shape[1], x.shape[2], x.shape[3]
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    kh, kw = dw_out.shape[0], dw_out.shape[1]
    m = cout // chans
    dyf, xf, gf = dy.reshape(-1), x.reshape(-1), dw_out.reshape(-1)
    offsets = np.empty(kh * kw, np.int64)
    for i in range(kh):
        for k in range(kw):
            offsets[i * kw + k] = (i * dh * width + k * dw) * chans
    c_end = chans - chans % vcount(gf)
    for g in range(g0, g1):
        n = g // oh_n
        oh = g - n * oh_n
        dy_row = g * ow_n
        lo, hi = 0, 0  # the columns handled by _row_3x3_grad
        i0, i1 = _tap_range(oh, sh, dh, pt, height, kh)
        if m == 1 and kh == 3 and kw == 3 and i1 - i0 == 3 and c_end > 0:
            lo = min((pl + sw - 1) // sw, ow_n)
            hi = max(lo, min((width - 1 - 2 * dw + pl) // sw + 1, ow_n))
            corner = ((n * height + oh * sh - pt) * width + lo * sw - pl) * chans
            _row_3x3_grad(xf, corner, sw * chans, dyf, (dy_row + lo) * cout, gf, chans, c_end, offsets, hi - lo)
        for i in range(kh):
            h = oh * sh + i * dh - pt
            if h < 0 or h >= height:
                continue
            x_row = (n * height + h) * width
            for k in range(kw):
                first, last = _first_last(k, dw, sw, pl, width, ow_n)
                w_at = (i * kw + k) * cout
                for ow in range(first, last):
                    x_at = (x_row + ow * sw + k * dw - pl) * chans
                    dy_at = (dy_row + ow) * cout
                    if m == 1:
                        done = c_end if lo <= ow < hi else 0
                        _axpy(xf, x_at + done, dyf, dy_at + done, gf, w_at + done, cout - done)
                    else:
                        for c in range(chans):
                            v = xf[x_at + c]
                            for j in range(c * m, c * m + m):
                                gf[w_at + j] += v * dyf[dy_at + j]
