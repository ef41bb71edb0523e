"""Affine resampling of a batch of images: one pass per image, whatever the transform.

Rotation, shift, shear and zoom compose into one 2x3 matrix per image that maps each output pixel
``(row, col)`` to the input position it is read from::

    in_row = m[0, 0] * row + m[0, 1] * col + m[0, 2]
    in_col = m[1, 0] * row + m[1, 1] * col + m[1, 2]

The value there is interpolated from the input with ``order`` 0 (the nearest pixel, ties
rounded up) or 1 (bilinear). Positions outside the image follow a fill mode:

- ``FILL_CONSTANT`` (0): scipy.ndimage's ``'constant'``, as Keras 2 uses it: a position outside
  ``[0, size - 1]`` on either axis takes ``cval`` whole, no blending with the edge;
- ``FILL_NEAREST`` (1): the position is clamped to the edge (``a a a | a b c d | d d d``);
- ``FILL_REFLECT`` (2): half-sample symmetric (``b a | a b c d | d c``);
- ``FILL_WRAP`` (3): scipy's ``'wrap'``: the coordinate is taken modulo ``size - 1``, the first
  and last pixels overlapping (what Keras 2 produces);
- ``FILL_GRID_WRAP`` (4): periodic with period ``size`` (``a b c d | a b c d``: Keras 3's wrap);
- ``FILL_GRID_CONSTANT`` (5): pixels outside the image are ``cval`` and blend with the edge
  (Keras 3's constant).

Images are channels-last, ``(batch, rows, cols, channels)``; `resample` fills ``out`` for the
images ``start:stop``, so that `resample_batch` can give each thread of
`kerasette.backend.parallel` its own chunk of the batch.
"""

from __future__ import annotations

import math

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.kernels._jit import kernel

FILL_CONSTANT, FILL_NEAREST, FILL_REFLECT, FILL_WRAP, FILL_GRID_WRAP, FILL_GRID_CONSTANT = range(6)
FILL_MODES = {"constant": FILL_CONSTANT, "nearest": FILL_NEAREST, "reflect": FILL_REFLECT, "wrap": FILL_WRAP,
              "grid-wrap": FILL_GRID_WRAP, "grid-constant": FILL_GRID_CONSTANT}


@kernel
def _extend_index(i, size, fill):
    """The input index that integer index ``i`` (possibly outside ``[0, size)``) reads, or -1 for
    the constant value."""
    if 0 <= i < size:
        return i
    if size == 1:
        return 0 if fill != FILL_GRID_CONSTANT else -1
    if fill == FILL_NEAREST or fill == FILL_CONSTANT:
        return 0 if i < 0 else size - 1
    if fill == FILL_REFLECT:
        period = 2 * size
        i = i % period
        return i if i < size else period - 1 - i
    if fill == FILL_WRAP:
        return i % (size - 1)
    if fill == FILL_GRID_WRAP:
        return i % size
    return -1  # FILL_GRID_CONSTANT


@kernel
def _fold(coord, size, fill):
    """The coordinate after the continuous part of the fill rule: scipy's 'wrap' folds it into
    ``[0, size - 1]``; 'nearest' clamps it; the others leave it to `_extend_index`. NaN marks a
    position that takes the constant value whole."""
    last = size - 1.0
    if fill == FILL_CONSTANT:
        if coord < 0.0 or coord > last:
            return math.nan
        return coord
    if fill == FILL_NEAREST:
        return min(max(coord, 0.0), last)
    if fill == FILL_WRAP and size > 1 and (coord < 0.0 or coord > last):
        if coord < 0.0:
            coord += last * (math.floor(-coord / last) + 1.0)
        else:
            coord -= last * math.floor(coord / last)
    return coord


@kernel
def resample(x, matrices, order, fill, cval, out, start, stop):
    """Fills ``out[n]`` with image ``x[n]`` resampled through ``matrices[n]`` for ``n`` in
    ``start:stop``.

    Args:
        x: input images, (batch, rows, cols, channels), float32 or float64.
        matrices: (batch, 2, 3) float64, output pixel -> input position (see the module docstring).
        order: 0 nearest, 1 bilinear.
        fill: one of the ``FILL_*`` codes.
        cval: the constant for the constant fills.
        out: (batch, out_rows, out_cols, channels), ``x``'s dtype; fully written.
    """
    rows, cols, channels = x.shape[1], x.shape[2], x.shape[3]
    out_rows, out_cols = out.shape[1], out.shape[2]
    constant = out.dtype.type(cval)
    kind = x.dtype.type
    last_row, last_col = rows - 1.0, cols - 1.0
    for n in range(start, stop):
        image, result = x[n], out[n]
        m00, m01, m02 = matrices[n, 0, 0], matrices[n, 0, 1], matrices[n, 0, 2]
        m10, m11, m12 = matrices[n, 1, 0], matrices[n, 1, 1], matrices[n, 1, 2]
        for i in range(out_rows):
            row_start = m00 * i + m02
            col_start = m10 * i + m12
            first, stop = 0, 0
            if order == 1:
                first, stop = _inside_columns(row_start, m01, col_start, m11, last_row, last_col, out_cols)
            for j in range(first, stop):
                # The columns whose position is inside the image on both axes (found once per
                # row; every fill mode reads the same pixels there): no test per pixel.
                r = row_start + m01 * j
                c = col_start + m11 * j
                r0, c0 = int(r), int(c)
                # two linear blends per row, then one between the rows, in the images' precision
                # (float32 arithmetic for float32 images: no conversions)
                fr, fc = kind(r - r0), kind(c - c0)
                for k in range(channels):
                    top = image[r0, c0, k] + (image[r0, c0 + 1, k] - image[r0, c0, k]) * fc
                    bottom = image[r0 + 1, c0, k] + (image[r0 + 1, c0 + 1, k] - image[r0 + 1, c0, k]) * fc
                    result[i, j, k] = top + (bottom - top) * fr
            for j in range(out_cols):
                if first <= j < stop:
                    continue
                r = row_start + m01 * j
                c = col_start + m11 * j
                if order == 1:
                    if 0.0 <= r < last_row and 0.0 <= c < last_col:
                        r0, c0 = int(r), int(c)
                        fr, fc = kind(r - r0), kind(c - c0)
                        for k in range(channels):
                            top = image[r0, c0, k] + (image[r0, c0 + 1, k] - image[r0, c0, k]) * fc
                            bottom = image[r0 + 1, c0, k] + (image[r0 + 1, c0 + 1, k] - image[r0 + 1, c0, k]) * fc
                            result[i, j, k] = top + (bottom - top) * fr
                        continue
                elif 0.0 <= r <= last_row and 0.0 <= c <= last_col:
                    result[i, j] = image[int(r + 0.5), int(c + 0.5)]
                    continue
                _edge_pixel(x, n, r, c, order, fill, cval, constant, out, i, j)


@kernel
def _narrow(start, step, last, low, high):
    """``(low, high)`` narrowed to the ``j`` with ``0 <= start + step * j < last``."""
    if step > 0.0:
        return max(low, -start / step), min(high, (last - start) / step)
    if step < 0.0:
        return max(low, (last - start) / step), min(high, -start / step)
    if 0.0 <= start < last:
        return low, high
    return low, low


@kernel
def _inside_columns(row_start, row_step, col_start, col_step, last_row, last_col, out_cols):
    """``(first, stop)``: output columns of one row whose input position is inside the image on
    both axes, one column narrower at each end than the exact bounds so that rounding cannot
    take a position out (the per-pixel path handles the rest)."""
    low, high = _narrow(row_start, row_step, last_row, -1.0, out_cols + 1.0)
    low, high = _narrow(col_start, col_step, last_col, low, high)
    if not high > low:  # also when a bound is NaN
        return 0, 0
    first = min(max(int(math.ceil(low)) + 1, 0), out_cols)
    stop = min(max(int(math.floor(high)) - 1, 0), out_cols)
    return (first, stop) if stop > first else (0, 0)


@kernel
def _edge_pixel(x, n, r, c, order, fill, cval, constant, out, i, j):
    """``out[n, i, j]`` for a position near or beyond the image's edges, by the fill rules."""
    rows, cols, channels = x.shape[1], x.shape[2], x.shape[3]
    r = _fold(r, rows, fill)
    c = _fold(c, cols, fill)
    if math.isnan(r) or math.isnan(c):
        for k in range(channels):
            out[n, i, j, k] = constant
        return
    if order == 0:
        ri = _extend_index(int(math.floor(r + 0.5)), rows, fill)
        ci = _extend_index(int(math.floor(c + 0.5)), cols, fill)
        if ri < 0 or ci < 0:
            for k in range(channels):
                out[n, i, j, k] = constant
        else:
            for k in range(channels):
                out[n, i, j, k] = x[n, ri, ci, k]
        return
    r0f = math.floor(r)
    c0f = math.floor(c)
    fr = r - r0f
    fc = c - c0f
    r0 = _extend_index(int(r0f), rows, fill)
    r1 = _extend_index(int(r0f) + 1, rows, fill)
    c0 = _extend_index(int(c0f), cols, fill)
    c1 = _extend_index(int(c0f) + 1, cols, fill)
    w00 = (1.0 - fr) * (1.0 - fc)
    w01 = (1.0 - fr) * fc
    w10 = fr * (1.0 - fc)
    w11 = fr * fc
    for k in range(channels):
        v00 = cval if r0 < 0 or c0 < 0 else x[n, r0, c0, k]
        v01 = cval if r0 < 0 or c1 < 0 else x[n, r0, c1, k]
        v10 = cval if r1 < 0 or c0 < 0 else x[n, r1, c0, k]
        v11 = cval if r1 < 0 or c1 < 0 else x[n, r1, c1, k]
        out[n, i, j, k] = w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11


def resample_batch(x: np.ndarray, matrices: np.ndarray, order: int = 1, fill_mode: str = "nearest",
                   cval: float = 0.0, output_size: tuple[int, int] | None = None) -> np.ndarray:
    """``x`` (batch, rows, cols, channels) resampled through one 2x3 matrix per image, the batch
    split over the thread pool; returns a new array of ``x``'s dtype (float32 or float64).

    Args:
        x: channels-last images.
        matrices: (batch, 2, 3), output pixel -> input position.
        order: 0 (nearest) or 1 (bilinear).
        fill_mode: a key of `FILL_MODES`.
        cval: the value of the constant fills.
        output_size: (rows, cols) of the output; default the input's.
    """
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    x = np.ascontiguousarray(x)
    matrices = np.ascontiguousarray(matrices, dtype=np.float64)
    rows, cols = output_size if output_size is not None else x.shape[1:3]
    out = np.empty((x.shape[0], int(rows), int(cols), x.shape[3]), x.dtype)
    fill, order, cval = FILL_MODES[fill_mode], int(order), float(cval)

    def part(start, stop):
        resample(x, matrices, order, fill, cval, out, start, stop)

    # Each image costs a few operations per output value: worth a thread from about 64k values.
    parallel.map_chunks(part, x.shape[0], 1 << 16, out[0].size * 8)
    return out
