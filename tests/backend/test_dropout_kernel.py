"""The fused dropout kernel and op against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.kernels import dropout as kernels
from kerasette.backend.ops import nn


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


def test_dropout_op_forward_and_backward_use_one_mask(monkeypatch):
    """Split over two threads; the same draws as the generator's."""
    monkeypatch.setattr(parallel, "MEMORY_BOUND_MIN", 0)
    previous = parallel.num_threads()
    parallel.set_num_threads(2)
    try:
        check_one_mask()
    finally:
        parallel.set_num_threads(previous)


def check_one_mask():
    x = np.random.default_rng(1).standard_normal((64, 40, 40)).astype(np.float32)
    op = nn.Dropout(0.3, np.random.default_rng(7))
    y = op.forward(x)
    keep = np.random.default_rng(7).random(x.shape, dtype=np.float32)
    expected = np.where(keep >= np.float32(0.3), x * np.float32(1 / 0.7), 0)
    np.testing.assert_array_equal(y, expected)
    g = np.ones_like(x)
    np.testing.assert_array_equal(op.backward(g)[0], np.where(keep >= np.float32(0.3), np.float32(1 / 0.7), 0))
    assert y.dtype == np.float32
