"""One tile of the Winograd convolution F(4x4, 3x3): the 1-D transforms and the 2-D tile code.

The 1-D transforms are those of Lavin and Gray for the interpolation points 0, 1, -1, 2, -2, inf:
``B^T`` (6 x 6, :func:`_bt`), ``A^T`` (4 x 6, :func:`_at`) and ``A`` (6 x 4, :func:`_a`, the
adjoint of ``A^T``); ``G`` is applied to kernels in numpy (`kerasette.backend.engine.winograd_conv`).
The 2-D transforms of a tile are two passes of the 1-D ones, each pass a loop over contiguous
channels with a handful of input and output streams, which LLVM vectorises (one loop with all 36
streams it does not). Where a side's channels are whole vectors and at most 64 bytes
(:func:`vector_side`) the same operations run on explicit vectors (the ``_v`` functions; the
same bits). Everything here is inlined into the range transforms of
`kerasette.backend.kernels.winograd_transforms`; see `kerasette.backend.kernels.winograd` for
the layout of transformed tiles.
"""

from __future__ import annotations

import numba
from numba.extending import intrinsic, overload

from kerasette.backend.kernels import simd
from kerasette.backend.kernels.simd import vadd, vcount, vload, vmax, vmul, vsplat, vstore, vsub, vzeros

_inline = numba.njit(inline="always", cache=True, nogil=True)


@intrinsic
def _like(typingctx, a, value):
    """The integer ``value`` in the dtype of array ``a``, a constant of the compiled code."""

    def codegen(context, builder, sig, args):
        return context.cast(builder, args[1], sig.args[1], sig.return_type)

    return a.dtype(a, value), codegen


@_inline
def _consts(a):
    """The constants 2, 4, 5 and 8 in the dtype of array ``a``: a Python number would promote
    float32 arithmetic to float64 (numba follows numpy's scalar rules), halving the vector width.
    (They once went through a 4-element array: an allocation per tile, 5% of a pass, and one
    more variant of numpy's ``empty`` to compile.)"""
    return _like(a, 2), _like(a, 4), _like(a, 5), _like(a, 8)


@_inline
def _bt(d0, d1, d2, d3, d4, d5, kc):
    """``B^T d`` for a 6-vector; ``kc`` = :func:`_consts`."""
    two, four, five, _ = kc
    return (four * d0 - five * d2 + d4, d3 + d4 - four * (d1 + d2), four * (d1 - d2) - d3 + d4,
            two * (d3 - d1) - d2 + d4, two * (d1 - d3) - d2 + d4, four * d1 - five * d3 + d5)


@_inline
def _at(m0, m1, m2, m3, m4, m5, kc):
    """``A^T m`` for a 6-vector: four outputs."""
    two, four, _, eight = kc
    p, q = m1 + m2, m1 - m2
    r, s = m3 + m4, m3 - m4
    return m0 + p + r, q + two * s, p + four * r, q + eight * s + m5


@_inline
def _a(g0, g1, g2, g3, kc):
    """``A g`` for a 4-vector (the adjoint of :func:`_at`): six outputs."""
    two, four, _, eight = kc
    p, q = g0 + g2, g1 + g3
    r, s = g0 + four * g2, two * g1 + eight * g3
    return g0, p + q, p - q, r + s, r - s, g3


@_inline
def _b(x0, x1, x2, x3, x4, x5, kc):
    """``B x`` for a 6-vector (the adjoint of :func:`_bt`), for the input gradient."""
    two, four, five, _ = kc
    p, q = x1 + x2, x1 - x2
    r, s = x3 + x4, x3 - x4
    return (four * x0, four * (x5 - q) - two * s, -five * x0 - four * p - r,
            q + two * s - five * x5, x0 + p + r, x5)


@_inline
def _vconsts(a):
    """:func:`_consts` as vectors of ``a``'s dtype."""
    return vsplat(a, 2), vsplat(a, 4), vsplat(a, 5), vsplat(a, 8)


@_inline
def _bt_v(d0, d1, d2, d3, d4, d5, kc):
    """:func:`_bt` on vectors, operation for operation (the same bits)."""
    two, four, five, _ = kc
    return (vadd(vsub(vmul(four, d0), vmul(five, d2)), d4),
            vsub(vadd(d3, d4), vmul(four, vadd(d1, d2))),
            vadd(vsub(vmul(four, vsub(d1, d2)), d3), d4),
            vadd(vsub(vmul(two, vsub(d3, d1)), d2), d4),
            vadd(vsub(vmul(two, vsub(d1, d3)), d2), d4),
            vadd(vsub(vmul(four, d1), vmul(five, d3)), d5))


@_inline
def _at_v(m0, m1, m2, m3, m4, m5, kc):
    """:func:`_at` on vectors, operation for operation."""
    two, four, _, eight = kc
    p, q = vadd(m1, m2), vsub(m1, m2)
    r, s = vadd(m3, m4), vsub(m3, m4)
    return (vadd(vadd(m0, p), r), vadd(q, vmul(two, s)), vadd(p, vmul(four, r)),
            vadd(vadd(q, vmul(eight, s)), m5))


@_inline
def _a_v(g0, g1, g2, g3, kc):
    """:func:`_a` on vectors, operation for operation."""
    two, four, _, eight = kc
    p, q = vadd(g0, g2), vadd(g1, g3)
    r, s = vadd(g0, vmul(four, g2)), vadd(vmul(two, g1), vmul(eight, g3))
    return g0, vadd(p, q), vsub(p, q), vadd(r, s), vsub(r, s), g3


@_inline
def _input_tile_v(src, at, row, tf, vf, vt, plane, chans, kc):
    """:func:`_input_tile` with explicit vectors, for ``chans`` channels in whole vectors: the
    6 x 6 window at flat ``src[at:]`` (rows ``row`` apart, pixels ``chans`` apart) into
    ``vf[e * plane + vt:]`` for each point ``e``; ``tf`` is flat (6, 6, C) scratch, ``kc``
    :func:`_vconsts`. Flat arrays and constants come from the caller: a reshape per tile cost
    two reference-count calls (and the vector registers' upper halves around them)."""
    for k in range(6):
        for c in range(0, chans, vcount(tf)):
            a = at + k * row + c
            o0, o1, o2, o3, o4, o5 = _bt_v(vload(src, a), vload(src, a + chans), vload(src, a + 2 * chans),
                                           vload(src, a + 3 * chans), vload(src, a + 4 * chans),
                                           vload(src, a + 5 * chans), kc)
            b = 6 * k * chans + c
            vstore(tf, b, o0)
            vstore(tf, b + chans, o1)
            vstore(tf, b + 2 * chans, o2)
            vstore(tf, b + 3 * chans, o3)
            vstore(tf, b + 4 * chans, o4)
            vstore(tf, b + 5 * chans, o5)
    for j in range(6):
        for c in range(0, chans, vcount(tf)):
            b = j * chans + c
            o0, o1, o2, o3, o4, o5 = _bt_v(vload(tf, b), vload(tf, b + 6 * chans), vload(tf, b + 12 * chans),
                                           vload(tf, b + 18 * chans), vload(tf, b + 24 * chans),
                                           vload(tf, b + 30 * chans), kc)
            d = j * plane + vt + c
            vstore(vf, d, o0)
            vstore(vf, d + 6 * plane, o1)
            vstore(vf, d + 12 * plane, o2)
            vstore(vf, d + 18 * plane, o3)
            vstore(vf, d + 24 * plane, o4)
            vstore(vf, d + 30 * plane, o5)


def vector_side(chans: int, itemsize: int) -> bool:
    """Whether ``chans`` channels of ``itemsize`` bytes take the explicit vector transforms:
    whole vectors, at most 64 bytes (see the module's docstring). Usable in kernels too."""
    return chans % simd.lanes(itemsize) == 0 and 0 < chans * itemsize <= 64


@overload(vector_side, inline="always")
def _vector_side_overload(chans, itemsize):
    def impl(chans, itemsize):  # no ``and``: its branch, inlined, tripped numba's SSA check (a warning)
        return (chans % simd.lanes(itemsize) == 0) & (chans > 0) & (chans * itemsize <= 64)

    return impl


@_inline
def _tile_position(t, tiles_h, tiles_w):
    """(image, tile row, tile column) of tile number ``t``."""
    per_image = tiles_h * tiles_w
    n = t // per_image
    th = (t - n * per_image) // tiles_w
    return n, th, t - n * per_image - th * tiles_w


@_inline
def _input_tile(src, n, h, w, tmp, v, tt):
    """``v[:, tt, :] = B^T d B`` for the 6 x 6 window of ``src`` at image ``n``, row ``h``,
    column ``w`` (all inside ``src``); ``tmp`` is (6, 6, C) scratch."""
    kc = _consts(tmp)
    for k in range(6):
        for c in range(src.shape[3]):
            o0, o1, o2, o3, o4, o5 = _bt(src[n, h + k, w, c], src[n, h + k, w + 1, c],
                                         src[n, h + k, w + 2, c], src[n, h + k, w + 3, c],
                                         src[n, h + k, w + 4, c], src[n, h + k, w + 5, c], kc)
            tmp[k, 0, c] = o0
            tmp[k, 1, c] = o1
            tmp[k, 2, c] = o2
            tmp[k, 3, c] = o3
            tmp[k, 4, c] = o4
            tmp[k, 5, c] = o5
    for j in range(6):
        for c in range(src.shape[3]):
            o0, o1, o2, o3, o4, o5 = _bt(tmp[0, j, c], tmp[1, j, c], tmp[2, j, c],
                                         tmp[3, j, c], tmp[4, j, c], tmp[5, j, c], kc)
            v[j, tt, c] = o0
            v[6 + j, tt, c] = o1
            v[12 + j, tt, c] = o2
            v[18 + j, tt, c] = o3
            v[24 + j, tt, c] = o4
            v[30 + j, tt, c] = o5

@_inline
def _output_tile(mm, tt, tmp, dst, n, h, w, b, has_bias, ro, has_res, relu):
    """The 4 x 4 block ``act(A^T M A + b + r)`` of tile ``tt`` into ``dst`` at image ``n``, row
    ``h``, column ``w`` (all inside ``dst``), ``r`` the (1, 4, 4, F) block ``ro`` when ``has_res``
    (a copy, local to the kernel: read from an argument beside ``dst``, it stopped LLVM vectorising
    this code, the output transform 4 times slower); ``tmp`` is (4, 6, F) scratch."""
    cout = mm.shape[2]
    kc = _consts(tmp)
    zero = kc[0] - kc[0]
    for j in range(6):
        for f in range(cout):
            o0, o1, o2, o3 = _at(mm[j, tt, f], mm[6 + j, tt, f], mm[12 + j, tt, f],
                                 mm[18 + j, tt, f], mm[24 + j, tt, f], mm[30 + j, tt, f], kc)
            tmp[0, j, f] = o0
            tmp[1, j, f] = o1
            tmp[2, j, f] = o2
            tmp[3, j, f] = o3
    for a in range(4):
        for f in range(cout):
            o0, o1, o2, o3 = _at(tmp[a, 0, f], tmp[a, 1, f], tmp[a, 2, f],
                                 tmp[a, 3, f], tmp[a, 4, f], tmp[a, 5, f], kc)
            if has_bias:
                o0, o1, o2, o3 = o0 + b[f], o1 + b[f], o2 + b[f], o3 + b[f]
            if has_res:
                o0, o1, o2, o3 = o0 + ro[0, a, 0, f], o1 + ro[0, a, 1, f], o2 + ro[0, a, 2, f], o3 + ro[0, a, 3, f]
            if relu:
                o0 = o0 if o0 > zero else zero
                o1 = o1 if o1 > zero else zero
                o2 = o2 if o2 > zero else zero
                o3 = o3 if o3 > zero else zero
            dst[n, h + a, w, f] = o0
            dst[n, h + a, w + 1, f] = o1
            dst[n, h + a, w + 2, f] = o2
            dst[n, h + a, w + 3, f] = o3


@_inline
def _input_grad_tile(v, tt, tmp, yb, kc):
    """``yb = B X B^T`` for the 36 points ``X`` of tile ``tt`` of ``v`` (36, tiles, C), the adjoint
    of :func:`_input_tile`: the tile's 6 x 6 window of the input gradient, (6, 6, C);
    ``tmp`` is (6, 6, C) scratch."""
    for j in range(6):
        for c in range(v.shape[2]):
            o0, o1, o2, o3, o4, o5 = _b(v[j, tt, c], v[6 + j, tt, c], v[12 + j, tt, c],
                                        v[18 + j, tt, c], v[24 + j, tt, c], v[30 + j, tt, c], kc)
            tmp[0, j, c] = o0
            tmp[1, j, c] = o1
            tmp[2, j, c] = o2
            tmp[3, j, c] = o3
            tmp[4, j, c] = o4
            tmp[5, j, c] = o5
    for k in range(6):
        for c in range(v.shape[2]):
            o0, o1, o2, o3, o4, o5 = _b(tmp[k, 0, c], tmp[k, 1, c], tmp[k, 2, c],
                                        tmp[k, 3, c], tmp[k, 4, c], tmp[k, 5, c], kc)
            yb[k, 0, c] = o0
            yb[k, 1, c] = o1
            yb[k, 2, c] = o2
            yb[k, 3, c] = o3
            yb[k, 4, c] = o4
            yb[k, 5, c] = o5


@_inline
def _output_grad_tile_v(src, at, row, tf, mf, mt, plane, cout, kc):
    """One tile of :func:`output_grad_transform` with explicit vectors (``cout`` channels in
    whole vectors): the 4 x 4 block at flat ``src[at:]`` (rows ``row`` apart, pixels ``cout``
    apart) into ``mf[e * plane + mt:]``; ``tf`` is flat (6, 4, F) scratch, ``kc`` :func:`_vconsts`."""
    for bcol in range(4):
        for f in range(0, cout, vcount(tf)):
            a = at + bcol * cout + f
            o0, o1, o2, o3, o4, o5 = _a_v(vload(src, a), vload(src, a + row), vload(src, a + 2 * row),
                                          vload(src, a + 3 * row), kc)
            b = bcol * cout + f
            vstore(tf, b, o0)
            vstore(tf, b + 4 * cout, o1)
            vstore(tf, b + 8 * cout, o2)
            vstore(tf, b + 12 * cout, o3)
            vstore(tf, b + 16 * cout, o4)
            vstore(tf, b + 20 * cout, o5)
    for i in range(6):
        for f in range(0, cout, vcount(tf)):
            b = 4 * i * cout + f
            o0, o1, o2, o3, o4, o5 = _a_v(vload(tf, b), vload(tf, b + cout), vload(tf, b + 2 * cout),
                                          vload(tf, b + 3 * cout), kc)
            d = 6 * i * plane + mt + f
            vstore(mf, d, o0)
            vstore(mf, d + plane, o1)
            vstore(mf, d + 2 * plane, o2)
            vstore(mf, d + 3 * plane, o3)
            vstore(mf, d + 4 * plane, o4)
            vstore(mf, d + 5 * plane, o5)


@_inline
def _output_tile_v(mf, mt, plane, tf, dst, res, at, row, b, has_bias, has_res, relu, cout, kc):
    """:func:`_output_tile` with explicit vectors (``cout`` channels in whole vectors): the tile
    at ``mf[e * plane + mt:]`` for each point ``e`` into the 4 x 4 block at flat ``dst[at:]``
    (rows ``row`` apart, pixels ``cout`` apart), plus flat ``res`` at the same place when
    ``has_res``; ``tf`` is flat (4, 6, F) scratch, ``kc`` :func:`_vconsts`."""
    zero = vzeros(tf)
    for j in range(6):
        for f in range(0, cout, vcount(tf)):
            a = j * plane + mt + f
            o0, o1, o2, o3 = _at_v(vload(mf, a), vload(mf, a + 6 * plane), vload(mf, a + 12 * plane),
                                   vload(mf, a + 18 * plane), vload(mf, a + 24 * plane),
                                   vload(mf, a + 30 * plane), kc)
            d = j * cout + f
            vstore(tf, d, o0)
            vstore(tf, d + 6 * cout, o1)
            vstore(tf, d + 12 * cout, o2)
            vstore(tf, d + 18 * cout, o3)
    for a in range(4):
        for f in range(0, cout, vcount(tf)):
            e = 6 * a * cout + f
            o0, o1, o2, o3 = _at_v(vload(tf, e), vload(tf, e + cout), vload(tf, e + 2 * cout),
                                   vload(tf, e + 3 * cout), vload(tf, e + 4 * cout), vload(tf, e + 5 * cout), kc)
            if has_bias:
                bias = vload(b, f)
                o0, o1, o2, o3 = vadd(o0, bias), vadd(o1, bias), vadd(o2, bias), vadd(o3, bias)
            d = at + a * row + f
            if has_res:
                o0, o1 = vadd(o0, vload(res, d)), vadd(o1, vload(res, d + cout))
                o2, o3 = vadd(o2, vload(res, d + 2 * cout)), vadd(o3, vload(res, d + 3 * cout))
            if relu:
                o0, o1, o2, o3 = vmax(o0, zero), vmax(o1, zero), vmax(o2, zero), vmax(o3, zero)
            vstore(dst, d, o0)
            vstore(dst, d + cout, o1)
            vstore(dst, d + 2 * cout, o2)
            vstore(dst, d + 3 * cout, o3)
