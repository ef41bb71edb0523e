"""The Winograd F(4x4, 3x3) kernel transforms: ``U = G g G^T`` of a 3x3 kernel and the kernel
gradient ``G^T dU G``, for every (input, output) channel pair at once.

Both work on the channel pairs as one flat axis of ``K = C * F`` values (a (3, 3, C, F) kernel is
a (9, K) array, its transform a (36, K) one) in explicit vectors along it: a vector of pairs is
loaded from each of the 9 (or 36) planes, transformed in registers and stored to each of the 36
(or 9) planes. numpy's two matrix products made the same values with an intermediate (18, K)
array written and read back: for a 64 -> 64 kernel (590 KB of output) 25 us in cache and 62 us
out of it against this kernel's 22 and 38 us (one thread, alone), and in a ResNet-20 training
step, on the calling thread, 98-114 us against 67-73. The pairs beyond the last whole vector go
through a zero-padded copy, at the same call site (one copy of the vector code to compile). The
vector helpers are ``linked``, not ``inline``: 1.2 s of compile CPU for both kernels instead of
1.75 (a loaded machine).

The arithmetic uses G's structure (its rows 1-2 and 3-4 share terms), so the sums are in another
order than a matrix product's: float32 results differ from it in the last bits.
All functions fill preallocated arrays and validate nothing; they are generic over dtype.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import inline, kernel, linked
from kerasette.backend.kernels.simd import address, keep, vadd, vcount, vload, vmul, vsplat, vstore, vsub


@inline
def _consts(a):
    """G's values as vectors of ``a``'s dtype: 1/4, -1/6, 1/6, 1/12, 1/24."""
    return vsplat(a, 1 / 4), vsplat(a, -1 / 6), vsplat(a, 1 / 6), vsplat(a, 1 / 12), vsplat(a, 1 / 24)


@linked
def _g(a0, a1, a2, kc):
    """``G a`` (6 vectors) of a column of 3 vectors."""
    quarter, minus_sixth, sixth, twelfth, twenty_fourth = kc
    ends = vadd(a0, a2)
    outer = vadd(vmul(a0, twenty_fourth), vmul(a2, sixth))
    middle = vmul(a1, twelfth)
    return (vmul(a0, quarter), vmul(vadd(ends, a1), minus_sixth), vmul(vsub(ends, a1), minus_sixth),
            vadd(outer, middle), vsub(outer, middle), a2)


@linked
def _gt(b0, b1, b2, b3, b4, b5, kc):
    """``G^T b`` (3 vectors) of a column of 6 vectors."""
    quarter, minus_sixth, sixth, twelfth, twenty_fourth = kc
    inner, outer = vadd(b1, b2), vadd(b3, b4)
    return (vadd(vadd(vmul(b0, quarter), vmul(inner, minus_sixth)), vmul(outer, twenty_fourth)),
            vadd(vmul(vsub(b2, b1), sixth), vmul(vsub(b3, b4), twelfth)),
            vadd(vmul(vsub(outer, inner), sixth), b5))


@linked
def _store_g(dst, at, plane, a0, a1, a2, kc):
    """Stores ``G a`` at planes 0-5 from flat index ``at`` of ``dst``, ``plane`` apart."""
    u0, u1, u2, u3, u4, u5 = _g(a0, a1, a2, kc)
    vstore(dst, at, u0)
    vstore(dst, at + plane, u1)
    vstore(dst, at + 2 * plane, u2)
    vstore(dst, at + 3 * plane, u3)
    vstore(dst, at + 4 * plane, u4)
    vstore(dst, at + 5 * plane, u5)


@linked
def _transform_vector(src, src_at, src_plane, dst, dst_at, dst_plane, kc):
    """``G g G^T`` of a vector of channel pairs: 9 planes of ``src`` in, 36 of ``dst`` out."""
    r00, r10, r20, r30, r40, r50 = _g(vload(src, src_at), vload(src, src_at + 3 * src_plane),
                                      vload(src, src_at + 6 * src_plane), kc)
    r01, r11, r21, r31, r41, r51 = _g(vload(src, src_at + src_plane), vload(src, src_at + 4 * src_plane),
                                      vload(src, src_at + 7 * src_plane), kc)
    r02, r12, r22, r32, r42, r52 = _g(vload(src, src_at + 2 * src_plane), vload(src, src_at + 5 * src_plane),
                                      vload(src, src_at + 8 * src_plane), kc)
    _store_g(dst, dst_at, dst_plane, r00, r01, r02, kc)
    _store_g(dst, dst_at + 6 * dst_plane, dst_plane, r10, r11, r12, kc)
    _store_g(dst, dst_at + 12 * dst_plane, dst_plane, r20, r21, r22, kc)
    _store_g(dst, dst_at + 18 * dst_plane, dst_plane, r30, r31, r32, kc)
    _store_g(dst, dst_at + 24 * dst_plane, dst_plane, r40, r41, r42, kc)
    _store_g(dst, dst_at + 30 * dst_plane, dst_plane, r50, r51, r52, kc)


@linked
def _gt_row(src, at, plane, kc):
    """``G^T`` along a row of 6 planes of ``src`` from flat index ``at``."""
    return _gt(vload(src, at), vload(src, at + plane), vload(src, at + 2 * plane), vload(src, at + 3 * plane),
               vload(src, at + 4 * plane), vload(src, at + 5 * plane), kc)


@linked
def _store_gt(dst, at, plane, b0, b1, b2, b3, b4, b5, kc):
    """Stores ``G^T b`` at planes 0, 3 and 6 from flat index ``at`` of ``dst``, ``plane`` being a
    plane's size."""
    d0, d1, d2 = _gt(b0, b1, b2, b3, b4, b5, kc)
    vstore(dst, at, d0)
    vstore(dst, at + 3 * plane, d1)
    vstore(dst, at + 6 * plane, d2)


@linked
def _grad_vector(src, src_at, src_plane, dst, dst_at, dst_plane, kc):
    """``G^T dU G`` of a vector of channel pairs: 36 planes of ``src`` in, 9 of ``dst`` out."""
    c00, c01, c02 = _gt_row(src, src_at, src_plane, kc)
    c10, c11, c12 = _gt_row(src, src_at + 6 * src_plane, src_plane, kc)
    c20, c21, c22 = _gt_row(src, src_at + 12 * src_plane, src_plane, kc)
    c30, c31, c32 = _gt_row(src, src_at + 18 * src_plane, src_plane, kc)
    c40, c41, c42 = _gt_row(src, src_at + 24 * src_plane, src_plane, kc)
    c50, c51, c52 = _gt_row(src, src_at + 30 * src_plane, src_plane, kc)
    _store_gt(dst, dst_at, dst_plane, c00, c10, c20, c30, c40, c50, kc)
    _store_gt(dst, dst_at + dst_plane, dst_plane, c01, c11, c21, c31, c41, c51, kc)
    _store_gt(dst, dst_at + 2 * dst_plane, dst_plane, c02, c12, c22, c32, c42, c52, kc)


@inline
def _tail_in(src, start, pad, step):
    """Copies the columns ``start:`` of (planes, K) ``src`` into the flat (planes, ``step``) ``pad``."""
    for plane in range(src.shape[0]):
        for k in range(start, src.shape[1]):
            pad[plane * step + k - start] = src[plane, k]


@inline
def _tail_out(out, step, dst, start):
    """Copies the first ``K - start`` columns of the flat (planes, ``step``) ``out`` into the
    columns ``start:`` of (planes, K) ``dst``."""
    for plane in range(dst.shape[0]):
        for k in range(start, dst.shape[1]):
            dst[plane, k] = out[plane * step + k - start]


@kernel
def kernel_transform(w, u):
    """``u[6 i + j, k] = (G g_k G^T)[i, j]`` with ``g_k[p, q] = w[3 p + q, k]``.

    Args:
        w: kernel, (9, K) (a (3, 3, C, F) one reshaped), C-contiguous.
        u: output, (36, K), C-contiguous; overwritten.
    """
    size, step = w.shape[1], vcount(w)
    pad, out = np.zeros(9 * step, w.dtype), np.empty(36 * step, w.dtype)
    kc = _consts(w)
    for k in range(0, size, step):
        # the last pairs, short of a vector, through a zero-padded one (the same call site: one
        # copy of the vector code to compile)
        tail = k + step > size
        if tail:
            _tail_in(w, k, pad, step)
        src, at, plane = (address(pad), 0, step) if tail else (address(w), k, size)
        dst, dst_at, dst_plane = (address(out), 0, step) if tail else (address(u), k, size)
        _transform_vector(src, at, plane, dst, dst_at, dst_plane, kc)
        if tail:
            _tail_out(out, step, u, k)
    keep(pad), keep(out)


@kernel
def kernel_grad(du, dw):
    """``dw[3 p + q, k] = (G^T dU_k G)[p, q]`` with ``dU_k[i, j] = du[6 i + j, k]``.

    Args:
        du: transformed gradient, (36, K), C-contiguous.
        dw: output, (9, K) (a (3, 3, C, F) kernel gradient reshaped), C-contiguous; overwritten.
    """
    size, step = du.shape[1], vcount(du)
    pad, out = np.zeros(36 * step, du.dtype), np.empty(9 * step, du.dtype)
    kc = _consts(du)
    for k in range(0, size, step):
        tail = k + step > size  # as in kernel_transform
        if tail:
            _tail_in(du, k, pad, step)
        src, at, plane = (address(pad), 0, step) if tail else (address(du), k, size)
        dst, dst_at, dst_plane = (address(out), 0, step) if tail else (address(dw), k, size)
        _grad_vector(src, at, plane, dst, dst_at, dst_plane, kc)
        if tail:
            _tail_out(out, step, dw, k)
    keep(pad), keep(out)
