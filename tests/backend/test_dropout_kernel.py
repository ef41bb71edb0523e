"""The fused dropout kernel and op against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.kernels import dropout as kernels
from kerasette.backend.ops import nn
from kerasette.backend.parallel import parallel_settings


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_apply_mask_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000).astype(dtype)
    keep = rng.random(1000, dtype=dtype)
    keep[:3] = dtype(0.25)  # a draw equal to the rate is kept, as `keep >= rate` says
    out = np.full_like(x, np.nan)
    kernels.apply_mask(x, keep, dtype(0.25), dtype(1 / 0.75), out)
    np.testing.assert_array_equal(out, np.where(keep >= dtype(0.25), x * dtype(1 / 0.75), 0))
    assert np.all(out[:3] != 0) or np.all(x[:3] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_apply_draws_and_apply_kept_match_numpy(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(1000).astype(dtype)
    draws = rng.random(1000, dtype=dtype)
    draws[:3] = dtype(0.25)
    out, kept = np.full_like(x, np.nan), np.zeros(1000, np.bool_)
    kernels.apply_draws(x, draws, dtype(0.25), dtype(1 / 0.75), out, kept)
    np.testing.assert_array_equal(kept, draws >= dtype(0.25))
    np.testing.assert_array_equal(out, np.where(draws >= dtype(0.25), x * dtype(1 / 0.75), 0))
    g, dx = rng.standard_normal(1000).astype(dtype), np.full_like(x, np.nan)
    kernels.apply_kept(g, kept, dtype(1 / 0.75), dx)
    np.testing.assert_array_equal(dx, np.where(kept, g * dtype(1 / 0.75), 0))


def _expected_draws(shape, seed_rng, dtype):
    """The op's draws: one seed from its generator, one PCG64 stream per block of values."""
    seed = int(seed_rng.integers(0, 2**63))
    size = int(np.prod(shape))
    draws = np.empty(size, dtype)
    for b in range(-(-size // nn.DRAW_BLOCK)):
        start, stop = b * nn.DRAW_BLOCK, min(size, (b + 1) * nn.DRAW_BLOCK)
        draws[start:stop] = np.random.default_rng([seed, b]).random(stop - start, dtype=dtype)
    return draws.reshape(shape)


@pytest.mark.parametrize("threads", [1, 2])
def test_dropout_op_forward_and_backward_use_one_mask(threads):
    """The same draws however the blocks are split over threads; forward and backward agree."""
    previous = parallel.num_threads()
    parallel.set_num_threads(threads)
    try:
        x = np.random.default_rng(1).standard_normal((7, nn.DRAW_BLOCK // 2 + 5)).astype(np.float32)
        assert x.size % nn.DRAW_BLOCK and x.size > 3 * nn.DRAW_BLOCK  # several blocks, the last one short
        op = nn.Dropout(0.3, np.random.default_rng(7))
        with parallel_settings(memory_bound_min=0):
            y = op.forward(x)
    finally:
        parallel.set_num_threads(previous)
    keep = _expected_draws(x.shape, np.random.default_rng(7), np.float32)
    expected = np.where(keep >= np.float32(0.3), x * np.float32(1 / 0.7), 0)
    np.testing.assert_array_equal(y, expected)
    g = np.ones_like(x)
    np.testing.assert_array_equal(op.backward(g)[0], np.where(keep >= np.float32(0.3), np.float32(1 / 0.7), 0))
    assert y.dtype == np.float32
    assert abs(np.mean(y == 0) - 0.3) < 0.01


def test_dropout_blocks_and_calls_draw_different_values():
    op = nn.Dropout(0.5, np.random.default_rng(0))
    x = np.ones(3 * nn.DRAW_BLOCK, np.float64)
    op.forward(x)
    first = op.keep.copy()
    blocks = first.reshape(3, -1)
    assert not np.array_equal(blocks[0], blocks[1]) and not np.array_equal(blocks[1], blocks[2])
    op.forward(x)
    assert not np.array_equal(first, op.keep)
    assert op.keep.dtype == np.bool_ and op.keep.nbytes == x.size  # one byte a value is kept


def test_dropout_of_an_empty_tensor():
    op = nn.Dropout(0.5, np.random.default_rng(0))
    assert op.forward(np.ones((0, 3), np.float32)).shape == (0, 3)
