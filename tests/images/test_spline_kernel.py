"""The spline orders (2 to 5) of the affine resampling kernel against a slow numpy reference
that states scipy.ndimage's rules directly (see `kerasette.backend.kernels.affine`): the
coefficients solve the interpolation equations of the extended image as a dense linear system
(no recursive filter), and the spline is evaluated from the truncated-power form of the
B-spline (not the kernel's recurrence)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.kernels import affine

MODES = ("constant", "nearest", "reflect", "wrap")
ORDERS = (2, 3, 4, 5)
PAD = 12  # 'nearest': edge pixels added on every side before the coefficients


def beta(order, x):
    """The centred B-spline of degree ``order`` (sum of truncated powers)."""
    total = 0.0
    for k in range(order + 2):
        t = x + (order + 1) / 2 - k
        if t > 0:
            total += (-1) ** k * math.comb(order + 1, k) * t ** order
    return total / math.factorial(order)


def extend(k, size, rule):
    """Index ``k`` of a line of ``size`` extended by ``rule``."""
    if 0 <= k < size:
        return k
    if size == 1 or rule == "clamp":
        return min(max(k, 0), size - 1)
    if rule == "mirror":  # c b | a b c | b a
        while not 0 <= k < size:
            k = -k if k < 0 else 2 * (size - 1) - k
        return k
    while not 0 <= k < size:  # reflect: b a | a b c | c b
        k = -1 - k if k < 0 else 2 * size - 1 - k
    return k


def prefilter_matrix(size, order, rule):
    """The matrix taking a line's samples to its B-spline coefficients: the inverse of the
    interpolation equations ``sum_k c[extend(k)] beta(i - k) = s[i]``."""
    a = np.zeros((size, size))
    for i in range(size):
        for k in range(i - order, i + order + 1):
            a[i, extend(k, size, rule)] += beta(order, i - k)
    return np.linalg.inv(a)


def coefficients(image, order, rule):
    rows = prefilter_matrix(image.shape[0], order, rule)
    cols = prefilter_matrix(image.shape[1], order, rule)
    return np.einsum("ri,ijk,cj->rck", rows, image, cols)


def spline_value(coef, r, c, order, rule):
    total = 0.0
    for kr in range(math.floor(r) - order, math.floor(r) + order + 2):
        wr = beta(order, r - kr)
        if wr == 0.0:
            continue
        for kc in range(math.floor(c) - order, math.floor(c) + order + 2):
            wc = beta(order, c - kc)
            if wc != 0.0:
                total = total + wr * wc * coef[extend(kr, coef.shape[0], rule), extend(kc, coef.shape[1], rule)]
    return total


def fold_wrap(v, size):
    last = size - 1
    if size > 1:
        while v < 0:
            v += last
        while v > last:
            v -= last
    return v


def reference(x, matrices, order, mode, cval, out_size=None):
    n, rows, cols, channels = x.shape
    out_rows, out_cols = out_size or (rows, cols)
    out = np.empty((n, out_rows, out_cols, channels))
    for b in range(n):
        image = x[b].astype(np.float64)
        pad = 0
        if mode == "nearest":
            image, pad = np.pad(image, ((PAD, PAD), (PAD, PAD), (0, 0)), mode="edge"), PAD
        rule = {"constant": "mirror", "wrap": "mirror", "reflect": "reflect", "nearest": "reflect"}[mode]
        coef = coefficients(image, order, rule)
        read = "clamp" if mode == "nearest" else rule
        m = matrices[b]
        for i in range(out_rows):
            for j in range(out_cols):
                r = m[0, 0] * i + m[0, 1] * j + m[0, 2]
                c = m[1, 0] * i + m[1, 1] * j + m[1, 2]
                if mode == "constant" and not (0 <= r <= rows - 1 and 0 <= c <= cols - 1):
                    out[b, i, j] = cval
                    continue
                if mode == "wrap":
                    r, c = fold_wrap(r, rows), fold_wrap(c, cols)
                out[b, i, j] = spline_value(coef, r + pad, c + pad, order, read)
    return out


def _matrices(n, rows, cols, rng):
    angle = rng.uniform(-np.pi, np.pi, n)
    zoom = rng.uniform(0.5, 1.8, (n, 2))
    m = np.empty((n, 2, 3))
    m[:, 0, 0], m[:, 0, 1] = np.cos(angle) * zoom[:, 0], -np.sin(angle) * zoom[:, 1]
    m[:, 1, 0], m[:, 1, 1] = np.sin(angle) * zoom[:, 0], np.cos(angle) * zoom[:, 1]
    m[:, 0, 2] = rng.uniform(-rows, 2 * rows, n)
    m[:, 1, 2] = rng.uniform(-cols, 2 * cols, n)
    return m


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_spline_resample_matches_the_reference(mode, order, dtype):
    rng = np.random.default_rng(order)
    x = rng.standard_normal((3, 9, 6, 2)).astype(dtype)
    m = _matrices(3, 9, 6, rng)
    got = affine.resample_batch(x, m, order, mode, cval=-2.5)
    assert got.dtype == np.dtype(dtype) and got.shape == x.shape
    tol = 1e-5 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(got, reference(x.astype(np.float64), m, order, mode, -2.5), rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(1, 5), (2, 3), (4, 1)])
def test_tiny_axes_and_another_output_size(mode, shape):
    """Lines of one and two pixels (the filter's start wraps around the extension many times)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2,) + shape + (3,))
    m = _matrices(2, *shape, rng)
    for order in ORDERS:
        got = affine.resample_batch(x, m, order, mode, 0.5, output_size=(3, 4))
        np.testing.assert_allclose(got, reference(x, m, order, mode, 0.5, (3, 4)), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("order", ORDERS)
def test_the_spline_passes_through_the_pixels(mode, order):
    """An interpolating spline: a shift by whole pixels moves the pixels unchanged, up to the
    edges (where each mode extends the image its own way)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 14, 11, 1))
    m = np.array([[[1.0, 0.0, 2.0], [0.0, 1.0, -3.0]]])
    got = affine.resample_batch(x, m, order, mode)
    np.testing.assert_allclose(got[0, :12, 3:], x[0, 2:, :8], rtol=0, atol=1e-12)


def test_the_batch_split_over_threads_gives_the_same_result():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 40, 40, 3)).astype("float32")
    m = _matrices(7, 40, 40, rng)
    before = parallel.num_threads()
    try:
        parallel.set_num_threads(1)
        one = affine.resample_batch(x, m, 3, "nearest")
        parallel.set_num_threads(3)
        three = affine.resample_batch(x, m, 3, "nearest")
    finally:
        parallel.set_num_threads(before)
    np.testing.assert_array_equal(one, three)


def test_the_poles_solve_the_bspline_symbol():
    """Each pole is a root of ``sum_k beta(k) z**k`` inside the unit circle."""
    for order in ORDERS:
        half = order // 2
        for z in affine._POLES[order]:
            if z != 0.0:
                assert abs(z) < 1
                assert abs(sum(beta(order, k) * z ** k for k in range(-half, half + 1))) < 1e-12
    assert np.count_nonzero(affine._POLES[2:]) == 6  # one pole for orders 2 and 3, two for 4 and 5


def test_bad_order_or_mode_is_refused():
    x = np.zeros((1, 4, 4, 1), np.float32)
    m = np.array([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]])
    with pytest.raises(ValueError, match=r"resample_batch: argument `order` must be an integer from 0 to 5; "
                                         r"received order=6"):
        affine.resample_batch(x, m, 6)
    with pytest.raises(ValueError, match=r"resample_batch: spline orders 2 to 5 take fill_mode 'constant', "
                                         r"'nearest', 'reflect' or 'wrap'; received order=3 with "
                                         r"fill_mode='grid-wrap'"):
        affine.resample_batch(x, m, 3, "grid-wrap")
