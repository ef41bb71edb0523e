"""Batch normalization at inference in one kernel call per thread, from the weights to the output
(`engine.normalization_inference`, `kernels.normalization_inference_passes.batch_norm_inference_rows_shared`):
the same bits as the numbers and the map made apart (`inference_numbers`, `ChannelView.affine`),
on any number of threads and whenever they start, against numpy's formula, and the weights read
at every call."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kerasette import layers
from kerasette.backend import parallel
from kerasette.backend.engine import normalization as bn
from kerasette.backend.engine import normalization_inference as inference
from kerasette.backend.engine.read_order import ReadOrder
from kerasette.backend.kernels import normalization_inference_passes as passes
from kerasette.backend.tensor import Tensor, no_grad

#: `_leave`'s ticks: a helper waits long for the calling thread (a late one runs its whole kernel first)
LEAVE = (10 ** 10, 1000)


def _weights(chans, dtype, seed=0):
    rng = np.random.default_rng(seed)
    gamma, beta, mean = (rng.standard_normal(chans).astype(dtype) for _ in range(3))
    variance = (rng.random(chans) * 2 + 0.1).astype(dtype)
    return gamma, beta, mean, variance


def _apart(x, axes, weights, epsilon, relu):
    """The numbers, then the map, as two calls (the path this one replaces)."""
    view = bn.channel_view(x.shape, axes)
    scale, shift = bn.inference_numbers(view, *weights, epsilon, x.dtype)
    return view.affine(view.of(x), scale, shift, relu=relu, tiled=True).reshape(x.shape)


def _numpy(x, weights, epsilon, relu):
    """numpy's formula in the input's dtype, along the last axis."""
    gamma, beta, mean, variance = weights
    kind = x.dtype.type
    scale = gamma * (kind(1) / np.sqrt(variance + kind(epsilon)))
    y = x * scale + (beta - mean * scale)
    return np.maximum(y, 0) if relu else y


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape, dtype, relu", [
    ((8, 16, 16, 64), "float32", False),  # pieces of `MAP_PIECE` values shared
    ((8, 16, 16, 64), "float32", True),
    ((6, 10, 10, 16), "float32", False),  # rows widened: 16 channels seen 4 at a time
    ((5, 7, 3), "float32", True),  # 3 channels, 7 rows: widened by 1
    ((300, 100), "float32", False),  # 100 channels: no vector multiple
    ((4, 12, 12, 32), "float64", True),
    ((2, 64), "float32", False),  # one piece
])
def test_same_bits_as_the_numbers_and_the_map_apart(shape, dtype, relu, threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[::7] = 0.0
    weights = _weights(shape[-1], dtype)
    axes = tuple(range(len(shape) - 1))
    view = bn.channel_view(x.shape, axes)
    assert inference.takes(view, x, *weights)
    before = parallel.num_threads()
    parallel.set_num_threads(threads)
    try:
        with parallel.parallel_settings(memory_bound_min=0):
            y = inference.inference_rows(view, x, *weights, 1e-3, relu)
            expected = _apart(x, axes, weights, 1e-3, relu)
    finally:
        parallel.set_num_threads(before)
    assert y.shape == x.shape and y.dtype == x.dtype and y.ctypes.data % 64 == 0
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(y, _numpy(x, weights, 1e-3, relu))


@pytest.mark.parametrize("backward", [False, True])
@pytest.mark.parametrize("late", [False, True])
@pytest.mark.parametrize("parts, reserve", [(2, 0), (2, 2), (3, 1)])
def test_threads_share_the_pieces_whenever_they_start(parts, reserve, late, backward):
    """The kernel called from ``parts`` Python threads at once, or one after the other (helpers
    that started too late find the pieces taken and return): every row mapped once, the bits of
    one thread alone."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((640, 64)).astype("float32")
    weights = _weights(64, "float32", seed=3)
    bounds = np.arange(0, 641, 32, dtype=np.int64)  # 20 pieces
    cells = np.zeros(parts + 3, np.int64)
    y = np.full_like(x, np.nan)

    def call(me):
        passes.batch_norm_inference_rows_shared(x, *weights, 1e-3, False, 64, bounds, cells, me, reserve, *LEAVE, backward, y)

    if late:
        for me in range(parts):
            call(me)
    else:
        threads = [threading.Thread(target=call, args=(me,)) for me in range(1, parts)]
        for thread in threads:
            thread.start()
        call(0)
        for thread in threads:
            thread.join()
    np.testing.assert_array_equal(y, _numpy(x, weights, 1e-3, False))


@pytest.mark.parametrize("case", ["float64 weights", "two dims of weights", "not contiguous", "planes"])
def test_other_cases_are_left_to_the_general_path(case):
    x = np.ones((4, 8, 8, 16), np.float32)
    weights = list(_weights(16, "float32"))
    axes = (0, 1, 2)
    if case == "float64 weights":
        weights[0] = weights[0].astype(np.float64)
    elif case == "two dims of weights":
        weights = [w.reshape(1, 16) for w in weights]
    elif case == "not contiguous":
        x = np.ones((4, 8, 8, 32), np.float32)[..., ::2]
    else:
        x, axes = np.ones((4, 16, 8, 8), np.float32), (0, 2, 3)
    assert not inference.takes(bn.channel_view(x.shape, axes), x, *weights)


def test_weights_written_in_place_are_read_at_the_next_call():
    layer = layers.BatchNormalization()
    x = Tensor(np.random.default_rng(4).standard_normal((8, 16, 16, 64)).astype("float32"))
    with no_grad():
        first = layer(x, training=False).data
        layer.gamma.data[...] = 2.0
        layer.beta.data[:3] = 1.0
        layer.moving_mean.data[...] = 0.5
        layer.moving_variance.data[5] = 4.0
        second = layer(x, training=False).data
    weights = [w.data for w in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)]
    np.testing.assert_array_equal(second, _numpy(x.data, weights, layer.epsilon, False))
    assert not np.array_equal(first, second)


def test_pieces_alternate_direction_on_the_same_array_and_start_backward_on_a_new_one(monkeypatch):
    monkeypatch.setattr(inference, "READ", ReadOrder())
    x, other = np.ones((4, 64), np.float32), np.ones((4, 64), np.float32)
    assert [inference.READ.backward(x) for _ in range(3)] == [True, False, True]
    assert inference.READ.backward(other) is True
    assert inference.READ.backward(x) is True  # another array came between
    monkeypatch.setattr(inference.READ, "order", "forward")
    assert inference.READ.backward(x) is False
    monkeypatch.setattr(inference.READ, "order", "backward")
    assert inference.READ.backward(x) is True


@pytest.mark.parametrize("order", ["forward", "backward", "alternate"])
def test_every_order_gives_the_same_bits(order, monkeypatch):
    monkeypatch.setattr(inference, "READ", ReadOrder(order))
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 16, 16, 64)).astype("float32")
    weights = _weights(64, "float32", seed=6)
    view = bn.channel_view(x.shape, (0, 1, 2))
    before = parallel.num_threads()
    parallel.set_num_threads(2)
    try:
        with parallel.parallel_settings(memory_bound_min=0):
            results = [inference.inference_rows(view, x, *weights, 1e-3, False) for _ in range(3)]
    finally:
        parallel.set_num_threads(before)
    for y in results:
        np.testing.assert_array_equal(y, _numpy(x, weights, 1e-3, False))
