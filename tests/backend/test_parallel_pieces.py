"""The adaptive split of memory-bound passes (`parallel.pieces`, `parallel.map_pieces`): every
piece run once, results in piece order, no wait for a helper that never starts, and the passes
that use it giving the same bits on one thread and on two, whoever takes which piece."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.engine import normalization as bn
from kerasette.backend.engine import pooling
from kerasette.backend.parallel import parallel_settings


@pytest.fixture
def threads():
    """Sets the thread count for a test (``threads(n)``), restoring it afterwards."""
    saved = parallel.num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(saved)


def test_pieces_cover_the_range_by_work_not_by_threads(threads):
    assert parallel.pieces(10, 1 << 19) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert parallel.pieces(3, 1, piece_work=100) == [(0, 3)]  # small: one piece
    assert parallel.pieces(5, 1 << 30) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]  # at least one item each
    assert parallel.pieces(0, 7) == [(0, 0)]
    threads(1)
    one = parallel.pieces(1000, 4096)
    threads(2)
    assert parallel.pieces(1000, 4096) == one
    assert one[0][0] == 0 and one[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in zip(one, one[1:]))


@pytest.mark.parametrize("count", [1, 2, 3])
def test_map_pieces_runs_every_piece_once_in_order(threads, count):
    threads(count)
    seen, lock = [], threading.Lock()

    def fn(i, j):
        with lock:
            seen.append((i, j))
        return i

    parts = parallel.pieces(97, 1, piece_work=5)
    assert parallel.map_pieces(fn, 97, 0, 1, piece_work=5, ordered=True) == [a for a, _ in parts]
    assert sorted(seen) == parts
    seen.clear()
    expected = [(0, 97)] if count == 1 else parts  # a map on one thread: one call
    assert len(parallel.map_pieces(fn, 97, 0, 1, piece_work=5)) == len(expected)
    assert sorted(seen) == expected


def test_map_pieces_runs_small_work_in_the_caller(threads):
    threads(2)
    names = set()

    def fn(i, j):
        names.add(threading.current_thread().name)
        return j - i

    assert parallel.map_pieces(fn, 40, min_work=10**6, work_per_item=1, piece_work=10) == [40]
    assert parallel.map_pieces(fn, 40, min_work=10**6, work_per_item=1, piece_work=10, ordered=True) == [10] * 4
    assert names == {threading.current_thread().name}


def test_map_pieces_does_not_wait_for_a_helper_that_cannot_start(threads):
    """The pool's worker busy (here: another thread's split holds it; on a machine, another
    program on the other core): the caller runs every piece itself and returns without waiting
    for it (a split into fixed halves would wait for the blocker)."""
    threads(2)
    release, holding = threading.Event(), threading.Event()

    def blocking_chunk(i, j):
        holding.set()
        release.wait(30)
        return j

    other = threading.Thread(target=parallel.map_chunks, args=(blocking_chunk, 2))
    other.start()
    try:
        assert holding.wait(10)
        names = []
        start = time.perf_counter()
        out = parallel.map_pieces(lambda i, j: names.append(threading.current_thread().name) or j,
                                  8, 0, 1, piece_work=1)
        assert time.perf_counter() - start < 5
        assert out == list(range(1, 9))
        assert set(names) == {threading.current_thread().name}
    finally:
        release.set()
        other.join()


def test_map_pieces_raises_a_pieces_error_after_the_running_pieces(threads):
    threads(2)
    running = []

    def fn(i, j):
        running.append(i)
        if i == 3:
            raise ValueError("piece 3 failed")
        time.sleep(0.001)
        running.remove(i)

    with pytest.raises(ValueError, match="piece 3 failed"):
        parallel.map_pieces(fn, 10, 0, 1, piece_work=1)
    assert running == [3]  # every other piece that started has finished


def _passes(x4: np.ndarray, g4: np.ndarray) -> dict:
    """Every pass that splits by pieces, on NHWC ``x4`` and an output-sized gradient ``g4``."""
    view = bn.channel_view(x4.shape, (0, 1, 2))
    rows, grads = view.of(x4), view.of(g4)
    planes_view = bn.channel_view(x4.shape, (0, 2, 3))  # channel axis 1: the planes view
    planes = planes_view.of(x4)
    scale = np.linspace(0.5, 1.5, view.channels)
    y_max, argmax = pooling.maxpool2d_forward(x4, (2, 2), (2, 2), "valid")
    dx_bwd, dscale_bwd, dshift_bwd = view.affine_backward(grads, rows, scale)
    return {
        "statistics rows": view.statistics(rows),
        "statistics planes": planes_view.statistics(planes),
        "affine": view.affine(rows, scale, -scale),
        "affine2": view.affine2(grads, rows, scale, -scale, scale * 2),
        "affine backward": (dx_bwd, dscale_bwd, dshift_bwd),
        "gap": pooling.global_avgpool2d_forward(x4),
        "gap backward": pooling.global_avgpool2d_backward(g4[:, 0, 0, :], x4.shape),
        "max pool": (y_max, argmax, pooling.maxpool2d_backward(y_max, argmax, x4.shape)),
        "avg pool": (pooling.avgpool2d_forward(x4, (3, 3), (2, 2), "same"),
                     pooling.avgpool2d_backward(g4[:, :5, :5], x4.shape, (3, 3), (2, 2), "same")),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_passes_give_the_same_bits_on_one_and_two_threads(threads, monkeypatch, dtype):
    rng = np.random.default_rng(3)
    x4 = (rng.standard_normal((12, 9, 10, 24)) * 3 + 5).astype(dtype)
    g4 = rng.standard_normal(x4.shape).astype(dtype)
    results = []
    for count in (1, 2, 2):
        threads(count)
        with parallel_settings(memory_bound_min=0):
            monkeypatch.setattr(parallel, "PIECE_WORK", 400)  # many small pieces (the default: one)
            results.append(_passes(x4, g4))
    assert len(parallel.pieces(12, 9 * 10 * 24, 400)) == 12
    for name, expected in results[0].items():
        expected = expected if isinstance(expected, tuple) else (expected,)
        for other in results[1:]:
            got = other[name] if isinstance(other[name], tuple) else (other[name],)
            for a, b in zip(expected, got, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("shape_a, shape_b", [((9, 5), (5, 7)), ((7, 5), (5, 9)), ((1, 3), (3, 1))])
def test_matmul_splits_the_longer_side_of_the_output(shape_a, shape_b, monkeypatch):
    """A product with more output rows than columns splits by rows, else by columns; either way
    the product of the whole (strided operands too)."""
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=shape_a), rng.normal(size=shape_b)
    splits = []
    prepared = parallel.map_prepared
    monkeypatch.setattr(parallel, "map_prepared", lambda fn, n, *args: (splits.append(n), prepared(fn, n, *args))[1])
    previous = parallel.num_threads()
    parallel.set_num_threads(2)
    try:
        with parallel.parallel_settings(matmul_min_work=0):
            np.testing.assert_allclose(parallel.matmul(a, b), a @ b, rtol=1e-12)
            np.testing.assert_allclose(parallel.matmul(a.T.copy().T, b.T.copy().T), a @ b, rtol=1e-12)
    finally:
        parallel.set_num_threads(previous)
    assert splits == [max(shape_a[0], shape_b[1])] * 2  # rows when there are more of them
