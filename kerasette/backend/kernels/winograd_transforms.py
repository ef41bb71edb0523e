"""The Winograd F(4x4, 3x3) transforms of a range of tiles (input, output, output gradient).

Each transform exists as loops LLVM vectorises and as explicit vector code (``_v``, for channels
in whole vectors of at most 64 bytes, `winograd_tiles.vector_side`), each as an inlined body
(``_input_transform`` ...) that `kerasette.backend.kernels.winograd` compiles into its C
functions, and as a kernel callable from Python (:func:`input_transform` ...) for the tests and
the benchmarks. Tiles inside the image are read or written in place (the explicit vector code) or
through a small copy (the loops); tiles crossing its border go through a zero-padded buffer.
All functions fill preallocated arrays and validate nothing; they are generic over dtype.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.simd import address, keep, vadd, vcount, vload, vstore
from kerasette.backend.kernels.winograd_tiles import (
    _a,
    _consts,
    _inline,
    _input_grad_tile,
    _input_tile,
    _input_tile_v,
    _output_grad_tile_v,
    _output_tile,
    _output_tile_v,
    _tile_position,
    _vconsts,
)


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
    """:func:`input_transform` for channels in whole vectors (used for one): a tile whose window
    lies inside the image straight from ``x``, the others through ``d`` (6, 6, C), zero-padded.
    The tile code takes the arrays' data pointers (`simd.address`; see `winograd_fused._conv_fused`),
    and the tile loop has no inlined function with an array argument: numba's reference counting
    of it cost calls per tile."""
    height, width, chans = x.shape[1], x.shape[2], x.shape[3]
    tmp = np.empty((6, 6, chans), x.dtype)
    d = np.zeros((1, 6, 6, chans), x.dtype)
    xf, df, plane = address(x), address(d), v.shape[1] * chans
    tf, vf, kc = address(tmp), address(v), _vconsts(tmp)
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
    keep(tmp), keep(d)  # their addresses were used up to here


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


@kernel
def output_transform(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, has_res, relu):
    """``y_tile = act(A^T M_t A + b + r_tile)`` for tiles ``t0 <= t < t1``, cropped to ``y``'s size.

    Args:
        mm: products, (36, >= t1 - t0, F).
        y: output images, (N, OH, OW, F); positions of a tile beyond OH or OW are not written.
        t0, t1, tiles_h, tiles_w: as for :func:`input_transform`.
        b: bias, (F,) (read when ``has_bias``).
        r: residual, the shape of ``y`` (read when ``has_res``; may be ``y`` itself otherwise).
        relu: apply a ReLU after the bias and the residual.
    """
    _output_transform(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, has_res, relu)


@_inline
def _residual_block(r, ro, n, h0, w0):
    """The part inside ``r`` of its 4 x 4 block at image ``n``, row ``h0``, column ``w0`` into
    ``ro`` (1, 4, 4, F); its other positions keep what they hold (they are cropped)."""
    for a in range(min(4, r.shape[1] - h0)):
        for bcol in range(min(4, r.shape[2] - w0)):
            for f in range(r.shape[3]):
                ro[0, a, bcol, f] = r[n, h0 + a, w0 + bcol, f]


@_inline
def _output_transform_v(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, has_res, relu):
    """:func:`output_transform` for channels in whole vectors (used for one): tiles inside the
    image written in place, those crossing its border into a 4 x 4 buffer ``o`` (their residual
    from one, ``ro``: `_residual_block`), then cropped; on the arrays' data pointers, as
    :func:`_input_transform_v`."""
    oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3]
    tmp = np.empty((4, 6, cout), y.dtype)
    o = np.empty((1, 4, 4, cout), y.dtype)
    ro = np.zeros((1, 4, 4, cout), y.dtype)
    yf, of, rf, rof, plane = address(y), address(o), address(r), address(ro), mm.shape[1] * cout
    tf, mf, bf, kc = address(tmp), address(mm), address(b), _vconsts(tmp)
    for t in range(t0, t1):
        n, th, tw = _tile_position(t, tiles_h, tiles_w)
        h0, w0 = 4 * th, 4 * tw
        inside = h0 + 4 <= oh_n and w0 + 4 <= ow_n
        if has_res and not inside:
            _residual_block(r, ro, n, h0, w0)
        dst, res, at, row = ((yf, rf, ((n * oh_n + h0) * ow_n + w0) * cout, ow_n * cout) if inside
                             else (of, rof, 0, 4 * cout))
        _output_tile_v(mf, (t - t0) * cout, plane, tf, dst, res, at, row, bf, has_bias, has_res, relu, cout, kc)
        if not inside:
            for a in range(min(4, oh_n - h0)):
                for bcol in range(min(4, ow_n - w0)):
                    for f in range(cout):
                        y[n, h0 + a, w0 + bcol, f] = o[0, a, bcol, f]
    keep(tmp), keep(o), keep(ro)  # their addresses were used up to here


@_inline
def _output_transform(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, has_res, relu):
    """:func:`output_transform`'s code (inlined there and into its C function)."""
    oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3]
    tmp = np.empty((4, 6, cout), y.dtype)
    o = np.empty((1, 4, 4, cout), y.dtype)
    ro = np.zeros((1, 4, 4, cout), y.dtype)
    m_loc = np.empty((36, 1, cout), y.dtype)
    for t in range(t0, t1):
        n, th, tw = _tile_position(t, tiles_h, tiles_w)
        h0, w0 = 4 * th, 4 * tw
        for e in range(36):
            for f in range(cout):
                m_loc[e, 0, f] = mm[e, t - t0, f]
        inside = h0 + 4 <= oh_n and w0 + 4 <= ow_n
        # one inlined copy of the tile code (two doubled this kernel's compile time): a tile inside
        # the image is written in place, one crossing its border into ``o``, then cropped; the
        # residual comes through the local copy ``ro`` (see `_output_tile`)
        if has_res:
            _residual_block(r, ro, n, h0, w0)
        dst, dn, dh, dw = (y, n, h0, w0) if inside else (o, 0, 0, 0)
        _output_tile(m_loc, 0, tmp, dst, dn, dh, dw, b, has_bias, ro, has_res, relu)
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
    the image read in place, those crossing its border through ``g`` (4, 4, F), zero-padded; on
    the arrays' data pointers, as :func:`_input_transform_v`."""
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    tmp = np.empty((6, 4, cout), dy.dtype)
    g = np.empty((1, 4, 4, cout), dy.dtype)
    dyf, gf, plane = address(dy), address(g), dm.shape[1] * cout
    tf, mf, kc = address(tmp), address(dm), _vconsts(tmp)
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
    keep(tmp), keep(g)  # their addresses were used up to here


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



@kernel
def input_transform_v(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
    """:func:`input_transform` by the explicit vector code (the channels must fill whole vectors)."""
    _input_transform_v(x, v, t0, t1, tiles_h, tiles_w, pt, pl)


@kernel
def output_transform_v(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, has_res, relu):
    """:func:`output_transform` by the explicit vector code (the channels must fill whole vectors)."""
    _output_transform_v(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, has_res, relu)


@kernel
def output_grad_transform_v(dy, dm, t0, t1, tiles_h, tiles_w):
    """:func:`output_grad_transform` by the explicit vector code (the channels must fill whole vectors)."""
    _output_grad_transform_v(dy, dm, t0, t1, tiles_h, tiles_w)


@kernel
def input_grad_transform(v, dx, t0, t1, tiles_h, tiles_w, pt, pl):
    """``dx_window += B X_t B^T`` for tiles ``t0 <= t < t1``: the adjoint of
    :func:`input_transform`, each tile's 6 x 6 window added into ``dx`` (windows overlap by two
    rows and columns; positions outside the image are dropped).

    Args:
        v: the points' gradients, (36, >= t1 - t0, C).
        dx: input gradient, (N, H, W, C); added into.
        t0, t1, tiles_h, tiles_w, pt, pl: as for :func:`input_transform`.
    """
    _input_grad_transform(v, dx, t0, t1, tiles_h, tiles_w, pt, pl)


@_inline
def _input_grad_transform(v, dx, t0, t1, tiles_h, tiles_w, pt, pl):
    """:func:`input_grad_transform`'s code (inlined there and into its C function)."""
    height, width, chans = dx.shape[1], dx.shape[2], dx.shape[3]
    tmp = np.empty((6, 6, chans), dx.dtype)
    yb = np.empty((6, 6, chans), dx.dtype)
    kc = _consts(tmp)
    dxf, ybf, lanes = dx.reshape(-1), yb.reshape(-1), vcount(yb)
    for t in range(t0, t1):
        n, th, tw = _tile_position(t, tiles_h, tiles_w)
        h0 = 4 * th - pt
        w0 = 4 * tw - pl
        _input_grad_tile(v, t - t0, tmp, yb, kc)
        c0, c1 = max(0, -w0) * chans, min(6, width - w0) * chans  # the window's columns inside dx
        for k in range(max(0, -h0), min(6, height - h0)):
            # one run of up to 6 * C values, in explicit vectors: as a loop LLVM left it scalar
            # (this loop 4 times the transform's time)
            a, b = ((n * height + h0 + k) * width + w0) * chans, 6 * k * chans
            tail = c1 - (c1 - c0) % lanes
            for q in range(c0, tail, lanes):
                vstore(dxf, a + q, vadd(vload(dxf, a + q), vload(ybf, b + q)))
            for q in range(tail, c1):
                dxf[a + q] += ybf[b + q]
