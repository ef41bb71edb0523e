"""The Winograd kernel transforms (`kerasette.backend.kernels.winograd_weights`) against numpy
references written from the matrix G, and `winograd_conv`'s use of them."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import memory
from kerasette.backend.engine import winograd_conv
from kerasette.backend.kernels import winograd_weights
from tests.backend.narrower_vectors import NARROWER_CPUS, run_with_narrower_vectors

# G of F(4x4, 3x3), written out here independently of the kernels' formulas.
G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])

# (C, F): whole vectors of pairs; whole vectors and a tail, which the kernels take as a last vector
# overlapping the one before (21 and 45 pairs: 16 + 5 and 32 + 13 float32, 16 + 5 and 40 + 5
# float64); fewer pairs than a vector (padded copies)
SHAPES = [(16, 16), (64, 64), (20, 24), (3, 7), (5, 9), (3, 5), (1, 1)]
TOLERANCE = {np.float32: 1e-6, np.float64: 1e-14}


def _transform_reference(w):
    """``G g G^T`` for each channel pair, in float64: (36, C, F)."""
    return np.einsum("ip,jq,pqcf->ijcf", G, G, w.astype(np.float64)).reshape(36, *w.shape[2:])


def _grad_reference(du):
    """``G^T dU G`` for each channel pair, in float64: (3, 3, C, F)."""
    return np.einsum("ip,jq,ijcf->pqcf", G, G, du.astype(np.float64).reshape(6, 6, *du.shape[1:]))


def _close(got, expected, dtype):
    scale = np.abs(expected).max()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE[dtype] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chans, cout", SHAPES)
def test_kernel_transform_matches_the_reference(chans, cout, dtype):
    w = np.random.default_rng(chans * cout).standard_normal((3, 3, chans, cout)).astype(dtype)
    u = np.full((36, chans * cout), np.nan, dtype)
    winograd_weights.kernel_transform(w.reshape(9, -1), u)
    _close(u.reshape(36, chans, cout), _transform_reference(w), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chans, cout", SHAPES)
def test_kernel_grad_matches_the_reference(chans, cout, dtype):
    du = np.random.default_rng(chans + cout).standard_normal((36, chans, cout)).astype(dtype)
    dw = np.full((9, chans * cout), np.nan, dtype)
    winograd_weights.kernel_grad(du.reshape(36, -1), dw)
    _close(dw.reshape(3, 3, chans, cout), _grad_reference(du), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_engine_transforms_use_the_kernels(dtype):
    """`winograd_conv.kernel_transform` (a new aligned array) and `winograd_conv.kernel_grad` give
    the kernels' values, for non-contiguous inputs too."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 3, 24, 20)).astype(dtype)
    u = winograd_conv.kernel_transform(w)
    assert u.shape == (36, 24, 20) and memory.data_address(u) % memory.ALIGNMENT == 0
    _close(u, _transform_reference(w), dtype)
    assert not np.shares_memory(u, winograd_conv.kernel_transform(w))
    wt = w.transpose(0, 1, 3, 2)
    _close(winograd_conv.kernel_transform(wt), _transform_reference(wt), dtype)
    du = rng.standard_normal((36, 20, 24)).astype(dtype)
    _close(winograd_conv.kernel_grad(du[:, ::2, ::2]), _grad_reference(du[:, ::2, ::2]), dtype)


@pytest.mark.parametrize("cpu, features", NARROWER_CPUS)
def test_kernels_with_narrower_vectors(cpu, features, tmp_path):
    """The same checks with 16- and 32-byte vectors (other tails: 20 x 24 pairs are whole 8-lane
    vectors, 3 x 5 are not)."""
    body = (
        "import numpy as np\n"
        "from tests.backend import test_winograd_weights as t\n"
        "for dtype in (np.float32, np.float64):\n"
        "    for chans, cout in t.SHAPES:\n"
        "        t.test_kernel_transform_matches_the_reference(chans, cout, dtype)\n"
        "        t.test_kernel_grad_matches_the_reference(chans, cout, dtype)\n"
    )
    run_with_narrower_vectors(body, cpu, features, tmp_path)
