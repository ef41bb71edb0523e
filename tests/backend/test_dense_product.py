"""The dense op's matrix products (`kerasette.backend.ops.linalg._product`): split over the thread
pool from `DENSE_SPLIT_MIN` multiply-adds, with the bits of one unsplit product."""

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.ops import linalg


@pytest.fixture
def two_threads():
    before = parallel.num_threads()
    parallel.set_num_threads(2)
    yield
    parallel.set_num_threads(before)


def _recorded(monkeypatch):
    """The chunk counts of `parallel.map_prepared`'s calls (as the pool would cut them)."""
    counts = []
    plain = parallel.map_prepared

    def recording(prepare, n_items, min_work=0, work_per_item=1):
        out = plain(prepare, n_items, min_work, work_per_item)
        counts.append(len(out))
        return out

    monkeypatch.setattr(parallel, "map_prepared", recording)
    return counts


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("m", "k", "n"), [(32, 1600, 256),  # the seed convnet's dense layer: by columns
                                           (1600, 32, 256),  # its kernel gradient x.T @ dy: by rows
                                           (8, 3, 5)])  # too small: one product in the calling thread
def test_product_splits_with_the_bits_of_one_product(two_threads, monkeypatch, dtype, m, k, n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype).T  # a transposed operand, as the input gradient's
    counts = _recorded(monkeypatch)
    out = linalg._product(a, b)
    assert counts == [2 if m * k * n >= linalg.DENSE_SPLIT_MIN else 1]
    assert out.dtype == dtype and out.shape == (m, n) and out.flags.c_contiguous
    assert np.array_equal(out, np.matmul(a, b))


def test_product_follows_a_lower_pool_threshold(two_threads, monkeypatch):
    """``parallel_settings(matmul_min_work=0)`` splits the dense products too."""
    a, b = np.ones((4, 6), np.float32), np.ones((6, 3), np.float32)
    counts = _recorded(monkeypatch)
    with parallel.parallel_settings(matmul_min_work=0):
        out = linalg._product(a, b)
    assert counts == [2]
    np.testing.assert_array_equal(out, np.full((4, 3), 6, np.float32))


def test_dense_op_gradients_match_numpy(two_threads):
    """The dense op's forward and backward (fused ReLU) through the split products."""
    from kerasette.backend import ops
    from kerasette.backend.tensor import Tensor, Variable, enable_grad

    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 1600)).astype(np.float32)
    w = Variable(rng.standard_normal((1600, 256)).astype(np.float32) * 0.05)
    bias = Variable(rng.standard_normal(256).astype(np.float32))
    with enable_grad():
        xt = Tensor(x, requires_grad=True)
        out = ops.dense(xt, w, bias, relu=True)
        ops.sum(out).backward()
    pre = x @ w.data + bias.data
    assert np.array_equal(out.data, np.maximum(pre, 0))
    mask = (pre > 0).astype(np.float32)
    assert np.array_equal(xt.grad, mask @ w.data.T)
    assert np.array_equal(w.grad, x.T @ mask)
    assert np.array_equal(bias.grad, mask.sum(axis=0))
