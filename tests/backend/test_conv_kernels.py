"""Convolution and max-pooling kernels against slow, obviously correct numpy references."""

from __future__ import annotations

import itertools
import os
import stat

import numpy as np
import pytest

from kerasette.backend import memory
from kerasette.backend.engine import batch, conv, conv_algorithms, conv_settings, gemm_conv, pooling
from kerasette.backend.kernels import _jit
from kerasette.backend.kernels import conv as conv_kernels
from kerasette.utils.conv_utils import conv_output_length, padding_amounts

# ----------------------------------------------------------------------------- references


def _pad(x, kernel, strides, padding, value=0.0):
    top, bottom, left, right = padding_amounts(x.shape[1], x.shape[2], kernel, strides, padding)
    widths = ((0, 0), (top, bottom), (left, right), (0, 0))
    return np.pad(x, widths, constant_values=value), (top, left)


def _out_hw(x_shape, kernel, strides, padding):
    return tuple(conv_output_length(x_shape[1 + a], kernel[a], padding, strides[a]) for a in range(2))


def ref_conv(x, w, b, strides, padding, relu=False):
    """One output position at a time: a window of the zero-padded input times the kernel."""
    kh, kw = w.shape[:2]
    xp, _ = _pad(x, (kh, kw), strides, padding)
    oh_n, ow_n = _out_hw(x.shape, (kh, kw), strides, padding)
    y = np.zeros((x.shape[0], oh_n, ow_n, w.shape[3]), np.float64)
    for oh, ow in itertools.product(range(oh_n), range(ow_n)):
        win = xp[:, oh * strides[0] : oh * strides[0] + kh, ow * strides[1] : ow * strides[1] + kw]
        y[:, oh, ow] = np.tensordot(win, w, axes=([1, 2, 3], [0, 1, 2]))
    if b is not None:
        y += b
    return np.maximum(y, 0) if relu else y


def ref_conv_backward(dy, x, w, strides, padding):
    """dx and dw by adding each output position's gradient into its window."""
    kh, kw = w.shape[:2]
    xp, (top, left) = _pad(x, (kh, kw), strides, padding)
    dxp = np.zeros(xp.shape, np.float64)
    dw = np.zeros(w.shape, np.float64)
    for oh, ow in itertools.product(range(dy.shape[1]), range(dy.shape[2])):
        hs = slice(oh * strides[0], oh * strides[0] + kh)
        ws = slice(ow * strides[1], ow * strides[1] + kw)
        g = dy[:, oh, ow]
        dxp[:, hs, ws] += np.einsum("no,ijco->nijc", g, w)
        dw += np.einsum("nijc,no->ijco", xp[:, hs, ws], g)
    dx = dxp[:, top : top + x.shape[1], left : left + x.shape[2]]
    return dx, dw


def ref_maxpool(x, pool, strides, padding):
    """Window maxima of the -inf-padded input and the first (row-major) winner's position."""
    xp, (top, left) = _pad(x, pool, strides, padding, value=-np.inf)
    oh_n, ow_n = _out_hw(x.shape, pool, strides, padding)
    n_img, _, width, chans = x.shape
    y = np.zeros((n_img, oh_n, ow_n, chans), x.dtype)
    arg = np.zeros(y.shape, np.int64)
    for n, oh, ow, c in itertools.product(range(n_img), range(oh_n), range(ow_n), range(chans)):
        win = xp[n, oh * strides[0] : oh * strides[0] + pool[0], ow * strides[1] :, c]
        win = win[:, : pool[1]]
        i, j = np.unravel_index(np.argmax(win), win.shape)
        y[n, oh, ow, c] = win[i, j]
        arg[n, oh, ow, c] = (oh * strides[0] + i - top) * width + ow * strides[1] + j - left
    return y, arg


def check_stride1_against_references(x, w, b, dy, padding, dtype, outputs):
    """Forward (for each ``(bias, relu)`` in ``outputs``), input and kernel gradients of a
    stride-1 convolution against the slow references, with dtype, layout and shape checks."""
    for bias, relu in outputs:
        y = conv.conv2d_forward(x, w, bias, (1, 1), padding, relu=relu)
        assert y.dtype == dtype and y.flags.c_contiguous
        np.testing.assert_allclose(y, ref_conv(x, w, bias, (1, 1), padding, relu), **TOL[dtype])
    dx_ref, dw_ref = ref_conv_backward(dy, x, w, (1, 1), padding)
    dx = conv.conv2d_backward_input(dy, w, x.shape, (1, 1), padding)
    dw = conv.conv2d_backward_weight(dy, x, w.shape, (1, 1), padding)
    assert dx.dtype == dtype and dw.dtype == dtype and dw.shape == w.shape
    np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])
    np.testing.assert_allclose(dw, dw_ref, **TOL[dtype])


def all_passes(x, w, b, dy, padding, strides=(1, 1)):
    """Forward (bias and ReLU), input gradient and kernel gradient of one convolution, for
    comparing one code path with another."""
    return (conv.conv2d_forward(x, w, b, strides, padding, relu=True),
            conv.conv2d_backward_input(dy, w, x.shape, strides, padding),
            conv.conv2d_backward_weight(dy, x, w.shape, strides, padding))


# ----------------------------------------------------------------------------- cases

TOL = {
    np.float32: {"rtol": 2e-4, "atol": 2e-4},
    np.float64: {"rtol": 1e-10, "atol": 1e-10},
}

CONV_CASES = [
    # (n, h, w, cin, cout, kernel, strides, padding)
    (2, 7, 7, 3, 4, (3, 3), (1, 1), "valid"),
    (2, 7, 7, 3, 4, (3, 3), (1, 1), "same"),
    (2, 7, 7, 2, 4, (3, 3), (1, 1), "same"),  # too few channels for Winograd: GEMM
    (1, 9, 8, 5, 3, (3, 3), (2, 2), "same"),
    (2, 10, 11, 4, 6, (5, 5), (1, 1), "same"),
    (1, 11, 9, 2, 3, (5, 3), (3, 2), "valid"),
    (3, 6, 5, 7, 2, (2, 2), (2, 2), "valid"),
    (1, 7, 9, 3, 5, (2, 3), (1, 3), "same"),
    (2, 5, 6, 6, 4, (1, 1), (1, 1), "valid"),
    (1, 7, 6, 3, 2, (1, 1), (2, 3), "same"),
    (2, 8, 8, 8, 8, (3, 3), (3, 3), "same"),
    (1, 4, 13, 1, 3, (3, 5), (1, 2), "valid"),
    (1, 3, 3, 2, 2, (5, 5), (1, 1), "same"),
    (1, 6, 6, 32, 16, (3, 3), (1, 1), "valid"),
]
DTYPES = [np.float32, np.float64]


def _case_arrays(case, dtype, seed=0):
    n, h, w, cin, cout, kernel, strides, padding = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    wt = rng.standard_normal((*kernel, cin, cout)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    oh_n, ow_n = _out_hw(x.shape, kernel, strides, padding)
    dy = rng.standard_normal((n, oh_n, ow_n, cout)).astype(dtype)
    return x, wt, b, dy


@pytest.fixture(params=[None, 1, 700], ids=["tile-default", "tile-1row", "tile-700B"])
def tile_bytes(request):
    """Runs a test with the default tile, with one output row per tile and with a few rows."""
    if request.param is None:
        yield None
        return
    with conv_settings(tile_bytes=request.param):
        yield request.param


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward(case, dtype, tile_bytes):
    x, w, b, _ = _case_arrays(case, dtype)
    strides, padding = case[6], case[7]
    for bias, relu in [(None, False), (b, True), (b, False)]:
        y = conv.conv2d_forward(x, w, bias, strides, padding, relu=relu)
        assert y.dtype == dtype and y.flags.c_contiguous
        np.testing.assert_allclose(y, ref_conv(x, w, bias, strides, padding, relu), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_backward(case, dtype, tile_bytes):
    x, w, _, dy = _case_arrays(case, dtype)
    strides, padding = case[6], case[7]
    dx_ref, dw_ref = ref_conv_backward(dy, x, w, strides, padding)
    dw = conv.conv2d_backward_weight(dy, x, w.shape, strides, padding)
    assert dw.dtype == dtype and dw.shape == w.shape
    # stride 1: the 'full' convolution even with few input channels, then col2im (or direct)
    for setting in (conv_settings(full_conv_min_cin=1), conv_algorithms(allow=["direct", "col2im"])):
        with setting:
            dx = conv.conv2d_backward_input(dy, w, x.shape, strides, padding)
        assert dx.dtype == dtype and dx.shape == x.shape
        np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])
    np.testing.assert_allclose(dw, dw_ref, **TOL[dtype])


@pytest.mark.parametrize("case", [c for c in CONV_CASES if c[6] == (1, 1)][:3])
def test_backward_input_paths_agree(case):
    """The stride-1 'full convolution' path and the general col2im path give the same dx."""
    x, w, _, dy = _case_arrays(case, np.float64)
    pads = padding_amounts(x.shape[1], x.shape[2], case[5], (1, 1), case[7])
    dx = np.zeros(x.shape)
    gemm_conv.input_grad_col2im(dy, w, dx, (1, 1), pads)
    full = conv.conv2d_backward_input(dy, w, x.shape, (1, 1), case[7])
    np.testing.assert_allclose(full, dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("view", ["sliced", "reversed", "broadcast", "transposed"])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_kernel_views_are_read_as_their_values(view, strides):
    """A strided kernel (as ``K.conv2d`` may pass) gives the product of its values on every path."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 9, 4)).astype(np.float32)
    base = rng.standard_normal((3, 3, 4, 12)).astype(np.float32)
    w = {"sliced": base[..., ::2], "reversed": base[..., ::-1],
         "broadcast": np.broadcast_to(base[:, :, :1], base.shape),
         "transposed": np.ascontiguousarray(base.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)}[view]
    b = rng.standard_normal(24).astype(np.float32)[::2][: w.shape[3]]
    want = ref_conv(x, np.array(w), np.array(b), strides, "same", relu=True)
    y = conv.conv2d_forward(x, w, b, strides, "same", relu=True)
    np.testing.assert_allclose(y, want, **TOL[np.float32])
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx_ref, _ = ref_conv_backward(dy, x, np.array(w), strides, "same")
    np.testing.assert_allclose(conv.conv2d_backward_input(dy, w, x.shape, strides, "same"), dx_ref,
                               **TOL[np.float32])


@pytest.mark.parametrize("dtype", [np.int64, np.float16])
def test_non_float_input_is_refused_by_name(dtype):
    x = np.ones((1, 5, 5, 2), dtype)
    with pytest.raises(TypeError, match=f"conv2d: the input must be float32 or float64, received {np.dtype(dtype)}"):
        conv.conv2d_forward(x, np.ones((3, 3, 2, 4), np.float32))


@pytest.mark.parametrize("dtype", [np.int64, np.float16])
def test_non_float_output_gradient_is_refused_by_name(dtype):
    dy = np.ones((1, 5, 5, 16), dtype)
    with pytest.raises(TypeError, match=f"conv2d: the output gradient must be float32 or float64, "
                                        f"received {np.dtype(dtype)}"):
        conv.conv2d_backward_input(dy, np.ones((3, 3, 3, 16)), (1, 5, 5, 3), (1, 1), "same")


def test_empty_output():
    x = np.ones((2, 2, 2, 3), np.float32)
    w = np.ones((3, 3, 3, 4), np.float32)
    assert conv.conv2d_forward(x, w).shape == (2, 0, 0, 4)
    dy = np.ones((2, 0, 0, 4), np.float32)
    np.testing.assert_array_equal(conv.conv2d_backward_input(dy, w, x.shape, (1, 1), "valid"), 0)
    np.testing.assert_array_equal(conv.conv2d_backward_weight(dy, x, w.shape, (1, 1), "valid"), 0)


def test_buffers_are_reused():
    x, w, _, _ = _case_arrays(CONV_CASES[0], np.float32)
    conv.conv2d_forward(x, w)
    buf = batch.scratch("cols", (1,), np.float32)
    conv.conv2d_forward(x, w)
    assert batch.scratch("cols", (1,), np.float32).base is buf.base


# ----------------------------------------------------------------------------- max pooling

POOL_CASES = [
    # (n, h, w, c, pool, strides, padding)
    (2, 6, 6, 3, (2, 2), (2, 2), "valid"),
    (2, 7, 7, 3, (2, 2), (2, 2), "valid"),
    (2, 7, 7, 3, (2, 2), (2, 2), "same"),
    (1, 8, 9, 2, (3, 3), (2, 2), "same"),
    (1, 9, 7, 4, (3, 2), (1, 3), "same"),
    (2, 5, 8, 1, (3, 3), (3, 3), "valid"),
    (1, 5, 5, 2, (5, 5), (1, 1), "same"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool(case, dtype):
    n, h, w, c, pool, strides, padding = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    y, arg = pooling.maxpool2d_forward(x, pool, strides, padding)
    y_ref, arg_ref = ref_maxpool(x, pool, strides, padding)
    assert y.dtype == dtype and np.isfinite(y).all()
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = pooling.maxpool2d_backward(dy, arg, x.shape)
    dx_ref = np.zeros(x.shape, dtype).reshape(n, h * w, c)
    for i, oh, ow, ch in itertools.product(*map(range, y.shape)):
        dx_ref[i, arg_ref[i, oh, ow, ch], ch] += dy[i, oh, ow, ch]
    np.testing.assert_allclose(dx, dx_ref.reshape(x.shape), rtol=1e-6)


def test_maxpool_ties_go_to_first_in_row_major_order():
    x = np.zeros((1, 4, 4, 2), np.float64)
    x[0, 1, 0, 1] = x[0, 0, 1, 1] = 5.0  # channel 1: tie; (0, 1) comes first in row-major order
    y, arg = pooling.maxpool2d_forward(x, (2, 2), (2, 2), "valid")
    assert arg[0, 0, 0, 0] == 0 and arg[0, 0, 0, 1] == 1
    dx = pooling.maxpool2d_backward(np.ones_like(y), arg, x.shape)
    assert dx[0, 0, 0, 0] == 1 and dx[0, 0, 1, 0] == 0 and dx[0, 1, 0, 0] == 0
    assert dx[0, 0, 1, 1] == 1 and dx[0, 1, 0, 1] == 0
    assert dx.sum() == y.size


def test_maxpool_same_padding_never_picks_padding():
    x = -np.ones((1, 3, 3, 1), np.float32) * np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    y, arg = pooling.maxpool2d_forward(x, (2, 2), (2, 2), "same")
    assert y.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(y[0, :, :, 0], [[-1, -3], [-7, -9]])
    np.testing.assert_array_equal(arg[0, :, :, 0], [[0, 2], [6, 8]])


# ----------------------------------------------------------------------------- numba cache dir


def test_cache_dir_beside_writable_modules(tmp_path):
    assert _jit._cache_dir_for(tmp_path, {"HOME": str(tmp_path)}) is None


def test_cache_dir_respects_user_setting(tmp_path):
    assert _jit._cache_dir_for("/nonexistent", {"NUMBA_CACHE_DIR": "/x"}) is None


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_cache_dir_falls_back_for_read_only_package(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    pkg.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        got = _jit._cache_dir_for(pkg, {"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    finally:
        pkg.chmod(stat.S_IRWXU)
    assert got == str(tmp_path / "xdg" / "kerasette" / "numba")


def test_cache_dir_falls_back_for_missing_package(tmp_path):
    got = _jit._cache_dir_for(tmp_path / "absent", {"XDG_CACHE_HOME": str(tmp_path)})
    assert got == str(tmp_path / "kerasette" / "numba")
    got = _jit._cache_dir_for(tmp_path / "absent", {"HOME": str(tmp_path)})
    assert got == str(tmp_path / ".cache" / "kerasette" / "numba")


def test_cache_dir_falls_back_when_access_denied(tmp_path, monkeypatch):
    monkeypatch.setattr(_jit.os, "access", lambda path, mode: False)
    got = _jit._cache_dir_for(tmp_path, {"XDG_CACHE_HOME": "/c"})
    assert got == "/c/kerasette/numba"


def test_cache_dir_uses_existing_read_only_pycache(tmp_path, monkeypatch):
    (tmp_path / "__pycache__").mkdir()
    monkeypatch.setattr(_jit.os, "access", lambda p, mode: "__pycache__" not in str(p))
    assert _jit._cache_dir_for(tmp_path, {"XDG_CACHE_HOME": "/c"}) == "/c/kerasette/numba"


@pytest.mark.parametrize("shape, kernel, strides, padding", [
    ((3, 7, 8, 3), (3, 3), (1, 1), "valid"),
    ((2, 11, 9, 2), (5, 3), (3, 2), "valid"),
    ((2, 6, 6, 3), (2, 2), (2, 2), "same"),  # no top/left padding, but windows reach the bottom
    ((2, 7, 7, 3), (3, 3), (1, 1), "same"),
    ((2, 9, 8, 1), (3, 3), (1, 1), "valid"),
])
def test_im2col_tile_matches_reference(shape, kernel, strides, padding):
    """The numba packer against windows cut from a zero-padded copy, on tiles that start and
    end inside images and span several."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if shape[3] == 1:  # channels-first with one channel, transposed: C-contiguous, odd strides
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2).copy().transpose(0, 2, 3, 1))
        assert x.flags.c_contiguous and x.strides[3] != x.itemsize
    (oh_n, ow_n) = _out_hw(shape, kernel, strides, padding)
    pt, pb, pl, pr = padding_amounts(shape[1], shape[2], kernel, strides, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    (kh, kw), (sh, sw) = kernel, strides
    windows = np.stack([xp[:, i: i + (oh_n - 1) * sh + 1: sh, j: j + (ow_n - 1) * sw + 1: sw]
                        for i in range(kh) for j in range(kw)], axis=3)  # (N, OH, OW, kh * kw, C)
    patches = windows.reshape(shape[0] * oh_n, ow_n, -1)
    k = kh * kw * shape[3]
    total = shape[0] * oh_n
    for g0, g1 in [(0, total), (1, total - 1), (oh_n - 1, min(total, oh_n + 2))]:
        got = np.full(((g1 - g0) * ow_n, k), np.nan, np.float32)
        conv_kernels.im2col_tile(x, got, g0, g1, oh_n, ow_n, *kernel, *strides, pt, pl)
        np.testing.assert_array_equal(got, patches[g0:g1].reshape(-1, k))


@pytest.mark.parametrize("case", [
    (2, 7, 7, 2, 4, (3, 3), (1, 1), "valid"),  # GEMM and col2im (fewer than 3 channels: no Winograd)
    (1, 9, 8, 5, 3, (3, 3), (2, 2), "same"),  # strided
    (2, 8, 9, 16, 16, (3, 3), (1, 1), "same"),  # Winograd
    (2, 7, 7, 16, 16, (5, 3), (1, 1), "valid"),  # row GEMM
])
@pytest.mark.parametrize("relu, has_bias", [(True, True), (False, True), (False, False)])
def test_fused_backward_equals_the_separate_passes(case, relu, has_bias):
    x, w, b, dy = _case_arrays(case, np.float64)
    strides, padding = case[6], case[7]
    out = conv.conv2d_forward(x, w, b if has_bias else None, strides, padding, relu=relu)
    dz, db_want = (conv.output_pass_backward(dy, out, relu) if relu or has_bias else (dy, None))
    dx_want = conv.conv2d_backward_input(dz, w, x.shape, strides, padding)
    dw_want = conv.conv2d_backward_weight(dz, x, w.shape, strides, padding)
    dx, dw, db = conv.conv2d_backward(dy, x, w, out if relu else None, relu, has_bias, strides, padding)
    np.testing.assert_allclose(dx, dx_want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, dw_want, rtol=1e-12, atol=1e-12)
    if has_bias:
        np.testing.assert_allclose(db, db_want, rtol=1e-12, atol=1e-12)
    else:
        assert db is None
    only_w = conv.conv2d_backward(dy, x, w, out if relu else None, relu, has_bias, strides, padding,
                                       need_input=False)
    assert only_w[0] is None
    np.testing.assert_allclose(only_w[1], dw_want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("relu", [False, True])
def test_output_pass_kernels_in_place_and_not(relu):
    """The output pass's backward (the ReLU's mask and the bias gradient) against numpy, into a
    new array and into the gradient itself."""
    rng = np.random.default_rng(5)
    dy = rng.standard_normal((37, 6)).astype(np.float32)
    out = np.maximum(rng.standard_normal((37, 6)).astype(np.float32), 0)
    expected = dy * (out > 0) if relu else dy.copy()
    dz, db = np.full_like(dy, np.nan), np.zeros(6, np.float32)
    conv_kernels.relu_grad_bias_rows(dy, out, relu, dz, db)
    np.testing.assert_array_equal(dz, expected)
    np.testing.assert_allclose(db, expected.sum(axis=0), rtol=1e-5, atol=1e-5)
    inplace, db2 = dy.copy(), np.zeros(6, np.float32)
    conv_kernels.relu_grad_bias_rows_inplace(inplace, out, relu, db2)
    np.testing.assert_array_equal(inplace, expected)
    np.testing.assert_array_equal(db2, db)
    if not relu:
        db3 = np.zeros(6, np.float32)
        conv_kernels.bias_grad_rows(dy, db3)
        np.testing.assert_array_equal(db3, db)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu", [False, True])
def test_output_pass_in_place_in_vectors_keeps_the_loop_bits(dtype, relu):
    """The in-place output pass at widths of whole vectors (four, two, one at a time) and with
    channels left over: the masked gradient and the bias sums bit for bit those of a plain loop
    adding the rows in order (NaN and -0.0 among the values)."""
    rng = np.random.default_rng(7)
    for cout in (5, 16, 32, 37, 64, 80, 136):
        dy = (rng.standard_normal((45, cout)) * 10.0 ** rng.integers(-6, 6, (45, cout))).astype(dtype)
        out = rng.standard_normal((45, cout)).astype(dtype)
        dy[1], out[2], dy[3, ::3], out[0, ::2] = -0.0, np.nan, np.nan, -0.0
        db0 = rng.standard_normal(cout).astype(dtype)
        expected = np.where(out > 0, dy, dtype(0)) if relu else dy.copy()
        db_want = db0.copy()
        for row in expected:
            db_want += row
        dz, db = dy.copy(), db0.copy()
        conv_kernels.relu_grad_bias_rows_inplace(dz, out, relu, db)
        assert dz.tobytes() == expected.tobytes() and db.tobytes() == db_want.tobytes(), cout


def test_conv_backward_overwriting_its_gradient_gives_the_same_gradients():
    """``overwrite_dy``: the same gradients as a new array, the gradient now holding the masked
    one."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 9, 9, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 5, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    out = conv.conv2d_forward(x, w, b, (1, 1), "same", relu=True)
    dy = memory.empty_aligned(out.shape, np.float32)
    dy[...] = rng.standard_normal(out.shape)
    expected = conv.conv2d_backward(dy.copy(), x, w, out, True, True, (1, 1), "same")
    got = conv.conv2d_backward(dy, x, w, out, True, True, (1, 1), "same", overwrite_dy=True)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("side, dtype", [(12, np.uint16), (16, np.uint16), (17, np.uint16), (40, np.uint16)])
def test_maxpool_positions_in_the_smallest_integers(side, dtype):
    """The positions the backward pass keeps are uint16 up to 256 x 256 planes (not uint8 for the
    smallest: one signature of each kernel fewer to compile); forward and backward against numpy."""
    rng = np.random.default_rng(side)
    x = rng.standard_normal((2, side, side, 3)).astype(np.float32)
    y, argmax = pooling.maxpool2d_forward(x, (2, 2), (2, 2), "valid")
    assert argmax.dtype == dtype
    o = side // 2
    windows = x[:, :2 * o, :2 * o].reshape(2, o, 2, o, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, o, o, 3, 4)
    np.testing.assert_array_equal(y, windows.max(axis=-1))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = pooling.maxpool2d_backward(dy, argmax, x.shape)
    winner = windows.argmax(axis=-1)  # first maximum in row-major window order, as the kernel
    expected = np.zeros_like(x)
    for n, i, j, c in np.ndindex(2, o, o, 3):
        di, dj = divmod(int(winner[n, i, j, c]), 2)
        expected[n, 2 * i + di, 2 * j + dj, c] += dy[n, i, j, c]
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, taps", [
    ((3, 3, 16, 16), [(2 - i, 2 - j) for i in range(3) for j in range(3)]),
    ((3, 3, 5, 7), [(0, 1), (2, 2), (1, 0)]),
    ((1, 1, 32, 64), [(0, 0)]),
    ((2, 3, 3, 1), [(1, 2), (0, 0)]),
])
def test_taps_transposed_against_numpy(shape, taps, dtype):
    """Each tap's (C, F) slice transposed to (F, C), in the order of the taps given."""
    w = np.random.default_rng(7).standard_normal(shape).astype(dtype)
    ii, jj = (np.array([t[k] for t in taps], np.int64) for k in (0, 1))
    out = np.full((len(taps), shape[3], shape[2]), np.nan, dtype)
    conv_kernels.taps_transposed(w, ii, jj, out)
    np.testing.assert_array_equal(out, np.stack([w[i, j].T for i, j in taps]))


def test_conv_backward_without_relu_leaves_a_read_only_gradient_alone():
    """Without a ReLU the output pass only sums the bias gradient: ``dy`` is read where it is
    (read-only, not to be overwritten) and the gradients are the numpy reference's."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 10, 10, 16))
    w = rng.standard_normal((3, 3, 16, 16))
    dy = rng.standard_normal((4, 10, 10, 16))
    kept = dy.copy()
    dy.flags.writeable = False
    with conv_settings(parallel_min_elements=1):
        dx, dw, db = conv.conv2d_backward(dy, x, w, None, False, True, (1, 1), "same")
    np.testing.assert_array_equal(dy, kept)
    np.testing.assert_allclose(db, kept.sum(axis=(0, 1, 2)), rtol=1e-12)
    dx_ref, dw_ref = ref_conv_backward(kept, x, w, (1, 1), "same")
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-9, atol=1e-9)

