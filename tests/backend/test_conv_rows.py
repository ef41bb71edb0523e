"""The kw-packed row GEMM (stride 1, cin >= 16) against the slow numpy references and the old path."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend.engine import conv_algorithms, conv_settings, row_conv
from tests.backend.test_conv_kernels import all_passes, check_stride1_against_references, ref_conv

ROW_CASES = [
    # (n, h, w, cin, cout, kernel, padding)
    (2, 7, 7, 16, 16, (3, 3), "valid"),
    (2, 7, 7, 16, 17, (3, 3), "same"),
    (3, 5, 9, 17, 16, (3, 3), "same"),
    (1, 9, 6, 16, 20, (5, 3), "same"),
    (2, 6, 11, 18, 16, (2, 3), "same"),
    (2, 8, 5, 16, 16, (4, 2), "valid"),
    (3, 4, 4, 16, 16, (5, 5), "same"),
    (1, 3, 3, 16, 16, (3, 3), "valid"),
    (2, 6, 7, 16, 16, (3, 1), "same"),
]


@pytest.fixture(autouse=True)
def no_winograd():
    """3x3 cases would otherwise take the Winograd path (tested in test_winograd.py)."""
    with conv_algorithms(deny=["winograd"]):
        yield


@pytest.fixture(params=[None, 1, 3000, 20000], ids=["tile-default", "tile-min", "tile-3k", "tile-20k"])
def tile_bytes(request):
    """Default tiles, the smallest tiles (kh rows), and tiles that end inside and across images."""
    if request.param is None:
        yield None
        return
    with conv_settings(tile_bytes=request.param):
        yield request.param


def _arrays(case, dtype):
    n, h, w, cin, cout, kernel, padding = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    wt = rng.standard_normal((*kernel, cin, cout)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    y = ref_conv(x, wt, None, (1, 1), padding)
    dy = rng.standard_normal(y.shape).astype(dtype)
    return x, wt, b, dy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ROW_CASES)
def test_row_path_matches_references(case, dtype, tile_bytes):
    x, w, b, dy = _arrays(case, dtype)
    padding = case[-1]
    assert row_conv.usable(case[5], (1, 1), case[3])
    check_stride1_against_references(x, w, b, dy, padding, dtype, [(None, False), (b, True), (b, False)])


@pytest.mark.parametrize("case", ROW_CASES[:4])
def test_row_path_agrees_with_im2col_path(case):
    x, w, b, dy = _arrays(case, np.float64)
    rows = all_passes(x, w, b, dy, case[-1])
    with conv_algorithms(deny=["rows"]):
        gemm = all_passes(x, w, b, dy, case[-1])
    for a, ref in zip(rows, gemm):
        np.testing.assert_allclose(a, ref, rtol=1e-12, atol=1e-12)


def test_row_path_dispatch():
    assert row_conv.usable((3, 3), (1, 1), 16)
    assert not row_conv.usable((3, 3), (1, 1), 15)
    assert not row_conv.usable((3, 3), (2, 2), 32)
    assert not row_conv.usable((1, 3), (1, 1), 32)
