"""The affine resampling kernel against a slow numpy reference: every fill mode, both orders,
float32 and float64, odd sizes, one-pixel images, and the thread split."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.kernels import affine


def _index(i, size, mode):
    """Integer index i extended past the edges by the mode's rule (None: the constant)."""
    if 0 <= i < size:
        return i
    if mode in ("constant", "nearest"):
        return min(max(i, 0), size - 1)
    if size == 1:
        return None if mode == "grid-constant" else 0
    if mode == "reflect":  # ... b a | a b c d | d c ...
        while not 0 <= i < size:
            i = -1 - i if i < 0 else 2 * size - 1 - i
        return i
    if mode == "wrap":
        return i % (size - 1)
    if mode == "grid-wrap":
        return i % size
    return None


def _fold(c, size, mode):
    last = size - 1
    if mode == "constant":
        return None if c < 0 or c > last else c
    if mode == "nearest":
        return min(max(c, 0), last)
    if mode == "wrap" and size > 1:
        while c < 0:
            c += last
        while c > last:
            c -= last
    return c


def reference(x, matrices, order, mode, cval, out_size=None):
    n, rows, cols, channels = x.shape
    out_rows, out_cols = out_size or (rows, cols)
    out = np.empty((n, out_rows, out_cols, channels), np.float64)
    for b in range(n):
        m = matrices[b]
        for i in range(out_rows):
            for j in range(out_cols):
                r = _fold(m[0, 0] * i + m[0, 1] * j + m[0, 2], rows, mode)
                c = _fold(m[1, 0] * i + m[1, 1] * j + m[1, 2], cols, mode)
                if r is None or c is None:
                    out[b, i, j] = cval
                    continue
                if order == 0:
                    ri, ci = _index(math.floor(r + 0.5), rows, mode), _index(math.floor(c + 0.5), cols, mode)
                    out[b, i, j] = cval if ri is None or ci is None else x[b, ri, ci]
                    continue
                r0, c0 = math.floor(r), math.floor(c)
                value = np.zeros(channels)
                for dr, wr in ((0, 1 - (r - r0)), (1, r - r0)):
                    for dc, wc in ((0, 1 - (c - c0)), (1, c - c0)):
                        ri, ci = _index(r0 + dr, rows, mode), _index(c0 + dc, cols, mode)
                        value += wr * wc * (cval if ri is None or ci is None else x[b, ri, ci])
                out[b, i, j] = value
    return out


def _matrices(n, rows, cols, rng):
    angle = rng.uniform(-np.pi, np.pi, n)
    zoom = rng.uniform(0.5, 1.8, (n, 2))
    m = np.empty((n, 2, 3))
    m[:, 0, 0], m[:, 0, 1] = np.cos(angle) * zoom[:, 0], -np.sin(angle) * zoom[:, 1]
    m[:, 1, 0], m[:, 1, 1] = np.sin(angle) * zoom[:, 0], np.cos(angle) * zoom[:, 1]
    m[:, 0, 2] = rng.uniform(-rows, rows, n)
    m[:, 1, 2] = rng.uniform(-cols, cols, n)
    return m


@pytest.mark.parametrize("mode", sorted(affine.FILL_MODES))
@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resample_matches_the_reference(mode, order, dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 7, 5, 2)).astype(dtype)
    m = _matrices(3, 7, 5, rng)
    got = affine.resample_batch(x, m, order, mode, cval=-2.5)
    assert got.dtype == np.dtype(dtype) and got.shape == x.shape
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, reference(x.astype(np.float64), m, order, mode, -2.5), rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", sorted(affine.FILL_MODES))
def test_one_pixel_images_and_another_output_size(mode):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 4, 3))
    m = _matrices(2, 1, 4, rng)
    got = affine.resample_batch(x, m, 1, mode, 0.5, output_size=(3, 2))
    np.testing.assert_allclose(got, reference(x, m, 1, mode, 0.5, (3, 2)), rtol=1e-12, atol=1e-12)


def test_identity_is_exact_and_integers_become_float32():
    x = np.arange(2 * 4 * 3 * 1).reshape(2, 4, 3, 1)
    eye = np.tile(np.array([[1.0, 0, 0], [0, 1, 0]]), (2, 1, 1))
    got = affine.resample_batch(x, eye, 1, "constant")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x)


def test_the_batch_split_over_threads_gives_the_same_result():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 40, 40, 3)).astype("float32")
    m = _matrices(9, 40, 40, rng)
    before = parallel.num_threads()
    try:
        parallel.set_num_threads(1)
        one = affine.resample_batch(x, m, 1, "reflect")
        parallel.set_num_threads(3)
        three = affine.resample_batch(x, m, 1, "reflect")
    finally:
        parallel.set_num_threads(before)
    np.testing.assert_array_equal(one, three)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_mostly_interior_images_match_the_reference(mode):
    """Small rotations and zooms keep most positions inside: the per-row interior span (no
    per-pixel test) and the edges around it must agree with the reference everywhere."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 23, 31, 3)).astype("float32")
    angle = rng.uniform(-0.3, 0.3, 3)
    m = np.empty((3, 2, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)
    m[:, 0, 2], m[:, 1, 2] = rng.uniform(-2, 4, 3), rng.uniform(-3, 5, 3)
    m[0, :, :2] = [[1.0, 0.0], [0.0, 1.0]]  # a pure shift: columns exactly on the edges
    m[0, :, 2] = [0.0, 0.5]
    got = affine.resample_batch(x, m, 1, mode, cval=3.0)
    np.testing.assert_allclose(got, reference(x.astype(np.float64), m, 1, mode, 3.0), rtol=1e-5, atol=1e-5)
