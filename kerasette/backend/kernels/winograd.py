"""Kernels of the Winograd convolution F(4x4, 3x3): tile transforms, vectorised over channels.

A tile ``t`` of the output is the 4 x 4 block of positions starting at ``(4 * th, 4 * tw)`` of
image ``n``, with tiles numbered ``t = (n * tiles_h + th) * tiles_w + tw``. Its input tile is the
6 x 6 window of the padded input starting at the same position. Transformed tiles live in
``(36, tiles, channels)`` arrays, one plane per Winograd point ``e = 6 * i + j``, so that the
element-wise products of the algorithm are 36 matrix products over channels, which
:func:`conv_chunk` and :func:`weight_grad_chunk` hand to numpy's BLAS from inside the kernel.

The 2-D transforms are two passes of the 1-D ones (:func:`_bt`, :func:`_at`, :func:`_a`), each
pass a loop over contiguous channels with a handful of input and output streams, which LLVM
vectorises (one loop with all 36 streams it does not). Where a side's channels are whole
vectors and at most 64 bytes (:func:`vector_side`: 16 float32 channels with AVX-512, 8 or 16
with AVX2), the same operations run on explicit vectors instead (``_input_tile_v``,
``_output_tile_v``, ``_output_grad_tile_v``; the same bits), interior tiles read and written in
place. One thread, ms for ResNet-20's 16 -> 16 layer at 32x32 (2048 tiles), loops / explicit:
AVX-512 input transform 0.79 / 0.36, output 0.32 / 0.22, output gradient 0.43 / 0.27; AVX2
(two vectors) 0.75 / 0.33, 0.30 / 0.22, 0.40 / 0.22. 32 float32 channels with AVX-512 (two
vectors) gained too (output transform 0.10 / 0.08, the others tied; the seed convnet's 32 ->
32 layers about 10% a pass), but the seed convnet would then compile this code as well, on top
of the loops its 64-channel layers need: its empty-cache start grew from 6.5 to 8.8 s (loaded
machine); at four vectors the explicit input transform was slower (0.31 / 0.38). That code
lives in C functions and kernels of its own (:func:`conv_chunk_v`, :func:`weight_grad_chunk_v`),
so that a model without such layers does not compile it on its first run. Tiles that cross the border
of the image go through a small zero-padded buffer. All functions fill preallocated arrays and validate
nothing; they are generic over dtype.

The 1-D transforms are those of Lavin and Gray for the interpolation points 0, 1, -1, 2, -2, inf:
``B^T`` (6 x 6), ``A^T`` (4 x 6) and ``A`` (6 x 4); ``G`` is applied to kernels in numpy.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic, overload

from kerasette.backend.kernels import blas, simd
from kerasette.backend.kernels._jit import CFunction, kernel
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


@kernel
def input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
    """``v[:, t - t0, :] = B^T d_t B`` for tiles ``t0 <= t < t1`` of ``x``.

    Args:
        x: input images, (N, H, W, C); positions outside (after padding ``pt``, ``pl``) read as 0.
        v: output, (36, >= t1 - t0, C).
        t0, t1: tile range; ``tiles_h``, ``tiles_w``: tiles per image column and row.
        pt, pl: padding at the top and on the left.
    """
    _input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)


@_inline
def _input_transform_v(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
    """:func:`input_transform` for channels in whole vectors (used for one): interior tiles
    straight from ``x``, the others through a zero-padded copy."""
    height, width, chans = x.shape[1], x.shape[2], x.shape[3]
    tmp = np.empty((6, 6, chans), x.dtype)
    d = np.zeros((1, 6, 6, chans), x.dtype)
    xf, df, plane = x.reshape(-1), d.reshape(-1), v.shape[1] * chans
    tf, vf, kc = tmp.reshape(-1), v.reshape(-1), _vconsts(tmp)
    for t in range(t0, t1):
        n, th, tw = _tile_position(t, tiles_h, tiles_w)
        h0 = 4 * th - pt
        w0 = 4 * tw - pl
        # one inlined copy of the tile code (each copy costs compile time; a second, for
        # interior tiles alone, measured no faster)
        src, at, row = xf, ((n * height + h0) * width + w0) * chans, width * chans
        if not (h0 >= 0 and w0 >= 0 and h0 + 6 <= height and w0 + 6 <= width):
            for k in range(6):
                for col in range(6):
                    h, w = h0 + k, w0 + col
                    inside = 0 <= h < height and 0 <= w < width
                    for c in range(chans):
                        d[0, k, col, c] = x[n, h, w, c] if inside else 0
            src, at, row = df, 0, 6 * chans
        _input_tile_v(src, at, row, tf, vf, (t - t0) * chans, plane, chans, kc)


@_inline
def _input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
    """:func:`input_transform`'s code (inlined there and into its C function)."""
    height, width, chans = x.shape[1], x.shape[2], x.shape[3]
    tmp = np.empty((6, 6, chans), x.dtype)
    d = np.empty((1, 6, 6, chans), x.dtype)
    d_rows = d.reshape(6, 6 * chans)
    x_rows = x.reshape(x.shape[0], height, width * chans)
    for t in range(t0, t1):
        n, th, tw = _tile_position(t, tiles_h, tiles_w)
        h0 = 4 * th - pt
        w0 = 4 * tw - pl
        if h0 >= 0 and w0 >= 0 and h0 + 6 <= height and w0 + 6 <= width:
            for k in range(6):  # six contiguous runs of 6 * C values
                for q in range(6 * chans):
                    d_rows[k, q] = x_rows[n, h0 + k, w0 * chans + q]
        else:
            for k in range(6):
                for col in range(6):
                    h, w = h0 + k, w0 + col
                    inside = 0 <= h < height and 0 <= w < width
                    for c in range(chans):
                        d[0, k, col, c] = x[n, h, w, c] if inside else 0
        _input_tile(d, 0, 0, 0, tmp, v, t - t0)


@_inline
def _output_tile(mm, tt, tmp, dst, n, h, w, b, has_bias, relu):
    """The 4 x 4 block ``act(A^T M A + b)`` of tile ``tt`` into ``dst`` at image ``n``, row ``h``,
    column ``w`` (all inside ``dst``); ``tmp`` is (4, 6, F) scratch."""
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
            if relu:
                o0 = o0 if o0 > zero else zero
                o1 = o1 if o1 > zero else zero
                o2 = o2 if o2 > zero else zero
                o3 = o3 if o3 > zero else zero
            dst[n, h + a, w, f] = o0
            dst[n, h + a, w + 1, f] = o1
            dst[n, h + a, w + 2, f] = o2
            dst[n, h + a, w + 3, f] = o3


@kernel
def output_transform(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu):
    """``y_tile = act(A^T M_t A + b)`` for tiles ``t0 <= t < t1``, cropped to ``y``'s size.

    Args:
        mm: products, (36, >= t1 - t0, F).
        y: output images, (N, OH, OW, F); positions of a tile beyond OH or OW are not written.
        t0, t1, tiles_h, tiles_w: as for :func:`input_transform`.
        b: bias, (F,) (read when ``has_bias``).
        relu: apply a ReLU after the bias.
    """
    _output_transform(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu)


@_inline
def _output_transform_v(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu):
    """:func:`output_transform` for channels in whole vectors (used for one): tiles inside the
    image written in place, those crossing its border into a 4 x 4 buffer, then cropped."""
    oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3]
    tmp = np.empty((4, 6, cout), y.dtype)
    o = np.empty((1, 4, 4, cout), y.dtype)
    yf, of, plane = y.reshape(-1), o.reshape(-1), mm.shape[1] * cout
    tf, mf, kc = tmp.reshape(-1), mm.reshape(-1), _vconsts(tmp)
    for t in range(t0, t1):
        n, th, tw = _tile_position(t, tiles_h, tiles_w)
        h0, w0 = 4 * th, 4 * tw
        inside = h0 + 4 <= oh_n and w0 + 4 <= ow_n
        dst, at, row = (yf, ((n * oh_n + h0) * ow_n + w0) * cout, ow_n * cout) if inside else (of, 0, 4 * cout)
        _output_tile_v(mf, (t - t0) * cout, plane, tf, dst, at, row, b, has_bias, relu, cout, kc)
        if inside:
            continue
        for a in range(min(4, oh_n - h0)):
            for bcol in range(min(4, ow_n - w0)):
                for f in range(cout):
                    y[n, h0 + a, w0 + bcol, f] = o[0, a, bcol, f]


@_inline
def _output_transform(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu):
    """:func:`output_transform`'s code (inlined there and into its C function)."""
    oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3]
    tmp = np.empty((4, 6, cout), y.dtype)
    o = np.empty((1, 4, 4, cout), y.dtype)
    m_loc = np.empty((36, 1, cout), y.dtype)
    for t in range(t0, t1):
        n, th, tw = _tile_position(t, tiles_h, tiles_w)
        h0, w0 = 4 * th, 4 * tw
        for e in range(36):
            for f in range(cout):
                m_loc[e, 0, f] = mm[e, t - t0, f]
        inside = h0 + 4 <= oh_n and w0 + 4 <= ow_n
        # one inlined copy of the tile code (two doubled this kernel's compile time): a tile inside
        # the image is written in place, one crossing its border into ``o``, then cropped
        dst, dn, dh, dw = (y, n, h0, w0) if inside else (o, 0, 0, 0)
        _output_tile(m_loc, 0, tmp, dst, dn, dh, dw, b, has_bias, relu)
        if inside:
            continue
        for a in range(min(4, oh_n - h0)):
            for bcol in range(min(4, ow_n - w0)):
                for f in range(cout):
                    y[n, h0 + a, w0 + bcol, f] = o[0, a, bcol, f]


@kernel
def output_grad_transform(dy, dm, t0, t1, tiles_h, tiles_w):
    """``dm[:, t - t0, :] = A dY_t A^T`` (the adjoint of the output transform) for tiles ``t0:t1``.

    Args:
        dy: output gradient, (N, OH, OW, F); positions of a tile beyond OH or OW read as 0.
        dm: output, (36, >= t1 - t0, F).
        t0, t1, tiles_h, tiles_w: as for :func:`input_transform`.
    """
    _output_grad_transform(dy, dm, t0, t1, tiles_h, tiles_w)


@_inline
def _output_grad_transform_v(dy, dm, t0, t1, tiles_h, tiles_w):
    """:func:`output_grad_transform` for channels in whole vectors (used for one): tiles inside
    the image read in place, those crossing its border through a zero-padded copy."""
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    tmp = np.empty((6, 4, cout), dy.dtype)
    g = np.empty((1, 4, 4, cout), dy.dtype)
    dyf, gf, plane = dy.reshape(-1), g.reshape(-1), dm.shape[1] * cout
    tf, mf, kc = tmp.reshape(-1), dm.reshape(-1), _vconsts(tmp)
    for t in range(t0, t1):
        n, th, tw = _tile_position(t, tiles_h, tiles_w)
        h0, w0 = 4 * th, 4 * tw
        src, at, row = dyf, ((n * oh_n + h0) * ow_n + w0) * cout, ow_n * cout
        if h0 + 4 > oh_n or w0 + 4 > ow_n:
            for a in range(4):
                for bcol in range(4):
                    inside = h0 + a < oh_n and w0 + bcol < ow_n
                    for f in range(cout):
                        g[0, a, bcol, f] = dy[n, h0 + a, w0 + bcol, f] if inside else 0
            src, at, row = gf, 0, 4 * cout
        _output_grad_tile_v(src, at, row, tf, mf, (t - t0) * cout, plane, cout, kc)


@_inline
def _output_grad_transform(dy, dm, t0, t1, tiles_h, tiles_w):
    """:func:`output_grad_transform`'s code (inlined there and into its C function)."""
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    tmp = np.empty((6, 4, cout), dy.dtype)
    kc = _consts(tmp)
    g = np.empty((1, 4, 4, cout), dy.dtype)
    for t in range(t0, t1):
        n, th, tw = _tile_position(t, tiles_h, tiles_w)
        h0, w0 = 4 * th, 4 * tw
        src, img, hs, ws = dy, n, h0, w0
        if h0 + 4 > oh_n or w0 + 4 > ow_n:
            for a in range(4):
                for bcol in range(4):
                    inside = h0 + a < oh_n and w0 + bcol < ow_n
                    for f in range(cout):
                        g[0, a, bcol, f] = dy[n, h0 + a, w0 + bcol, f] if inside else 0
            src, img, hs, ws = g, 0, 0, 0
        for bcol in range(4):
            for f in range(cout):
                o0, o1, o2, o3, o4, o5 = _a(src[img, hs, ws + bcol, f], src[img, hs + 1, ws + bcol, f],
                                            src[img, hs + 2, ws + bcol, f], src[img, hs + 3, ws + bcol, f], kc)
                tmp[0, bcol, f] = o0
                tmp[1, bcol, f] = o1
                tmp[2, bcol, f] = o2
                tmp[3, bcol, f] = o3
                tmp[4, bcol, f] = o4
                tmp[5, bcol, f] = o5
        tt = t - t0
        for i in range(6):
            for f in range(cout):
                o0, o1, o2, o3, o4, o5 = _a(tmp[i, 0, f], tmp[i, 1, f], tmp[i, 2, f], tmp[i, 3, f], kc)
                dm[6 * i, tt, f] = o0
                dm[6 * i + 1, tt, f] = o1
                dm[6 * i + 2, tt, f] = o2
                dm[6 * i + 3, tt, f] = o3
                dm[6 * i + 4, tt, f] = o4
                dm[6 * i + 5, tt, f] = o5


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
def _output_tile_v(mf, mt, plane, tf, dst, at, row, b, has_bias, relu, cout, kc):
    """:func:`_output_tile` with explicit vectors (``cout`` channels in whole vectors): the tile
    at ``mf[e * plane + mt:]`` for each point ``e`` into the 4 x 4 block at flat ``dst[at:]``
    (rows ``row`` apart, pixels ``cout`` apart); ``tf`` is flat (4, 6, F) scratch, ``kc``
    :func:`_vconsts`."""
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
            if relu:
                o0, o1, o2, o3 = vmax(o0, zero), vmax(o1, zero), vmax(o2, zero), vmax(o3, zero)
            d = at + a * row + f
            vstore(dst, d, o0)
            vstore(dst, d + cout, o1)
            vstore(dst, d + 2 * cout, o2)
            vstore(dst, d + 3 * cout, o3)


@kernel
def input_transform_v(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
    """:func:`input_transform` by the explicit vector code (the channels must fill whole vectors)."""
    _input_transform_v(x, v, t0, t1, tiles_h, tiles_w, pt, pl)


@kernel
def output_transform_v(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu):
    """:func:`output_transform` by the explicit vector code (the channels must fill whole vectors)."""
    _output_transform_v(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu)


@kernel
def output_grad_transform_v(dy, dm, t0, t1, tiles_h, tiles_w):
    """:func:`output_grad_transform` by the explicit vector code (the channels must fill whole vectors)."""
    _output_grad_transform_v(dy, dm, t0, t1, tiles_h, tiles_w)


# The transforms as C functions for conv_chunk and weight_grad_chunk (see `_jit.CFunction`):
# compiled once each, not once more inside each of the two kernels (which halves the first run's
# Winograd compile). Arrays go in as pointer and shape; ``_call_*`` are the kernels' calls.


def _input_transform_c(xp, n, h, w, c, vp, vb, vc, t0, t1, tiles_h, tiles_w, pt, pl):
    _input_transform(numba.carray(xp, (n, h, w, c)), numba.carray(vp, (36, vb, vc)),
                     t0, t1, tiles_h, tiles_w, pt, pl)


def _output_transform_c(mp, mb, mf, yp, n, oh, ow, f, t0, t1, tiles_h, tiles_w, bp, nb, has_bias, relu):
    _output_transform(numba.carray(mp, (36, mb, mf)), numba.carray(yp, (n, oh, ow, f)),
                      t0, t1, tiles_h, tiles_w, numba.carray(bp, (nb,)), has_bias, relu)


def _output_grad_transform_c(gp, n, oh, ow, f, mp, mb, mf, t0, t1, tiles_h, tiles_w):
    _output_grad_transform(numba.carray(gp, (n, oh, ow, f)), numba.carray(mp, (36, mb, mf)),
                           t0, t1, tiles_h, tiles_w)


def _input_transform_v_c(xp, n, h, w, c, vp, vb, vc, t0, t1, tiles_h, tiles_w, pt, pl):
    _input_transform_v(numba.carray(xp, (n, h, w, c)), numba.carray(vp, (36, vb, vc)),
                       t0, t1, tiles_h, tiles_w, pt, pl)


def _output_transform_v_c(mp, mb, mf, yp, n, oh, ow, f, t0, t1, tiles_h, tiles_w, bp, nb, has_bias, relu):
    _output_transform_v(numba.carray(mp, (36, mb, mf)), numba.carray(yp, (n, oh, ow, f)),
                        t0, t1, tiles_h, tiles_w, numba.carray(bp, (nb,)), has_bias, relu)


def _output_grad_transform_v_c(gp, n, oh, ow, f, mp, mb, mf, t0, t1, tiles_h, tiles_w):
    _output_grad_transform_v(numba.carray(gp, (n, oh, ow, f)), numba.carray(mp, (36, mb, mf)),
                             t0, t1, tiles_h, tiles_w)


_P, _I, _B = (types.CPointer, types.int64, types.boolean)
_INPUT_SIG = lambda dt: types.void(_P(dt), *[_I] * 4, _P(dt), *[_I] * 8)  # noqa: E731
_OUTPUT_SIG = lambda dt: types.void(_P(dt), _I, _I, _P(dt), *[_I] * 8, _P(dt), _I, _B, _B)  # noqa: E731
_OUTPUT_GRAD_SIG = lambda dt: types.void(_P(dt), *[_I] * 4, _P(dt), *[_I] * 6)  # noqa: E731
_INPUT = CFunction(_input_transform_c, _INPUT_SIG)
_OUTPUT = CFunction(_output_transform_c, _OUTPUT_SIG)
_OUTPUT_GRAD = CFunction(_output_grad_transform_c, _OUTPUT_GRAD_SIG)
# the explicit vector variants, compiled only for layers with a side of channels in vectors (`vector_side`)
_INPUT_V = CFunction(_input_transform_v_c, _INPUT_SIG)
_OUTPUT_V = CFunction(_output_transform_v_c, _OUTPUT_SIG)
_OUTPUT_GRAD_V = CFunction(_output_grad_transform_v_c, _OUTPUT_GRAD_SIG)


def _input_transform_caller(c_function, python_kernel):
    """A function kernels call to run an input transform through ``c_function`` (inlined as one
    call of the C function); called from Python, it runs ``python_kernel``."""

    def call(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
        python_kernel(x, v, t0, t1, tiles_h, tiles_w, pt, pl)

    @overload(call, inline="always")
    def _call_overload(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
        fn = c_function.external(x.dtype)

        def impl(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
            fn(blas._pointer(x.ctypes.data, x), x.shape[0], x.shape[1], x.shape[2], x.shape[3],
               blas._pointer(v.ctypes.data, v), v.shape[1], v.shape[2], t0, t1, tiles_h, tiles_w, pt, pl)

        return impl

    return call


def _output_transform_caller(c_function, python_kernel):
    """As `_input_transform_caller`, for an output transform."""

    def call(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu):
        python_kernel(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu)

    @overload(call, inline="always")
    def _call_overload(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu):
        fn = c_function.external(y.dtype)

        def impl(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu):
            fn(blas._pointer(mm.ctypes.data, mm), mm.shape[1], mm.shape[2],
               blas._pointer(y.ctypes.data, y), y.shape[0], y.shape[1], y.shape[2], y.shape[3],
               t0, t1, tiles_h, tiles_w, blas._pointer(b.ctypes.data, b), b.shape[0], has_bias, relu)

        return impl

    return call


def _output_grad_transform_caller(c_function, python_kernel):
    """As `_input_transform_caller`, for an output-gradient transform."""

    def call(dy, dm, t0, t1, tiles_h, tiles_w):
        python_kernel(dy, dm, t0, t1, tiles_h, tiles_w)

    @overload(call, inline="always")
    def _call_overload(dy, dm, t0, t1, tiles_h, tiles_w):
        fn = c_function.external(dy.dtype)

        def impl(dy, dm, t0, t1, tiles_h, tiles_w):
            fn(blas._pointer(dy.ctypes.data, dy), dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3],
               blas._pointer(dm.ctypes.data, dm), dm.shape[1], dm.shape[2], t0, t1, tiles_h, tiles_w)

        return impl

    return call


_call_input_transform = _input_transform_caller(_INPUT, input_transform)
_call_output_transform = _output_transform_caller(_OUTPUT, output_transform)
_call_output_grad_transform = _output_grad_transform_caller(_OUTPUT_GRAD, output_grad_transform)
_call_input_transform_v = _input_transform_caller(_INPUT_V, input_transform_v)
_call_output_transform_v = _output_transform_caller(_OUTPUT_V, output_transform_v)
_call_output_grad_transform_v = _output_grad_transform_caller(_OUTPUT_GRAD_V, output_grad_transform_v)


@kernel(calls=(_INPUT, _OUTPUT))
def conv_chunk(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, relu):
    """The whole Winograd convolution of a chunk of images, a block of tiles at a time.

    Per block: :func:`input_transform`, the 36 products ``M[e] = V[e] @ U[e]`` (numpy's BLAS,
    called from here, see `kerasette.backend.kernels.blas`) and :func:`output_transform`.

    Args:
        x: input images, (N, H, W, C), C-contiguous.
        u: transformed kernel, (36, C, F), C-contiguous.
        y: output images, (N, OH, OW, F), C-contiguous; overwritten.
        v, mm: scratch, (36, block, C) and (36, block, F), C-contiguous; ``block`` tiles at a time.
        tiles_h, tiles_w: tiles per image column and row.
        pt, pl: padding at the top and on the left.
        b, has_bias, relu: as for :func:`output_transform`.
    """
    block, chans, cout = v.shape[1], u.shape[1], u.shape[2]
    total = x.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        _call_input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        for e in range(36):
            blas.gemm(False, False, t1 - t0, cout, chans, v, e * block * chans, chans,
                      u, e * chans * cout, cout, 0.0, mm, e * block * cout, cout)
        _call_output_transform(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu)


@kernel(calls=(_INPUT, _OUTPUT_GRAD))
def weight_grad_chunk(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl):
    """``du[e] = sum over the chunk's tiles of V[e]^T @ (A dY A^T)[e]``, a block at a time.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        x: forward input, (N, H, W, C), C-contiguous.
        du: output, (36, C, F), C-contiguous; overwritten.
        v, dm: scratch, (36, block, C) and (36, block, F), C-contiguous.
        tiles_h, tiles_w, pt, pl: as for :func:`conv_chunk`.
    """
    block, chans, cout = v.shape[1], du.shape[1], du.shape[2]
    total = x.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        _call_input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        _call_output_grad_transform(dy, dm, t0, t1, tiles_h, tiles_w)
        for e in range(36):
            blas.gemm(True, False, chans, cout, t1 - t0, v, e * block * chans, chans,
                      dm, e * block * cout, cout, 0.0 if t0 == 0 else 1.0, du, e * chans * cout, cout)


@kernel(calls=(_INPUT, _INPUT_V, _OUTPUT, _OUTPUT_V))
def conv_chunk_v(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, relu):
    """:func:`conv_chunk` where the input or the output channels are :func:`vector_side`: that side's
    transform by the explicit vector code. A kernel of its own, so that models without such
    layers never compile that code. Arguments as for :func:`conv_chunk`."""
    block, chans, cout = v.shape[1], u.shape[1], u.shape[2]
    total = x.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        if vector_side(chans, x.itemsize):
            _call_input_transform_v(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        else:
            _call_input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        for e in range(36):
            blas.gemm(False, False, t1 - t0, cout, chans, v, e * block * chans, chans,
                      u, e * chans * cout, cout, 0.0, mm, e * block * cout, cout)
        if vector_side(cout, y.itemsize):
            _call_output_transform_v(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu)
        else:
            _call_output_transform(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, relu)


@kernel(calls=(_INPUT, _INPUT_V, _OUTPUT_GRAD, _OUTPUT_GRAD_V))
def weight_grad_chunk_v(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl):
    """:func:`weight_grad_chunk` where the input or the output channels are :func:`vector_side` (see
    :func:`conv_chunk_v`). Arguments as for :func:`weight_grad_chunk`."""
    block, chans, cout = v.shape[1], du.shape[1], du.shape[2]
    total = x.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        if vector_side(chans, x.itemsize):
            _call_input_transform_v(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        else:
            _call_input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        if vector_side(cout, dy.itemsize):
            _call_output_grad_transform_v(dy, dm, t0, t1, tiles_h, tiles_w)
        else:
            _call_output_grad_transform(dy, dm, t0, t1, tiles_h, tiles_w)
        for e in range(36):
            blas.gemm(True, False, chans, cout, t1 - t0, v, e * block * chans, chans,
                      dm, e * block * cout, cout, 0.0 if t0 == 0 else 1.0, du, e * chans * cout, cout)
