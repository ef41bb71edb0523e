"""conv_math runs small work on the serial kernels and large work on the parallel ones: both
paths must give the same results."""

import numpy as np
import pytest

from kerasette.backend.ops import conv_math


@pytest.mark.parametrize("strides, padding", [((1, 1), "valid"), ((2, 2), "same")])
def test_parallel_and_serial_kernels_agree(monkeypatch, strides, padding):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 8, 3))
    w = rng.normal(size=(3, 3, 3, 4))
    results = []
    for threshold in (0, 1 << 40):  # everything parallel, then everything serial
        monkeypatch.setattr(conv_math, "PARALLEL_MIN_ELEMENTS", threshold)
        y = conv_math.conv2d_forward(x, w, strides=strides, padding=padding)
        dx = conv_math.conv2d_backward_input(np.ones_like(y), w, x.shape, strides, padding)
        dw = conv_math.conv2d_backward_weight(np.ones_like(y), x, w.shape, strides, padding)
        p, arg = conv_math.maxpool2d_forward(x, (2, 2), strides, padding)
        dp = conv_math.maxpool2d_backward(np.ones_like(p), arg, x.shape)
        results.append((y, dx, dw, p, dp))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
