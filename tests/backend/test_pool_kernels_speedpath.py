"""The pooling kernels on the paths the benchmarks take (large batches split over threads, float32)
and at their edges (padding, overlapping and uncovered cells), against slow numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import backprop, ops
from kerasette.backend.engine import pooling as engine
from kerasette.backend.kernels import pool as kernels
from kerasette.backend.kernels import pool_tiles
from kerasette.backend.ops.pooling import global_average_pool2d
from kerasette.backend.parallel import parallel_settings
from kerasette.backend.tensor import Variable
from kerasette.utils.conv_utils import conv_output_length, padding_amounts
from tests.helpers import max_pool2d_reference

SETTINGS = [  # (x shape, pool, strides, padding)
    ((4, 8, 8, 16), (2, 2), (2, 2), "valid"),  # windows tile the image: the backward pass writes
    ((3, 7, 9, 5), (2, 2), (2, 2), "valid"),  # a row and a column no window covers
    ((3, 7, 9, 5), (3, 3), (2, 2), "same"),  # overlapping windows, padded cells left out
    ((2, 6, 5, 3), (2, 3), (1, 2), "same"),
]


def avg_pool_reference(x, pool, strides, padding):
    """Each window's mean over the cells inside the image, one window at a time, float64."""
    n, h, w, c = x.shape
    oh, ow = (conv_output_length(h, pool[0], padding, strides[0]), conv_output_length(w, pool[1], padding, strides[1]))
    top, _, left, _ = padding_amounts(h, w, pool, strides, padding)
    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - top, j * strides[1] - left
            win = x[:, max(r0, 0):min(r0 + pool[0], h), max(c0, 0):min(c0 + pool[1], w), :].astype(np.float64)
            y[:, i, j, :] = win.mean(axis=(1, 2))
    return y


def avg_pool_grad_reference(dy, x_shape, pool, strides, padding):
    n, h, w, c = x_shape
    top, _, left, _ = padding_amounts(h, w, pool, strides, padding)
    dx = np.zeros(x_shape)
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            r0, c0 = i * strides[0] - top, j * strides[1] - left
            rs, cs = slice(max(r0, 0), min(r0 + pool[0], h)), slice(max(c0, 0), min(c0 + pool[1], w))
            count = (rs.stop - rs.start) * (cs.stop - cs.start)
            dx[:, rs, cs, :] += dy[:, i, j, None, None, :] / count
    return dx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, pool, strides, padding", SETTINGS)
def test_avgpool_kernels(dtype, x_shape, pool, strides, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    (oh, ow), pads = engine.window(x_shape, pool, strides, padding)
    y = np.full((x_shape[0], oh, ow, x_shape[3]), np.nan, dtype)
    kernels.avgpool_forward(x, y, *pool, *strides, pads[0], pads[2])
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, avg_pool_reference(x, pool, strides, padding), **tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = np.full(x_shape, np.nan, dtype)  # every cell must be written
    kernels.avgpool_backward(dy, dx, *pool, *strides, pads[0], pads[2])
    np.testing.assert_allclose(dx, avg_pool_grad_reference(dy, x_shape, pool, strides, padding), **tol)


@pytest.mark.parametrize("op", ["avg", "max", "global"])
def test_pooling_ops_split_over_threads_match_references(op):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 9, 7, 8)).astype(np.float32)
    xt = Variable(x)
    with parallel_settings(memory_bound_min=0):
        if op == "avg":
            y = ops.avg_pool2d(xt, (2, 2), (2, 2), "same")
            expected = avg_pool_reference(x, (2, 2), (2, 2), "same")
        elif op == "max":
            y = ops.max_pool2d(xt, (2, 2), (2, 2), "same")
            expected = max_pool2d_reference(x, (2, 2), (2, 2), "same")
        else:
            y = global_average_pool2d(xt)
            expected = x.astype(np.float64).mean(axis=(1, 2))
        dy = rng.standard_normal(y.shape).astype(np.float32)
        (gx,) = backprop.grad(y, [xt], dy)
    np.testing.assert_allclose(y.data, expected, rtol=1e-5, atol=1e-6)
    if op == "avg":
        np.testing.assert_allclose(gx, avg_pool_grad_reference(dy, x.shape, (2, 2), (2, 2), "same"), rtol=1e-5,
                                   atol=1e-6)
    elif op == "global":
        np.testing.assert_allclose(gx, np.broadcast_to(dy[:, None, None, :] / 63, x.shape), rtol=1e-6)
    else:  # each gradient lands on its window's maximum
        assert np.isclose(gx.sum(), dy.sum(), rtol=1e-4) and np.count_nonzero(gx) == dy.size


def test_avgpool_of_empty_batch():
    y = ops.avg_pool2d(np.zeros((0, 4, 4, 2), "float32"), (2, 2))
    assert y.shape == (0, 2, 2, 2)


def max_pool_grad_reference(dy, argmax, x_shape):
    """Each output gradient added to its window's winner, one value at a time, float64."""
    n_img, _, width, chans = x_shape
    dx = np.zeros(x_shape)
    for n, oh, ow, c in np.ndindex(*dy.shape):
        position = int(argmax[n, oh, ow, c])
        dx[n, position // width, position % width, c] += dy[n, oh, ow, c]
    return dx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, pool", [((4, 8, 8, 16), (2, 2)), ((3, 7, 9, 5), (2, 2)),
                                           ((2, 9, 7, 3), (3, 2)), ((2, 4, 4, 1), (4, 4))])
def test_maxpool_backward_tiles_matches_the_general_kernel(dtype, x_shape, pool):
    """Windows that tile the image (pool size = strides, 'valid'; some with rows and columns no
    window covers): the one-pass kernel writes every cell, the same bits as zeroing and adding
    (a -0.0 gradient lands as 0.0 in both), split over threads or not."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(x_shape).astype(dtype)
    y, argmax = engine.maxpool2d_forward(x, pool, pool, "valid")
    dy = rng.standard_normal(y.shape).astype(dtype)
    dy.reshape(-1)[::7] = -0.0
    dx = np.full(x_shape, np.nan, dtype)
    kernels.maxpool_backward_tiles(dy, argmax, dx)
    general = np.full(x_shape, np.nan, dtype)
    kernels.maxpool_backward(dy, argmax, general.reshape(x_shape[0], -1, x_shape[3]))
    np.testing.assert_array_equal(dx.view(np.uint8), general.view(np.uint8))
    np.testing.assert_array_equal(dx, max_pool_grad_reference(dy, argmax, x_shape))
    with parallel_settings(memory_bound_min=0):
        split = engine.maxpool2d_backward(dy, argmax, x_shape, pool, pool, "valid")
    np.testing.assert_array_equal(split.view(np.uint8), general.view(np.uint8))


@pytest.mark.parametrize("pool, strides, padding", [((3, 3), (2, 2), "valid"), ((2, 2), (2, 2), "same"),
                                                    ((2, 2), (1, 1), "valid")])
def test_maxpool_backward_with_windows_that_do_not_tile_takes_the_general_kernel(pool, strides, padding):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 9, 4)).astype(np.float32)
    y, argmax = engine.maxpool2d_forward(x, pool, strides, padding)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = engine.maxpool2d_backward(dy, argmax, x.shape, pool, strides, padding)
    np.testing.assert_allclose(dx, max_pool_grad_reference(dy, argmax, x.shape), rtol=1e-6, atol=1e-6)


def test_maxpool_backward_knows_the_positions_of_tiling_windows(monkeypatch):
    """Without the window, the backward pass takes the one-pass kernel for the positions array
    the forward pass made for tiling windows (not for a copy of it, nor for overlapping ones)."""
    calls = []
    for module in (kernels, pool_tiles):  # the scalar one-pass kernel and its vector form
        tiles = module.maxpool_backward_tiles
        monkeypatch.setattr(module, "maxpool_backward_tiles",
                            lambda *a, tiles=tiles: (calls.append(True), tiles(*a))[1])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    for pool, strides, tiled in (((2, 2), (2, 2), True), ((3, 3), (2, 2), False)):
        y, argmax = engine.maxpool2d_forward(x, pool, strides, "valid")
        dy = rng.standard_normal(y.shape).astype(np.float32)
        for positions, expect in ((argmax, tiled), (argmax.copy(), False)):
            calls.clear()
            dx = engine.maxpool2d_backward(dy, positions, x.shape)
            assert calls == ([True] if expect else [])
            np.testing.assert_array_equal(dx, max_pool_grad_reference(dy, argmax, x.shape))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, pool, strides, padding", SETTINGS + [((2, 20, 20, 7), (2, 2), (2, 2), "valid")])
def test_maxpool_forward_lanes_equals_the_general_kernel(dtype, x_shape, pool, strides, padding):
    """The narrower-vector machines' forward kernel: the same maxima and positions (uint8 and
    uint16 positions, ties to the first maximum in row-major window order, padded cells never
    winning) as `maxpool_forward` and the reference."""
    rng = np.random.default_rng(6)
    x = rng.integers(-3, 3, x_shape).astype(dtype)  # many ties
    (oh, ow), pads = engine.window(x_shape, pool, strides, padding)
    index = engine.position_dtype(x_shape[1] * x_shape[2])
    out = [(np.full((x_shape[0], oh, ow, x_shape[3]), np.nan, dtype), np.zeros((x_shape[0], oh, ow, x_shape[3]), index))
           for _ in range(2)]
    kernels.maxpool_forward(x, *out[0], *pool, *strides, pads[0], pads[2])
    lane = np.int32 if dtype == np.float32 else np.int64
    kernels.maxpool_forward_lanes(x, *out[1], *pool, *strides, pads[0], pads[2], np.empty(x_shape[3], lane))
    np.testing.assert_array_equal(out[1][0], out[0][0])
    np.testing.assert_array_equal(out[1][1], out[0][1])
    np.testing.assert_array_equal(out[1][0], max_pool2d_reference(x, pool, strides, padding))


def test_maxpool_forward_takes_the_lanes_kernel_on_narrower_vectors(monkeypatch):
    """Windows that do not tile the image (tiling ones take `kernels.pool_tiles` at any width)."""
    calls = []
    lanes = kernels.maxpool_forward_lanes
    monkeypatch.setattr(kernels, "maxpool_forward_lanes", lambda *a: (calls.append(a[-1].dtype), lanes(*a))[1])
    x = np.random.default_rng(7).standard_normal((2, 6, 6, 3)).astype(np.float32)
    expected = engine.maxpool2d_forward(x, (3, 3), (2, 2), "valid")
    calls.clear()  # (a machine without AVX-512 took it already)
    monkeypatch.setattr(engine, "_VECTOR_BYTES", 32)
    y, argmax = engine.maxpool2d_forward(x, (3, 3), (2, 2), "valid")
    assert calls == [np.int32]
    np.testing.assert_array_equal(y, expected[0])
    np.testing.assert_array_equal(argmax, expected[1])
