"""Max- and average-pooling kernels on NHWC images.

Max pooling's forward pass keeps the argmax for the backward pass. The argmax of an output ``(n, oh, ow, c)`` is the flat index ``h * W + w`` of the winning input
in image ``n``, channel ``c``. Ties go to the first maximum in row-major window order. Positions
in 'same' padding count as -inf, i.e. they never win (every window holds at least one real input).
"""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel


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


maxpool_forward = kernel(_maxpool_forward)
maxpool_backward = kernel(_maxpool_backward)
avgpool_forward = kernel(_avgpool_forward)
avgpool_backward = kernel(_avgpool_backward)
