"""`ops.pad`: its errors and the batch split (the values and gradients are in pad_op_cases.py)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import ops
from kerasette.backend.ops import shape


def test_pad_refuses_widths_that_do_not_fit():
    with pytest.raises(ValueError, match=r"pad: expected 2 pairs of non-negative widths for an input of shape "
                                         r"\(2, 3\); received \(\(1, 1\),\)"):
        ops.pad(np.ones((2, 3)), [(1, 1)])
    with pytest.raises(ValueError, match=r"received \(\(0, 0\), \(-1, 0\)\)"):
        ops.pad(np.ones((2, 3)), [(0, 0), (-1, 0)])


def test_a_large_batch_is_padded_in_pieces_exactly(monkeypatch):
    monkeypatch.setattr(shape, "PARALLEL_PAD_ELEMENTS", 1)
    x = np.random.default_rng(0).standard_normal((7, 5, 4, 3)).astype("float32")
    widths = ((0, 0), (2, 1), (0, 3), (1, 0))
    np.testing.assert_array_equal(ops.pad(x, widths).data, np.pad(x, widths))
