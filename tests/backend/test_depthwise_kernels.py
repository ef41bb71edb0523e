"""The depthwise and phase kernels against plain numpy, and the engine's dilated, grouped and
depthwise passes against the reference convolution, in float32 and float64, whatever algorithm
the phases run on and however the batch is split between threads."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.engine import conv, conv_algorithms, conv_settings, depthwise_conv, parallel_settings
from kerasette.backend.kernels import depthwise as _dw
from kerasette.backend.kernels import phases as _phases
from tests.backend.conv_variants_op_cases import conv_reference, depthwise_reference


def _tolerance(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def _numpy_kernel_grad(dy, x, kernel_shape, strides, padding, dilation):
    """The kernel gradient of the depthwise convolution, tap by tap in numpy."""
    kh, kw, chans, m = kernel_shape
    grad = np.zeros(kernel_shape)
    for i, k in itertools.product(range(kh), range(kw)):
        e = np.zeros(kernel_shape)
        e[i, k] = 1.0
        for c, j in itertools.product(range(chans), range(m)):
            e2 = np.zeros(kernel_shape)
            e2[i, k, c, j] = 1.0
            grad[i, k, c, j] = (dy * depthwise_reference(x, e2, None, strides, padding, dilation)).sum()
    return grad


def _numpy_input_grad(dy, x_shape, w, strides, padding, dilation):
    """The input gradient by linearity: the convolution applied to each unit input, in numpy."""
    grad = np.zeros(x_shape)
    for index in itertools.product(*map(range, x_shape)):
        e = np.zeros(x_shape)
        e[index] = 1.0
        grad[index] = (dy * depthwise_reference(e, w, None, strides, padding, dilation)).sum()
    return grad


# (x shape, kernel shape, strides, padding, dilation); channels: whole float32 vectors (16 lanes
# with AVX-512) and tails; 3x3 kernels take the register-resident row path in their interior
KERNEL_SETTINGS = [
    ((2, 6, 7, 3), (3, 3, 3, 1), (1, 1), "same", (1, 1)),
    ((1, 7, 9, 19), (3, 3, 19, 1), (1, 1), "same", (1, 1)),
    ((1, 8, 9, 17), (3, 3, 17, 1), (2, 1), "valid", (1, 2)),
    ((1, 6, 8, 2), (2, 3, 2, 3), (1, 2), "same", (2, 1)),
    ((1, 5, 5, 2), (5, 5, 2, 1), (1, 1), "same", (1, 1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", KERNEL_SETTINGS, ids=lambda s: f"{s[0]}-{s[1]}-s{s[2]}-{s[3]}-d{s[4]}")
def test_kernels_match_numpy(setting, dtype):
    x_shape, k_shape, strides, padding, dilation = setting
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(k_shape).astype(dtype)
    b = rng.standard_normal(k_shape[2] * k_shape[3]).astype(dtype)
    y = depthwise_conv.depthwise_forward(x, w, b, strides, padding, dilation, relu=True)
    expected = depthwise_reference(x, w.astype(np.float64), b, strides, padding, dilation, relu=True)
    np.testing.assert_allclose(y, expected, **_tolerance(dtype))
    assert y.dtype == dtype
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = depthwise_conv.depthwise_backward(dy, x, w, None, False, True, strides, padding, dilation)
    np.testing.assert_allclose(dx, _numpy_input_grad(dy, x.shape, w.astype(np.float64), strides, padding,
                                                     dilation), **_tolerance(dtype))
    np.testing.assert_allclose(dw, _numpy_kernel_grad(dy, x.astype(np.float64), w.shape, strides, padding,
                                                      dilation), **_tolerance(dtype))
    np.testing.assert_allclose(db, dy.astype(np.float64).sum((0, 1, 2)), **_tolerance(dtype))


def test_the_relu_backward_masks_by_the_output():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 5, 5, 4)), rng.standard_normal((3, 3, 4, 1))
    y = depthwise_conv.depthwise_forward(x, w, None, padding="same", relu=True)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = depthwise_conv.depthwise_backward(dy, x, w, y, True, False, padding="same")
    masked = dy * (y > 0)
    dx2, dw2, _ = depthwise_conv.depthwise_backward(masked, x, w, None, False, False, padding="same")
    np.testing.assert_allclose(dx, dx2, rtol=1e-12)
    np.testing.assert_allclose(dw, dw2, rtol=1e-12)
    assert db is None


def test_kernels_fill_only_their_rows():
    """A thread's range of rows is all a kernel call writes."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 6, 3))
    w = rng.standard_normal((3, 3, 3))
    y = np.full((2, 5, 6, 3), 7.0)
    _dw.forward_rows(x, w, w.reshape(-1), y, 3, 6, 1, 1, 1, 1, 1, 1, False, False)
    assert (y.reshape(10, -1)[:3] == 7).all() and (y.reshape(10, -1)[6:] == 7).all()
    dx = np.full(x.shape, 7.0)
    _dw.input_grad_rows(y, w, dx, 2, 4, 1, 1, 1, 1, 1, 1)
    assert (dx.reshape(10, -1)[:2] == 7).all() and (dx.reshape(10, -1)[4:] == 7).all()


@pytest.mark.parametrize("dilation, pads", [((2, 2), (2, 2)), ((3, 2), (0, 1)), ((2, 3), (4, 0))])
def test_phase_split_and_merge_match_numpy(dilation, pads):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 8, 3))
    (dh, dw), (top, left) = dilation, pads
    hq, wq = -(-(7 + 2 * top) // dh), -(-(8 + 2 * left) // dw)
    xq = np.full((2 * dh * dw, hq, wq, 3), np.nan)
    _phases.phase_split(x, xq, dh, dw, top, left)
    padded = np.zeros((2, hq * dh, wq * dw, 3))
    padded[:, top : top + 7, left : left + 8] = x
    expected = np.stack([padded[n, a::dh, b::dw] for n in range(2) for a in range(dh) for b in range(dw)])
    np.testing.assert_array_equal(xq, expected)
    back = np.full(x.shape, np.nan)
    _phases.phase_merge(xq, back, dh, dw, top, left)
    np.testing.assert_array_equal(back, x)


# -------------------------------------------------------------------- the engine's variants
VARIANT_SETTINGS = [
    # (x shape, kernel shape, strides, padding, dilation, groups)
    ((2, 11, 10, 16), (3, 3, 16, 8), (1, 1), "same", (2, 2), 1),  # phases large enough for Winograd
    ((1, 9, 12, 5), (3, 2, 5, 4), (1, 1), "valid", (2, 3), 1),
    ((1, 9, 9, 2), (3, 3, 2, 4), (2, 2), "same", (2, 2), 1),  # strided: the zero-spread kernel
    ((2, 7, 6, 6), (3, 3, 2, 6), (1, 1), "same", (1, 1), 3),
    ((1, 8, 9, 4), (3, 3, 2, 6), (1, 1), "same", (2, 2), 2),
    ((2, 6, 6, 4), (3, 3, 1, 8), (2, 2), "same", (1, 1), 4),  # one input channel per group
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algorithms", [{}, {"deny": ["winograd", "direct"]}, {"allow": ["gemm", "col2im"]}],
                         ids=["default", "no-winograd", "gemm"])
@pytest.mark.parametrize("setting", VARIANT_SETTINGS, ids=lambda s: f"{s[0]}-{s[1]}-s{s[2]}-{s[3]}-d{s[4]}-g{s[5]}")
def test_engine_variants_match_the_reference(setting, algorithms, dtype):
    x_shape, k_shape, strides, padding, dilation, groups = setting
    rng = np.random.default_rng(5)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(k_shape).astype(dtype)
    b = rng.standard_normal(k_shape[3]).astype(dtype)
    ref = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
    with conv_algorithms(**algorithms):
        y = conv.conv2d_forward(x, w, b, strides, padding, True, dilation, groups)
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx, dw, db = conv.conv2d_backward(dy, x, w, y, True, True, strides, padding, dilation=dilation,
                                          groups=groups)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    np.testing.assert_allclose(y, conv_reference(x64, w64, b, relu=True, **ref), **_tolerance(dtype))
    dz = dy * (y > 0)
    eps = rng.standard_normal(x.shape)
    np.testing.assert_allclose((dx * eps).sum(), (dz * conv_reference(eps, w64, **ref)).sum(), rtol=1e-3
                               if dtype == np.float32 else 1e-9)
    for index in [(0, 0, 0, 0), (k_shape[0] - 1, k_shape[1] - 1, k_shape[2] - 1, k_shape[3] - 1)]:
        e = np.zeros(k_shape)
        e[index] = 1.0
        np.testing.assert_allclose(dw[index], (dz * conv_reference(x64, e, **ref)).sum(), **_tolerance(dtype))
    np.testing.assert_allclose(db, dz.astype(np.float64).sum((0, 1, 2)), **_tolerance(dtype))


@pytest.mark.parametrize("threads", [2, 3])
def test_thread_split_matches_one_thread(threads):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 9, 8, 4))
    cases = [(rng.standard_normal((3, 3, 4, 2)), (1, 1), (1, 1)), (rng.standard_normal((3, 3, 4, 1)), (2, 1), (1, 2))]
    dense = rng.standard_normal((3, 3, 4, 3))

    def passes():
        out = []
        for w, strides, dilation in cases:
            y = depthwise_conv.depthwise_forward(x, w, None, strides, "same", dilation, relu=True)
            out += [y, *depthwise_conv.depthwise_backward(np.ones_like(y), x, w, y, True, True, strides, "same",
                                                          dilation)]
        y = conv.conv2d_forward(x, dense, None, (1, 1), "same", False, (2, 2), 1)
        out += [y, *conv.conv2d_backward(np.ones_like(y), x, dense, None, False, False, (1, 1), "same",
                                         dilation=(2, 2))[:2]]
        return out

    previous = parallel.num_threads()
    try:
        with conv_settings(parallel_min_elements=0), parallel_settings(memory_bound_min=0):
            parallel.set_num_threads(1)
            one = passes()
            parallel.set_num_threads(threads)
            split = passes()
    finally:
        parallel.set_num_threads(previous)
    for a, b in zip(one, split, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_empty_batches_and_outputs():
    w = np.ones((3, 3, 2, 1))
    y = depthwise_conv.depthwise_forward(np.ones((0, 5, 5, 2)), w, padding="same")
    assert y.shape == (0, 5, 5, 2)
    dx, dw, db = depthwise_conv.depthwise_backward(y, np.ones((0, 5, 5, 2)), w, None, False, True, padding="same")
    assert dx.shape == (0, 5, 5, 2) and (dw == 0).all() and (db == 0).all()
    y = conv.conv2d_forward(np.ones((0, 6, 6, 2)), np.ones((3, 3, 2, 3)), None, (1, 1), "same", False, (2, 2), 1)
    assert y.shape == (0, 6, 6, 3)


def test_a_gradient_of_the_wrong_shape_is_refused():
    x, w = np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 1))
    with pytest.raises(ValueError, match=r"depthwise_conv2d: the output gradient has shape \(1, 4, 4, 2\), "
                                         r"expected \(1, 3, 3, 2\)"):
        depthwise_conv.depthwise_backward(np.ones((1, 4, 4, 2)), x, w, None, False, False)
    with pytest.raises(ValueError, match=r"conv2d: the output gradient has shape \(1, 5, 5, 1\), expected "
                                         r"\(1, 1, 1, 1\) .*dilation \(2, 2\), groups 1"):
        conv.conv2d_backward(np.ones((1, 5, 5, 1)), x, np.ones((3, 3, 2, 1)), None, False, False, (1, 1), "valid",
                             dilation=(2, 2))


def test_integer_inputs_are_refused():
    with pytest.raises(TypeError, match="conv2d: the input must be float32 or float64, received int64"):
        conv.conv2d_forward(np.ones((1, 5, 5, 2), np.int64), np.ones((3, 3, 2, 2)), dilation=(2, 2))


def test_the_ops_refuse_shapes_the_kernels_would_read_past():
    from kerasette.backend import ops

    x = np.ones((1, 5, 5, 4))
    with pytest.raises(ValueError, match=r"conv2d: expected an input \(N, H, W, C\), a kernel \(kh, kw, C // groups, "
                                         r"F\) with F divisible by groups=2 and a bias \(F,\); received shapes "
                                         r"\(1, 5, 5, 4\), \(3, 3, 4, 4\) and None"):
        ops.conv2d(x, np.ones((3, 3, 4, 4)), groups=2)
    with pytest.raises(ValueError, match=r"and a bias \(F,\); received shapes \(1, 5, 5, 4\), \(3, 3, 4, 4\) and "
                                         r"\(3,\)"):
        ops.conv2d(x, np.ones((3, 3, 4, 4)), np.ones(3), dilation_rate=2)
    with pytest.raises(ValueError, match=r"depthwise_conv2d: expected an input \(N, H, W, C\), a kernel "
                                         r"\(kh, kw, C, m\) and a bias \(C \* m,\); received shapes \(1, 5, 5, 4\), "
                                         r"\(3, 3, 2, 1\) and None"):
        ops.depthwise_conv2d(x, np.ones((3, 3, 2, 1)))
    with pytest.raises(ValueError, match=r"received shapes \(1, 5, 5, 4\), \(3, 3, 4, 2\) and \(4,\)"):
        ops.depthwise_conv2d(x, np.ones((3, 3, 4, 2)), np.ones(4))
    with pytest.raises(TypeError, match="depthwise_conv2d: the input must be float32 or float64, received int64"):
        ops.depthwise_conv2d(np.ones((1, 5, 5, 4), np.int64), np.ones((3, 3, 4, 1)))
