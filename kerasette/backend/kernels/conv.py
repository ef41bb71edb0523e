"""Convolution kernels: patch packing (im2col), its adjoint (col2im) and the fused output pass.

Layout: images are NHWC, patch matrices have one row per output position ``(n, oh, ow)`` and one
column per ``(i, j, c)`` (kernel row, kernel column, input channel), which is the row order of a
``(kh, kw, cin, cout)`` kernel reshaped to ``(kh * kw * cin, cout)``. Kernels work on a *tile*: the
output image rows ``g0 <= g < g1`` of the flattened ``(n, oh)`` axis, so a patch tile has
``(g1 - g0) * ow_n`` rows. Padding is implicit: positions outside the image read as zero.

All functions fill preallocated arrays and validate nothing; they are generic over dtype.
"""

from __future__ import annotations

from kerasette.backend.kernels import blas
from kerasette.backend.kernels._jit import inline, kernel
from kerasette.backend.kernels.direct_masked import vrelu_grad
from kerasette.backend.kernels.simd import address, keep, vadd, vcount, vload, vstore


def _im2col_tile(x, cols, g0, g1, oh_n, ow_n, kh, kw, sh, sw, pt, pl):
    """Packs the patches of output rows ``g0:g1`` into ``cols`` (one row per output position).

    Works on flat views with explicit offsets: a patch row is ``kh`` runs of ``kw * C``
    contiguous values (one per kernel row), copied element by element (slice copies create
    array views, which cost more than the copy for runs this short).

    Args:
        x: input images, (N, H, W, C), C-contiguous.
        cols: output, at least ((g1 - g0) * ow_n, kh * kw * C), C-contiguous; rows beyond are
            left alone.
        g0, g1: the tile's range on the flattened (n, oh) axis.
        oh_n, ow_n: output height and width.
        kh, kw: kernel size.
        sh, sw: strides.
        pt, pl: padding at the top and on the left.
    """
    n_img, height, width, chans = x.shape
    xf = x.reshape(-1)
    cf = cols.reshape(-1)
    k = kh * kw * chans
    span = kw * chans
    for g in range(g0, g1):
        n = g // oh_n
        oh = g - n * oh_n
        for ow in range(ow_n):
            dst = ((g - g0) * ow_n + ow) * k
            w_first = ow * sw - pl
            inside_w = w_first >= 0 and w_first + kw <= width
            for i in range(kh):
                h = oh * sh + i - pt
                d = dst + i * span
                if h < 0 or h >= height:
                    for q in range(span):
                        cf[d + q] = 0
                elif inside_w:
                    src = ((n * height + h) * width + w_first) * chans
                    for q in range(span):
                        cf[d + q] = xf[src + q]
                else:
                    for j in range(kw):
                        wc = w_first + j
                        dj = d + j * chans
                        if 0 <= wc < width:
                            src = ((n * height + h) * width + wc) * chans
                            for c in range(chans):
                                cf[dj + c] = xf[src + c]
                        else:
                            for c in range(chans):
                                cf[dj + c] = 0


im2col_tile = kernel(_im2col_tile)


def _col2im_tile(dcols, dx, g0, g1, oh_n, ow_n, kh, kw, sh, sw, pt, pl):
    """Adds the patch gradients of output rows ``g0:g1`` back into ``dx`` (the adjoint of im2col).

    ``dx`` must hold the sum so far (zeros at first); contributions that fall in the padding are
    dropped. Tiles of different images touch different parts of ``dx``, which is what lets
    threads work on different images at once.

    Args:
        dcols: patch gradients, ((g1 - g0) * ow_n, kh * kw * C).
        dx: input gradient to add into, (N, H, W, C).
        g0, g1, oh_n, ow_n, kh, kw, sh, sw, pt, pl: as for :func:`im2col_tile`.
    """
    height, width, chans = dx.shape[1], dx.shape[2], dx.shape[3]
    for i in range(kh):
        for g in range(g0, g1):
            n = g // oh_n
            oh = g - n * oh_n
            h = oh * sh + i - pt
            if h < 0 or h >= height:
                continue
            base = (g - g0) * ow_n
            k0 = i * kw * chans
            for ow in range(ow_n):
                row = dcols[base + ow]
                for j in range(kw):
                    wc = ow * sw + j - pl
                    if 0 <= wc < width:
                        k = k0 + j * chans
                        for c in range(chans):
                            dx[n, h, wc, c] += row[k + c]


col2im_tile = kernel(_col2im_tile)


@kernel
def bias_act_rows(y, b, has_bias, relu):
    """In place on a 2-D output tile ``y`` (rows, cout): ``y += b`` if ``has_bias``, then ReLU."""
    rows, cout = y.shape
    for r in range(rows):
        yr = y[r]
        if has_bias:
            for c in range(cout):
                yr[c] += b[c]
        if relu:
            for c in range(cout):
                if not yr[c] > 0:
                    yr[c] = 0


@inline
def _masked_row_vector(zf, of, at, relu):
    """The vector of ``dz`` at ``at``, masked by the ReLU's output when ``relu``, stored back."""
    d = vload(zf, at)
    if relu:
        d = vrelu_grad(d, vload(of, at))
    vstore(zf, at, d)
    return d


@kernel
def relu_grad_bias_rows_inplace(dz, out, relu, db):
    """`relu_grad_bias_rows` writing into the gradient it reads (``dz``: ``dy`` on entry, ``dy *
    (out > 0)`` on return; the caller's ``dy`` held by nobody else): one array fewer as large as
    the layer's output in the backward pass. A kernel of its own because with ``dz`` passed as
    both ``dy`` and ``dz`` the loop cannot tell they are the same array and stays scalar.

    ``dz``, ``out`` and ``db`` C-contiguous, float32 or float64. Whole vectors of channels, four
    at a time, then two, then one, hold their bias sums in registers down the rows (the scalar loop added
    each row into ``db`` through memory, in float64: its rounding to the dtype after each
    addition gives the same bits, double rounding being harmless for a sum of two float32);
    channels left over one by one. Each channel's sum is the rows' values in order, as before.
    """
    rows, cout = dz.shape
    nl = vcount(dz)
    zf, of = address(dz), address(out)  # pointers: no reference counting in the inlined helper
    f0 = 0
    while f0 + 4 * nl <= cout:
        s0, s1, s2, s3 = vload(db, f0), vload(db, f0 + nl), vload(db, f0 + 2 * nl), vload(db, f0 + 3 * nl)
        at = f0
        for _ in range(rows):
            s0 = vadd(s0, _masked_row_vector(zf, of, at, relu))
            s1 = vadd(s1, _masked_row_vector(zf, of, at + nl, relu))
            s2 = vadd(s2, _masked_row_vector(zf, of, at + 2 * nl, relu))
            s3 = vadd(s3, _masked_row_vector(zf, of, at + 3 * nl, relu))
            at += cout
        vstore(db, f0, s0)
        vstore(db, f0 + nl, s1)
        vstore(db, f0 + 2 * nl, s2)
        vstore(db, f0 + 3 * nl, s3)
        f0 += 4 * nl
    if f0 + 2 * nl <= cout:  # two vectors in one pass down the rows: each row's line read once
        s0, s1 = vload(db, f0), vload(db, f0 + nl)
        at = f0
        for _ in range(rows):
            s0 = vadd(s0, _masked_row_vector(zf, of, at, relu))
            s1 = vadd(s1, _masked_row_vector(zf, of, at + nl, relu))
            at += cout
        vstore(db, f0, s0)
        vstore(db, f0 + nl, s1)
        f0 += 2 * nl
    if f0 + nl <= cout:
        s0 = vload(db, f0)
        at = f0
        for _ in range(rows):
            s0 = vadd(s0, _masked_row_vector(zf, of, at, relu))
            at += cout
        vstore(db, f0, s0)
        f0 += nl
    zero = dz.dtype.type(0)
    keep(dz)
    keep(out)
    for r in range(rows):
        for c in range(f0, cout):
            g = dz[r, c]
            if relu and not out[r, c] > 0:
                g = zero
            dz[r, c] = g
            db[c] += g


@kernel
def bias_grad_rows(dy, db):
    """Adds the column sums of a 2-D (rows, cout) gradient into ``db``: the output pass's
    backward without a ReLU, which only reads the gradient (`relu_grad_bias_rows_inplace`
    would write every value back unchanged, dirtying every cache line of it)."""
    rows, cout = dy.shape
    for r in range(rows):
        for c in range(cout):
            db[c] += dy[r, c]


@kernel
def sum_two_parts(db0, db1, db, dw0, dw1, dw):
    """``db = db0 + db1`` and ``dw = dw0 + dw1`` (1-D, one dtype): two threads' parts of a
    convolution's bias and kernel gradients added in one call after the backward pass's hand-off,
    where numpy's copy and add of each pair ran as the first Python on caches the pass had
    left cold. The same additions, so the same bits as `engine.batch.sum_parts`."""
    for i in range(db.shape[0]):
        db[i] = db0[i] + db1[i]
    for i in range(dw.shape[0]):
        dw[i] = dw0[i] + dw1[i]


@kernel
def relu_grad_bias_rows(dy, out, relu, dz, db):
    """The backward of the fused output pass, for 2-D (rows, cout) views.

    Fills ``dz = dy * (out > 0)`` (or a copy of ``dy`` without ``relu``) and adds the column sums
    of ``dz`` (the bias gradient) into ``db``.
    """
    rows, cout = dy.shape
    for r in range(rows):
        for c in range(cout):
            g = dy[r, c]
            if relu and not out[r, c] > 0:
                g = 0
            dz[r, c] = g
            db[c] += g


@kernel
def gemm_conv_chunk(x, w2d, y, cols, kh, kw, sh, sw, pt, pl, b, has_bias, relu):
    """``y = act(conv(x, w) + b)`` for a chunk of images, a tile of patches at a time.

    Per tile: :func:`im2col_tile`, ``y_tile = cols_tile @ w2d`` (numpy's BLAS, called from here;
    see `kerasette.backend.kernels.blas`) and :func:`bias_act_rows`.

    Args:
        x: input images, (N, H, W, C), C-contiguous.
        w2d: kernel as (kh * kw * C, F), C-contiguous.
        y: output images, (N, OH, OW, F), C-contiguous; overwritten.
        cols: scratch, (rows * OW, kh * kw * C), C-contiguous: ``rows`` output rows per tile.
        kh, kw, sh, sw, pt, pl: as for :func:`im2col_tile`.
        b: bias, (F,) (read when ``has_bias``); relu: apply a ReLU after it.
    """
    oh_n, ow_n, cout = y.shape[1], y.shape[2], y.shape[3]
    k = w2d.shape[0]
    rows = cols.shape[0] // ow_n
    y2d = y.reshape(-1, cout)
    total = y.shape[0] * oh_n
    for g0 in range(0, total, rows):
        g1 = min(g0 + rows, total)
        m = (g1 - g0) * ow_n
        im2col_tile(x, cols, g0, g1, oh_n, ow_n, kh, kw, sh, sw, pt, pl)
        blas.gemm(False, False, m, cout, k, cols, 0, k, w2d, 0, cout, 0.0, y2d, g0 * ow_n * cout, cout)
        if has_bias or relu:
            bias_act_rows(y2d[g0 * ow_n : g1 * ow_n], b, has_bias, relu)


@kernel
def gemm_weight_grad_chunk(dy, x, dw2d, cols, kh, kw, sh, sw, pt, pl):
    """``dw2d = sum over tiles of cols_tile.T @ dy_tile`` for a chunk of images.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        x: forward input, (N, H, W, C), C-contiguous.
        dw2d: output, (kh * kw * C, F), C-contiguous; overwritten.
        cols, kh, kw, sh, sw, pt, pl: as for :func:`gemm_conv_chunk`.
    """
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    k = dw2d.shape[0]
    rows = cols.shape[0] // ow_n
    total = dy.shape[0] * oh_n
    for g0 in range(0, total, rows):
        g1 = min(g0 + rows, total)
        im2col_tile(x, cols, g0, g1, oh_n, ow_n, kh, kw, sh, sw, pt, pl)
        blas.gemm(True, False, k, cout, (g1 - g0) * ow_n, cols, 0, k, dy, g0 * ow_n * cout, cout,
                  0.0 if g0 == 0 else 1.0, dw2d, 0, cout)


@kernel
def col2im_input_grad_chunk(dy, w2d, dx, dcols, kh, kw, sh, sw, pt, pl):
    """``dx += col2im(dy_tile @ w2d.T)`` for a chunk of images, a tile at a time.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        w2d: kernel as (kh * kw * C, F), C-contiguous.
        dx: input gradient to add into (zeros at first), (N, H, W, C).
        dcols: scratch, (rows * OW, kh * kw * C), C-contiguous.
        kh, kw, sh, sw, pt, pl: as for :func:`im2col_tile`.
    """
    oh_n, ow_n, cout = dy.shape[1], dy.shape[2], dy.shape[3]
    k = w2d.shape[0]
    rows = dcols.shape[0] // ow_n
    total = dy.shape[0] * oh_n
    for g0 in range(0, total, rows):
        g1 = min(g0 + rows, total)
        blas.gemm(False, True, (g1 - g0) * ow_n, k, cout, dy, g0 * ow_n * cout, cout, w2d, 0, cout,
                  0.0, dcols, 0, k)
        col2im_tile(dcols, dx, g0, g1, oh_n, ow_n, kh, kw, sh, sw, pt, pl)


@kernel
def taps_transposed(w, ii, jj, out):
    """``out[t] = w[ii[t], jj[t]].T`` for each tap ``t``: the (F, C) slices of a (kh, kw, C, F)
    kernel a pass reads with its channel axes swapped (the flipped kernel of a 'full'
    convolution, the sub-kernels of a strided input gradient's phases).

    numpy's copy of the same transposed, flipped view reads the kernel a value at a time along
    its output channels, with the kernel out of cache after the layer's previous passes: 46 us
    for ResNet-20's 3x3x64x64 kernel in a training step, 10 us with the kernel in cache (this
    kernel: 7.8 us in cache).

    Args:
        w: kernel, (kh, kw, C, F), C-contiguous.
        ii, jj: the taps' kernel rows and columns, (T,) int64.
        out: output, (T, F, C), C-contiguous; overwritten.
    """
    cin, cout = w.shape[2], w.shape[3]
    for t in range(ii.shape[0]):
        src = w[ii[t], jj[t]]
        dst = out[t]
        for f in range(cout):  # write along the rows of the (F, C) slice (the slice read is in L1)
            for c in range(cin):
                dst[f, c] = src[c, f]
