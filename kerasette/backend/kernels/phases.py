"""Space to batch and back: the phases of an image, for convolutions dilated at stride 1; and the
zero padding of images.

A convolution dilated by (dh, dw) at stride 1 reads, for the output at (oh, ow), the padded input
at (oh + i * dh, ow + k * dw): only positions in the same phase ``(oh mod dh, ow mod dw)``. Split
into its ``dh * dw`` phases (every dh-th row from row ``a``, every dw-th column from column ``b``),
the image becomes ``dh * dw`` smaller images on which the dilated convolution is the plain one,
so every algorithm of the engine (Winograd among them) runs it; the outputs' phases are then
interleaved back. The kernels fill preallocated arrays and validate nothing.
"""

from __future__ import annotations

import numba

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.simd import vcount, vload, vstore, vzeros

_inline = numba.njit(inline="always", nogil=True)


@_inline
def _copy(src, s_at, dst, d_at, n):
    """``dst[d_at:d_at + n] = src[s_at:s_at + n]`` on flat C-contiguous arrays, in whole vectors
    and then one value at a time (numba's indexing keeps LLVM from vectorising a plain loop)."""
    lanes = vcount(dst)
    c = 0
    while c + lanes <= n:
        vstore(dst, d_at + c, vload(src, s_at + c))
        c += lanes
    while c < n:
        dst[d_at + c] = src[s_at + c]
        c += 1


@_inline
def _zero(dst, d_at, n):
    """``dst[d_at:d_at + n] = 0``, in whole vectors and then one value at a time."""
    lanes = vcount(dst)
    zero = vzeros(dst)
    c = 0
    while c + lanes <= n:
        vstore(dst, d_at + c, zero)
        c += lanes
    while c < n:
        dst[d_at + c] = 0
        c += 1


@kernel
def phase_split(x, xq, dh, dw, pt, pl):
    """Splits zero-padded images into their ``dh * dw`` phases (space to batch).

    ``xq[(n * dh + a) * dw + b, r, s] = x[n, r * dh + a - pt, s * dw + b - pl]`` (zero outside
    ``x``): a convolution dilated by (dh, dw) at stride 1 is, on each phase, the undilated one.

    Args:
        x: images, (N, H, W, C), C-contiguous.
        xq: phases, (N * dh * dw, Hq, Wq, C), C-contiguous; overwritten.
        dh, dw: the dilation; pt, pl: padding at the top and on the left.
    """
    height, width, chans = x.shape[1], x.shape[2], x.shape[3]
    hq, wq = xq.shape[1], xq.shape[2]
    xf, qf = x.reshape(-1), xq.reshape(-1)
    for q in range(xq.shape[0]):
        n = q // (dh * dw)
        a = (q // dw) % dh
        b = q % dw
        for r in range(hq):
            h = r * dh + a - pt
            out = (q * hq + r) * wq * chans
            if h < 0 or h >= height:
                _zero(qf, out, wq * chans)
                continue
            for s in range(wq):
                wc = s * dw + b - pl
                at = out + s * chans
                if 0 <= wc < width:
                    _copy(xf, ((n * height + h) * width + wc) * chans, qf, at, chans)
                else:
                    _zero(qf, at, chans)


@kernel
def phase_merge(xq, x, dh, dw, pt, pl):
    """The inverse of :func:`phase_split` on the image's own positions:
    ``x[n, h, w] = xq[(n * dh + a) * dw + b, r, s]`` where ``h + pt = r * dh + a`` and
    ``w + pl = s * dw + b``.

    Args:
        xq: phases, (N * dh * dw, Hq, Wq, C), C-contiguous.
        x: images, (N, H, W, C), C-contiguous; overwritten.
        dh, dw, pt, pl: as for :func:`phase_split`.
    """
    n_img, height, width, chans = x.shape
    hq, wq = xq.shape[1], xq.shape[2]
    xf, qf = x.reshape(-1), xq.reshape(-1)
    for n in range(n_img):
        for h in range(height):
            r, a = divmod(h + pt, dh)
            for wc in range(width):
                s, b = divmod(wc + pl, dw)
                src = ((((n * dh + a) * dw + b) * hq + r) * wq + s) * chans
                _copy(qf, src, xf, ((n * height + h) * width + wc) * chans, chans)


@kernel
def pad_images(x, out, pt, pl):
    """``out[n, pt:pt + H, pl:pl + W] = x[n]`` and zeros around it: zero padding of NHWC images
    (a convolution's 'same' padding), each value of ``out`` written once, the rows of ``x`` in
    whole vectors. The phase split of a stride-1 (undilated) image, row by row instead of pixel
    by pixel.

    Args:
        x: images, (N, H, W, C), C-contiguous.
        out: padded images, (N, OH, OW, C) with OH >= pt + H and OW >= pl + W, C-contiguous;
            overwritten.
        pt, pl: padding at the top and on the left.
    """
    n_img, height, width, chans = x.shape
    out_h, out_w = out.shape[1], out.shape[2]
    xf, of = x.reshape(-1), out.reshape(-1)
    row, before, inside = out_w * chans, pl * chans, width * chans
    for n in range(n_img):
        for r in range(out_h):
            at = (n * out_h + r) * row
            h = r - pt
            if h < 0 or h >= height:
                _zero(of, at, row)
                continue
            _zero(of, at, before)
            _copy(xf, (n * height + h) * inside, of, at + before, inside)
            _zero(of, at + before + inside, row - before - inside)
