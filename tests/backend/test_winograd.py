"""Winograd F(4x4, 3x3): kernels against numpy matrix products, passes against the slow references."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from kerasette.backend import state
from kerasette.backend.engine import algorithms, conv, conv_algorithms, conv_settings
from kerasette.backend.engine import winograd_conv as winograd
from kerasette.backend.engine.batch import scratch
from kerasette.backend.engine.geometry import conv_geometry
from kerasette.backend.kernels import simd
from kerasette.backend.kernels import winograd as kernels
from tests.backend.narrower_vectors import NARROWER_CPUS, run_with_narrower_vectors
from tests.backend.test_conv_kernels import all_passes, check_stride1_against_references, ref_conv

# The transform matrices, written out here independently of the kernels' formulas.
BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float64)
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]], np.float64)

CASES = [
    # (n, h, w, cin, cout, padding)
    (2, 6, 6, 16, 16, "valid"),  # one tile per image
    (2, 7, 9, 16, 17, "valid"),  # partial tiles on the bottom and the right
    (3, 10, 11, 17, 16, "same"),  # padding, partial tiles
    (1, 13, 6, 20, 24, "same"),
    (2, 18, 18, 16, 32, "valid"),  # 4 x 4 tiles per image
    (2, 9, 10, 8, 8, "same"),  # one vector of channels where vectors hold 8 (float64 with AVX-512, float32 with AVX2)
]


@pytest.fixture(params=[None, 1, 9000], ids=["block-default", "block-1-tile", "block-9k"])
def block_bytes(request):
    """The default block, one tile per block, and blocks that end inside and across images."""
    if request.param is None:
        yield None
        return
    with conv_settings(winograd_block_bytes=request.param):
        yield request.param


def _arrays(case, dtype, seed=3):
    n, h, w, cin, cout, padding = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    wt = rng.standard_normal((3, 3, cin, cout)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    dy = rng.standard_normal(ref_conv(x, wt, None, (1, 1), padding).shape).astype(dtype)
    return x, wt, b, dy


# Channel counts of the transform tests: 5 goes through the loops LLVM vectorises, one and two
# vectors of float64 through the explicit vector code.
TRANSFORM_CHANNELS = [5, simd.lanes(8), 2 * simd.lanes(8)]


def _kernel(loops, chans):
    """The transform kernel for ``chans`` float64 channels: the explicit vector code's for whole
    vectors, else ``loops``."""
    return getattr(kernels, loops.__name__ + "_v") if chans % simd.lanes(8) == 0 else loops


@pytest.mark.parametrize("chans", TRANSFORM_CHANNELS)
def test_input_transform_matches_matrix_product(chans):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 10, chans))
    tiles_h, tiles_w = 2, 2  # 'same'-like padding of 1: the tiles cross every border
    v = np.full((36, 8, chans), np.nan)
    _kernel(kernels.input_transform, chans)(x, v, 0, 8, tiles_h, tiles_w, 1, 1)
    xp = np.pad(x, ((0, 0), (1, 10), (1, 10), (0, 0)))
    for t in range(8):
        n, th, tw = t // 4, (t % 4) // 2, t % 2
        d = xp[n, 4 * th : 4 * th + 6, 4 * tw : 4 * tw + 6]
        expected = np.einsum("ik,klc,jl->ijc", BT, d, BT).reshape(36, chans)
        np.testing.assert_allclose(v[:, t], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chans", [3, simd.lanes(8), 2 * simd.lanes(8)])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_output_transform_matches_matrix_product(relu, residual, chans):
    rng = np.random.default_rng(1)
    mm = rng.standard_normal((36, 6, chans))
    b = rng.standard_normal(chans)
    y = np.full((1, 7, 10, chans), np.nan)  # 2 x 3 tiles; the last row and column are cropped
    r = rng.standard_normal(y.shape) if residual else y  # not read without the flag
    _kernel(kernels.output_transform, chans)(mm, y, 0, 6, 2, 3, b, True, r, residual, relu)
    full = np.zeros((1, 8, 12, chans))
    for t in range(6):
        th, tw = t // 3, t % 3
        full[0, 4 * th : 4 * th + 4, 4 * tw : 4 * tw + 4] = (
            np.einsum("ai,ijf,bj->abf", AT, mm[:, t].reshape(6, 6, chans), AT) + b)
    expected = full[:, :7, :10] + (r if residual else 0)
    np.testing.assert_allclose(y, np.maximum(expected, 0) if relu else expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chans", [3, simd.lanes(8), 2 * simd.lanes(8)])
def test_output_grad_transform_is_the_adjoint(chans):
    rng = np.random.default_rng(2)
    dy = rng.standard_normal((1, 7, 10, chans))
    dm = np.full((36, 6, chans), np.nan)
    _kernel(kernels.output_grad_transform, chans)(dy, dm, 0, 6, 2, 3)
    dyp = np.pad(dy, ((0, 0), (0, 1), (0, 2), (0, 0)))
    for t in range(6):
        th, tw = t // 3, t % 3
        g = dyp[0, 4 * th : 4 * th + 4, 4 * tw : 4 * tw + 4]
        expected = np.einsum("ai,abf,bj->ijf", AT, g, AT).reshape(36, chans)
        np.testing.assert_allclose(dm[:, t], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chans", [3, simd.lanes(8)])
def test_input_grad_transform_is_the_adjoint(chans):
    """Each tile's B X B^T added into its 6 x 6 window of the padded input gradient (windows
    overlap; the padding and the positions past the image dropped)."""
    rng = np.random.default_rng(6)
    v = rng.standard_normal((36, 8, chans))
    start = rng.standard_normal((2, 9, 10, chans))
    dx = start.copy()
    kernels.input_grad_transform(v, dx, 0, 8, 2, 2, 1, 1)
    padded = np.zeros((2, 1 + 9 + 10, 1 + 10 + 10, chans))
    for t in range(8):
        n, th, tw = t // 4, (t % 4) // 2, t % 2
        window = np.einsum("ik,ijc,jl->klc", BT, v[:, t].reshape(6, 6, chans), BT)
        padded[n, 4 * th : 4 * th + 6, 4 * tw : 4 * tw + 6] += window
    np.testing.assert_allclose(dx, start + padded[:, 1:10, 1:11], rtol=1e-12, atol=1e-12)


def test_input_grad_adjoint_runs_where_it_has_fewer_tiles():
    """'valid' layers' input gradient by the adjoint of the forward pass; 'same' ones, and outputs
    whose tiles cover the input as well, by the 'full' convolution."""
    def adjoint(x_shape, padding):
        g = conv_geometry(x_shape, (3, 3, 32, 32), (1, 1), padding, np.float32)
        assert algorithms.choose("input_grad", g).name == "winograd"
        return algorithms._winograd_adjoint_applies(g)

    assert adjoint((2, 10, 10, 32), "valid")  # 4 tiles, not 9
    assert adjoint((2, 30, 30, 32), "valid")  # 49, not 64
    assert not adjoint((2, 12, 12, 32), "valid")  # 9 either way
    assert not adjoint((2, 16, 16, 32), "same")
    assert winograd.fewer_tiles_adjoint((10, 14), (8, 12)) and not winograd.fewer_tiles_adjoint((12, 12), (10, 10))


def test_kernel_transforms_invert_the_algorithm():
    """One tile, one channel: A^T [(G g G^T) (.) (B^T d B)] A is the 3x3 cross-correlation."""
    rng = np.random.default_rng(4)
    g = rng.standard_normal((3, 3, 1, 1))
    d = rng.standard_normal((6, 6))
    u = winograd.kernel_transform(g).reshape(6, 6)
    y = AT @ (u * (BT @ d @ BT.T)) @ AT.T
    expected = np.array([[np.sum(d[i : i + 3, j : j + 3] * g[:, :, 0, 0]) for j in range(4)]
                         for i in range(4)])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_winograd_passes_match_references(case, dtype, block_bytes):
    x, w, b, dy = _arrays(case, dtype)
    padding = case[-1]
    out_hw = dy.shape[1:3]
    assert winograd.usable((3, 3), (1, 1), case[3], out_hw)
    check_stride1_against_references(x, w, b, dy, padding, dtype, [(None, False), (b, True)])


@pytest.mark.parametrize("case", CASES[1:3])
def test_winograd_agrees_with_gemm_path_in_float64(case):
    x, w, b, dy = _arrays(case, np.float64)
    fast = all_passes(x, w, b, dy, case[-1])
    with conv_algorithms(deny=["winograd"]):
        other = all_passes(x, w, b, dy, case[-1])
    for a, ref in zip(fast, other, strict=True):
        np.testing.assert_allclose(a, ref, rtol=1e-11, atol=1e-11)


def test_float32_error_is_bounded_on_a_seed_model_layer():
    """The stated tolerance: within 2e-5 of the output's scale on a 32 -> 32 layer."""
    rng = np.random.default_rng(5)
    x = rng.random((2, 22, 22, 32), dtype=np.float32)
    w = (rng.standard_normal((3, 3, 32, 32)) * 0.06).astype(np.float32)
    y = conv.conv2d_forward(x, w)
    exact = ref_conv(x.astype(np.float64), w.astype(np.float64), None, (1, 1), "valid")
    assert np.abs(y - exact).max() <= 2e-5 * np.abs(exact).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_residual_epilogue_matches_numpy(case, dtype, block_bytes):
    """``conv(..., residual=r)``: relu(conv(x) + b + r) against the slow reference, also in place
    (the residual array as the output), and without bias or ReLU."""
    x, w, b, dy = _arrays(case, dtype)
    r = np.random.default_rng(7).standard_normal(dy.shape).astype(dtype)
    pads = (1, 1, 1, 1) if case[-1] == "same" else (0, 0, 0, 0)
    u = winograd.kernel_transform(w)
    block = state.conv.winograd_block_bytes
    conv_ref = ref_conv(x.astype(np.float64), w.astype(np.float64), None, (1, 1), case[-1])
    tol = 1e-11 if dtype == np.float64 else 2e-5 * np.abs(conv_ref).max()
    for bias, relu in [(b, True), (None, False), (b, False)]:
        expected = conv_ref + (0 if bias is None else bias) + r
        expected = np.maximum(expected, 0) if relu else expected
        y = np.full_like(r, np.nan)
        winograd.conv(x, u, pads, y, scratch, block, bias, relu, residual=r)
        np.testing.assert_allclose(y, expected, rtol=0, atol=tol)
        inplace = r.copy()
        winograd.conv(x, u, pads, inplace, scratch, block, bias, relu, residual=inplace)
        np.testing.assert_array_equal(inplace, y)


@pytest.mark.parametrize("chunk, fix", [(kernels.conv_chunk, "conv_chunk_res"), (kernels.conv_chunk_v, "conv_chunk_v_res")])
def test_the_kernels_without_residual_code_refuse_a_residual(chunk, fix):
    """conv_chunk and conv_chunk_v leave the residual's code out (models without residual sums do
    not compile it): asked for one, they say which kernel adds it instead of ignoring it."""
    x, y = np.zeros((1, 6, 6, 8), np.float32), np.zeros((1, 4, 4, 8), np.float32)
    u, v, mm = (np.zeros((36, 8, 8), np.float32) for _ in range(3))
    with pytest.raises(ValueError, match=f"a residual needs {fix}"):
        chunk(x, u, y, v, mm, 1, 1, 0, 0, np.zeros(8, np.float32), False, y.copy(), True, False)


def test_dispatch():
    assert winograd.usable((3, 3), (1, 1), 16, (4, 4))
    assert winograd.usable((3, 3), (1, 1), 3, (8, 8))  # RGB input
    assert not winograd.usable((3, 3), (1, 1), 2, (8, 8))  # too few channels
    assert not winograd.usable((3, 3), (2, 2), 32, (8, 8))  # strided
    assert not winograd.usable((5, 5), (1, 1), 32, (8, 8))
    assert not winograd.usable((3, 3), (1, 1), 32, (3, 8))  # output smaller than one tile


def test_vector_side_rule():
    """Whole vectors of at most 64 bytes of channels take the explicit vector code (16 float32
    channels on every width, 32 nowhere); the kernels' compiled rule agrees with the Python one."""
    lanes = simd.lanes(4)
    assert kernels.vector_side(lanes, 4) and kernels.vector_side(16, 4)
    assert kernels.vector_side(2 * lanes, 4) == (simd.VECTOR_BYTES <= 32)
    assert not kernels.vector_side(32, 4) and not kernels.vector_side(0, 4)
    assert not kernels.vector_side(lanes + 1, 4)
    compiled = numba.njit(lambda c, s: kernels.vector_side(c, s))
    for chans in (0, lanes, 2 * lanes, 3 * lanes, 4 * lanes, 5, 12, 16, 32):
        for itemsize in (4, 8):
            assert compiled(chans, itemsize) == kernels.vector_side(chans, itemsize)


@pytest.mark.parametrize("cpu, features", NARROWER_CPUS)
def test_narrower_vectors_give_the_same_results(cpu, features, tmp_path):
    """The explicit vector transforms and the fused kernels with 16- and 32-byte vectors (CPUs
    without AVX-512), in a numba cache of their own: the transforms, the fused kernels and every
    pass against the references."""
    body = (
        "import numpy as np\n"
        "from tests.backend import test_winograd as t\n"
        "for chans in (5, simd.lanes(8), 2 * simd.lanes(8)):\n"
        "    t.test_input_transform_matches_matrix_product(chans)\n"
        "    t.test_output_transform_matches_matrix_product(True, True, chans)\n"
        "    t.test_output_grad_transform_is_the_adjoint(chans)\n"
        "for dtype in (np.float32, np.float64):\n"
        "    for case in (t.CASES[0], t.CASES[5]):\n"
        "        t.test_winograd_passes_match_references(case, dtype, None)\n"
        "    t.test_fused_kernels_match_references((2, 9, 10, 'same'), dtype)\n"
        "t.test_fused_side_rule()\n"
    )
    run_with_narrower_vectors(body, cpu, features, tmp_path)


def _fused_channels(dtype):
    """The channel counts that take the fused kernels for ``dtype`` on this machine's vectors."""
    itemsize = np.dtype(dtype).itemsize
    return [c for c in (8, 16) if kernels.fused_side(c, c, itemsize)]


def _guarded(rng, shape, dtype, fill=True, pad=64):
    """An array of ``shape`` inside a larger buffer of sentinels (for writes past its ends)."""
    size = int(np.prod(shape))
    buf = np.full(size + 2 * pad, 7.0, dtype)
    a = buf[pad : pad + size].reshape(shape)
    if fill:
        a[...] = rng.standard_normal(shape)
    return buf, a


def _untouched(buf, a, pad=64):
    return (buf[:pad] == 7).all() and (buf[pad + a.size :] == 7).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 9, 10, "same"), (3, 10, 14, "valid"), (1, 6, 6, "valid")])
def test_fused_kernels_match_references(shape, dtype):
    """The fused kernels (groups of tiles, register-blocked products) against the slow references:
    the forward pass with bias, residual and ReLU against the direct convolution, ``dU`` against
    the einsum of the (tested) transforms; several groups and a partial one; nothing written
    outside the arrays; and the engine takes them for these channel counts."""
    channels = _fused_channels(dtype)
    if not channels:
        pytest.skip("no fused channel count for this dtype and vector width")
    n, h, w, padding = shape
    rng = np.random.default_rng(8)
    for chans in channels:
        assert winograd._fused(chans, chans, dtype)
        pad = 1 if padding == "same" else 0
        oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
        tiles_h, tiles_w = -(-oh // 4), -(-ow // 4)
        bx, x = _guarded(rng, (n, h, w, chans), dtype)
        wt = rng.standard_normal((3, 3, chans, chans)).astype(dtype)
        bu, u = _guarded(rng, (36, chans, chans), dtype)
        u[...] = winograd.kernel_transform(wt)
        b = rng.standard_normal(chans).astype(dtype)
        r = rng.standard_normal((n, oh, ow, chans)).astype(dtype)
        by, y = _guarded(rng, (n, oh, ow, chans), dtype, fill=False)
        group = winograd.FUSED_GROUP + 1
        bv, v = _guarded(rng, (36, group, chans), dtype)
        bm, m = _guarded(rng, (36, group, chans), dtype)
        kernels.conv_chunk_fused(x, u, y, v, m, tiles_h, tiles_w, pad, pad, b, True, r, True, True)
        conv_ref = ref_conv(x.astype(np.float64), wt.astype(np.float64), None, (1, 1), padding)
        tol = 1e-11 if dtype == np.float64 else 2e-5 * np.abs(conv_ref).max()
        np.testing.assert_allclose(y, np.maximum(conv_ref + b + r, 0), rtol=0, atol=tol)
        assert all(_untouched(buf, a) for buf, a in [(bx, x), (bu, u), (by, y), (bv, v), (bm, m)])
        if winograd._shares_group(chans, chans, dtype):  # the products written over V: the same bits
            shared = np.empty_like(y)
            kernels.conv_chunk_fused(x, u, shared, v, v, tiles_h, tiles_w, pad, pad, b, True, r, True, True)
            np.testing.assert_array_equal(shared, y)
            assert _untouched(bv, v)

        dy = rng.standard_normal(y.shape).astype(dtype)
        bdu, du = _guarded(rng, (36, chans, chans), dtype)
        kernels.weight_grad_chunk_fused(dy, x, du, v, m, tiles_h, tiles_w, pad, pad)
        total = n * tiles_h * tiles_w
        vt = np.empty((36, total, chans), dtype)
        kernels.input_transform(x, vt, 0, total, tiles_h, tiles_w, pad, pad)
        dm = np.empty((36, total, chans), dtype)
        kernels.output_grad_transform(dy, dm, 0, total, tiles_h, tiles_w)
        expected = np.einsum("etc,etf->ecf", vt.astype(np.float64), dm.astype(np.float64))
        np.testing.assert_allclose(du, expected, rtol=0, atol=(1e-10 if dtype == np.float64 else 1e-5)
                                   * np.abs(expected).max())
        assert all(_untouched(buf, a) for buf, a in [(bx, x), (bdu, du), (bv, v), (bm, m)])


def test_fused_side_rule():
    """Both sides whole vectors of at most 64 bytes and the input's channels a multiple of 8; the
    kernels' compiled rule agrees with the Python one."""
    assert not kernels.fused_side(16, 32, 4) and not kernels.fused_side(32, 16, 4)
    assert not kernels.fused_side(3, 16, 4) and not kernels.fused_side(0, 16, 4)
    assert kernels.fused_side(16, 16, 4)  # 16 float32 channels: one or two vectors on every width
    compiled = numba.njit(lambda c, f, s: kernels.fused_side(c, f, s))
    for chans in (4, 8, 12, 16, 32):
        for cout in (8, 16, 24):
            for itemsize in (4, 8):
                assert compiled(chans, cout, itemsize) == kernels.fused_side(chans, cout, itemsize)


def test_shared_group_rule():
    """The fused forward pass writes M over V only for equal channels of one vector."""
    for dtype in (np.float32, np.float64):
        lanes = simd.lanes(np.dtype(dtype).itemsize)
        assert winograd._shares_group(lanes, lanes, dtype)
        assert not winograd._shares_group(2 * lanes, 2 * lanes, dtype)  # a second vector reads V after the first's store
        assert not winograd._shares_group(lanes, 2 * lanes, dtype) and not winograd._shares_group(2 * lanes, lanes, dtype)


def test_vector_access_through_an_address():
    """`simd.address`: loads, broadcasts and stores through an array's data pointer give what
    they give on the array, at the same flat indices, for both dtypes."""
    @numba.njit
    def copy_both_ways(a, out_array, out_pointer):
        lanes = simd.vcount(a)
        ap, op = simd.address(a), simd.address(out_pointer)
        for i in range(0, a.size - lanes + 1, lanes):
            simd.vstore(out_array, i, simd.vadd(simd.vload(a, i), simd.vbroadcast(a, 1)))
            simd.vstore(op, i, simd.vadd(simd.vload(ap, i), simd.vbroadcast(ap, 1)))
        simd.keep(a), simd.keep(out_pointer)

    for dtype in (np.float32, np.float64):
        a = np.arange(4 * simd.lanes(np.dtype(dtype).itemsize), dtype=dtype).reshape(2, -1)
        out_array, out_pointer = np.zeros_like(a), np.zeros_like(a)
        copy_both_ways(a, out_array, out_pointer)
        np.testing.assert_array_equal(out_array, a + a.reshape(-1)[1])
        np.testing.assert_array_equal(out_pointer, out_array)


def test_kept_kernel_transforms():
    """A kernel declared unchanging (`keep_transform`) is transformed once and its transform kept
    until the kernel is garbage; any other kernel is transformed on every call, so a change
    written into it is seen."""
    import gc

    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
    first = winograd.kernel_transform(w)
    w[0, 0, 0, 0] += 1.0
    changed = winograd.kernel_transform(w)
    assert changed is not first and not np.array_equal(changed, first)
    np.testing.assert_array_equal(changed, winograd._transform(w))

    kept = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
    winograd.keep_transform(kept)
    winograd.keep_transform(kept)  # declared again: the same entry
    u = winograd.kernel_transform(kept)
    np.testing.assert_array_equal(u, winograd._transform(kept))
    assert winograd.kernel_transform(kept) is u
    key = id(kept)
    assert key in winograd._KEPT
    del kept
    gc.collect()
    assert key not in winograd._KEPT
