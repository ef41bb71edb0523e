"""Strided transposed convolution by output phases: packing, numpy's BLAS, and the output pass.

A transposed convolution with strides (sh, sw) writes output row ``o`` from kernel rows ``a`` with
``a = (o + crop_top) mod sh`` (plus multiples of sh) only: the output splits into ``sh * sw``
*phases* ``(rh, rw)``, and on each phase it is a stride-1 convolution of the input with the
sub-kernel of the taps ``(rh + sh * mh, rw + sw * mw)``. Phase output ``(q, p)`` is output pixel
``(q * sh + rh - crop_top, p * sw + rw - crop_left)`` and reads input pixels ``(q - mh, p - mw)``.

Per phase and per tile of its rows, the kernels pack the input patches (``cols``, one row per
phase output pixel, one column per (mh, mw, c)), multiply them with the phase's weight matrix
(``(mh, mw, c)`` by filters) in one BLAS call, and write the product into the strided output with
the bias and ReLU (forward), or multiply them by the output gradient's phase for the kernel
gradient. Every output pixel belongs to exactly one phase, so the output needs no zeroing and is
written once, and no work is spent on the zeros that col2im would scatter.

Weights of all phases are packed in one array, phase ``r = rh * sw + rw`` at rows
``offsets[r]:offsets[r + 1]``. The kernels fill preallocated arrays and validate nothing.
"""

from __future__ import annotations

from kerasette.backend.kernels import blas
from kerasette.backend.kernels._jit import kernel


@kernel
def phase_extent(size_out, crop, stride, r, taps):
    """``(first, count, n_taps)`` of phase ``r`` along one axis: the first phase index ``q`` whose
    output ``q * stride + r - crop`` is in ``[0, size_out)``, how many there are, and how many
    kernel taps (``r``, ``r + stride``, ...) below ``taps`` the phase has."""
    first = -((r - crop) // stride)  # ceil((crop - r) / stride)
    last = (size_out - 1 + crop - r) // stride
    count = max(last - first + 1, 0)
    n_taps = (taps - r + stride - 1) // stride if r < taps else 0
    return first, count, n_taps


@kernel
def _pack(x, cols, n0, g0, g1, q0, qn, p0, pn, mh_n, mw_n):
    """Patches of phase rows ``g0:g1`` (of the flattened (image, q) axis) into ``cols``."""
    height, width, chans = x.shape[1], x.shape[2], x.shape[3]
    for g in range(g0, g1):
        n = n0 + g // qn
        q = q0 + g % qn
        for pi in range(pn):
            row = cols[(g - g0) * pn + pi]
            p = p0 + pi
            for mh in range(mh_n):
                i = q - mh
                for mw in range(mw_n):
                    j = p - mw
                    base = (mh * mw_n + mw) * chans
                    if 0 <= i < height and 0 <= j < width:
                        src = x[n, i, j]
                        for c in range(chans):
                            row[base + c] = src[c]
                    else:
                        for c in range(chans):
                            row[base + c] = 0


@kernel
def forward_chunk(x, wph, offsets, y, cols, buf, kh, kw, sh, sw, ct, cl, b, relu):
    """``y = relu?(conv_transpose(x) + b)`` for a chunk of images, phase by phase.

    Args:
        x: input, (N, H, W, C), C-contiguous.
        wph: packed phase weights, (sum of mh * mw * C over the phases, F), C-contiguous.
        offsets: int64, (sh * sw + 1,): each phase's first row in ``wph``.
        y: output, (N, OH, OW, F), C-contiguous; overwritten.
        cols: scratch, (capacity,) flat, of ``x``'s dtype; buf: scratch, (capacity_rows * F,) flat.
        kh, kw: (dilated) kernel size; sh, sw: strides; ct, cl: crops at the top and left.
        b: bias (F,) (zeros for none); relu: apply a ReLU after it.
    """
    n_img, oh_n, ow_n, filters = y.shape
    chans = x.shape[3]
    rows_cap = buf.size // filters
    for rh in range(sh):
        q0, qn, mh_n = phase_extent(oh_n, ct, sh, rh, kh)
        for rw in range(sw):
            p0, pn, mw_n = phase_extent(ow_n, cl, sw, rw, kw)
            if qn == 0 or pn == 0:
                continue
            k = mh_n * mw_n * chans
            r = rh * sw + rw
            total = n_img * qn
            tile = max(1, min(rows_cap // pn, cols.size // max(1, pn * k)))
            for g0 in range(0, total, tile):
                g1 = min(g0 + tile, total)
                m = (g1 - g0) * pn
                if k > 0:
                    c2 = cols[: m * k].reshape(m, k)
                    _pack(x, c2, 0, g0, g1, q0, qn, p0, pn, mh_n, mw_n)
                    blas.gemm(False, False, m, filters, k, c2, 0, k, wph, offsets[r] * filters, filters,
                              0.0, buf, 0, filters)
                else:  # no tap reaches this phase (strides above the kernel): the bias only
                    for t in range(m * filters):
                        buf[t] = 0
                for g in range(g0, g1):
                    n = g // qn
                    o = (q0 + g % qn) * sh + rh - ct
                    for pi in range(pn):
                        out = y[n, o, (p0 + pi) * sw + rw - cl]
                        src = buf[((g - g0) * pn + pi) * filters:]
                        if relu:
                            for f in range(filters):
                                out[f] = max(src[f] + b[f], 0)
                        else:
                            for f in range(filters):
                                out[f] = src[f] + b[f]


@kernel
def kernel_grad_chunk(x, dy, out, relu, dz, write_dz, db, dwph, offsets, cols, buf, kh, kw, sh, sw, ct, cl):
    """Each phase's kernel gradient ``cols.T @ dz_phase`` summed over a chunk of images, with the
    output pass's backward fused into the read of the output gradient.

    ``dz = dy * (out > 0)`` (``dy`` without ``relu``) is read once, phase by phase: into the
    product tile, added into the bias gradient ``db``, and, when ``write_dz``, stored in ``dz``
    (for the input gradient).

    Args:
        x: forward input, (N, H, W, C), C-contiguous.
        dy: gradient of the layer's output, (N, OH, OW, F), C-contiguous.
        out: the forward output (read when ``relu``), like ``dy``.
        dz: (N, OH, OW, F), written when ``write_dz``.
        db: (F,), added into.
        dwph: output, like ``wph`` of :func:`forward_chunk`; overwritten.
        offsets, cols, buf, kh, kw, sh, sw, ct, cl: as for :func:`forward_chunk`.
    """
    n_img, oh_n, ow_n, filters = dy.shape
    chans = x.shape[3]
    rows_cap = buf.size // filters
    flat = dwph.reshape(-1)
    for t in range(flat.size):
        flat[t] = 0
    for rh in range(sh):
        q0, qn, mh_n = phase_extent(oh_n, ct, sh, rh, kh)
        for rw in range(sw):
            p0, pn, mw_n = phase_extent(ow_n, cl, sw, rw, kw)
            k = mh_n * mw_n * chans
            if qn == 0 or pn == 0:
                continue
            r = rh * sw + rw
            total = n_img * qn
            tile = max(1, min(rows_cap // pn, cols.size // max(1, pn * k)))
            for g0 in range(0, total, tile):
                g1 = min(g0 + tile, total)
                m = (g1 - g0) * pn
                for g in range(g0, g1):
                    n = g // qn
                    o = (q0 + g % qn) * sh + rh - ct
                    for pi in range(pn):
                        ow = (p0 + pi) * sw + rw - cl
                        src = dy[n, o, ow]
                        ref = out[n, o, ow]
                        dst = ((g - g0) * pn + pi) * filters
                        if relu:
                            for f in range(filters):
                                v = src[f] if ref[f] > 0 else 0.0
                                buf[dst + f] = v
                                db[f] += v
                        else:
                            for f in range(filters):
                                buf[dst + f] = src[f]
                                db[f] += src[f]
                        if write_dz:
                            zrow = dz[n, o, ow]
                            for f in range(filters):
                                zrow[f] = buf[dst + f]
                if k > 0:
                    c2 = cols[: m * k].reshape(m, k)
                    _pack(x, c2, 0, g0, g1, q0, qn, p0, pn, mh_n, mw_n)
                    blas.gemm(True, False, k, filters, m, c2, 0, k, buf, 0, filters, 1.0, dwph,
                              offsets[r] * filters, filters)
