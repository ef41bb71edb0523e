"""The transposed convolution's engine passes (`kerasette.backend.engine.transpose_conv`) against
the numpy reference, under each convolution algorithm that may run them, and its geometry against
Keras's rules."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kerasette.backend.engine import conv_algorithms
from kerasette.backend.engine.transpose_conv import TransposeGeometry, transpose_backward, transpose_forward
from kerasette.utils.conv_transpose import deconv_output_length, transpose_crops
from tests.backend.transpose_op_cases import conv_transpose_reference

ALGORITHM_SETS = [None, ["gemm", "col2im"], ["direct", "gemm", "col2im"], ["winograd", "gemm", "col2im"],
                  ["rows", "gemm", "col2im"]]

GEOMETRIES = [  # (input hw, kernel, strides, padding, output_padding, dilation)
    ((6, 5), (3, 3), (1, 1), "valid", None, (1, 1)),
    ((6, 5), (3, 3), (1, 1), "same", None, (1, 1)),
    ((6, 5), (3, 3), (2, 2), "same", None, (1, 1)),
    ((6, 5), (3, 3), (2, 2), "same", (0, 1), (1, 1)),
    ((5, 6), (3, 3), (2, 2), "valid", (1, 1), (1, 1)),
    ((4, 4), (4, 2), (2, 3), "same", None, (1, 1)),
    ((3, 4), (2, 2), (4, 4), "valid", None, (1, 1)),  # strides above the kernel: appended zeros
    ((3, 4), (2, 2), (3, 3), "same", (2, 1), (1, 1)),
    ((6, 5), (3, 2), (1, 1), "same", None, (2, 3)),
    ((1, 2), (1, 1), (2, 2), "valid", None, (1, 1)),
    ((6, 6), (5, 5), (1, 1), "valid", None, (1, 1)),
]
CHANNELS = [(3, 16), (17, 4), (16, 16)]  # (in, filters)


def _adjoint_checks(x, w, dy, relu, y, dx, dw, db, geometry_args):
    """dx and dw by the adjoint identities <dz, T(e, w)> = <dx, e> and <dz, T(x, e)> = <dw, e>."""
    rng = np.random.default_rng(5)
    dz = dy * (y > 0) if relu else dy
    ex, ew = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    tx = conv_transpose_reference(ex, w.astype(np.float64), None, *geometry_args)
    tw = conv_transpose_reference(x.astype(np.float64), ew, None, *geometry_args)
    np.testing.assert_allclose((dx * ex).sum(), (dz * tx).sum(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose((dw * ew).sum(), (dz * tw).sum(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(db, dz.reshape(-1, dz.shape[-1]).sum(0), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("algorithms", ALGORITHM_SETS, ids=lambda a: "+".join(a) if a else "default")
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: str(g).replace(" ", ""))
def test_passes_match_the_reference(algorithms, geometry):
    hw, k, s, p, op, d = geometry
    rng = np.random.default_rng(0)
    with conv_algorithms(allow=algorithms) if algorithms else conv_algorithms():
        for (cin, filters), relu, dtype in itertools.product(CHANNELS, (False, True), ("float32", "float64")):
            x = rng.standard_normal((3, *hw, cin)).astype(dtype)
            w = rng.standard_normal((*k, filters, cin)).astype(dtype)
            b = rng.standard_normal(filters).astype(dtype)
            g = TransposeGeometry.of(x.shape, w.shape, s, p, op, d)
            y = transpose_forward(x, w, b, g, relu)
            expected = conv_transpose_reference(x.astype(np.float64), w.astype(np.float64), b, s, p, op, d, relu)
            assert y.dtype == np.dtype(dtype) and y.shape == expected.shape
            np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
            dy = rng.standard_normal(y.shape).astype(dtype)
            dx, dw, db = transpose_backward(dy, x, w, y if relu else None, relu, True, g)
            assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
            _adjoint_checks(x, w, dy, relu, y, dx, dw, db, (s, p, op, d))


def test_gradients_can_be_skipped():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 4, 4, 3)), rng.standard_normal((3, 3, 2, 3))
    g = TransposeGeometry.of(x.shape, w.shape, (2, 2), "same")
    dy = rng.standard_normal((2, 8, 8, 2))
    dx, dw, db = transpose_backward(dy, x, w, None, False, False, g, need_input=False)
    assert dx is None and db is None and dw.shape == w.shape
    dx, dw, _ = transpose_backward(dy, x, w, None, False, False, g, need_kernel=False)
    assert dw is None and dx.shape == x.shape


def test_an_empty_batch():
    x, w = np.zeros((0, 4, 4, 3), np.float32), np.ones((3, 3, 2, 3), np.float32)
    g = TransposeGeometry.of(x.shape, w.shape, (2, 2), "same")
    y = transpose_forward(x, w, np.ones(2, np.float32), g)
    assert y.shape == (0, 8, 8, 2)
    dx, dw, db = transpose_backward(np.zeros(y.shape, np.float32), x, w, None, False, True, g)
    assert dx.shape == x.shape and not dw.any() and not db.any()


def test_a_gradient_of_the_wrong_shape_is_refused():
    x, w = np.ones((1, 4, 4, 3)), np.ones((3, 3, 2, 3))
    g = TransposeGeometry.of(x.shape, w.shape, (2, 2), "same")
    with pytest.raises(ValueError, match=r"conv2d_transpose: the output gradient has shape \(1, 7, 8, 2\), "
                                         r"expected \(1, 8, 8, 2\)"):
        transpose_backward(np.ones((1, 7, 8, 2)), x, w, None, False, False, g)


def test_integer_inputs_are_refused():
    x, w = np.ones((1, 4, 4, 3), np.int32), np.ones((3, 3, 2, 3), np.float32)
    with pytest.raises(TypeError, match="conv2d_transpose: the input must be float32 or float64, received int32"):
        transpose_forward(x, w, None, TransposeGeometry.of(x.shape, w.shape))


@pytest.mark.parametrize("length,kernel,padding,output_padding,stride,dilation,expected", [
    (16, 3, "same", None, 2, 1, 32), (16, 3, "valid", None, 2, 1, 33), (16, 2, "valid", None, 3, 1, 48),
    (16, 3, "same", 0, 2, 1, 31), (16, 4, "same", 1, 2, 1, 31), (16, 3, "valid", 1, 2, 1, 34),
    (5, 3, "valid", None, 1, 2, 9), (None, 3, "same", None, 2, 1, None),
])
def test_output_length_is_keras_rule(length, kernel, padding, output_padding, stride, dilation, expected):
    assert deconv_output_length(length, kernel, padding, output_padding, stride, dilation) == expected
    if length is not None:  # the crops take exactly that window of the full output
        before, after = transpose_crops(length, kernel, padding, output_padding, stride, dilation)
        full = (length - 1) * stride + (kernel - 1) * dilation + 1
        assert full - before - after == expected and 0 <= before <= (kernel - 1) * dilation
