"""Affine resampling of a batch of images: one pass per image, whatever the transform.

Rotation, shift, shear and zoom compose into one 2x3 matrix per image that maps each output pixel
``(row, col)`` to the input position it is read from::

    in_row = m[0, 0] * row + m[0, 1] * col + m[0, 2]
    in_col = m[1, 0] * row + m[1, 1] * col + m[1, 2]

The value there is interpolated from the input with ``order`` 0 (the nearest pixel, ties
rounded up), 1 (bilinear) or 2 to 5 (a B-spline of that degree, see below). Positions outside
the image follow a fill mode:

- ``FILL_CONSTANT`` (0): scipy.ndimage's ``'constant'``, as Keras 2 uses it: a position outside
  ``[0, size - 1]`` on either axis takes ``cval`` whole, no blending with the edge;
- ``FILL_NEAREST`` (1): the position is clamped to the edge (``a a a | a b c d | d d d``);
- ``FILL_REFLECT`` (2): half-sample symmetric (``b a | a b c d | d c``);
- ``FILL_WRAP`` (3): scipy's ``'wrap'``: the coordinate is taken modulo ``size - 1``, the first
  and last pixels overlapping (what Keras 2 produces);
- ``FILL_GRID_WRAP`` (4): periodic with period ``size`` (``a b c d | a b c d``: Keras 3's wrap);
- ``FILL_GRID_CONSTANT`` (5): pixels outside the image are ``cval`` and blend with the edge
  (Keras 3's constant).

Images are channels-last, ``(batch, rows, cols, channels)``; `resample` (orders 0 and 1) and
`resample_spline` (orders 2 to 5) fill ``out`` for the images ``start:stop``, so that
`resample_batch` can give each thread of `kerasette.backend.parallel` its own chunk of the batch.

Spline orders 2 to 5 (scipy.ndimage's, which Keras 2 uses; the four fill modes Keras 2 allows).
The image is first turned into B-spline coefficients: the coefficients ``c`` whose spline
``sum_k c[k] beta(x - k)`` (``beta``: the centred B-spline of the order) passes through every
pixel of the image extended without end by a rule, one axis after the other. The value at a
position is then that spline, read with the coefficients extended by the same rule. The rules,
measured against scipy 1.17 (``tests/images/test_spline_kernel.py`` states them as a reference):

- 'constant' and 'wrap': coefficients of the whole-sample symmetric extension (``c b | a b c |
  b a``, scipy's 'mirror'), read with that extension; 'constant' gives ``cval`` outside
  ``[0, size - 1]``, 'wrap' first folds the position into ``[0, size - 1]`` (period ``size - 1``)
  as for the lower orders;
- 'reflect': the half-sample symmetric extension (``b a | a b c | c b``) for both;
- 'nearest': the image is first padded with `NEAREST_PAD` copies of its edge pixels on every
  side; coefficients of that padded image with the half-sample symmetric extension; a
  position (not clamped) reads the padded coefficients with their indices clamped to the
  padded image. Far outside, this is the edge pixel within about 1e-5 of the edge's contrast.

The coefficients come from the recursive form of the inverse B-spline filter: one causal and
one anticausal first-order pass per pole of the filter (the roots inside the unit circle of
``sum_k beta(k) z**k``; one pole for orders 2 and 3, two for 4 and 5), each pass started from
the exact value its extension rule implies (the causal sum taken until ``|z|**k`` is below
1e-16), in float64 whatever the images' type.
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


# -- spline orders 2 to 5 --------------------------------------------------------------------------
#: Edge pixels added on every side of the image before the coefficients of fill mode 'nearest'
#: are computed (scipy's behaviour for that mode, measured).
NEAREST_PAD = 12
#: Index extension rules of the spline coefficients (see the module docstring).
_EXT_MIRROR, _EXT_REFLECT, _EXT_CLAMP = range(3)


def _centred_bspline(order: int, x: float) -> float:
    """The centred B-spline of degree ``order`` at ``x`` (its truncated-power form)."""
    total = 0.0
    for k in range(order + 2):
        t = x + (order + 1) / 2 - k
        if t > 0:
            total += (-1) ** k * math.comb(order + 1, k) * t ** order
    return total / math.factorial(order)


def _spline_poles() -> tuple[np.ndarray, np.ndarray]:
    """``(poles, horizons)``, each (6, 2): for each order 2 to 5 the poles of its inverse filter
    (the roots of ``sum_k beta(k) z**k`` inside the unit circle; 0 where the order has fewer
    than two) and how many terms of ``z**k`` stay above 1e-16."""
    poles, horizons = np.zeros((6, 2)), np.zeros((6, 2), np.int64)
    for order in range(2, 6):
        half = order // 2
        symbol = [_centred_bspline(order, k) for k in range(-half, half + 1)]
        roots = np.roots(symbol[::-1]).real  # the roots of these symbols are real and negative
        inside = np.sort(roots[np.abs(roots) < 1.0])
        poles[order, :len(inside)] = inside
        horizons[order, :len(inside)] = np.ceil(np.log(1e-16) / np.log(np.abs(inside))).astype(np.int64)
    return poles, horizons


_POLES, _HORIZONS = _spline_poles()


@kernel
def _spline_index(i, size, rule):
    """The coefficient that integer index ``i`` (possibly outside ``[0, size)``) reads."""
    if 0 <= i < size:
        return i
    if size == 1:
        return 0
    if rule == _EXT_CLAMP:
        return 0 if i < 0 else size - 1
    if rule == _EXT_MIRROR:
        period = 2 * size - 2
        i = i % period
        return i if i < size else period - i
    period = 2 * size  # _EXT_REFLECT
    i = i % period
    return i if i < size else period - 1 - i


@kernel
def _filter_lines(c, poles, horizons, rule):
    """Turns each column of ``c`` (2-D float64, C-contiguous; in place), the samples of one
    line, into the coefficients of the B-spline that interpolates them, the samples extended
    by ``rule`` (_EXT_MIRROR or _EXT_REFLECT). The recursions run down the rows, each step
    over a whole row at once (contiguous: vectorised, in cache)."""
    n, width = c.shape[0], c.shape[1]
    if n == 1:
        return  # constant lines: their coefficients are their values
    gain = 1.0
    for q in range(poles.shape[0]):
        z = poles[q]
        if z != 0.0:
            gain *= (1.0 - z) * (1.0 - 1.0 / z)
    c *= gain
    first = np.empty(width)
    for q in range(poles.shape[0]):
        z = poles[q]
        if z == 0.0:
            continue
        # causal pass, started from the sum over the extended line before its first sample
        first[:] = c[0]
        power = z
        for k in range(1, horizons[q]):
            row = c[_spline_index(-k, n, rule)]
            for w in range(width):
                first[w] += power * row[w]
            power *= z
        c[0] = first
        for i in range(1, n):
            for w in range(width):
                c[i, w] += z * c[i - 1, w]
        # anticausal pass, started from the symmetry of the result about the line's end
        if rule == _EXT_MIRROR:
            scale = z / (z * z - 1.0)
            for w in range(width):
                c[n - 1, w] = scale * (c[n - 1, w] + z * c[n - 2, w])
        else:
            scale = z / (z - 1.0)
            for w in range(width):
                c[n - 1, w] *= scale
        for i in range(n - 2, -1, -1):
            for w in range(width):
                c[i, w] = z * (c[i + 1, w] - c[i, w])


@kernel
def _spline_weights(x, order, weights):
    """Fills ``weights[:order + 1]`` with the B-spline weights of position ``x`` and returns
    the index of the first coefficient they apply to (weight ``w`` goes with index
    ``first + order - w``)."""
    y = x + (order + 1) * 0.5
    base = math.floor(y)
    f = y - base
    # the uniform B-spline N_d(y) = (y N_{d-1}(y) + (d + 1 - y) N_{d-1}(y - 1)) / d at f, f + 1, ...
    weights[0] = 1.0
    for d in range(1, order + 1):
        inverse = 1.0 / d
        weights[d] = 0.0
        for w in range(d, 0, -1):
            weights[w] = ((f + w) * weights[w] + (d + 1.0 - f - w) * weights[w - 1]) * inverse
        weights[0] = f * weights[0] * inverse
    return int(base) - order


@kernel
def spline_coefficients(image, fill, poles, horizons, coef):
    """The B-spline coefficients of one channels-last image (rows, cols, channels) for fill
    code ``fill``, into ``coef`` (float64; the image's size, or padded by `NEAREST_PAD` on
    every side for FILL_NEAREST)."""
    rows, cols, channels = image.shape[0], image.shape[1], image.shape[2]
    pad = (coef.shape[0] - rows) // 2
    for r in range(coef.shape[0]):
        rr = min(max(r - pad, 0), rows - 1)
        for q in range(coef.shape[1]):
            cc = min(max(q - pad, 0), cols - 1)
            for k in range(channels):
                coef[r, q, k] = image[rr, cc, k]
    rule = _EXT_REFLECT if fill == FILL_REFLECT or fill == FILL_NEAREST else _EXT_MIRROR
    coef_rows, coef_cols = coef.shape[0], coef.shape[1]
    _filter_lines(coef.reshape(coef_rows, coef_cols * channels), poles, horizons, rule)  # down the columns
    for r in range(coef_rows):
        _filter_lines(coef[r], poles, horizons, rule)  # along row r: (cols, channels)


@kernel
def resample_spline(x, matrices, order, fill, cval, out, start, stop, poles, horizons):
    """`resample` for spline orders 2 to 5 and the fills FILL_CONSTANT, FILL_NEAREST,
    FILL_REFLECT and FILL_WRAP (see the module docstring); ``poles`` and ``horizons`` are the
    order's rows of `_spline_poles`. Computes in float64, writes ``out``'s dtype."""
    rows, cols, channels = x.shape[1], x.shape[2], x.shape[3]
    out_rows, out_cols = out.shape[1], out.shape[2]
    pad = NEAREST_PAD if fill == FILL_NEAREST else 0
    coef = np.empty((rows + 2 * pad, cols + 2 * pad, channels))
    coef_rows, coef_cols = coef.shape[0], coef.shape[1]
    row_stride = coef_cols * channels
    flat = coef.reshape(coef_rows * row_stride)
    rule = _EXT_CLAMP if fill == FILL_NEAREST else (_EXT_REFLECT if fill == FILL_REFLECT else _EXT_MIRROR)
    wr, wc = np.empty(order + 1), np.empty(order + 1)
    ir, ic = np.empty(order + 1, np.int64), np.empty(order + 1, np.int64)
    acc = np.empty(channels)
    last_row, last_col = rows - 1.0, cols - 1.0
    for n in range(start, stop):
        spline_coefficients(x[n], fill, poles, horizons, coef)
        m00, m01, m02 = matrices[n, 0, 0], matrices[n, 0, 1], matrices[n, 0, 2]
        m10, m11, m12 = matrices[n, 1, 0], matrices[n, 1, 1], matrices[n, 1, 2]
        for i in range(out_rows):
            for j in range(out_cols):
                r = m00 * i + m01 * j + m02
                c = m10 * i + m11 * j + m12
                if fill == FILL_CONSTANT:
                    if not (0.0 <= r <= last_row and 0.0 <= c <= last_col):
                        for k in range(channels):
                            out[n, i, j, k] = cval
                        continue
                elif fill == FILL_WRAP:
                    r = _fold(r, rows, fill)
                    c = _fold(c, cols, fill)
                r0 = _spline_weights(r + pad, order, wr)
                c0 = _spline_weights(c + pad, order, wc)
                if 0 <= r0 and r0 + order < coef_rows and 0 <= c0 and c0 + order < coef_cols:
                    for w in range(order + 1):  # inside: no extension rule to apply
                        ir[w] = (r0 + order - w) * row_stride
                        ic[w] = (c0 + order - w) * channels
                else:
                    for w in range(order + 1):
                        ir[w] = _spline_index(r0 + order - w, coef_rows, rule) * row_stride
                        ic[w] = _spline_index(c0 + order - w, coef_cols, rule) * channels
                for k in range(channels):
                    acc[k] = 0.0
                for a in range(order + 1):
                    for b in range(order + 1):
                        weight = wr[a] * wc[b]
                        at = ir[a] + ic[b]
                        for k in range(channels):
                            acc[k] += weight * flat[at + k]
                for k in range(channels):
                    out[n, i, j, k] = acc[k]


def resample_batch(x: np.ndarray, matrices: np.ndarray, order: int = 1, fill_mode: str = "nearest",
                   cval: float = 0.0, output_size: tuple[int, int] | None = None,
                   threaded: bool = True) -> np.ndarray:
    """``x`` (batch, rows, cols, channels) resampled through one 2x3 matrix per image, the batch
    split over the thread pool (``threaded``) or in the calling thread alone; returns a new
    array of ``x``'s dtype (float32 or float64).

    Args:
        x: channels-last images.
        matrices: (batch, 2, 3), output pixel -> input position.
        order: 0 (nearest), 1 (bilinear), or a spline order 2 to 5 (with the fill modes
            'constant', 'nearest', 'reflect' and 'wrap' only: Keras 2's).
        fill_mode: a key of `FILL_MODES`.
        cval: the value of the constant fills.
        output_size: (rows, cols) of the output; default the input's.
        threaded: False keeps the work in the calling thread (a data worker running beside
            training, whose steps use the pool).
    """
    fill, order, cval = FILL_MODES[fill_mode], int(order), float(cval)
    if not 0 <= order <= 5:
        raise ValueError(f"resample_batch: argument `order` must be an integer from 0 to 5; received order={order}")
    if order >= 2 and fill > FILL_WRAP:
        raise ValueError(f"resample_batch: spline orders 2 to 5 take fill_mode 'constant', 'nearest', 'reflect' or "
                         f"'wrap'; received order={order} with fill_mode={fill_mode!r}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    x = np.ascontiguousarray(x)
    matrices = np.ascontiguousarray(matrices, dtype=np.float64)
    rows, cols = output_size if output_size is not None else x.shape[1:3]
    out = np.empty((x.shape[0], int(rows), int(cols), x.shape[3]), x.dtype)

    if order <= 1:
        def part(start, stop):
            resample(x, matrices, order, fill, cval, out, start, stop)

        # Each image costs a few operations per output value: worth a thread from about 64k values.
        if threaded:
            parallel.map_chunks(part, x.shape[0], 1 << 16, out[0].size * 8)
        else:
            part(0, x.shape[0])
        return out
    poles, horizons = _POLES[order], _HORIZONS[order]

    def part_spline(start, stop):
        resample_spline(x, matrices, order, fill, cval, out, start, stop, poles, horizons)

    # (order + 1)**2 products per output value, plus the coefficients' passes
    if threaded:
        parallel.map_chunks(part_spline, x.shape[0], 1 << 16, out[0].size * 2 * (order + 1) ** 2)
    else:
        part_spline(0, x.shape[0])
    return out
