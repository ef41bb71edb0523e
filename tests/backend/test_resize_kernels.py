"""The resize kernels (`kerasette.backend.kernels.resize`) and their tap tables against the plain
numpy reference of `tests/backend/transpose_op_cases.py` (itself checked against Keras 3 by the
UpSampling2D fixtures in tests/saving/data/keras3_layers)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import ops
from kerasette.backend.kernels import resize as kernels
from kerasette.backend.ops.resize import INTERPOLATIONS, taps
from kerasette.backend.parallel import parallel_settings
from kerasette.backend.tensor import Variable
from tests.backend.transpose_op_cases import resize_matrix, resize_reference

SHAPES = [(2, 5, 4, 3), (1, 1, 1, 1), (3, 2, 7, 16), (2, 4, 3, 1)]
SIZES = [(2, 2), (3, 2), (1, 1), (4, 3)]


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("size_in,factor", [(1, 2), (5, 2), (4, 3), (3, 1), (2, 5)])
def test_tap_tables_are_the_resize_matrix(interpolation, size_in, factor):
    index, weight = taps(size_in, factor, interpolation, np.float64)
    matrix = np.zeros((size_in * factor, size_in))
    for o in range(size_in * factor):
        np.add.at(matrix[o], index[o], weight[o])
    np.testing.assert_allclose(matrix, resize_matrix(size_in, size_in * factor, interpolation), atol=1e-15)
    np.testing.assert_allclose(matrix.sum(1), 1.0)  # every output is a weighted average


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_and_backward_match_numpy(interpolation, shape, size, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    v = Variable(x, dtype=dtype)
    y = ops.resize2d(v, size, interpolation)
    assert y.dtype == np.dtype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y.data, resize_reference(x.astype(np.float64), size, interpolation), rtol=tol, atol=tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    y.backward(dy)
    mh = resize_matrix(shape[1], shape[1] * size[0], interpolation)
    mw = resize_matrix(shape[2], shape[2] * size[1], interpolation)
    expected = np.einsum("ph,npqc,qw->nhwc", mh, dy.astype(np.float64), mw)  # the adjoint
    np.testing.assert_allclose(v.grad, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_chunks_fill_only_their_images(interpolation):
    """Each kernel call writes images n0:n1 only (one chunk per thread)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5, 2))
    y = np.full((4, 6, 10, 2), np.nan)
    if interpolation == "nearest":
        kernels.nearest_forward(x, y, 2, 2, 1, 3)
    else:
        tables = (*taps(3, 2, interpolation, x.dtype), *taps(5, 2, interpolation, x.dtype))
        kernels.resize_forward(x, y, *tables, 1, 3)
    assert np.isnan(y[[0, 3]]).all()
    np.testing.assert_allclose(y[1:3], resize_reference(x[1:3], (2, 2), interpolation), atol=1e-12)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_split_over_threads_equals_one_thread(interpolation):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 6, 6, 8)).astype("float32")
    with parallel_settings(memory_bound_min=0):
        split = ops.resize2d(x, (2, 2), interpolation).data
    with parallel_settings(memory_bound_min=2**62):
        single = ops.resize2d(x, (2, 2), interpolation).data
    np.testing.assert_array_equal(split, single)


def test_resize2d_refuses_an_unknown_interpolation():
    with pytest.raises(ValueError, match=r"resize2d: argument `interpolation` must be one of .*'bilinear'.*"
                                         r"received interpolation='area'"):
        ops.resize2d(np.ones((1, 2, 2, 1), np.float32), (2, 2), "area")


def test_resize2d_refuses_a_size_below_one():
    with pytest.raises(ValueError, match=r"resize2d: argument `size` must be two positive ints; received size=\(0, 2\)"):
        ops.resize2d(np.ones((1, 2, 2, 1), np.float32), (0, 2))
