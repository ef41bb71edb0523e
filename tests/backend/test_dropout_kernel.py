"""Dropout's hashed-mask kernel and op: against the numpy reference of its rule, the same mask
however the pass is split, and the statistics of the masks (keep rate, independence of
neighbouring values and of successive calls)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.kernels import dropout as kernels
from kerasette.backend.ops import nn
from kerasette.backend.parallel import parallel_settings

KEY = (0x9E3779B1, 0x7F4A7C15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("start", [0, 12345, 2**32 - 700, 3 * 2**32 + 5])
def test_keep_scaled_matches_the_numpy_rule(dtype, start):
    """Any start position, a run across a 2**32 boundary included (its high word changes)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1003).astype(dtype)
    out = np.full_like(x, np.nan)
    threshold = 2**31 + 12345
    kernels.keep_scaled(x, np.uint32(KEY[0]), np.uint32(KEY[1]), start, np.uint32(threshold), dtype(2.5), out)
    kept = kernels.reference_keep(np.arange(start, start + x.size), *KEY, threshold)
    np.testing.assert_array_equal(out, np.where(kept, x * dtype(2.5), 0))
    assert 0.4 < kept.mean() < 0.6


def test_keep_scaled_in_place_and_empty():
    x = np.arange(1, 65, dtype=np.float32)
    expected = np.where(kernels.reference_keep(np.arange(64), *KEY, 2**30), x * 2, 0)
    kernels.keep_scaled(x, np.uint32(KEY[0]), np.uint32(KEY[1]), 0, np.uint32(2**30), np.float32(2), x)
    np.testing.assert_array_equal(x, expected)
    empty = np.empty(0, np.float32)
    kernels.keep_scaled(empty, np.uint32(KEY[0]), np.uint32(KEY[1]), 0, np.uint32(2**30), np.float32(2), empty)


def test_threshold_edges():
    """Threshold 0 keeps everything; the largest keeps (almost) nothing."""
    positions = np.arange(100000)
    assert kernels.reference_keep(positions, *KEY, 0).all()
    assert not kernels.reference_keep(positions, *KEY, 2**32 - 1).any()
    assert nn.Dropout(0.0, np.random.default_rng(0)).threshold() == 0
    assert nn.Dropout(0.25, np.random.default_rng(0)).threshold() == 2**30
    assert nn.Dropout(1 - 2**-40, np.random.default_rng(0)).threshold() == 2**32 - 1


def _op_mask(op, shape):
    return kernels.reference_keep(np.arange(int(np.prod(shape))), *op.key, op.threshold()).reshape(shape)


@pytest.mark.parametrize("threads", [1, 2])
def test_dropout_op_forward_and_backward_use_one_mask(threads):
    """The same mask however the pass is cut into pieces and shared among threads."""
    previous = parallel.num_threads()
    parallel.set_num_threads(threads)
    try:
        x = np.random.default_rng(1).standard_normal((7, 150001)).astype(np.float32)
        op = nn.Dropout(0.3, np.random.default_rng(7))
        with parallel_settings(memory_bound_min=0):
            y = op.forward(x)
            dx = op.backward(np.ones_like(x))[0]
    finally:
        parallel.set_num_threads(previous)
    keep = _op_mask(op, x.shape)
    np.testing.assert_array_equal(y, np.where(keep, x * np.float32(1 / 0.7), 0))
    np.testing.assert_array_equal(dx, np.where(keep, np.float32(1 / 0.7), 0))
    assert y.dtype == dx.dtype == np.float32
    assert abs(np.mean(y == 0) - 0.3) < 0.002


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_backward_writes_into_a_scratch_gradient(threads, dtype):
    """With ``grad_is_scratch`` (the backward walk's word that no one else reads the gradient)
    the backward pass writes into the gradient it is given, the same values as into a new array;
    without it, or when the gradient cannot be written (read-only, not contiguous), a new array."""
    previous = parallel.num_threads()
    parallel.set_num_threads(threads)
    try:
        x = np.random.default_rng(2).standard_normal((3, 100003)).astype(dtype)
        op = nn.Dropout(0.4, np.random.default_rng(3))
        with parallel_settings(memory_bound_min=0):
            op.forward(x)
            grad = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
            expected = op.backward(grad.copy())[0]
            op.grad_is_scratch = True
            scratch = grad.copy()
            assert op.backward(scratch)[0] is scratch
            read_only = grad.copy()
            read_only.flags.writeable = False
            strided = np.asfortranarray(grad)
            others = [op.backward(read_only)[0], op.backward(strided)[0]]
    finally:
        parallel.set_num_threads(previous)
    np.testing.assert_array_equal(expected, np.where(_op_mask(op, x.shape), grad * dtype(1 / 0.6), 0))
    np.testing.assert_array_equal(scratch, expected)
    for other in others:
        np.testing.assert_array_equal(other, expected)
    np.testing.assert_array_equal(read_only, grad)
    np.testing.assert_array_equal(strided, grad)


def test_dropout_op_key_comes_from_one_draw_of_the_generator():
    """A generator seeded alike gives the same masks; the op takes one draw per call."""
    rng = np.random.default_rng(5)
    x = np.ones((40, 50))
    a = nn.Dropout(0.5, np.random.default_rng(5)).forward(x)
    b = nn.Dropout(0.5, np.random.default_rng(5)).forward(x)
    np.testing.assert_array_equal(a, b)
    seed = int(rng.integers(0, 2**63))
    op = nn.Dropout(0.5, np.random.default_rng(5))
    op.forward(x)
    assert op.key == ((seed & 0xFFFFFFFF) | 1, seed >> 32)


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937, np.random.Philox])
def test_key_draw_is_the_generators_integers_draw(bit_generator):
    """`nn._draw_key_seed` (PCG64's raw output shifted) gives ``rng.integers(0, 2**63)``'s values
    and leaves the generator in its state, draw after draw; other bit generators take
    ``integers`` itself."""
    for seed in range(20):
        ours, numpys = np.random.Generator(bit_generator(seed)), np.random.Generator(bit_generator(seed))
        for _ in range(200):
            assert nn._draw_key_seed(ours) == int(numpys.integers(0, 2**63))
        np.testing.assert_array_equal(ours.bit_generator.random_raw(8), numpys.bit_generator.random_raw(8))


def test_dropout_op_other_dtypes_follow_the_same_rule():
    x = np.arange(1, 301, dtype=np.float16).reshape(3, 100)
    op = nn.Dropout(0.4, np.random.default_rng(2))
    y = op.forward(x)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, np.where(_op_mask(op, x.shape), x * np.float16(1 / 0.6), 0))


def test_dropout_of_an_empty_tensor():
    op = nn.Dropout(0.5, np.random.default_rng(0))
    assert op.forward(np.ones((0, 3), np.float32)).shape == (0, 3)


# -- the masks' statistics -------------------------------------------------------------------
def _chi2_pairs(a: np.ndarray, b: np.ndarray, p: float) -> float:
    """Chi-square statistic (3 degrees of freedom) of the four (a, b) outcomes against
    independent draws each kept with probability ``p``."""
    n = a.size
    observed = np.array([np.sum(a & b), np.sum(a & ~b), np.sum(~a & b), np.sum(~a & ~b)], float)
    expected = n * np.array([p * p, p * (1 - p), (1 - p) * p, (1 - p) * (1 - p)])
    return float(np.sum((observed - expected) ** 2 / expected))


#: the 99.99th percentile of chi-square with 3 degrees of freedom: a correct generator fails one
#: of these checks about once in ten thousand runs (the keys are fixed: the test is deterministic)
CHI2_3 = 21.1


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5, 0.9])
def test_mask_keep_rate_is_one_minus_rate(rate):
    """Over 2**22 values and several keys the kept fraction is within 4.5 standard deviations
    of ``1 - rate``, in every block of 2**16 values too (within 5)."""
    n = 1 << 22
    rng = np.random.default_rng(11)
    for _ in range(4):
        op = nn.Dropout(rate, rng)
        op.forward(np.ones(1, np.float32))
        kept = _op_mask(op, (n,))
        p = 1 - rate
        assert abs(kept.mean() - p) < 4.5 * np.sqrt(p * (1 - p) / n)
        blocks = kept.reshape(-1, 1 << 16).mean(axis=1)
        assert np.all(np.abs(blocks - p) < 5 * np.sqrt(p * (1 - p) / (1 << 16)))


@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_neighbouring_values_are_independent(rate):
    """Pairs of values 1, 2, 3, 4, 8, 16, 32, 64, 1000 and 4096 positions apart (a row, a
    pixel's channels, an image's rows) are kept independently: a chi-square test of the four
    outcomes; and a whole call's mask is unrelated to the next call's."""
    n = 1 << 21
    p = 1 - rate
    rng = np.random.default_rng(3)
    op = nn.Dropout(rate, rng)
    op.forward(np.ones(1, np.float32))
    kept = _op_mask(op, (n + 4096,))
    for d in (1, 2, 3, 4, 8, 16, 32, 64, 1000, 4096):
        assert _chi2_pairs(kept[:n], kept[d:n + d], p) < CHI2_3, d
    op.forward(np.ones(1, np.float32))
    following = _op_mask(op, (n,))
    assert _chi2_pairs(kept[:n], following, p) < CHI2_3
    # runs of kept values as long as independent draws make them (geometric with mean 1/rate)
    edges = np.flatnonzero(np.diff(kept[:n].astype(np.int8)) != 0)
    lengths, values = np.diff(edges), kept[edges[:-1] + 1]  # each run between two changes, its value
    runs = lengths[values]
    assert abs(runs.mean() - 1 / rate) < 0.03 * (1 / rate)


def test_keys_differing_in_one_bit_give_unrelated_masks():
    n = 1 << 20
    a = kernels.reference_keep(np.arange(n), KEY[0], KEY[1], 2**31)
    for k1, k2 in ((KEY[0] ^ 2, KEY[1]), (KEY[0], KEY[1] ^ 1), (KEY[0], KEY[1] ^ 2**31)):
        b = kernels.reference_keep(np.arange(n), k1, k2, 2**31)
        assert _chi2_pairs(a, b, 0.5) < CHI2_3
