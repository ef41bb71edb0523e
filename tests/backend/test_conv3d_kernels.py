"""The numba kernels of the 3-D family (`kerasette.backend.kernels.conv3d`, `.pooling3d`) and
their drivers (`kerasette.backend.engine.conv3d`), each against a slow numpy reference: patch
packing and its adjoint, the chunk loops of the implicit GEMM (forward, both gradients, groups,
ReLU), tiles smaller than the batch, the batch split over threads, both dtypes; max pooling's
positions and the average pooling's counts; and the ops' errors (each message matched)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend import ops, parallel
from kerasette.backend.engine import conv3d as engine
from kerasette.backend.kernels import conv3d as kernels
from kerasette.backend.kernels import pooling3d as pool_kernels
from kerasette.backend.state import threads
from tests.backend.conv3d_op_cases import conv3d_reference, pool3d_reference
from tests.helpers import spaced


def _patches_reference(x, geometry, out, c0, cg):
    """Every patch row of the whole batch, one tap at a time from the zero-padded input."""
    kd, kh, kw, sd, sh, sw, dd, dh, dw, pf, pt, pl = geometry
    pad = max(kd * dd, kh * dh, kw * dw) + max(sd, sh, sw) * max(out)
    xp = np.pad(x[..., c0:c0 + cg], ((0, 0), (pad, pad), (pad, pad), (pad, pad), (0, 0)))
    rows = []
    for n in range(x.shape[0]):
        for od in range(out[0]):
            for oh in range(out[1]):
                for ow in range(out[2]):
                    row = []
                    for a in range(kd):
                        for i in range(kh):
                            for j in range(kw):
                                z, h, w = od * sd + a * dd - pf, oh * sh + i * dh - pt, ow * sw + j * dw - pl
                                row.append(xp[n, z + pad, h + pad, w + pad])
                    rows.append(np.concatenate(row))
    return np.array(rows)


GEOMETRIES = [  # (x shape, kernel size, strides, dilation, padding before, out, c0, cg)
    ((2, 4, 5, 6, 3), (2, 3, 2), (1, 1, 1), (1, 1, 1), (0, 0, 0), (3, 3, 5), 0, 3),
    ((1, 5, 4, 5, 4), (3, 2, 3), (2, 1, 2), (1, 1, 1), (1, 0, 1), (3, 4, 3), 2, 2),
    ((2, 5, 5, 5, 2), (2, 2, 2), (1, 1, 1), (2, 3, 1), (1, 1, 0), (5, 5, 4), 0, 2),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", range(len(GEOMETRIES)))
def test_vol2col_matches_the_patches_and_col2vol_is_its_adjoint(case, dtype):
    shape, size, strides, dilation, before, out, c0, cg = GEOMETRIES[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal(shape).astype(dtype)
    geometry = size + strides + dilation + before
    geom = np.array(geometry, np.int64)
    expected = _patches_reference(x, geometry, out, c0, cg)
    total = shape[0] * out[0] * out[1]
    k = np.prod(size) * cg
    cols = np.full((total * out[2] + 5, k), np.nan, dtype)  # spare rows must stay untouched
    for g0 in range(0, total, 3):  # tiles of three output rows
        g1 = min(g0 + 3, total)
        tile = np.full((3 * out[2], k), np.nan, dtype)
        kernels.vol2col_tile(x, tile, g0, g1, out[0], out[1], out[2], geom, c0, cg)
        cols[g0 * out[2]:g1 * out[2]] = tile[:(g1 - g0) * out[2]]
    np.testing.assert_array_equal(cols[:total * out[2]], expected.astype(dtype))
    assert np.isnan(cols[total * out[2]:]).all()
    # adjoint: <vol2col(x), d> == <x, col2vol(d)> on the group's channels
    d = rng.standard_normal(expected.shape).astype(dtype)
    dx = np.zeros(shape, dtype)
    kernels.col2vol_tile(d, dx, 0, total, out[0], out[1], out[2], geom, c0, cg)
    assert not dx[..., :c0].any() and not dx[..., c0 + cg:].any()
    np.testing.assert_allclose((expected * d).sum(), (x * dx).sum(), rtol=1e-4 if dtype == "float32" else 1e-12)


CONVS = [  # (x shape, kernel shape, strides, padding, dilation, groups)
    ((3, 4, 5, 6, 3), (2, 3, 2, 3, 4), (1, 1, 1), "valid", (1, 1, 1), 1),
    ((2, 5, 6, 5, 4), (3, 3, 3, 2, 6), (2, 2, 1), "same", (1, 1, 1), 2),
    ((2, 6, 5, 7, 2), (2, 2, 3, 2, 3), (1, 1, 1), "same", (2, 1, 3), 1),
    ((4, 3, 3, 3, 2), (1, 1, 1, 2, 5), (1, 1, 1), "valid", (1, 1, 1), 1),  # pointwise: one matrix product
    ((2, 3, 3, 3, 4), (1, 1, 1, 2, 4), (1, 1, 1), "same", (1, 1, 1), 2),  # grouped: patches
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", range(len(CONVS)))
@pytest.mark.parametrize("relu", [False, True])
def test_convolution_and_its_gradients_against_numpy(case, dtype, relu):
    xs, ks, strides, padding, dilation, groups = CONVS[case]
    rng = np.random.default_rng(case)
    x, k = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ks).astype(dtype)
    b = rng.standard_normal(ks[-1]).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-11, atol=1e-11)
    y = engine.conv3d_forward(x, k, b, strides, padding, dilation, groups, relu)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, conv3d_reference(x, k, b, strides, padding, dilation, groups, relu), **tol)
    # gradients: the adjoints of the reference's linear map, checked by dot products with random
    # directions (exact identities, no finite differences)
    dz = rng.standard_normal(y.shape).astype(dtype)
    gx, gk = engine.conv3d_backward(dz, x, k, strides, padding, dilation, groups)
    vx, vk = rng.standard_normal(xs), rng.standard_normal(ks)
    lin = lambda xx, kk: (conv3d_reference(xx, kk, None, strides, padding, dilation, groups) * dz).sum()  # noqa: E731
    np.testing.assert_allclose((gx * vx).sum(), lin(vx, k.astype(np.float64)), **tol)
    np.testing.assert_allclose((gk * vk).sum(), lin(x.astype(np.float64), vk), **tol)


@pytest.mark.parametrize("planes", [True, False], ids=["plane-by-plane", "tiles"])
def test_packings_tiles_and_threads_give_the_same_outputs(planes, monkeypatch):
    """Plane by plane or tiles of output rows (a ring too large for `PLANES_MAX_BYTES`); one output
    row per tile or the whole batch in one, one thread or two: the same forward bits (every output
    is the same products) and the same kernel gradient, as the reference."""
    rng = np.random.default_rng(4)
    x, k = rng.standard_normal((5, 6, 7, 8, 3)).astype("float32"), rng.standard_normal((3, 3, 3, 3, 4)).astype("float32")
    from kerasette.backend.state import conv as conv_state

    monkeypatch.setattr(engine, "PLANES_MAX_BYTES", engine.PLANES_MAX_BYTES if planes else 0)
    geometry = engine.Geometry(x.shape, k.shape, (1, 1, 1), "same", (1, 1, 1), 1)
    assert geometry.planes(x.shape, x.itemsize) == planes
    expected = conv3d_reference(x, k, None, (1, 1, 1), "same")
    dy = rng.standard_normal(expected.shape).astype("float32")
    vk = rng.standard_normal(k.shape)
    expected_gk = (conv3d_reference(x, vk, None, (1, 1, 1), "same") * dy).sum()  # <gk, vk>
    saved_tile, saved_min, saved_count = conv_state.tile_bytes, conv_state.parallel_min_elements, threads.count()
    try:
        results = []
        for tile_bytes, n_threads in ((1, 1), (1 << 20, 1), (1, 2), (4096, 2)):
            conv_state.tile_bytes, conv_state.parallel_min_elements = tile_bytes, 0
            parallel.set_num_threads(n_threads)
            y = engine.conv3d_forward(x, k, None, (1, 1, 1), "same", (1, 1, 1), 1, False)
            np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
            results.append(y)
            _, gk = engine.conv3d_backward(dy, x, k, (1, 1, 1), "same", (1, 1, 1), 1, need_input=False)
            np.testing.assert_allclose((gk * vk).sum(), expected_gk, rtol=1e-4)
        for y in results[1:]:
            np.testing.assert_array_equal(y, results[0])
    finally:
        conv_state.tile_bytes, conv_state.parallel_min_elements = saved_tile, saved_min
        parallel.set_num_threads(saved_count or parallel.available_cores())


@pytest.mark.parametrize("case", range(len(CONVS)))
def test_tiles_where_planes_would_apply(case, monkeypatch):
    """The tile packing on the shapes the plane packing takes by default."""
    monkeypatch.setattr(engine, "PLANES_MAX_BYTES", 0)
    xs, ks, strides, padding, dilation, groups = CONVS[case]
    rng = np.random.default_rng(case)
    x, k = rng.standard_normal(xs), rng.standard_normal(ks)
    y = engine.conv3d_forward(x, k, None, strides, padding, dilation, groups, False)
    np.testing.assert_allclose(y, conv3d_reference(x, k, None, strides, padding, dilation, groups), rtol=1e-11,
                               atol=1e-11)
    dz, vk, vx = rng.standard_normal(y.shape), rng.standard_normal(ks), rng.standard_normal(xs)
    gx, gk = engine.conv3d_backward(dz, x, k, strides, padding, dilation, groups)
    np.testing.assert_allclose((gk * vk).sum(), (conv3d_reference(x, vk, None, strides, padding, dilation, groups)
                                                 * dz).sum(), rtol=1e-11)
    np.testing.assert_allclose((gx * vx).sum(), (conv3d_reference(vx, k, None, strides, padding, dilation, groups)
                                                 * dz).sum(), rtol=1e-11)


def test_plane_packing_with_every_depth_tap_in_the_padding():
    """A thin volume under a deep 'same' kernel with strides: some output planes read padding
    only at some taps, and a strided window skips planes (the ring's tags keep them apart)."""
    rng = np.random.default_rng(9)
    x, k = rng.standard_normal((2, 2, 4, 3, 2)), rng.standard_normal((5, 2, 2, 2, 3))
    for strides in ((1, 1, 1), (2, 1, 1), (3, 2, 1)):
        g = engine.Geometry(x.shape, k.shape, strides, "same", (1, 1, 1), 1)
        assert g.planes(x.shape, x.itemsize)
        y = engine.conv3d_forward(x, k, None, strides, "same", (1, 1, 1), 1, False)
        np.testing.assert_allclose(y, conv3d_reference(x, k, None, strides, "same"), rtol=1e-11, atol=1e-11)
        dz, vx, vk = rng.standard_normal(y.shape), rng.standard_normal(x.shape), rng.standard_normal(k.shape)
        gx, gk = engine.conv3d_backward(dz, x, k, strides, "same", (1, 1, 1), 1)
        np.testing.assert_allclose((gx * vx).sum(), (conv3d_reference(vx, k, None, strides, "same") * dz).sum(),
                                   rtol=1e-11)
        np.testing.assert_allclose((gk * vk).sum(), (conv3d_reference(x, vk, None, strides, "same") * dz).sum(),
                                   rtol=1e-11)
    # a transposed convolution's gradient runs a forward pass whose output planes may see no input
    y = engine.conv3d_forward(x, k, None, (1, 1, 1), (6, 0, 0), (1, 1, 1), 1, False, out=(3, 3, 2))
    assert not y[:, 0].any() and not y[:, 1].any() and y[:, 2].all()
    padded = np.pad(x, ((0, 0), (6, 4), (0, 0), (0, 0), (0, 0)))
    np.testing.assert_allclose(y, conv3d_reference(padded, k)[:, :3], rtol=1e-11, atol=1e-11)


POOLS = [  # (x shape, pool, strides, padding)
    ((2, 4, 6, 5, 3), (2, 2, 2), (2, 2, 2), "valid"),
    ((1, 5, 5, 4, 2), (3, 2, 2), (1, 2, 1), "valid"),
    ((2, 5, 4, 7, 2), (3, 3, 2), (2, 2, 3), "same"),
    ((3, 3, 3, 3, 1), (2, 2, 2), (1, 1, 1), "same"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", range(len(POOLS)))
def test_pooling_kernels_against_numpy(case, dtype):
    shape, pool, strides, padding = POOLS[case]
    rng = np.random.default_rng(case)
    x = spaced(shape, rng).astype(dtype)
    y, arg = engine.maxpool3d_forward(x, pool, strides, padding)
    np.testing.assert_array_equal(y, pool3d_reference(x, pool, strides, padding, "max").astype(dtype))
    # each position holds the maximum it names
    flat = x.reshape(shape[0], -1, shape[4])
    picked = np.take_along_axis(flat, arg.reshape(shape[0], -1, shape[4]), axis=1).reshape(y.shape)
    np.testing.assert_array_equal(picked, y)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = engine.maxpool3d_backward(dy, arg, shape)
    expected = np.zeros_like(flat)
    np.add.at(expected, (np.arange(shape[0])[:, None, None], arg.reshape(shape[0], -1, shape[4]),
                         np.arange(shape[4])[None, None, :]), dy.reshape(shape[0], -1, shape[4]))
    np.testing.assert_allclose(dx, expected.reshape(shape), rtol=1e-6)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    avg = engine.avgpool3d_forward(x, pool, strides, padding)
    np.testing.assert_allclose(avg, pool3d_reference(x, pool, strides, padding, "mean"), **tol)
    v = rng.standard_normal(shape)
    gx = engine.avgpool3d_backward(dy, shape, pool, strides, padding)
    np.testing.assert_allclose((gx * v).sum(), (pool3d_reference(v, pool, strides, padding, "mean") * dy).sum(), **tol)


def test_max_pooling_gives_a_tie_to_the_first_cell_in_window_order():
    x = np.zeros((1, 2, 2, 2, 1), "float32")
    y, arg = engine.maxpool3d_forward(x, (2, 2, 2), (2, 2, 2), "valid")
    assert arg.ravel().tolist() == [0]
    x[0, 1, 0, 1, 0] = 1.0  # a strict maximum wins wherever it is
    y, arg = engine.maxpool3d_forward(x, (2, 2, 2), (2, 2, 2), "valid")
    assert (y.ravel().tolist(), arg.ravel().tolist()) == ([1.0], [(1 * 2 + 0) * 2 + 1])
    assert pool_kernels.maxpool3d_forward is not None


def test_op_errors():
    with pytest.raises(ValueError, match=r"conv3d: expected an input \(N, D, H, W, C\), a kernel \(kd, kh, kw, "
                                         r"C // groups, F\) with F divisible by groups=2 and a bias \(F,\); "
                                         r"received shapes \(1, 3, 3, 3, 4\), \(1, 1, 1, 2, 3\) and None"):
        ops.conv3d(np.ones((1, 3, 3, 3, 4)), np.ones((1, 1, 1, 2, 3)), groups=2)
    with pytest.raises(ValueError, match=r"conv3d: `padding` must be 'valid' or 'same'; received 'full'"):
        ops.conv3d(np.ones((1, 3, 3, 3, 1)), np.ones((1, 1, 1, 1, 1)), padding="full")
    with pytest.raises(ValueError, match=r"conv3d: `strides` must be a positive int or three positive ints; "
                                         r"received \(1, 1\)"):
        ops.conv3d(np.ones((1, 3, 3, 3, 1)), np.ones((1, 1, 1, 1, 1)), strides=(1, 1))
    with pytest.raises(ValueError, match=r"max_pool3d: expected a 5-D input \(N, D, H, W, C\); received shape "
                                         r"\(1, 3, 3, 1\)"):
        ops.max_pool3d(np.ones((1, 3, 3, 1)))
    with pytest.raises(ValueError, match=r"avg_pool3d: `padding` must be 'valid' or 'same'; received 'causal'"):
        ops.avg_pool3d(np.ones((1, 3, 3, 3, 1)), 2, None, "causal")
    with pytest.raises(ValueError, match=r"avg_pool3d: `pool_size` and `strides` must be positive ints or three "
                                         r"positive ints; received pool_size=\(2, 2\), strides=\(2, 2\)"):
        ops.avg_pool3d(np.ones((1, 3, 3, 3, 1)), (2, 2))
