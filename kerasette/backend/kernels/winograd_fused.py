"""Winograd F(4x4, 3x3) for few channels: transforms and products fused, a small group of tiles at a time.

With 16 channels on each side (ResNet-20's first stage) the 36 products of a block of tiles are
(tiles x 16) @ (16 x 16) matrices, too small for BLAS to reach its rate (numpy's batched matmul
over all tiles: about 100 GFLOP/s against about 160 per core), and the transforms write and read
the transformed tiles through the L2 cache, 36 planes apart. Here a group of a few tiles (the
scratch's planes, rounded down to a multiple of :data:`TILES`) is transformed into L1-resident
scratch, multiplied by register-blocked explicit-vector code (:func:`_products_v`,
:func:`_weight_products_v`) and transformed back at once; the tiles are visited in image, row,
column order, so that no tile costs an integer division, and the tile code is called on flat
arrays chosen per branch. Measured for ResNet-20's 16 -> 16 layer at 32x32, see
`kerasette.backend.engine.winograd_conv.FUSED_GROUP`. With 32 and 64 channels the same code
measured no faster than BLAS's products (forward) and slower (kernel gradient): it is not used there.

It applies where both sides' channels are whole vectors of at most 64 bytes and the input's a
multiple of 8 (:func:`fused_side`); the kernels that use it (`kerasette.backend.kernels.winograd`'s
``*_fused``) are compiled only by models with such layers. The kernel gradient's sums run in
another order than BLAS's: its float32 results differ in the last bits, within the tolerance
Winograd states against the direct convolution.
"""

from __future__ import annotations

import numpy as np
from numba.extending import overload

from kerasette.backend.kernels.simd import (
    VECTOR_BYTES,
    address,
    keep,
    vbroadcast,
    vcount,
    vfma,
    vload,
    vstore,
    vzeros,
)
from kerasette.backend.kernels.winograd_tiles import (
    _inline,
    _input_tile_v,
    _output_grad_tile_v,
    _output_tile_v,
    _vconsts,
    vector_side,
)

#: Tiles multiplied at once by :func:`_products_v` (one accumulator each, per vector of output
#: channels): eight chains of fused multiply-adds hide their latency (4 cycles, 2 a cycle).
TILES = 8

#: Whether a side of at most 64 bytes can be two vectors (narrower than AVX-512's), which
#: :func:`_products_pair_v` takes: a constant, so that numba prunes its branch from the kernels
#: compiled for AVX-512 (on an empty cache it added 0.6-1.0 s to a 16 -> 16 layer's first
#: forward pass there; with AVX2 it adds about 0.7 s).
PAIRS = VECTOR_BYTES < 64


def fused_side(chans: int, cout: int, itemsize: int) -> bool:
    """Whether a layer with ``chans`` input and ``cout`` output channels of ``itemsize`` bytes
    takes the fused kernels: both sides whole vectors of at most 64 bytes
    (`winograd_tiles.vector_side`), and the input channels a multiple of 8 (the kernel
    gradient's unrolling). Usable in kernels too."""
    return vector_side(chans, itemsize) and vector_side(cout, itemsize) and chans % 8 == 0


@overload(fused_side, inline="always")
def _fused_side_overload(chans, cout, itemsize):
    def impl(chans, cout, itemsize):
        return vector_side(chans, itemsize) & vector_side(cout, itemsize) & (chans % 8 == 0)

    return impl


@_inline
def _products_v(vf, uf, mf, nt, pv, pm, chans, cout):
    """``M[e] = V[e] @ U[e]`` for the first ``nt`` tiles (rounded up to :data:`TILES`: the
    scratch must hold them) of flat ``vf`` (36 planes of ``pv`` values, tiles ``C`` apart) into flat
    ``mf`` (36 planes of ``pm``, tiles ``F`` apart), ``uf`` flat (36, C, F). Each weight row is loaded once for :data:`TILES` tiles, each tile's point
    broadcast: one load per fused multiply-add. ``mf`` may be ``vf`` itself when ``chans == cout``
    and ``cout`` is one vector: a point's products for a run of tiles are stored after the
    last read of that point's transformed tiles, which they replace. With two vectors of output
    channels (16 float32 with AVX2) :func:`_products_pair_v` runs instead (the same sums)."""
    lanes = vcount(mf)
    if PAIRS:
        if cout == 2 * lanes:
            _products_pair_v(vf, uf, mf, nt, pv, pm, chans, cout)
            return
    for e in range(36):
        for f in range(0, cout, lanes):
            ub = e * chans * cout + f
            for t in range(0, nt, TILES):
                vb = e * pv + t * chans
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = vzeros(mf)
                for c in range(chans):
                    w = vload(uf, ub + c * cout)
                    a0 = vfma(vbroadcast(vf, vb + c), w, a0)
                    a1 = vfma(vbroadcast(vf, vb + chans + c), w, a1)
                    a2 = vfma(vbroadcast(vf, vb + 2 * chans + c), w, a2)
                    a3 = vfma(vbroadcast(vf, vb + 3 * chans + c), w, a3)
                    a4 = vfma(vbroadcast(vf, vb + 4 * chans + c), w, a4)
                    a5 = vfma(vbroadcast(vf, vb + 5 * chans + c), w, a5)
                    a6 = vfma(vbroadcast(vf, vb + 6 * chans + c), w, a6)
                    a7 = vfma(vbroadcast(vf, vb + 7 * chans + c), w, a7)
                mb = e * pm + t * cout + f
                vstore(mf, mb, a0)
                vstore(mf, mb + cout, a1)
                vstore(mf, mb + 2 * cout, a2)
                vstore(mf, mb + 3 * cout, a3)
                vstore(mf, mb + 4 * cout, a4)
                vstore(mf, mb + 5 * cout, a5)
                vstore(mf, mb + 6 * cout, a6)
                vstore(mf, mb + 7 * cout, a7)


@_inline
def _products_pair_v(vf, uf, mf, nt, pv, pm, chans, cout):
    """:func:`_products_v` for two vectors of output channels (16 float32 with AVX2): four tiles
    at a time, both vectors of each in registers (8 accumulators, 2 weight vectors: 11 of AVX2's
    16 registers), so that 8 fused multiply-adds take 6 loads (two weight vectors, four
    broadcasts) where eight tiles of one vector at a time took 9. Each sum runs over ``c`` in the
    same order as there: the same bits. (It could write over ``vf`` too, a block of tiles stored
    after their last read: measured no faster for ResNet-20's predictions, the engine does not.)"""
    lanes = vcount(mf)
    for e in range(36):
        ub = e * chans * cout
        for t in range(0, nt, TILES // 2):
            vb = e * pv + t * chans
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = vzeros(mf)
            for c in range(chans):
                w0, w1 = vload(uf, ub + c * cout), vload(uf, ub + c * cout + lanes)
                s = vbroadcast(vf, vb + c)
                a0, b0 = vfma(s, w0, a0), vfma(s, w1, b0)
                s = vbroadcast(vf, vb + chans + c)
                a1, b1 = vfma(s, w0, a1), vfma(s, w1, b1)
                s = vbroadcast(vf, vb + 2 * chans + c)
                a2, b2 = vfma(s, w0, a2), vfma(s, w1, b2)
                s = vbroadcast(vf, vb + 3 * chans + c)
                a3, b3 = vfma(s, w0, a3), vfma(s, w1, b3)
            mb = e * pm + t * cout
            vstore(mf, mb, a0)
            vstore(mf, mb + lanes, b0)
            vstore(mf, mb + cout, a1)
            vstore(mf, mb + cout + lanes, b1)
            vstore(mf, mb + 2 * cout, a2)
            vstore(mf, mb + 2 * cout + lanes, b2)
            vstore(mf, mb + 3 * cout, a3)
            vstore(mf, mb + 3 * cout + lanes, b3)


@_inline
def _weight_products_v(vf, mf, duf, nt, pv, pm, chans, cout):
    """``dU[e] += V[e]^T @ dM[e]`` over the first ``nt`` tiles of flat ``vf`` and ``mf`` (as for
    :func:`_products_v`), ``duf`` flat (36, C, F): eight rows of ``dU`` in registers at a time
    (``chans`` a multiple of 8: eight chains of fused multiply-adds), each tile's gradient row
    loaded once for them. (Four rows x two vectors, as :func:`_products_pair_v`, measured 4% faster
    for AVX2's 16 -> 16 layer alone, one thread, and no faster in ResNet-20's training, for 0.5-0.9 s
    more compilation on an empty cache: not kept.)"""
    lanes = vcount(mf)
    for e in range(36):
        for c in range(0, chans, 8):
            for f in range(0, cout, lanes):
                db = (e * chans + c) * cout + f
                a0, a1 = vload(duf, db), vload(duf, db + cout)
                a2, a3 = vload(duf, db + 2 * cout), vload(duf, db + 3 * cout)
                a4, a5 = vload(duf, db + 4 * cout), vload(duf, db + 5 * cout)
                a6, a7 = vload(duf, db + 6 * cout), vload(duf, db + 7 * cout)
                for t in range(nt):
                    g = vload(mf, e * pm + t * cout + f)
                    vb = e * pv + t * chans + c
                    a0 = vfma(vbroadcast(vf, vb), g, a0)
                    a1 = vfma(vbroadcast(vf, vb + 1), g, a1)
                    a2 = vfma(vbroadcast(vf, vb + 2), g, a2)
                    a3 = vfma(vbroadcast(vf, vb + 3), g, a3)
                    a4 = vfma(vbroadcast(vf, vb + 4), g, a4)
                    a5 = vfma(vbroadcast(vf, vb + 5), g, a5)
                    a6 = vfma(vbroadcast(vf, vb + 6), g, a6)
                    a7 = vfma(vbroadcast(vf, vb + 7), g, a7)
                vstore(duf, db, a0)
                vstore(duf, db + cout, a1)
                vstore(duf, db + 2 * cout, a2)
                vstore(duf, db + 3 * cout, a3)
                vstore(duf, db + 4 * cout, a4)
                vstore(duf, db + 5 * cout, a5)
                vstore(duf, db + 6 * cout, a6)
                vstore(duf, db + 7 * cout, a7)


@_inline
def _copy_block_v(src, a, a_row, dst, b, b_row, rows, cols, chans):
    """``rows`` x ``cols`` pixels of ``chans`` channels (whole vectors) from flat ``src[a:]``
    (rows ``a_row`` apart) to flat ``dst[b:]`` (rows ``b_row`` apart)."""
    lanes = vcount(dst)
    for k in range(rows):
        for q in range(0, cols * chans, lanes):
            vstore(dst, b + k * b_row + q, vload(src, a + k * a_row + q))


@_inline
def _padded_window_v(xf, n, h0, w0, height, width, df, size, chans):
    """The ``size`` x ``size`` window of the image ``n`` of flat ``xf`` (N, H, W, C) at row ``h0``,
    column ``w0`` into flat ``df`` (size, size, C), zeros outside the image."""
    lanes = vcount(df)
    zero = vzeros(df)
    for q in range(0, size * size * chans, lanes):
        vstore(df, q, zero)
    k0, k1 = max(0, -h0), min(size, height - h0)
    c0, c1 = max(0, -w0), min(size, width - w0)
    if k1 > k0 and c1 > c0:
        _copy_block_v(xf, ((n * height + h0 + k0) * width + w0 + c0) * chans, width * chans,
                      df, (k0 * size + c0) * chans, size * chans, k1 - k0, c1 - c0, chans)


@_inline
def _conv_fused(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu):
    """The body of `winograd.conv_chunk_fused`: the tiles in order (image, tile row, tile
    column), a group of ``v.shape[1]`` at a time: input transform into ``v``, products into
    ``mm``, output transform; tiles inside the image read and written in place, the others
    through small zero-padded buffers. The tile code is called on the arrays' data pointers
    (`simd.address`), chosen per branch: an array handed to an inlined function cost numba's
    reference counting, calls that LLVM kept in the tile loop (2 to 8 a tile, each followed by
    reloads of the vector constants); with arrays flattened once the forward pass took 0.95 ms
    for ResNet-20's 16 -> 16 layer (one thread, 2048 tiles)."""
    n_img, height, width, chans = x.shape
    oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3]
    mm_planes = mm.shape[1]
    group = v.shape[1] - v.shape[1] % TILES  # tiles; the planes are v.shape[1] long (one tile more: see winograd_conv.FUSED_GROUP)
    pv, pm = v.shape[1] * chans, mm_planes * cout
    itmp = np.empty((6, 6, chans), x.dtype)
    d = np.empty((6, 6, chans), x.dtype)
    otmp = np.empty((4, 6, cout), y.dtype)
    o = np.empty((4, 4, cout), y.dtype)
    ro = np.empty((4, 4, cout), y.dtype)
    xf, df, itf, ikc = address(x), address(d), address(itmp), _vconsts(itmp)
    yf, of, rf, rof = address(y), address(o), address(r), address(ro)
    otf, okc = address(otmp), _vconsts(otmp)
    vf, mf, uf, bf = address(v), address(mm), address(u), address(b)
    pos = np.empty((group, 3), np.int64)
    slot = 0
    total = n_img * tiles_h * tiles_w
    done = 0
    for n in range(n_img):
        for th in range(tiles_h):
            for tw in range(tiles_w):
                h0, w0 = 4 * th - pt, 4 * tw - pl
                if h0 >= 0 and w0 >= 0 and h0 + 6 <= height and w0 + 6 <= width:
                    _input_tile_v(xf, ((n * height + h0) * width + w0) * chans, width * chans, itf, vf,
                                  slot * chans, pv, chans, ikc)
                else:
                    _padded_window_v(xf, n, h0, w0, height, width, df, 6, chans)
                    _input_tile_v(df, 0, 6 * chans, itf, vf, slot * chans, pv, chans, ikc)
                pos[slot, 0], pos[slot, 1], pos[slot, 2] = n, 4 * th, 4 * tw
                slot += 1
                done += 1
                if slot < group and done < total:
                    continue
                _products_v(vf, uf, mf, slot, pv, pm, chans, cout)
                for s in range(slot):
                    on, oh0, ow0 = pos[s, 0], pos[s, 1], pos[s, 2]
                    at = ((on * oh_n + oh0) * ow_n + ow0) * cout
                    if oh0 + 4 <= oh_n and ow0 + 4 <= ow_n:
                        _output_tile_v(mf, s * cout, pm, otf, yf, rf, at, ow_n * cout, bf, has_bias,
                                       has_res, relu, cout, okc)
                    else:
                        rows, cols = min(4, oh_n - oh0), min(4, ow_n - ow0)
                        if has_res:
                            _copy_block_v(rf, at, ow_n * cout, rof, 0, 4 * cout, rows, cols, cout)
                        _output_tile_v(mf, s * cout, pm, otf, of, rof, 0, 4 * cout, bf, has_bias,
                                       has_res, relu, cout, okc)
                        _copy_block_v(of, 0, 4 * cout, yf, at, ow_n * cout, rows, cols, cout)
                slot = 0
    keep(itmp), keep(d), keep(otmp), keep(o), keep(ro)  # their addresses were used up to here


@_inline
def _weight_grad_fused(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl):
    """The body of `winograd.weight_grad_chunk_fused` (see :func:`_conv_fused`): per group, the
    input and output-gradient transforms, then ``dU`` accumulated."""
    n_img, height, width, chans = x.shape
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    mm_planes = dm.shape[1]
    group = v.shape[1] - v.shape[1] % TILES  # tiles; the planes are v.shape[1] long (one tile more: see winograd_conv.FUSED_GROUP)
    pv, pm = v.shape[1] * chans, mm_planes * cout
    itmp = np.empty((6, 6, chans), x.dtype)
    d = np.empty((6, 6, chans), x.dtype)
    gtmp = np.empty((6, 4, cout), dy.dtype)
    g = np.empty((4, 4, cout), dy.dtype)
    du.reshape(-1)[:] = 0
    xf, df, itf, ikc = address(x), address(d), address(itmp), _vconsts(itmp)
    dyf, gf, gtf, gkc = address(dy), address(g), address(gtmp), _vconsts(gtmp)
    vf, mf, duf = address(v), address(dm), address(du)
    slot = 0
    total = n_img * tiles_h * tiles_w
    done = 0
    for n in range(n_img):
        for th in range(tiles_h):
            for tw in range(tiles_w):
                h0, w0 = 4 * th - pt, 4 * tw - pl
                if h0 >= 0 and w0 >= 0 and h0 + 6 <= height and w0 + 6 <= width:
                    _input_tile_v(xf, ((n * height + h0) * width + w0) * chans, width * chans, itf, vf,
                                  slot * chans, pv, chans, ikc)
                else:
                    _padded_window_v(xf, n, h0, w0, height, width, df, 6, chans)
                    _input_tile_v(df, 0, 6 * chans, itf, vf, slot * chans, pv, chans, ikc)
                oh0, ow0 = 4 * th, 4 * tw
                if oh0 + 4 <= oh_n and ow0 + 4 <= ow_n:
                    _output_grad_tile_v(dyf, ((n * oh_n + oh0) * ow_n + ow0) * cout, ow_n * cout, gtf, mf,
                                        slot * cout, pm, cout, gkc)
                else:
                    _padded_window_v(dyf, n, oh0, ow0, oh_n, ow_n, gf, 4, cout)
                    _output_grad_tile_v(gf, 0, 4 * cout, gtf, mf, slot * cout, pm, cout, gkc)
                slot += 1
                done += 1
                if slot < group and done < total:
                    continue
                _weight_products_v(vf, mf, duf, slot, pv, pm, chans, cout)
                slot = 0
    keep(itmp), keep(d), keep(gtmp), keep(g)  # their addresses were used up to here
