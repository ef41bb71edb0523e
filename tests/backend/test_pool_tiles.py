"""Max pooling's vector kernel for tiling windows (`kernels.pool_tiles`): against a slow numpy
reference and bit for bit against the general kernel, ties, NaN and -0.0 included."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend.engine import pooling
from kerasette.backend.kernels import pool as pool_kernels
from kerasette.backend.kernels import pool_tiles

SHAPES = [  # (H, W, C, window): whole vectors, channels left over, uncovered rows/columns, 2x2 and others
    (28, 28, 32, (2, 2)), (10, 10, 64, (2, 2)), (7, 9, 5, (2, 2)), (9, 9, 40, (3, 3)), (8, 6, 16, (2, 3)),
    (5, 5, 17, (2, 2)), (300, 4, 16, (2, 2)), (4, 4, 33, (4, 4)), (6, 6, 8, (1, 1)),
]


def _reference(x, ph, pw):
    """Window maxima and the flat position of each window's first maximum, in numpy loops."""
    n_img, height, width, chans = x.shape
    oh_n, ow_n = height // ph, width // pw
    y = np.empty((n_img, oh_n, ow_n, chans), x.dtype)
    at = np.empty(y.shape, np.int64)
    for n, oh, ow, c in np.ndindex(*y.shape):
        best, best_at = x[n, oh * ph, ow * pw, c], oh * ph * width + ow * pw
        for i in range(ph):
            for j in range(pw):
                if x[n, oh * ph + i, ow * pw + j, c] > best:
                    best, best_at = x[n, oh * ph + i, ow * pw + j, c], (oh * ph + i) * width + ow * pw + j
        y[n, oh, ow, c], at[n, oh, ow, c] = best, best_at
    return y, at


def _input(rng, shape, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 0, 0, :] = np.nan
    x[1, :2, :2, ::3] = 1.0  # ties: the first cell wins
    x[2, 1, 1, ::2] = np.nan
    x[2, 0, 1, 1::4], x[2, 0, 0, 1::4] = -0.0, 0.0
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("height, width, chans, window", SHAPES)
def test_tiles_kernel_matches_the_reference_and_the_general_kernel(dtype, height, width, chans, window):
    rng = np.random.default_rng(height * width + chans)
    x = _input(rng, (3, height, width, chans), dtype)
    ph, pw = window
    y_want, at_want = _reference(x, ph, pw)
    positions = pooling.position_dtype(height * width)
    y, at = np.full(y_want.shape, 7, dtype), np.full(y_want.shape, 3, positions)
    pool_tiles.maxpool_forward_tiles(x, y, at, ph, pw)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(at, at_want)
    y_general, at_general = np.empty_like(y), np.empty_like(at)
    pool_kernels.maxpool_forward(x, y_general, at_general, ph, pw, ph, pw, 0, 0)
    assert y.tobytes() == y_general.tobytes() and at.tobytes() == at_general.tobytes()


def test_engine_takes_the_tiles_kernel_for_tiling_windows_only():
    """2x2 'valid' pooling (the tiles kernel) and 'same' pooling (the general one) agree with the
    reference where they should; a strided view goes to the general kernel."""
    rng = np.random.default_rng(1)
    x = _input(rng, (3, 12, 10, 24), np.float32)
    y, at = pooling.maxpool2d_forward(x, (2, 2), (2, 2), "valid")
    y_want, at_want = _reference(x, 2, 2)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(at, at_want)
    view = x[:, :, :, ::2]
    y, at = pooling.maxpool2d_forward(view, (2, 2), (2, 2), "valid")
    y_want, at_want = _reference(np.ascontiguousarray(view), 2, 2)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(at, at_want)


@pytest.mark.parametrize("size, window", [(11, 4), (7, 3), (28, 2), (5, 2)])
def test_backward_sends_each_gradient_to_its_winner_when_rows_are_left_over(size, window):
    """Windows that leave more rows than there are windows (11 pooled by 4: 2 windows, 3 rows
    left): the one-pass backward kernel would read the window as 11 // 2 = 5 rows and lose the
    gradients of winners in the second window's first row."""
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, size, size, 3)).astype(np.float32)
    x[:, window, 0, :] = 50.0  # the winners of the second band's first window, in its first row
    y, at = pooling.maxpool2d_forward(x, (window, window), (window, window), "valid")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    want = np.zeros_like(x)
    flat = want.reshape(2, size * size, 3)
    for n, oh, ow, c in np.ndindex(*y.shape):
        flat[n, at[n, oh, ow, c], c] += dy[n, oh, ow, c]
    np.testing.assert_array_equal(pooling.maxpool2d_backward(dy, at, x.shape), want)
    np.testing.assert_array_equal(pooling.maxpool2d_backward(dy, at, x.shape, (window, window)), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("height, width, chans, window", SHAPES)
def test_tiles_backward_matches_the_reference_and_the_scalar_kernel(dtype, height, width, chans, window):
    """Each gradient (``dy + 0``: -0.0 becomes 0.0; NaN kept) at its window's winner, 0 elsewhere
    and in the rows and columns no window covers; the scalar tiles kernel's bits."""
    rng = np.random.default_rng(height + width * chans)
    x = _input(rng, (3, height, width, chans), dtype)
    ph, pw = window
    y, at = _reference(x, ph, pw)
    at = at.astype(pooling.position_dtype(height * width))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dy[0, 0, 0, ::2], dy[1, 0, 0, ::5] = -0.0, np.nan
    want = np.zeros_like(x)
    flat = want.reshape(3, height * width, chans)
    for n, oh, ow, c in np.ndindex(*y.shape):
        flat[n, at[n, oh, ow, c], c] = dy[n, oh, ow, c] + dtype(0)
    dx = np.full_like(x, 7)
    pool_tiles.maxpool_backward_tiles(dy, at, dx)
    assert dx.tobytes() == want.tobytes()
    scalar = np.full_like(x, 5)
    pool_kernels.maxpool_backward_tiles(dy, at, scalar)
    assert dx.tobytes() == scalar.tobytes()
