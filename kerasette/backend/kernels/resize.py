"""Image resize kernels on NHWC images: separable interpolation through per-axis tap tables.

Along each spatial axis an output position ``o`` reads ``taps`` input positions ``index[o, t]``
with weights ``weight[o, t]`` (`kerasette.backend.ops.resize` builds the tables: nearest, bilinear
or bicubic, half-pixel centres, edges clamped). The value of output pixel ``(oh, ow)`` is
``sum over (a, b) of wh[oh, a] * ww[ow, b] * x[ih[oh, a], iw[ow, b]]``, one channel vector at a
time. Nearest-neighbour upsampling by whole factors has its own kernels (a copy, and a sum over
each block of the output gradient). Each kernel fills a preallocated array for images
``n0:n1`` (one chunk per thread) and validates nothing.
"""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel


def _resize_forward(x, y, ih, wh, iw, ww, n0, n1):
    """``y[n0:n1] = resize(x[n0:n1])`` by the tap tables (see the module docstring).

    Args:
        x: input, (N, H, W, C), C-contiguous.
        y: output, (N, OH, OW, C), C-contiguous; images n0:n1 overwritten.
        ih, wh: row taps, (OH, Th) int64 and (OH, Th) float of ``x``'s dtype.
        iw, ww: column taps, (OW, Tw), likewise.
    """
    chans = x.shape[3]
    oh_n, ow_n = y.shape[1], y.shape[2]
    th, tw = ih.shape[1], iw.shape[1]
    for n in range(n0, n1):
        for oh in range(oh_n):
            for ow in range(ow_n):
                out = y[n, oh, ow]
                for c in range(chans):
                    out[c] = 0
                for a in range(th):
                    row = x[n, ih[oh, a]]
                    wa = wh[oh, a]
                    for b in range(tw):
                        src = row[iw[ow, b]]
                        wab = wa * ww[ow, b]
                        for c in range(chans):
                            out[c] += wab * src[c]


def _resize_backward(dy, dx, ih, wh, iw, ww, n0, n1):
    """``dx[n0:n1]``, the gradient of :func:`_resize_forward` (its adjoint): each output
    gradient is added back to the taps it read, with their weights.

    Args:
        dy: output gradient, (N, OH, OW, C), C-contiguous.
        dx: input gradient, (N, H, W, C), C-contiguous; images n0:n1 overwritten.
        ih, wh, iw, ww: the forward pass's tap tables.
    """
    chans = dx.shape[3]
    oh_n, ow_n = dy.shape[1], dy.shape[2]
    th, tw = ih.shape[1], iw.shape[1]
    for n in range(n0, n1):
        flat = dx[n].reshape(-1)
        for i in range(flat.size):  # here rather than np.zeros: in the chunk's thread, into its cache
            flat[i] = 0
        for oh in range(oh_n):
            for a in range(th):
                row = dx[n, ih[oh, a]]
                wa = wh[oh, a]
                for ow in range(ow_n):
                    g = dy[n, oh, ow]
                    for b in range(tw):
                        dst = row[iw[ow, b]]
                        wab = wa * ww[ow, b]
                        for c in range(chans):
                            dst[c] += wab * g[c]


def _nearest_forward(x, y, sh, sw, n0, n1):
    """``y[n0:n1]``: each input pixel repeated over an (sh, sw) block (whole factors).

    Args:
        x: input, (N, H, W, C), C-contiguous.
        y: output, (N, H * sh, W * sw, C), C-contiguous; images n0:n1 overwritten.
        sh, sw: the factors.
    """
    height, width, chans = x.shape[1], x.shape[2], x.shape[3]
    for n in range(n0, n1):
        for i in range(height):
            src = x[n, i].reshape(-1)
            first = y[n, i * sh].reshape(-1)
            for j in range(width):
                base = j * chans
                for r in range(sw):
                    out = (j * sw + r) * chans
                    for c in range(chans):
                        first[out + c] = src[base + c]
            for r in range(1, sh):
                row = y[n, i * sh + r].reshape(-1)
                for t in range(row.size):
                    row[t] = first[t]


def _nearest_backward(dy, dx, sh, sw, n0, n1):
    """``dx[n0:n1]``: the sum of the output gradient over each input pixel's block.

    Args:
        dy: output gradient, (N, H * sh, W * sw, C), C-contiguous.
        dx: input gradient, (N, H, W, C), C-contiguous; images n0:n1 overwritten.
        sh, sw: the factors.
    """
    height, width, chans = dx.shape[1], dx.shape[2], dx.shape[3]
    for n in range(n0, n1):
        for i in range(height):
            out = dx[n, i].reshape(-1)
            for t in range(out.size):
                out[t] = 0
            for r in range(sh):
                g = dy[n, i * sh + r].reshape(-1)
                for j in range(width):
                    base = j * chans
                    for s in range(sw):
                        src = (j * sw + s) * chans
                        for c in range(chans):
                            out[base + c] += g[src + c]


resize_forward = kernel(_resize_forward)
resize_backward = kernel(_resize_backward)
nearest_forward = kernel(_nearest_forward)
nearest_backward = kernel(_nearest_backward)
