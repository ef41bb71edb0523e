"""GetItem's gradient: a plain assignment for basic indexing, summed for arrays that may repeat."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import backprop
from kerasette.backend.tensor import Variable


@pytest.mark.parametrize("index", [
    (slice(None), slice(None, None, -1)), (1,), (None, Ellipsis, 2), (slice(1, None, 2), -1),
    (np.array([0, 0, 2]),), (np.array([True, False, True]),), (np.array([1, 1]), slice(0, 2)),
], ids=["reversed", "int", "newaxis-ellipsis", "strided-negative", "repeated-ints", "booleans", "mixed"])
def test_getitem_gradient_equals_a_slow_sum(index):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((3, 4))
    x = Variable(data, dtype="float64")
    y = x[index]
    w = rng.standard_normal(y.shape)
    (g,) = backprop.grad((y * w).sum(), [x])
    want = np.zeros_like(data)
    np.add.at(want, index, w)  # each pick adds its weight
    np.testing.assert_array_equal(g, want)
