"""Every op's float64 forward pass against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import ops
from kerasette.backend.tensor import Tensor
from tests.backend.op_cases import CASES


@pytest.mark.parametrize("case", [c for c in CASES if c.reference is not None], ids=lambda c: c.id)
def test_forward_matches_numpy(case):
    arrays = case.make(np.random.default_rng(1))
    out = case.fn(*(Tensor(a) for a in arrays))
    expected = case.reference(*arrays)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_of_ones_counts_the_window():
    # each output is the number of input values under the 3x3 window times the channels
    y = ops.conv2d(np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 1)), padding="same").data[0, :, :, 0]
    np.testing.assert_array_equal(y, [[8, 12, 12, 8], [12, 18, 18, 12], [12, 18, 18, 12], [8, 12, 12, 8]])


def test_conv2d_is_a_cross_correlation():
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    k = np.zeros((3, 3, 1, 1))
    k[0, 0] = 1.0  # picks the top-left value of the window (a convolution would pick bottom-right)
    assert ops.conv2d(x, k).data.item() == 0.0


def test_max_pool2d_same_pads_with_minus_infinity():
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # all negative: zero padding would win
    y = ops.max_pool2d(x, (2, 2), padding="same").data[0, :, :, 0]
    np.testing.assert_array_equal(y, [[-1, -3], [-7, -9]])


def test_float32_ops_stay_float32():
    x = Tensor(np.ones((2, 3), np.float32))
    for out in (ops.softmax(x), ops.sigmoid(x), ops.mean(x), ops.log_softmax(x), x * 2.0, 2.0 - x, x / 3):
        assert out.dtype == np.float32
