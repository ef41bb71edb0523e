"""The zero padding of NHWC images' rows and columns (`kerasette.backend.ops.shape.Pad`'s fast
path): each output row written once, zeros or the input's row between zeros, in pieces of rows
the threads take from a shared counter inside one call each."""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.spin import fetch_add


@kernel
def pad_rows_shared(x, top, left, zero, out, counter, piece):
    """``out[n, top:top + H, left:left + W] = x[n]`` and zeros around it, for (N, H, W, C) ``x``
    and (N, OH, OW, C) ``out``; the N * OH output rows in pieces of ``piece`` taken from
    ``counter`` (an int64 cell, 0 at the start, shared by the calls running at once); ``zero``:
    0 of the arrays' dtype."""
    n_img, height, width, chans = x.shape
    out_h, out_w = out.shape[1], out.shape[2]
    total = n_img * out_h
    while True:
        first = fetch_add(counter, 0, piece)
        if first >= total:
            return
        for g in range(first, min(first + piece, total)):
            n = g // out_h
            r = g - n * out_h - top
            row = out[n, g - n * out_h]
            if r < 0 or r >= height:
                for j in range(out_w):
                    for c in range(chans):
                        row[j, c] = zero
                continue
            src = x[n, r]
            for j in range(left):
                for c in range(chans):
                    row[j, c] = zero
            for j in range(width):
                for c in range(chans):
                    row[left + j, c] = src[j, c]
            for j in range(left + width, out_w):
                for c in range(chans):
                    row[j, c] = zero
