"""3-D pooling kernels over channels-last volumes (N, D, H, W, C): max (keeping each maximum's
position for the backward pass) and average (padded cells left out of each mean, as Keras does).

The geometry travels as one int64 array ``geom``: ``(pd, ph, pw, sd, sh, sw, pf, pt, pl)``: the
window, the strides and the padding before each spatial axis (front, top, left). A window is
clipped to the volume, so padding never takes part; a window wholly in the padding cannot occur
(TensorFlow's 'same' padding puts less than a window before each axis). The innermost loop runs
over the channels, which are contiguous. Kernels fill preallocated arrays; generic over dtype.
"""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel


@kernel
def maxpool3d_forward(x, y, arg, geom):
    """``y`` = the maximum of each window, ``arg`` = its position ``(z * H + h) * W + w`` in the
    volume (the first one in window order where several cells hold the maximum).

    Args:
        x: (N, D, H, W, C), C-contiguous.
        y: output, (N, OD, OH, OW, C); arg: output, the same shape, an integer dtype.
        geom: the geometry (module docstring).
    """
    n_img, depth, height, width, chans = x.shape
    od_n, oh_n, ow_n = y.shape[1], y.shape[2], y.shape[3]
    pd, ph, pw, sd, sh, sw, pf, pt, pl = (geom[0], geom[1], geom[2], geom[3], geom[4], geom[5], geom[6],
                                          geom[7], geom[8])
    for n in range(n_img):
        for od in range(od_n):
            z0 = max(od * sd - pf, 0)
            z1 = min(od * sd - pf + pd, depth)
            for oh in range(oh_n):
                h0 = max(oh * sh - pt, 0)
                h1 = min(oh * sh - pt + ph, height)
                for ow in range(ow_n):
                    w0 = max(ow * sw - pl, 0)
                    w1 = min(ow * sw - pl + pw, width)
                    yr = y[n, od, oh, ow]
                    ar = arg[n, od, oh, ow]
                    first = (z0 * height + h0) * width + w0
                    xr = x[n, z0, h0, w0]
                    for c in range(chans):
                        yr[c] = xr[c]
                        ar[c] = first
                    for z in range(z0, z1):
                        for h in range(h0, h1):
                            for w in range(w0, w1):
                                xr = x[n, z, h, w]
                                pos = (z * height + h) * width + w
                                for c in range(chans):
                                    if xr[c] > yr[c]:
                                        yr[c] = xr[c]
                                        ar[c] = pos


@kernel
def maxpool3d_backward(dy, arg, dx):
    """``dx[n, arg, c] += dy[n, ..., c]``: each window's gradient to the cell that held its
    maximum. ``dx`` is (N, D * H * W, C), zeros at first; ``dy`` and ``arg`` as ``y`` and ``arg``
    of `maxpool3d_forward`."""
    n_img, od_n, oh_n, ow_n, chans = dy.shape
    for n in range(n_img):
        for od in range(od_n):
            for oh in range(oh_n):
                for ow in range(ow_n):
                    gr = dy[n, od, oh, ow]
                    ar = arg[n, od, oh, ow]
                    for c in range(chans):
                        dx[n, ar[c], c] += gr[c]


@kernel
def avgpool3d_forward(x, y, geom):
    """``y`` = the mean of each window's cells inside the volume (Keras leaves padding out).
    Arguments as for `maxpool3d_forward`, without ``arg``."""
    n_img, depth, height, width, chans = x.shape
    od_n, oh_n, ow_n = y.shape[1], y.shape[2], y.shape[3]
    pd, ph, pw, sd, sh, sw, pf, pt, pl = (geom[0], geom[1], geom[2], geom[3], geom[4], geom[5], geom[6],
                                          geom[7], geom[8])
    for n in range(n_img):
        for od in range(od_n):
            z0 = max(od * sd - pf, 0)
            z1 = min(od * sd - pf + pd, depth)
            for oh in range(oh_n):
                h0 = max(oh * sh - pt, 0)
                h1 = min(oh * sh - pt + ph, height)
                for ow in range(ow_n):
                    w0 = max(ow * sw - pl, 0)
                    w1 = min(ow * sw - pl + pw, width)
                    yr = y[n, od, oh, ow]
                    for c in range(chans):
                        yr[c] = 0
                    for z in range(z0, z1):
                        for h in range(h0, h1):
                            for w in range(w0, w1):
                                xr = x[n, z, h, w]
                                for c in range(chans):
                                    yr[c] += xr[c]
                    inv = 1.0 / ((z1 - z0) * (h1 - h0) * (w1 - w0))
                    for c in range(chans):
                        yr[c] *= inv


@kernel
def avgpool3d_backward(dy, dx, geom):
    """``dx`` += each window's gradient shared equally among its cells inside the volume.
    ``dx`` is (N, D, H, W, C), zeros at first; ``dy`` (N, OD, OH, OW, C)."""
    n_img, depth, height, width, chans = dx.shape
    od_n, oh_n, ow_n = dy.shape[1], dy.shape[2], dy.shape[3]
    pd, ph, pw, sd, sh, sw, pf, pt, pl = (geom[0], geom[1], geom[2], geom[3], geom[4], geom[5], geom[6],
                                          geom[7], geom[8])
    for n in range(n_img):
        for od in range(od_n):
            z0 = max(od * sd - pf, 0)
            z1 = min(od * sd - pf + pd, depth)
            for oh in range(oh_n):
                h0 = max(oh * sh - pt, 0)
                h1 = min(oh * sh - pt + ph, height)
                for ow in range(ow_n):
                    w0 = max(ow * sw - pl, 0)
                    w1 = min(ow * sw - pl + pw, width)
                    gr = dy[n, od, oh, ow]
                    inv = 1.0 / ((z1 - z0) * (h1 - h0) * (w1 - w0))
                    for z in range(z0, z1):
                        for h in range(h0, h1):
                            for w in range(w0, w1):
                                dr = dx[n, z, h, w]
                                for c in range(chans):
                                    dr[c] += gr[c] * inv
