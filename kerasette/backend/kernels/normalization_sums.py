"""Batch normalization's reductions over rows ``(R, W)``: the statistics' sums
(`channel_stats_rows`), the backward pass's sums without and with the ReLU's mask
(`channel_sums_rows`, `channel_sums_rows_relu`) and inference's backward sweep
(`affine_backward_rows`) of `kerasette.backend.kernels.normalization` (which re-exports them; its
docstring says what each pass is). Each block of `SUM_BLOCK` rows is summed in the input's dtype,
the blocks' sums in float64.

The statistics and inference's backward sweep take the channels a vector at a time
(`kerasette.backend.kernels.simd`), each block's sums held in registers and stored at its end
(the channels left over, fewer than a vector, one by one): lane by lane the additions of the plain
loops over rows, in their order (a multiply then an add, never fused), so the same bits, without a
load and a store of the sums per value. The backward sums stay plain loops: written the same way
they were faster on blocks in the second-level cache (4096 and 2048 rows of 64 values, 1.2-1.5x)
but slower on ResNet-20's largest (8192 rows, the input and the gradient 4 MB: 143 -> 162 us, the
vector columns walking each block once per vector where the loop streams its rows), the pass
that counts most in a step (`tests/benchmarks/norm_kernels_ab.py`).

A kernel compiled for one vector width stays right on its own: the width is read when it is
compiled, and numba's cache keys on the CPU's features.
"""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.simd import lanes, vadd, vload, vmul, vstore, vsub, vzeros

#: rows summed in the input's dtype before the sums move to float64
SUM_BLOCK = 32


def _channel_sums_rows(a, b, a_center, b_center, s1, s2, p1, p2):
    """Adds ``sum_r d`` to ``s1`` and ``sum_r d * (b - b_center)`` to ``s2``, per channel, where
    ``d = a - a_center``.

    Blocks of ``SUM_BLOCK`` rows are summed in the input's dtype, four rows at a time (short sums,
    few trips through the accumulators), and the blocks' sums in float64.

    Args:
        a, b: (R, C) arrays (``b`` may be ``a``).
        a_center, b_center: (C,) values of the input's dtype subtracted first (the batch
            statistics use a shift close to the mean, so that the variance is a difference of
            small numbers).
        s1, s2: (C,) float64 accumulators; added to.
        p1, p2: (C,) scratch of the input's dtype.
    """
    rows, chans = a.shape
    for r0 in range(0, rows, SUM_BLOCK):
        r1 = min(r0 + SUM_BLOCK, rows)
        for c in range(chans):
            p1[c] = 0
            p2[c] = 0
        r = r0
        while r + 4 <= r1:
            a0, a1, a2, a3 = a[r], a[r + 1], a[r + 2], a[r + 3]
            b0, b1, b2, b3 = b[r], b[r + 1], b[r + 2], b[r + 3]
            for c in range(chans):
                k = a_center[c]
                n = b_center[c]
                d0 = a0[c] - k
                d1 = a1[c] - k
                d2 = a2[c] - k
                d3 = a3[c] - k
                p1[c] += (d0 + d1) + (d2 + d3)
                p2[c] += (d0 * (b0[c] - n) + d1 * (b1[c] - n)) + (d2 * (b2[c] - n) + d3 * (b3[c] - n))
            r += 4
        while r < r1:
            ar, br = a[r], b[r]
            for c in range(chans):
                d = ar[c] - a_center[c]
                p1[c] += d
                p2[c] += d * (br[c] - b_center[c])
            r += 1
        for c in range(chans):
            s1[c] += p1[c]
            s2[c] += p2[c]


def _channel_stats_rows(a, a_center, s1, s2, p1, p2):
    """`_channel_sums_rows` of ``a`` with itself (``b = a``, ``b_center = a_center``): the batch
    statistics' sums ``sum d`` and ``sum d * d``, the same bits, each row loaded once (the
    pass took 69 us where the general kernel took 100, at 32x32x32x16 on one thread).

    The channels go a vector at a time, each block's sums held in registers (`kernels.simd`;
    the channels left over, fewer than a vector, one by one): lane by lane the additions of
    `_channel_sums_rows` in its order (four rows a trip, then the block's last rows), so the same
    bits, without a load and a store of the sums per value. Calls alternating in one process,
    one thread's half of ResNet-20's passes (64 values a row), us: 8192 rows 67 -> 54, 4096 rows
    31 -> 19, 2048 rows 16 -> 10.
    """
    rows, width = a.shape
    nl = lanes(a.itemsize)
    flat = a.reshape(-1)
    vectors = width - width % nl
    for r0 in range(0, rows, SUM_BLOCK):
        r1 = min(r0 + SUM_BLOCK, rows)
        for c in range(0, vectors, nl):
            k = vload(a_center, c)
            q1, q2 = vzeros(p1), vzeros(p1)
            r = r0
            while r + 4 <= r1:
                o = r * width + c
                d0 = vsub(vload(flat, o), k)
                d1 = vsub(vload(flat, o + width), k)
                d2 = vsub(vload(flat, o + 2 * width), k)
                d3 = vsub(vload(flat, o + 3 * width), k)
                q1 = vadd(q1, vadd(vadd(d0, d1), vadd(d2, d3)))
                q2 = vadd(q2, vadd(vadd(vmul(d0, d0), vmul(d1, d1)), vadd(vmul(d2, d2), vmul(d3, d3))))
                r += 4
            while r < r1:
                d = vsub(vload(flat, r * width + c), k)
                q1 = vadd(q1, d)
                q2 = vadd(q2, vmul(d, d))
                r += 1
            vstore(p1, c, q1)
            vstore(p2, c, q2)
        for c in range(vectors, width):
            p1[c] = 0
            p2[c] = 0
        r = r0
        while r + 4 <= r1:
            a0, a1, a2, a3 = a[r], a[r + 1], a[r + 2], a[r + 3]
            for c in range(vectors, width):
                k = a_center[c]
                d0 = a0[c] - k
                d1 = a1[c] - k
                d2 = a2[c] - k
                d3 = a3[c] - k
                p1[c] += (d0 + d1) + (d2 + d3)
                p2[c] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
            r += 4
        while r < r1:
            ar = a[r]
            for c in range(vectors, width):
                d = ar[c] - a_center[c]
                p1[c] += d
                p2[c] += d * d
            r += 1
        for c in range(width):
            s1[c] += p1[c]
            s2[c] += p2[c]


def _channel_sums_rows_relu(g, x, scale, shift, x_center, zero, s1, s2, p1, p2):
    """Adds ``sum_r m`` to ``s1`` and ``sum_r m * (x - x_center)`` to ``s2``, per channel, where
    ``m = g`` where ``x * scale + shift > 0``, else 0: `_channel_sums_rows` of the gradient through
    the ReLU after the map ``x * scale + shift`` (`_channel_affine_rows` with ``lower = 0``),
    without a pass that writes the masked gradient and without reading the ReLU's output.

    Args:
        g, x: (R, C) arrays: the ReLU's output gradient and the normalization's input.
        scale, shift: (C,) the forward map's numbers (the dtype of ``x``).
        x_center: (C,) values of the input's dtype subtracted from ``x``.
        zero: 0 of the arrays' dtype.
        s1, s2: (C,) float64 accumulators; added to.
        p1, p2: (C,) scratch of the input's dtype.
    """
    rows, chans = g.shape
    for r0 in range(0, rows, SUM_BLOCK):
        r1 = min(r0 + SUM_BLOCK, rows)
        for c in range(chans):
            p1[c] = 0
            p2[c] = 0
        r = r0
        while r + 4 <= r1:
            g0, g1, g2, g3 = g[r], g[r + 1], g[r + 2], g[r + 3]
            x0, x1, x2, x3 = x[r], x[r + 1], x[r + 2], x[r + 3]
            for c in range(chans):
                k, n, m = scale[c], shift[c], x_center[c]
                v0, v1, v2, v3 = x0[c], x1[c], x2[c], x3[c]
                d0 = g0[c] if v0 * k + n > zero else zero
                d1 = g1[c] if v1 * k + n > zero else zero
                d2 = g2[c] if v2 * k + n > zero else zero
                d3 = g3[c] if v3 * k + n > zero else zero
                p1[c] += (d0 + d1) + (d2 + d3)
                p2[c] += (d0 * (v0 - m) + d1 * (v1 - m)) + (d2 * (v2 - m) + d3 * (v3 - m))
            r += 4
        while r < r1:
            gr, xr = g[r], x[r]
            for c in range(chans):
                xv = xr[c]
                d = gr[c] if xv * scale[c] + shift[c] > zero else zero
                p1[c] += d
                p2[c] += d * (xv - x_center[c])
            r += 1
        for c in range(chans):
            s1[c] += p1[c]
            s2[c] += p2[c]


def _affine_backward_rows(g, x, scale, dx, s1, s2, p1, p2):
    """The backward pass of ``y = x * scale + shift`` (inference batch normalization) in one sweep
    over (R, C) arrays: ``dx = g * scale``, and ``sum(g)``, ``sum(g * x)`` per channel added to
    ``s1``, ``s2`` (float64; blocks of ``SUM_BLOCK`` rows in the input's dtype, ``p1``, ``p2``:
    (C,) scratch).

    The channels go in groups of two vectors (then one, then one by one), each group's block
    sums held in registers (`kernels.simd`) and stored into ``p1``, ``p2`` at the block's end:
    lane by lane the additions of the plain loop over rows, in its order (a multiply then an
    add, never fused), so the same bits. The plain loop kept its sums in memory, a load and a
    store per value: at 32x32x32x64, calls alternating in one process, two threads 0.79 -> 0.51
    ms, one thread 0.96 -> 0.87; at 8x112x112x64 on two 2.45 -> 1.56.
    """
    rows, width = g.shape
    nl = lanes(g.itemsize)
    gf, xf, df = g.reshape(-1), x.reshape(-1), dx.reshape(-1)
    for r0 in range(0, rows, SUM_BLOCK):
        r1 = min(r0 + SUM_BLOCK, rows)
        c = 0
        while c + 2 * nl <= width:
            ka, kb = vload(scale, c), vload(scale, c + nl)
            a1, b1, a2, b2 = vzeros(p1), vzeros(p1), vzeros(p1), vzeros(p1)
            for r in range(r0, r1):
                o = r * width + c
                ga, gb = vload(gf, o), vload(gf, o + nl)
                vstore(df, o, vmul(ga, ka))
                vstore(df, o + nl, vmul(gb, kb))
                a1 = vadd(a1, ga)
                b1 = vadd(b1, gb)
                a2 = vadd(a2, vmul(ga, vload(xf, o)))
                b2 = vadd(b2, vmul(gb, vload(xf, o + nl)))
            vstore(p1, c, a1)
            vstore(p1, c + nl, b1)
            vstore(p2, c, a2)
            vstore(p2, c + nl, b2)
            c += 2 * nl
        if c + nl <= width:
            k = vload(scale, c)
            a1, a2 = vzeros(p1), vzeros(p1)
            for r in range(r0, r1):
                o = r * width + c
                ga = vload(gf, o)
                vstore(df, o, vmul(ga, k))
                a1 = vadd(a1, ga)
                a2 = vadd(a2, vmul(ga, vload(xf, o)))
            vstore(p1, c, a1)
            vstore(p2, c, a2)
            c += nl
        if c < width:  # the last channels, fewer than a vector
            for t in range(c, width):
                p1[t] = 0
                p2[t] = 0
            for r in range(r0, r1):
                gr, xr, dr = g[r], x[r], dx[r]
                for t in range(c, width):
                    gv = gr[t]
                    dr[t] = gv * scale[t]
                    p1[t] += gv
                    p2[t] += gv * xr[t]
        for t in range(width):
            s1[t] += p1[t]
            s2[t] += p2[t]


channel_sums_rows = kernel(_channel_sums_rows)
channel_stats_rows = kernel(_channel_stats_rows)
channel_sums_rows_relu = kernel(_channel_sums_rows_relu)
affine_backward_rows = kernel(_affine_backward_rows)
