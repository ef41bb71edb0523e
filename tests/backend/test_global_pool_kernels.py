"""Global average pooling on the numba kernels of `kerasette.backend.kernels.pool` (segments of
images, float64 sums) against slow numpy references: the kernels alone, the engine's split over
one and two threads (the same bits either way), images cut into several segments, empty shapes,
and a float64 central-difference check of the op with segmented images."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.engine import pooling as engine
from kerasette.backend.kernels import pool as kernels
from kerasette.backend.ops.pooling import global_average_pool2d
from kerasette.backend.parallel import parallel_settings
from tests.helpers import check_gradients


def mean_reference(x: np.ndarray) -> np.ndarray:
    """Each image's channel means, one pixel at a time in float64."""
    n_img, height, width, chans = x.shape
    out = np.zeros((n_img, chans))
    for n in range(n_img):
        for h in range(height):
            for w in range(width):
                out[n] += x[n, h, w].astype(np.float64)
    return out / (height * width)


def spread_reference(dy: np.ndarray, shape) -> np.ndarray:
    """``dy[n, c] / (H * W)`` (in ``dy``'s dtype) written at every pixel, one pixel at a time."""
    n_img, height, width, chans = shape
    dx = np.empty(shape, dy.dtype)
    share = dy / dy.dtype.type(height * width)
    for n in range(n_img):
        for h in range(height):
            for w in range(width):
                dx[n, h, w] = share[n]
    return dx


@pytest.fixture
def threads():
    saved = parallel.num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(saved)


@pytest.mark.parametrize("size,chans", [(1, 1), (7, 3), (1024, 64), (12544, 64), (5, 1 << 18), (3, (1 << 18) + 1)])
def test_segments_cover_each_image_without_an_empty_one(size, chans):
    k, rows = engine.global_segments(size, chans)
    assert 1 <= k <= size and rows >= 1
    assert (k - 1) * rows < size <= k * rows  # the last segment holds at least one row
    assert k == 1 or rows * chans <= 2 * engine.GLOBAL_SEGMENT


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,rows", [(1, 70), (3, 24), (4, 20), (70, 1)])
def test_kernels_against_numpy(dtype, k, rows):
    rng = np.random.default_rng(k)
    x = (rng.standard_normal((3, 7, 10, 5)) * 2 + 3).astype(dtype)
    flat = x.reshape(3, 70, 5)
    sums = np.full((3 * k, 5), np.nan)
    for first, stop in [(0, 1), (1, 3 * k - 1), (3 * k - 1, 3 * k)]:  # any pieces, in any order
        kernels.global_avgpool_sums(flat, k, rows, first, stop, sums)
    for p in range(3 * k):
        n, seg = divmod(p, k)
        np.testing.assert_allclose(sums[p], flat[n, seg * rows:(seg + 1) * rows].astype(np.float64).sum(axis=0),
                                   rtol=1e-6 if dtype == np.float32 else 1e-13)
    y = np.empty((3, 5), dtype)
    kernels.global_avgpool_mean(sums, k, 70, y)
    np.testing.assert_allclose(y, mean_reference(x), rtol=1e-6 if dtype == np.float32 else 1e-13)
    dy = rng.standard_normal((3, 5)).astype(dtype)
    dx = np.full(flat.shape, np.nan, dtype)
    kernels.global_avgpool_spread(dy, k, rows, 0, 3 * k, dx)
    np.testing.assert_array_equal(dx.reshape(x.shape), spread_reference(dy, x.shape))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("segment", [None, 40, 7])
def test_engine_same_bits_on_one_and_two_threads(threads, monkeypatch, dtype, segment):
    if segment is not None:
        monkeypatch.setattr(engine, "GLOBAL_SEGMENT", segment)  # images cut in several segments
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((6, 9, 11, 4)) * 3 + 5).astype(dtype)
    dy = rng.standard_normal((6, 4)).astype(dtype)
    results = []
    for count in (1, 2, 2):
        threads(count)
        with parallel_settings(memory_bound_min=0):
            results.append((engine.global_avgpool2d_forward(x), engine.global_avgpool2d_backward(dy, x.shape)))
    for y, dx in results:
        assert y.dtype == dtype and dx.dtype == dtype
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(dx, results[0][1])
    np.testing.assert_allclose(results[0][0], mean_reference(x), rtol=1e-6 if dtype == np.float32 else 1e-13)
    np.testing.assert_array_equal(results[0][1], spread_reference(dy, x.shape))
    assert results[0][1].ctypes.data % 64 == 0


def test_large_float32_images_keep_float64_accuracy(monkeypatch):
    x = (np.random.default_rng(0).standard_normal((2, 300, 300, 2)) + 100).astype(np.float32)
    expected = x.astype(np.float64).mean(axis=(1, 2))
    np.testing.assert_allclose(engine.global_avgpool2d_forward(x), expected, rtol=1e-7)
    monkeypatch.setattr(engine, "GLOBAL_SEGMENT", 20000)  # each image in 9 segments
    assert engine.global_segments(300 * 300, 2)[0] == 9
    with parallel_settings(memory_bound_min=0):
        np.testing.assert_allclose(engine.global_avgpool2d_forward(x), expected, rtol=1e-7)


def test_empty_shapes():
    y = engine.global_avgpool2d_forward(np.zeros((2, 0, 3, 4), "float32"))
    assert y.shape == (2, 4) and np.isnan(y).all()  # the mean of no pixels, as numpy's
    assert engine.global_avgpool2d_forward(np.zeros((0, 3, 3, 4), "float32")).shape == (0, 4)
    assert engine.global_avgpool2d_backward(np.zeros((2, 4), "float32"), (2, 0, 3, 4)).shape == (2, 0, 3, 4)
    assert engine.global_avgpool2d_forward(np.zeros((2, 3, 3, 0), "float32")).shape == (2, 0)


def test_op_gradient_with_segmented_images(monkeypatch, threads):
    """The float64 central-difference check of the op, its images cut into segments and split
    over two threads."""
    monkeypatch.setattr(engine, "GLOBAL_SEGMENT", 10)
    threads(2)
    x = np.random.default_rng(1).standard_normal((2, 5, 7, 3))
    assert engine.global_segments(35, 3)[0] > 1
    with parallel_settings(memory_bound_min=0):
        (gx,) = check_gradients(global_average_pool2d, [x])
    np.testing.assert_allclose(gx[0, 0, 0], gx[0, 4, 6])  # the same share at every pixel


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_shared_kernels_take_every_segment_once_from_several_threads(parts):
    """The shared kernels run at once in several threads (as `parallel.run_shared` runs them),
    each with its own index, taking segments from the same claims: every segment summed (spread)
    exactly once, the same bits as one call of the plain kernel over all segments; a late
    thread (index ``parts - 1`` starting after the others ended) finds nothing left."""
    import threading

    rng = np.random.default_rng(parts)
    k, rows = 3, 5
    x = rng.standard_normal((20, 13, 4)).astype(np.float32)
    expected = np.empty((20 * k, 4))
    kernels.global_avgpool_sums(x, k, rows, 0, 20 * k, expected)
    kernels.global_avgpool_sums_shared(x, k, rows, np.zeros(1, np.int64), 0, np.empty((20 * k, 4)))  # compiled
    sums, claims = np.full((20 * k, 4), np.nan), np.zeros(parts, np.int64)
    threads = [threading.Thread(target=kernels.global_avgpool_sums_shared, args=(x, k, rows, claims, me, sums))
               for me in range(max(1, parts - 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(sums, expected)
    late = np.full_like(sums, np.nan)
    kernels.global_avgpool_sums_shared(x, k, rows, claims, parts - 1, late)
    assert np.isnan(late).all()
    dy = rng.standard_normal((20, 4)).astype(np.float32)
    dx = np.full_like(x, np.nan)
    kernels.global_avgpool_spread_shared(dy, k, rows, np.zeros(parts, np.int64), parts - 1, dx)
    np.testing.assert_allclose(dx, np.broadcast_to((dy / np.float32(13))[:, None, :], x.shape), rtol=0, atol=0)


def test_a_thread_takes_its_own_range_from_the_front_then_the_others_from_the_back():
    """`_take_segment`'s order, one thread at a time: 10 segments in ranges 0-3, 4-6, 7-9."""
    take = numba.njit(lambda claims, me, total: kernels._take_segment(claims, me, total))
    claims = np.zeros(3, np.int64)
    order = [take(claims, 1, 10) for _ in range(5)]
    assert order == [4, 5, 6, 9, 8]  # its own range, then range 2 from its end
    assert [take(claims, 2, 10) for _ in range(3)] == [7, 3, 2]  # range 2's rest, then range 0's end
    assert [take(claims, 0, 10) for _ in range(3)] == [0, 1, -1]
    assert take(claims, 1, 10) == -1


def test_backward_takes_its_own_range_from_the_back_then_the_others_from_the_front():
    """`_take_segment_toward` with ``backward``: 10 segments in ranges 0-3, 4-6, 7-9."""
    take = numba.njit(lambda claims, me, total: kernels._take_segment_toward(claims, me, total, True))
    claims = np.zeros(3, np.int64)
    assert [take(claims, 1, 10) for _ in range(5)] == [6, 5, 4, 7, 8]  # its own range, then range 2's front
    assert [take(claims, 2, 10) for _ in range(3)] == [9, 0, 1]  # range 2's rest, then range 0's front
    assert [take(claims, 0, 10) for _ in range(3)] == [3, 2, -1]
    assert take(claims, 1, 10) == -1
