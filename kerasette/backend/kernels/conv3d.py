"""3-D convolution kernels: volume patch packing (vol2col), its adjoint (col2vol), and the
chunk loops of the implicit-GEMM convolution that feed the packed patches to numpy's BLAS.

Layout: volumes are channels-last (N, D, H, W, C). A patch matrix has one row per output position
``(n, od, oh, ow)`` and one column per ``(a, i, j, c)`` (kernel depth, row, column, input channel
of one group), the row order of a ``(kd, kh, kw, C // groups, F)`` kernel reshaped to
``(kd * kh * kw * C // groups, F)``. Kernels work on a *tile*: the output rows ``g0 <= g < g1`` of
the flattened ``(n, od, oh)`` axis, so a tile has ``(g1 - g0) * OW`` patch rows and the scratch
never holds more than one tile. Padding is implicit: positions outside the volume read as zero.

The geometry travels as one int64 array ``geom``: ``(kd, kh, kw, sd, sh, sw, dd, dh, dw, pf, pt,
pl)``: kernel size, strides, dilation and the padding before each spatial axis (front, top, left).

All functions fill preallocated arrays and validate nothing; they are generic over dtype.
"""

from __future__ import annotations

from kerasette.backend.kernels import blas
from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.conv import bias_act_rows


@kernel
def vol2col_tile(x, cols, g0, g1, od_n, oh_n, ow_n, geom, c0, cg):
    """Packs the patches of output rows ``g0:g1`` (input channels ``c0:c0 + cg``) into ``cols``.

    Args:
        x: input volumes, (N, D, H, W, C), C-contiguous.
        cols: output, at least ((g1 - g0) * ow_n, kd * kh * kw * cg), C-contiguous; the first
            ``(g1 - g0) * ow_n`` rows are overwritten.
        g0, g1: the tile's range on the flattened (n, od, oh) axis.
        od_n, oh_n, ow_n: the output's depth, height and width.
        geom: the geometry (see the module docstring).
        c0, cg: the group's first input channel and its channel count.
    """
    depth, height, width, chans = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    kd, kh, kw, sd, sh, sw = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    dd, dh, dw, pf, pt, pl = geom[6], geom[7], geom[8], geom[9], geom[10], geom[11]
    xf = x.reshape(-1)
    k = kd * kh * kw * cg
    cf = cols.reshape(-1)
    span = kw * cg
    # a kernel row's taps are one contiguous run of the input when they are adjacent (no dilation
    # along the columns) and hold every channel (one group)
    runs = dw == 1 and cg == chans
    for g in range(g0, g1):
        n = g // (od_n * oh_n)
        rest = g - n * od_n * oh_n
        od = rest // oh_n
        oh = rest - od * oh_n
        for ow in range(ow_n):
            dst = ((g - g0) * ow_n + ow) * k
            w_first = ow * sw - pl
            row_inside = runs and w_first >= 0 and w_first + kw <= width
            for a in range(kd):
                z = od * sd + a * dd - pf
                for i in range(kh):
                    h = oh * sh + i * dh - pt
                    d0 = dst + (a * kh + i) * span
                    if z < 0 or z >= depth or h < 0 or h >= height:
                        for q in range(span):
                            cf[d0 + q] = 0
                    elif row_inside:
                        src = (((n * depth + z) * height + h) * width + w_first) * chans
                        for q in range(span):
                            cf[d0 + q] = xf[src + q]
                    else:
                        for j in range(kw):
                            wc = w_first + j * dw
                            d = d0 + j * cg
                            if 0 <= wc < width:
                                src = (((n * depth + z) * height + h) * width + wc) * chans + c0
                                for c in range(cg):
                                    cf[d + c] = xf[src + c]
                            else:
                                for c in range(cg):
                                    cf[d + c] = 0


@kernel
def col2vol_tile(dcols, dx, g0, g1, od_n, oh_n, ow_n, geom, c0, cg):
    """Adds the patch gradients of output rows ``g0:g1`` back into ``dx`` (the adjoint of
    `vol2col_tile`); contributions that fall in the padding are dropped. ``dx`` holds the sum so
    far (zeros at first). Arguments as for `vol2col_tile`, ``dcols`` in place of ``cols``."""
    depth, height, width, chans = dx.shape[1], dx.shape[2], dx.shape[3], dx.shape[4]
    kd, kh, kw, sd, sh, sw = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    dd, dh, dw, pf, pt, pl = geom[6], geom[7], geom[8], geom[9], geom[10], geom[11]
    xf = dx.reshape(-1)
    k = kd * kh * kw * cg
    cf = dcols.reshape(-1)
    for g in range(g0, g1):
        n = g // (od_n * oh_n)
        rest = g - n * od_n * oh_n
        od = rest // oh_n
        oh = rest - od * oh_n
        for ow in range(ow_n):
            src0 = ((g - g0) * ow_n + ow) * k
            for a in range(kd):
                z = od * sd + a * dd - pf
                if z < 0 or z >= depth:
                    continue
                for i in range(kh):
                    h = oh * sh + i * dh - pt
                    if h < 0 or h >= height:
                        continue
                    for j in range(kw):
                        wc = ow * sw + j * dw - pl
                        if wc < 0 or wc >= width:
                            continue
                        s = src0 + ((a * kh + i) * kw + j) * cg
                        d = (((n * depth + z) * height + h) * width + wc) * chans + c0
                        for c in range(cg):
                            xf[d + c] += cf[s + c]


@kernel
def conv3d_forward_chunk(x, w2d, y, cols, geom, groups, b, has_bias, relu):
    """``y = act(conv3d(x, w) + b)`` for a chunk of volumes, a tile of patches at a time: per
    tile and group, `vol2col_tile`, then ``y_tile[:, group] = cols @ w2d[:, group]`` (one BLAS
    call), then the bias and ReLU over the tile's rows.

    Args:
        x: input volumes, (N, D, H, W, C), C-contiguous.
        w2d: the kernel as (kd * kh * kw * C // groups, F), C-contiguous.
        y: output, (N, OD, OH, OW, F), C-contiguous; overwritten.
        cols: scratch, (rows * OW, kd * kh * kw * C // groups): ``rows`` output rows per tile.
        geom: the geometry (module docstring); groups: the channel groups.
        b: bias (F,) (read when ``has_bias``); relu: a ReLU after it.
    """
    od_n, oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3], y.shape[4]
    k = w2d.shape[0]
    cg = x.shape[4] // groups
    fg = cout // groups
    rows = cols.shape[0] // ow_n
    y2d = y.reshape(-1, cout)
    total = y.shape[0] * od_n * oh_n
    for g0 in range(0, total, rows):
        g1 = min(g0 + rows, total)
        m = (g1 - g0) * ow_n
        for grp in range(groups):
            vol2col_tile(x, cols, g0, g1, od_n, oh_n, ow_n, geom, grp * cg, cg)
            blas.gemm(False, False, m, fg, k, cols, 0, k, w2d, grp * fg, cout, 0.0,
                      y2d, g0 * ow_n * cout + grp * fg, cout)
        if has_bias or relu:
            bias_act_rows(y2d[g0 * ow_n : g1 * ow_n], b, has_bias, relu)


@kernel
def conv3d_kernel_grad_chunk(dz, x, dw2d, cols, geom, groups):
    """``dw2d = sum over tiles of cols_tile.T @ dz_tile`` (per group's columns) for a chunk.

    Args:
        dz: the gradient at the convolution's output (after the ReLU's mask), (N, OD, OH, OW, F).
        x: the forward input, (N, D, H, W, C).
        dw2d: output, (kd * kh * kw * C // groups, F); overwritten.
        cols, geom, groups: as for `conv3d_forward_chunk`.
    """
    od_n, oh_n, ow_n, cout = dz.shape[1], dz.shape[2], dz.shape[3], dz.shape[4]
    k = dw2d.shape[0]
    cg = x.shape[4] // groups
    fg = cout // groups
    rows = cols.shape[0] // ow_n
    total = dz.shape[0] * od_n * oh_n
    for g0 in range(0, total, rows):
        g1 = min(g0 + rows, total)
        m = (g1 - g0) * ow_n
        for grp in range(groups):
            vol2col_tile(x, cols, g0, g1, od_n, oh_n, ow_n, geom, grp * cg, cg)
            blas.gemm(True, False, k, fg, m, cols, 0, k, dz, g0 * ow_n * cout + grp * fg, cout,
                      0.0 if g0 == 0 else 1.0, dw2d, grp * fg, cout)


@kernel
def conv3d_input_grad_chunk(dz, w2d, dx, dcols, geom, groups):
    """``dx += col2vol(dz_tile[:, group] @ w2d[:, group].T)`` for a chunk, a tile at a time.

    Args:
        dz: the gradient at the convolution's output, (N, OD, OH, OW, F).
        w2d: the kernel as (kd * kh * kw * C // groups, F).
        dx: the input gradient to add into (zeros at first), (N, D, H, W, C).
        dcols: scratch, as ``cols`` of `conv3d_forward_chunk`.
        geom, groups: as for `conv3d_forward_chunk`.
    """
    od_n, oh_n, ow_n, cout = dz.shape[1], dz.shape[2], dz.shape[3], dz.shape[4]
    k = w2d.shape[0]
    cg = dx.shape[4] // groups
    fg = cout // groups
    rows = dcols.shape[0] // ow_n
    total = dz.shape[0] * od_n * oh_n
    for g0 in range(0, total, rows):
        g1 = min(g0 + rows, total)
        m = (g1 - g0) * ow_n
        for grp in range(groups):
            blas.gemm(False, True, m, k, fg, dz, g0 * ow_n * cout + grp * fg, cout, w2d, grp * fg, cout,
                      0.0, dcols, 0, k)
            col2vol_tile(dcols, dx, g0, g1, od_n, oh_n, ow_n, geom, grp * cg, cg)


# -- plane by plane: each input depth plane's 2-D patches packed once, reused by every kernel depth tap
@kernel
def plane2col(x, ring, slot, n, z, oh_n, ow_n, geom):
    """Packs the 2-D patches of input plane ``z`` of volume ``n`` into ``ring[slot]``: one row per
    output position (oh, ow), one column per (i, j, c) (kernel row, column, channel), the row order
    of kernel depth tap ``a``'s block of the (kd * kh * kw * C, F) kernel.

    Args:
        x: input volumes, (N, D, H, W, C), C-contiguous.
        ring: (slots, OH * OW, kh * kw * C), C-contiguous; ``ring[slot]`` is overwritten.
        slot, n, z: where to pack, and which plane.
        oh_n, ow_n: the output's height and width.
        geom: the geometry (see the module docstring; depth entries unused).
    """
    depth, height, width, chans = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    kh, kw, sh, sw = geom[1], geom[2], geom[4], geom[5]
    dh, dw, pt, pl = geom[7], geom[8], geom[10], geom[11]
    k2 = kh * kw * chans
    span = kw * chans
    xf = x.reshape(-1)
    cf = ring.reshape(-1)
    plane = ((n * depth + z) * height) * width * chans
    start = slot * oh_n * ow_n * k2
    for oh in range(oh_n):
        for ow in range(ow_n):
            dst = start + (oh * ow_n + ow) * k2
            w_first = ow * sw - pl
            row_inside = dw == 1 and w_first >= 0 and w_first + kw <= width
            for i in range(kh):
                h = oh * sh + i * dh - pt
                d0 = dst + i * span
                if h < 0 or h >= height:
                    for q in range(span):
                        cf[d0 + q] = 0
                elif row_inside:
                    src = plane + (h * width + w_first) * chans
                    for q in range(span):
                        cf[d0 + q] = xf[src + q]
                else:
                    for j in range(kw):
                        wc = w_first + j * dw
                        d = d0 + j * chans
                        if 0 <= wc < width:
                            src = plane + (h * width + wc) * chans
                            for c in range(chans):
                                cf[d + c] = xf[src + c]
                        else:
                            for c in range(chans):
                                cf[d + c] = 0


@kernel
def conv3d_planes_forward_chunk(x, w2d, y, ring, tags, geom, b, has_bias, relu):
    """``y = act(conv3d(x, w) + b)`` for a chunk of volumes (one group), plane by plane: output
    plane (n, od) is the sum over the kernel's depth taps ``a`` of ``patches(n, z) @ w2d[tap a]``
    with ``z = od * sd + a * dd - pf``, one BLAS call each. The patches of an input plane are packed
    once into a ring of ``slots`` planes (`plane2col`) and reused by the following output planes
    that read it (every kernel depth tap, at stride 1): a kd-deep kernel packs each plane once
    instead of kd times.

    Args:
        x, w2d, y, geom, b, has_bias, relu: as for `conv3d_forward_chunk` (groups 1).
        ring: scratch, (slots, OH * OW, kh * kw * C) with ``slots`` = the kernel's depth extent.
        tags: scratch, (slots,) int64: which (n, z) each slot holds.
    """
    n_img, depth = x.shape[0], x.shape[1]
    od_n, oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3], y.shape[4]
    kd, sd, dd, pf = geom[0], geom[3], geom[6], geom[9]
    slots, m, k2 = ring.shape[0], ring.shape[1], ring.shape[2]
    for s in range(slots):
        tags[s] = -1
    y2d = y.reshape(-1, cout)
    for n in range(n_img):
        for od in range(od_n):
            row0 = (n * od_n + od) * m
            first = True
            for a in range(kd):
                z = od * sd + a * dd - pf
                if z < 0 or z >= depth:
                    continue
                slot = z % slots
                if tags[slot] != n * depth + z:
                    plane2col(x, ring, slot, n, z, oh_n, ow_n, geom)
                    tags[slot] = n * depth + z
                blas.gemm(False, False, m, cout, k2, ring, slot * m * k2, k2, w2d, a * k2 * cout, cout,
                          0.0 if first else 1.0, y2d, row0 * cout, cout)
                first = False
            if first:  # every tap in the padding
                for r in range(row0, row0 + m):
                    for c in range(cout):
                        y2d[r, c] = 0
            if has_bias or relu:
                bias_act_rows(y2d[row0 : row0 + m], b, has_bias, relu)


@kernel
def conv3d_planes_kernel_grad_chunk(dz, x, dw2d, ring, tags, geom):
    """``dw2d = sum over (n, od, a) of patches(n, z).T @ dz[n, od]`` into kernel depth tap ``a``'s
    rows, the patches packed plane by plane as in `conv3d_planes_forward_chunk`.

    Args:
        dz: the gradient at the convolution's output, (N, OD, OH, OW, F).
        x: the forward input, (N, D, H, W, C).
        dw2d: output, (kd * kh * kw * C, F); overwritten.
        ring, tags, geom: as for `conv3d_planes_forward_chunk`.
    """
    n_img, depth = x.shape[0], x.shape[1]
    od_n, cout = dz.shape[1], dz.shape[4]
    oh_n, ow_n = dz.shape[2], dz.shape[3]
    kd, sd, dd, pf = geom[0], geom[3], geom[6], geom[9]
    slots, m, k2 = ring.shape[0], ring.shape[1], ring.shape[2]
    for s in range(slots):
        tags[s] = -1
    for r in range(dw2d.shape[0]):
        for c in range(cout):
            dw2d[r, c] = 0
    for n in range(n_img):
        for od in range(od_n):
            row0 = (n * od_n + od) * m
            for a in range(kd):
                z = od * sd + a * dd - pf
                if z < 0 or z >= depth:
                    continue
                slot = z % slots
                if tags[slot] != n * depth + z:
                    plane2col(x, ring, slot, n, z, oh_n, ow_n, geom)
                    tags[slot] = n * depth + z
                blas.gemm(True, False, k2, cout, m, ring, slot * m * k2, k2, dz, row0 * cout, cout, 1.0,
                          dw2d, a * k2 * cout, cout)


@kernel
def col2plane(dcols, dx, n, z, oh_n, ow_n, geom):
    """Adds the 2-D patch gradients ``dcols`` (OH * OW, kh * kw * C) back into input plane ``z``
    of volume ``n`` of ``dx`` (the adjoint of `plane2col`; the padding's share is dropped)."""
    height, width, chans = dx.shape[2], dx.shape[3], dx.shape[4]
    kh, kw, sh, sw = geom[1], geom[2], geom[4], geom[5]
    dh, dw, pt, pl = geom[7], geom[8], geom[10], geom[11]
    k2 = kh * kw * chans
    xf = dx.reshape(-1)
    cf = dcols.reshape(-1)
    plane = ((n * dx.shape[1] + z) * height) * width * chans
    for oh in range(oh_n):
        for i in range(kh):
            h = oh * sh + i * dh - pt
            if h < 0 or h >= height:
                continue
            for ow in range(ow_n):
                s0 = (oh * ow_n + ow) * k2 + i * kw * chans
                for j in range(kw):
                    wc = ow * sw + j * dw - pl
                    if wc < 0 or wc >= width:
                        continue
                    s = s0 + j * chans
                    d = plane + (h * width + wc) * chans
                    for c in range(chans):
                        xf[d + c] += cf[s + c]


@kernel
def conv3d_planes_input_grad_chunk(dz, w2d, dx, dcols, geom):
    """``dx`` += the input gradient for a chunk of volumes (one group), input plane by input
    plane: the patch gradients of plane ``z`` summed over every (output plane, depth tap) that
    read it, ``sum_a dz[n, od] @ w2d[tap a].T`` with ``od * sd + a * dd - pf = z`` (one BLAS call
    each, accumulated in ``dcols``), then scattered once (`col2plane`).

    Args:
        dz: the gradient at the convolution's output, (N, OD, OH, OW, F).
        w2d: the kernel as (kd * kh * kw * C, F).
        dx: the input gradient to add into (zeros at first), (N, D, H, W, C).
        dcols: scratch, (OH * OW, kh * kw * C).
        geom: the geometry (module docstring).
    """
    n_img, depth = dx.shape[0], dx.shape[1]
    od_n, oh_n, ow_n, cout = dz.shape[1], dz.shape[2], dz.shape[3], dz.shape[4]
    kd, sd, dd, pf = geom[0], geom[3], geom[6], geom[9]
    m, k2 = dcols.shape[0], dcols.shape[1]
    for n in range(n_img):
        for z in range(depth):
            first = True
            for a in range(kd):
                t = z + pf - a * dd
                if t < 0 or t % sd != 0 or t // sd >= od_n:
                    continue
                row0 = (n * od_n + t // sd) * m
                blas.gemm(False, True, m, k2, cout, dz, row0 * cout, cout, w2d, a * k2 * cout, cout,
                          0.0 if first else 1.0, dcols, 0, k2)
                first = False
            if not first:
                col2plane(dcols, dx, n, z, oh_n, ow_n, geom)
