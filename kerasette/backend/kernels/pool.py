"""Max-, average- and global-average-pooling kernels on NHWC images.

Max pooling's forward pass keeps the argmax for the backward pass. The argmax of an output ``(n, oh, ow, c)`` is the flat index ``h * W + w`` of the winning input
in image ``n``, channel ``c``. Ties go to the first maximum in row-major window order. Positions
in 'same' padding count as -inf, i.e. they never win (every window holds at least one real input).

Global average pooling works on ``(N, S, C)`` views (``S = H * W``) cut into *segments*: segment
``p`` is image ``p // k``, rows ``(p % k) * rows`` up to ``rows`` further (the last one of an
image may be shorter), so that a pass over a few large images still splits into pieces of about
the same size. The forward pass sums each segment into its own float64 row
(`global_avgpool_sums`), and `global_avgpool_mean` adds an image's segments in order: the same
bits however the segments were shared among threads.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import inline, kernel
from kerasette.backend.kernels.spin import fetch_add

#: rows of a segment added in the input's dtype before their sums move to float64 (short sums,
#: fast vector adds; the float64 total keeps a large image's mean accurate)
GLOBAL_BLOCK = 32


def _maxpool_forward(x, y, argmax, ph, pw, sh, sw, pt, pl):
    """Fills ``y`` with window maxima and ``argmax`` with their flat (h * W + w) positions.

    Args:
        x: input, (N, H, W, C).
        y: output, (N, OH, OW, C); overwritten.
        argmax: output, (N, OH, OW, C), an integer dtype; overwritten.
        ph, pw: pool size.
        sh, sw: strides.
        pt, pl: padding at the top and on the left.
    """
    n_img, height, width, chans = x.shape
    oh_n, ow_n = y.shape[1], y.shape[2]
    for g in range(n_img * oh_n):
        n = g // oh_n
        oh = g - n * oh_n
        h0 = max(oh * sh - pt, 0)
        h1 = min(oh * sh - pt + ph, height)
        for ow in range(ow_n):
            w0 = max(ow * sw - pl, 0)
            w1 = min(ow * sw - pl + pw, width)
            yv = y[n, oh, ow]
            av = argmax[n, oh, ow]
            x0 = x[n, h0, w0]
            first = h0 * width + w0
            for c in range(chans):  # a loop, not ``yv[:] = x0``: a slice copy compiles numba's
                yv[c] = x0[c]       # shape-mismatch error message (2.5 s of a cold start)
                av[c] = first
            for h in range(h0, h1):
                for wc in range(w0, w1):
                    xv = x[n, h, wc]
                    idx = h * width + wc
                    for c in range(chans):
                        if xv[c] > yv[c]:
                            yv[c] = xv[c]
                            av[c] = idx


def _maxpool_forward_lanes(x, y, argmax, ph, pw, sh, sw, pt, pl, pos):
    """`_maxpool_forward` with each window's winning positions kept in ``pos``, a (C,) scratch of
    integers as wide as ``x``'s values (int32 for float32), and stored to ``argmax`` once per
    window: the select of the running maximum and of its position then works on lanes of one
    width. For machines without AVX-512: with AVX2 the select between values and narrow
    (uint8/uint16) positions did not vectorize, and 128x24x24x32 float32 took 6.0 ms on one
    thread where this takes 0.78 (with AVX-512, 0.57 and 0.68: `_maxpool_forward` is kept there).
    The same outputs and positions (ties to the first maximum)."""
    n_img, height, width, chans = x.shape
    oh_n, ow_n = y.shape[1], y.shape[2]
    for g in range(n_img * oh_n):
        n = g // oh_n
        oh = g - n * oh_n
        h0 = max(oh * sh - pt, 0)
        h1 = min(oh * sh - pt + ph, height)
        for ow in range(ow_n):
            w0 = max(ow * sw - pl, 0)
            w1 = min(ow * sw - pl + pw, width)
            yv = y[n, oh, ow]
            x0 = x[n, h0, w0]
            first = h0 * width + w0
            for c in range(chans):
                yv[c] = x0[c]
                pos[c] = first
            for h in range(h0, h1):
                for wc in range(w0, w1):
                    xv = x[n, h, wc]
                    idx = h * width + wc
                    for c in range(chans):
                        v = xv[c]
                        better = v > yv[c]
                        yv[c] = v if better else yv[c]
                        pos[c] = idx if better else pos[c]
            av = argmax[n, oh, ow]
            for c in range(chans):
                av[c] = pos[c]


def _maxpool_backward(dy, argmax, dx):
    """Zeroes ``dx``, then adds each output gradient to the input position that won its window.

    Args:
        dy: output gradient, (N, OH, OW, C).
        argmax: the forward pass's flat positions, (N, OH, OW, C).
        dx: input gradient viewed as (N, H * W, C); overwritten.
    """
    n_img, oh_n, ow_n, chans = dy.shape
    flat = dx.reshape(-1)
    for i in range(flat.size):  # here rather than np.zeros: in the chunk's thread, into its cache
        flat[i] = 0
    for n in range(n_img):
        for oh in range(oh_n):
            for ow in range(ow_n):
                for c in range(chans):
                    dx[n, argmax[n, oh, ow, c], c] += dy[n, oh, ow, c]



def _maxpool_backward_tiles(dy, argmax, dx):
    """`_maxpool_backward` where the windows tile the image without overlap or padding (pool
    size = strides, 'valid'): each input cell is written once, the output gradient where it won
    its window, else 0 (``dy + 0``: the same bits as the zeroing and adding of the general
    kernel, -0.0 included), and the cells no window covers (the last rows or columns when the
    size is not a multiple of the window) are zeroed. One pass over ``dx`` instead of a zeroing
    pass and a scattered one. Positions are compared as values of ``dx``'s dtype (exact up to
    2**24 for float32: the caller keeps larger float32 images on `_maxpool_backward`), which
    vectorizes with AVX2 too (0.60 -> 0.48 ms at 128x24x24x32 on one thread).

    Args:
        dy: output gradient, (N, OH, OW, C).
        argmax: the forward pass's flat positions, (N, OH, OW, C).
        dx: input gradient, (N, H, W, C); overwritten. The window is ``H // OH`` by ``W // OW``.
    """
    n_img, oh_n, ow_n, chans = dy.shape
    height, width = dx.shape[1], dx.shape[2]
    ph, pw = height // oh_n, width // ow_n
    zero = dx.dtype.type(0)
    for g in range(n_img * oh_n):
        n = g // oh_n
        oh = g - n * oh_n
        for h in range(oh * ph, oh * ph + ph):
            for ow in range(ow_n):
                gv = dy[n, oh, ow]
                av = argmax[n, oh, ow]
                for wc in range(ow * pw, ow * pw + pw):
                    dv = dx[n, h, wc]
                    idx = dx.dtype.type(h * width + wc)
                    for c in range(chans):  # compared as values of dx's dtype: lanes of one width
                        dv[c] = gv[c] + zero if dx.dtype.type(av[c]) == idx else zero
            for wc in range(ow_n * pw, width):  # columns no window covers
                dv = dx[n, h, wc]
                for c in range(chans):
                    dv[c] = zero
        if oh == oh_n - 1:  # rows no window covers
            for h in range(oh_n * ph, height):
                for wc in range(width):
                    dv = dx[n, h, wc]
                    for c in range(chans):
                        dv[c] = zero



def _avgpool_forward(x, y, ph, pw, sh, sw, pt, pl):
    """Fills ``y`` with window means; a window's cells in 'same' padding are left out of its mean.

    Args:
        x: input, (N, H, W, C).
        y: output, (N, OH, OW, C); overwritten.
        ph, pw, sh, sw, pt, pl: pool size, strides, padding at the top and on the left.
    """
    n_img, height, width, chans = x.shape
    oh_n, ow_n = y.shape[1], y.shape[2]
    for g in range(n_img * oh_n):
        n = g // oh_n
        oh = g - n * oh_n
        h0 = max(oh * sh - pt, 0)
        h1 = min(oh * sh - pt + ph, height)
        for ow in range(ow_n):
            w0 = max(ow * sw - pl, 0)
            w1 = min(ow * sw - pl + pw, width)
            yv = y[n, oh, ow]
            for c in range(chans):
                yv[c] = 0
            for h in range(h0, h1):
                for wc in range(w0, w1):
                    xv = x[n, h, wc]
                    for c in range(chans):
                        yv[c] += xv[c]
            inv = 1.0 / ((h1 - h0) * (w1 - w0))
            for c in range(chans):
                yv[c] *= inv


def _avgpool_backward(dy, dx, ph, pw, sh, sw, pt, pl):
    """Zeroes ``dx`` (where windows overlap or leave cells out), then adds each output gradient,
    divided by its window's count of real cells, to the cells of its window.

    Args:
        dy: output gradient, (N, OH, OW, C).
        dx: input gradient, (N, H, W, C); overwritten.
        ph, pw, sh, sw, pt, pl: as in `_avgpool_forward`.
    """
    n_img, height, width, chans = dx.shape
    oh_n, ow_n = dy.shape[1], dy.shape[2]
    tiles = ph == sh and pw == sw and pt == 0 and pl == 0  # disjoint windows: written, not added
    if not (tiles and oh_n * ph == height and ow_n * pw == width):
        flat = dx.reshape(-1)
        for i in range(flat.size):
            flat[i] = 0
    for n in range(n_img):
        for oh in range(oh_n):
            h0 = max(oh * sh - pt, 0)
            h1 = min(oh * sh - pt + ph, height)
            for ow in range(ow_n):
                w0 = max(ow * sw - pl, 0)
                w1 = min(ow * sw - pl + pw, width)
                gv = dy[n, oh, ow]
                inv = 1.0 / ((h1 - h0) * (w1 - w0))
                for h in range(h0, h1):
                    for wc in range(w0, w1):
                        dv = dx[n, h, wc]
                        if tiles:
                            for c in range(chans):
                                dv[c] = gv[c] * inv
                        else:
                            for c in range(chans):
                                dv[c] += gv[c] * inv


def _global_avgpool_sums(x, k, rows, first, stop, sums):
    """``sums[p, c] = sum of x[n, s, c]`` over the rows ``s`` of segment ``p``, for ``p`` in
    ``first:stop`` (see the module docstring); float64 sums of blocks of ``GLOBAL_BLOCK`` rows
    added in the input's dtype.

    Args:
        x: (N, S, C) input.
        k: segments per image; rows: rows per segment.
        first, stop: the segments to sum.
        sums: (N * k, C) float64; rows ``first:stop`` overwritten.
    """
    size, chans = x.shape[1], x.shape[2]
    part = np.empty(chans, x.dtype)
    for p in range(first, stop):
        n = p // k
        s_end = min((p - n * k + 1) * rows, size)
        total = sums[p]
        for c in range(chans):
            total[c] = 0.0
        for s0 in range((p - n * k) * rows, s_end, GLOBAL_BLOCK):
            s1 = min(s0 + GLOBAL_BLOCK, s_end)
            row = x[n, s0]
            for c in range(chans):
                part[c] = row[c]
            for s in range(s0 + 1, s1):
                row = x[n, s]
                for c in range(chans):
                    part[c] += row[c]
            for c in range(chans):
                total[c] += part[c]


def _global_avgpool_mean(sums, k, size, y):
    """``y[n, c]`` = the sum of image ``n``'s ``k`` segment sums (in segment order) / ``size``.

    Args:
        sums: (N * k, C) float64, from `global_avgpool_sums`.
        k: segments per image; size: rows per image (``H * W``).
        y: (N, C) output; overwritten.
    """
    n_img, chans = y.shape
    for n in range(n_img):
        for c in range(chans):
            total = sums[n * k, c]
            for q in range(1, k):
                total += sums[n * k + q, c]
            y[n, c] = total / size


def _global_avgpool_spread(dy, k, rows, first, stop, dx):
    """The gradient of global average pooling: ``dx[n, s, c] = dy[n, c] / S`` over the rows of
    segments ``first:stop`` (the division in ``dy``'s dtype, as ``dy / S`` in numpy).

    Args:
        dy: (N, C) output gradient.
        k, rows: as in `global_avgpool_sums`.
        dx: (N, S, C) input gradient; the segments' rows overwritten.
    """
    size, chans = dx.shape[1], dx.shape[2]
    share = np.empty(chans, dx.dtype)
    count = dx.dtype.type(size)
    for p in range(first, stop):
        n = p // k
        for c in range(chans):
            share[c] = dy[n, c] / count
        for s in range((p - n * k) * rows, min((p - n * k + 1) * rows, size)):
            row = dx[n, s]
            for c in range(chans):
                row[c] = share[c]


@inline
def _take_segment(claims, me, total):
    """The next segment thread ``me`` sums (or spreads), or -1 when none is left.

    The ``total`` segments are cut into ``claims.size`` contiguous ranges (sizes within one),
    range ``r`` being thread ``r``'s own: a thread takes its own range's segments from the front,
    then, when none is left, the other ranges' from their back (``me + 1``, ``me + 2``, ...). So
    each thread streams through its own contiguous part of memory, the same part at every call
    (the part it wrote last, when the pass before split the batch the same way), and a thread
    that starts late or runs slowly (a busy core) has its part's end taken by the others.

    ``claims[r]`` counts the segments taken from range ``r``'s front (low 32 bits) and from its
    back (high 32 bits): one atomic add takes a segment and reads both counts, and the take is
    good while their sum before it is under the range's size, so no segment is taken twice.
    """
    return _take_segment_toward(claims, me, total, False)


@inline
def _take_segment_toward(claims, me, total, backward):
    """`_take_segment`, or with ``backward`` true the other way round: a thread takes its own
    range's segments from the back (its last one first), then the others' from their front."""
    parts = claims.shape[0]
    base, extra = total // parts, total % parts
    for step in range(parts):
        r = (me + step) % parts
        size = base + (1 if r < extra else 0)
        from_back = (step != 0) != backward
        old = fetch_add(claims, r, (1 << 32) if from_back else 1)
        front, back = old & 0xFFFFFFFF, old >> 32
        if front + back < size:
            start = r * base + min(r, extra)
            return start + size - 1 - back if from_back else start + front
    return -1


def _global_avgpool_sums_shared(x, k, rows, claims, me, sums):
    """`global_avgpool_sums` over every segment, shared by the threads that run this kernel at
    once (one call each, no GIL between segments): thread ``me`` (0 for the caller) takes its
    segments by `_take_segment` from ``claims`` (one int64 cell per thread, zeros at the
    start)."""
    total = sums.shape[0]
    while True:
        p = _take_segment(claims, me, total)
        if p < 0:
            return
        global_avgpool_sums(x, k, rows, p, p + 1, sums)


def _global_avgpool_spread_shared(dy, k, rows, claims, me, dx):
    """`global_avgpool_spread` over every segment, shared as `global_avgpool_sums_shared`."""
    total = dy.shape[0] * k
    while True:
        p = _take_segment(claims, me, total)
        if p < 0:
            return
        global_avgpool_spread(dy, k, rows, p, p + 1, dx)


maxpool_forward = kernel(_maxpool_forward)
maxpool_forward_lanes = kernel(_maxpool_forward_lanes)
maxpool_backward = kernel(_maxpool_backward)
maxpool_backward_tiles = kernel(_maxpool_backward_tiles)
avgpool_forward = kernel(_avgpool_forward)
avgpool_backward = kernel(_avgpool_backward)
global_avgpool_sums = kernel(_global_avgpool_sums)
global_avgpool_mean = kernel(_global_avgpool_mean)
global_avgpool_spread = kernel(_global_avgpool_spread)
global_avgpool_sums_shared = kernel(_global_avgpool_sums_shared)
global_avgpool_spread_shared = kernel(_global_avgpool_spread_shared)
