"""Direct SIMD convolution kernels (few input channels) against the slow numpy references."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from kerasette.backend.engine import conv, conv_algorithms, conv_settings
from kerasette.backend.engine import direct_conv as direct
from kerasette.backend.engine.algorithms import choose
from kerasette.backend.engine.batch import scratch, sum_parts
from kerasette.backend.engine.geometry import conv_geometry
from kerasette.backend.kernels import direct as direct_kernels
from kerasette.backend.kernels import simd
from tests.backend.narrower_vectors import NARROWER_CPUS, run_with_narrower_vectors
from tests.backend.test_conv_kernels import TOL, ref_conv, ref_conv_backward

CASES = [
    # (n, h, w, cin, cout, kernel, strides, padding)
    (2, 9, 13, 3, 32, (3, 3), (1, 1), "valid"),  # 11 columns: forward blocks cross the ends of rows
    (2, 8, 8, 1, 64, (3, 3), (1, 1), "same"),  # two pairs of vectors of channels, padding
    (1, 11, 10, 2, 32, (5, 5), (2, 2), "same"),  # 50 taps: the last group of 9 is partial
    (3, 7, 20, 8, 32, (3, 3), (2, 1), "valid"),  # different strides per axis
    (2, 6, 6, 4, 32, (1, 1), (1, 1), "valid"),  # 1x1 kernel
    (1, 6, 9, 3, 32, (2, 4), (1, 3), "same"),  # even kernel: asymmetric padding
    (1, 6, 11, 3, 32, (2, 4), (1, 1), "same"),  # the same at stride 1 (the input gradient too)
    (2, 5, 5, 3, 32, (3, 3), (1, 1), "valid"),  # every input pixel's window crosses the border
    (1, 4, 14, 5, 32, (3, 3), (1, 1), "same"),  # 5 channels: a partial group of 3
    (1, 2, 3, 3, 32, (5, 5), (1, 1), "same"),  # kernel larger than the image: rows and columns clipped
    (1, 4, 21, 3, 32, (3, 3), (1, 1), "valid"),  # input gradient: 17 inner pixels, the last block overlaps
    (2, 5, 22, 1, 32, (3, 3), (1, 1), "same"),  # 1 channel: block sums copied out value by value
    (1, 3, 40, 3, 32, (3, 3), (1, 1), "same"),  # one border pixel on each side, 38 inner pixels
    (1, 3, 19, 3, 32, (1, 1), (1, 1), "valid"),  # 1x1 kernel: blocks only, no border pixels
    (1, 4, 20, 2, 32, (2, 4), (1, 1), "same"),  # even kernel, 2 channels: blocks, asymmetric padding
    (1, 3, 9, 3, 32, (3, 3), (1, 1), "same"),  # 7 inner pixels, one short of an 8-pixel block
    (1, 4, 5, 3, 32, (7, 1), (1, 1), "same"),  # kernel taller than the image
    (2, 3, 3, 3, 32, (3, 3), (1, 1), "same"),  # 9 pixels an image: forward blocks over 3 rows, the last overlapping
    (3, 2, 2, 2, 32, (3, 3), (1, 1), "same"),  # 4 pixels an image, fewer than a forward block: one at a time
]


def _arrays(case, dtype):
    n, h, w, cin, cout, kernel, strides, padding = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    k = rng.standard_normal((*kernel, cin, cout)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    y = ref_conv(x, k, None, strides, padding)
    dy = rng.standard_normal(y.shape).astype(dtype)
    return x, k, b, dy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_forward_matches_the_reference(case, dtype):
    x, k, b, _ = _arrays(case, dtype)
    strides, padding = case[6], case[7]
    assert direct.usable(x.shape[3], k.shape[3], dtype)
    for bias, relu in [(None, False), (b, True), (b, False)]:
        y = conv.conv2d_forward(x, k, bias, strides, padding, relu=relu)
        assert y.dtype == dtype
        np.testing.assert_allclose(y, ref_conv(x, k, bias, strides, padding, relu), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_kernel_gradient_matches_the_reference(case, dtype):
    x, k, _, dy = _arrays(case, dtype)
    strides, padding = case[6], case[7]
    _, dw_ref = ref_conv_backward(dy, x, k, strides, padding)
    dw = conv.conv2d_backward_weight(dy, x, k.shape, strides, padding)
    assert dw.dtype == dtype and dw.shape == k.shape
    np.testing.assert_allclose(dw, dw_ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [c for c in CASES if c[6] == (1, 1)])
def test_input_gradient_matches_the_reference(case, dtype):
    x, k, _, dy = _arrays(case, dtype)
    padding = case[7]
    dx_ref, _ = ref_conv_backward(dy, x, k, (1, 1), padding)
    dx = conv.conv2d_backward_input(dy, k, x.shape, (1, 1), padding)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])


# Convolutions the direct kernels take by their tap count, and one-vector outputs (which of
# them apply depends on the vector width and the dtype: the others are skipped).
TAP_CASES = [
    # (n, h, w, cin, cout, kernel, strides, padding)
    (2, 9, 29, 3, 16, (3, 3), (1, 1), "same"),  # one vector (AVX-512 float32): 8-pixel blocks, the last overlapping
    (1, 6, 7, 3, 16, (3, 3), (1, 1), "valid"),  # 5 columns: a 4-pixel block and one pixel
    (2, 5, 20, 16, 16, (1, 3), (2, 1), "same"),  # 48 taps, strided rows
    (1, 7, 13, 16, 48, (3, 3), (2, 2), "same"),  # a pair of vectors and one vector; 144 taps, strided
    (2, 6, 11, 32, 32, (1, 1), (2, 2), "valid"),  # 1x1 stride 2 shortcut
    (1, 5, 19, 3, 24, (3, 3), (1, 1), "same"),  # 24 channels: a pair and one vector where vectors hold 8
    (1, 4, 9, 64, 16, (1, 1), (1, 1), "same"),  # 1x1, 64 taps: the 'full' input gradient has 16 taps
]


def _forced_direct(case, dtype, pass_name):
    """``conv_algorithms(allow=['direct'])`` when direct is this pass's first choice for ``case``,
    else a skip."""
    n, h, w, cin, cout, kernel, strides, padding = case
    g = conv_geometry((n, h, w, cin), (*kernel, cin, cout), strides, padding, dtype)
    if choose(pass_name, g).name != "direct":
        pytest.skip(f"direct is not the {pass_name} choice here ({simd.VECTOR_BYTES}-byte vectors, {dtype.__name__})")
    return conv_algorithms(allow=["direct"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", TAP_CASES)
def test_tap_rule_passes_match_the_reference(case, dtype):
    x, k, b, dy = _arrays(case, dtype)
    strides, padding = case[6], case[7]
    dx_ref, dw_ref = ref_conv_backward(dy, x, k, strides, padding)
    ran = 0
    for pass_name in ("forward", "input_grad", "kernel_grad"):
        try:
            forced = _forced_direct(case, dtype, pass_name)
        except pytest.skip.Exception:
            continue
        ran += 1
        with forced:
            if pass_name == "forward":
                for bias, relu in [(None, False), (b, True)]:
                    np.testing.assert_allclose(conv.conv2d_forward(x, k, bias, strides, padding, relu=relu),
                                               ref_conv(x, k, bias, strides, padding, relu), **TOL[dtype])
            elif pass_name == "input_grad":
                np.testing.assert_allclose(conv.conv2d_backward_input(dy, k, x.shape, strides, padding), dx_ref,
                                           **TOL[dtype])
            else:
                np.testing.assert_allclose(conv.conv2d_backward_weight(dy, x, k.shape, strides, padding), dw_ref,
                                           **TOL[dtype])
    if not ran:
        pytest.skip(f"direct is no pass's choice here ({simd.VECTOR_BYTES}-byte vectors, {dtype.__name__})")


# Kernels of more than one tap with up to 288 taps (`direct.MAX_WINDOW_TAPS`)
WINDOW_CASES = [
    # (n, h, w, cin, cout, kernel, strides, padding)
    (2, 9, 9, 32, 64, (3, 3), (2, 2), "same"),  # 288 taps (ResNet's 32 -> 64 layer), 5x5 outputs
    (2, 16, 16, 32, 32, (3, 3), (2, 2), "same"),  # 8x8 outputs: blocks of whole rows with AVX-512
    (1, 5, 7, 64, 32, (2, 2), (1, 1), "same"),  # 256 taps at stride 1
    (3, 3, 3, 24, 32, (3, 3), (2, 2), "valid"),  # one output pixel an image: no block
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", WINDOW_CASES)
def test_window_kernels_up_to_288_taps_match_the_reference(case, dtype):
    """The forward and kernel-gradient kernels on the layers `direct.MAX_WINDOW_TAPS` is measured
    on, called through the engine's direct functions whatever the algorithm lists choose."""
    x, k, b, dy = _arrays(case, dtype)
    strides, padding = case[6], case[7]
    if not direct.whole_vectors(k.shape[3], dtype):
        pytest.skip(f"{k.shape[3]} channels are not whole vectors of {dtype.__name__}")
    g = conv_geometry(x.shape, k.shape, strides, padding, dtype)
    y = np.empty((x.shape[0], *g.out_hw, k.shape[3]), dtype)
    direct.conv(x, k, strides, g.pads, y, scratch, b, True)
    np.testing.assert_allclose(y, ref_conv(x, k, b, strides, padding, True), **TOL[dtype])
    _, dw_ref = ref_conv_backward(dy, x, k, strides, padding)
    dw = direct.weight_grad(dy, x, case[5], strides, g.pads, scratch).reshape(k.shape)
    np.testing.assert_allclose(dw, dw_ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pads", [((2, 5, 7, 3), (1, 1, 1, 1)), ((1, 4, 4, 16), (0, 1, 0, 1)),
                                         ((3, 3, 6, 17), (2, 0, 3, 1)), ((1, 1, 1, 1), (1, 2, 0, 2))])
def test_padding_writes_every_value_of_the_scratch_array(shape, pads, dtype):
    """`direct._padded_calls` (the `phases.pad_images` kernel) against ``np.pad``, into a scratch
    array holding NaNs from an earlier use: the border is zeroed, not assumed."""
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    top, bottom, left, right = pads
    out_shape = (shape[0], shape[1] + top + bottom, shape[2] + left + right, shape[3])
    scratch("direct_pad", out_shape, dtype)[...] = np.nan
    calls, padded = direct._padded_calls(x, pads, scratch)
    for call in calls:
        call()
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0))))


def test_one_vector_kernels_match_the_reference_when_called_directly():
    """The one-vector paths of the kernels at any width: 16 float32 channels on AVX-512, the
    lanes of this machine in general, with bias, ReLU, padding and stride 2."""
    nl = simd.lanes(4)
    for cin, width in ((3, 29), (16, 13), (5, 3)):
        x, k, b, dy = _arrays((2, 7, width, cin, nl, (3, 3), (2, 1), "same"), np.float32)
        g = conv_geometry(x.shape, k.shape, (2, 1), "same", np.float32)
        y = np.empty((2, *g.out_hw, nl), np.float32)
        direct.conv(x, np.ascontiguousarray(k), (2, 1), g.pads, y, scratch, b, True)
        np.testing.assert_allclose(y, ref_conv(x, k, b, (2, 1), "same", True), **TOL[np.float32])
        dw = direct.weight_grad(dy, x, (3, 3), (2, 1), g.pads, scratch).reshape(k.shape)
        np.testing.assert_allclose(dw, ref_conv_backward(dy, x, k, (2, 1), "same")[1], **TOL[np.float32])


def test_threads_split_the_batch_and_add_their_parts():
    """Two chunks of images give the same kernel gradient as one."""
    x, k, _, dy = _arrays((6, 10, 10, 3, 32, (3, 3), (1, 1), "same"), np.float64)
    with conv_settings(parallel_min_elements=1):
        split = conv.conv2d_backward_weight(dy, x, k.shape, (1, 1), "same")
    with conv_settings(parallel_min_elements=10**12):
        whole = conv.conv2d_backward_weight(dy, x, k.shape, (1, 1), "same")
    np.testing.assert_allclose(split, whole, rtol=1e-12, atol=1e-12)


def test_relu_of_nan_is_zero_as_on_the_other_paths():
    x = np.full((1, 3, 8, 1), np.nan, np.float32)
    y = conv.conv2d_forward(x, np.ones((3, 3, 1, 32), np.float32), None, (1, 1), "valid", relu=True)
    np.testing.assert_array_equal(y, 0)


@pytest.mark.parametrize("cin, cout, dtype, expected", [
    (3, 32, np.float32, True),
    (direct.MAX_CHANNELS + 1, 32, np.float32, False),
    (3, simd.lanes(4) + 1, np.float32, False),  # output channels not in whole vectors
    (3, simd.lanes(4), np.float32, True),  # one vector
    (3, 2 * simd.lanes(8), np.float64, True),
    (3, 64, np.float16, False),
    (3, 64, np.int32, False),
])
def test_usable(cin, cout, dtype, expected):
    assert direct.usable(cin, cout, dtype) is expected


def test_vector_width_matches_the_cpu():
    assert simd.VECTOR_BYTES in (16, 32, 64)
    assert simd.lanes(4) * 4 == simd.VECTOR_BYTES


@pytest.mark.parametrize("name, features, expected", [
    ("generic", "", 16),
    ("haswell", "+avx,+avx2,+fma", 32),
    ("skylake-avx512", "+avx,+avx2,+avx512f", 64),
])
def test_vector_width_follows_numba_cpu_settings(monkeypatch, name, features, expected):
    monkeypatch.setattr(simd.config, "CPU_NAME", name)
    monkeypatch.setattr(simd.config, "CPU_FEATURES", features)
    assert simd._vector_bytes() == expected


def test_fused_backward_through_the_pool_matches_the_reference():
    """ReLU and bias gradient, then the direct input and kernel gradients, chunk by chunk in the
    pool's threads (the training step's path)."""
    x, k, b, dy = _arrays((4, 9, 11, 3, 32, (3, 3), (1, 1), "same"), np.float64)
    with conv_settings(parallel_min_elements=1):
        out = conv.conv2d_forward(x, k, b, (1, 1), "same", relu=True)
        dz = dy * (out > 0)
        dx_ref, dw_ref = ref_conv_backward(dz, x, k, (1, 1), "same")
        dx, dw, db = conv.conv2d_backward(dy, x, k, out, True, True, (1, 1), "same")
    np.testing.assert_allclose(dx, dx_ref, **TOL[np.float64])
    np.testing.assert_allclose(dw, dw_ref, **TOL[np.float64])
    np.testing.assert_allclose(db, dz.sum(axis=(0, 1, 2)), **TOL[np.float64])


@pytest.mark.parametrize("shape", [(0, 6, 6, 3), (2, 6, 6, 0)])
def test_empty_batch_or_no_input_channels(shape):
    x = np.ones(shape, np.float32)
    k = np.ones((3, 3, shape[3], 32), np.float32)
    b = np.arange(32, dtype=np.float32)
    y = conv.conv2d_forward(x, k, b, (1, 1), "same")
    np.testing.assert_array_equal(y, np.broadcast_to(b, (shape[0], 6, 6, 32)))
    dy = np.ones(y.shape, np.float32)
    assert conv.conv2d_backward_input(dy, k, x.shape, (1, 1), "same").shape == shape
    np.testing.assert_array_equal(conv.conv2d_backward_weight(dy, x, k.shape, (1, 1), "same"), 0)


def test_kernels_refuse_another_vector_width():
    x = np.ones((1, 5, 8, 3), np.float32)
    k = np.ones((3, 3, 3, 32), np.float32)
    y = np.empty((1, 3, 6, 32), np.float32)
    with pytest.raises(ValueError, match="the output channels must fill whole compiled vectors"):
        direct_kernels.conv_chunk(x, k, y, k.reshape(-1), False, False, 1, 1, 2 * simd.lanes(4))


@pytest.mark.parametrize("cpu, features", NARROWER_CPUS)
def test_narrower_vectors_give_the_same_results(cpu, features, tmp_path):
    """16- and 32-byte vectors (CPUs without AVX-512: 4-pixel input-gradient blocks), in float32
    and float64, compiled into a cache of their own."""
    body = (
        "import numpy as np\n"
        "from kerasette.backend.engine import conv\n"
        "from tests.backend.test_direct_conv import CASES, TAP_CASES, _arrays\n"
        "from tests.backend.test_conv_kernels import TOL, ref_conv, ref_conv_backward\n"
        "from tests.backend.test_direct_conv import test_vsums_store_writes_each_vectors_sum_and_nothing_else\n"
        "from tests.backend.test_direct_conv import WINDOW_CASES\n"
        "from tests.backend.test_direct_conv import test_window_kernels_up_to_288_taps_match_the_reference as window\n"
        "for t in (np.float32, np.float64):\n"
        "    for case in WINDOW_CASES:\n"
        "        window(case, t)\n"
        "    for count in (1, 3, 12, 24):\n"
        "        test_vsums_store_writes_each_vectors_sum_and_nothing_else(count, t)\n"
        "    for case in (CASES[0], CASES[2], CASES[6], CASES[10], CASES[11], CASES[14], *CASES[-2:], *TAP_CASES):\n"
        "        x, k, b, dy = _arrays(case, t)\n"
        "        s, p = case[6], case[7]\n"
        "        np.testing.assert_allclose(conv.conv2d_forward(x, k, b, s, p, relu=True),\n"
        "                                   ref_conv(x, k, b, s, p, True), **TOL[t])\n"
        "        dx_ref, dw_ref = ref_conv_backward(dy, x, k, s, p)\n"
        "        np.testing.assert_allclose(conv.conv2d_backward_weight(dy, x, k.shape, s, p), dw_ref,\n"
        "                                   **TOL[t])\n"
        "        np.testing.assert_allclose(conv.conv2d_backward_input(dy, k, x.shape, s, p), dx_ref,\n"
        "                                   **TOL[t])\n"
    )
    run_with_narrower_vectors(body, cpu, features, tmp_path)


def _sums_kernel(count):
    """A kernel storing the lane sums of ``count`` vectors loaded from ``a`` at ``out[1:]``."""
    loads = ", ".join(f"simd.vload(a, {i} * n)" for i in range(count))
    scope = {"simd": simd}
    exec(f"def sums(a, out):\n    n = simd.vcount(a)\n    simd.vsums_store(out, 1, ({loads},))\n", scope)
    return numba.njit(scope["sums"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("count", [1, 2, 3, 5, 12, 24])
def test_vsums_store_writes_each_vectors_sum_and_nothing_else(count, dtype):
    lanes = simd.lanes(np.dtype(dtype).itemsize)
    a = np.random.default_rng(count).standard_normal(count * lanes).astype(dtype)
    out = np.full(count + 2, np.nan, dtype)
    _sums_kernel(count)(a, out)
    np.testing.assert_allclose(out[1:-1], a.reshape(count, lanes).sum(axis=1), **TOL[dtype])
    assert np.isnan(out[0]) and np.isnan(out[-1])


def _strided_sums(a, out):
    simd.vsums_store(out[::2], 0, (simd.vload(a, 0),))


def _mixed_sums(a, out):
    simd.vsums_store(out, 0, (simd.vload(a, 0),))


def _strided_load(a, out):
    simd.vstore(out, 0, simd.vload(a[::2], 0))


@pytest.mark.parametrize("fn, out_dtype", [(_strided_sums, np.float32), (_mixed_sums, np.float64),
                                           (_strided_load, np.float32)])
def test_intrinsics_refuse_strided_arrays_and_other_dtypes(fn, out_dtype):
    """Their index is an offset from the data pointer: a strided view, or values of another
    dtype, would be written past the array or as raw bytes; numba refuses to compile instead."""
    a = np.ones(4 * simd.lanes(4), np.float32)
    with pytest.raises(numba.core.errors.TypingError):
        numba.njit(fn)(a, np.zeros(4 * simd.lanes(4), out_dtype))


@pytest.mark.parametrize("call", [
    lambda dy, x, k: conv.conv2d_backward_input(dy, k, x.shape, (1, 1), "valid"),
    lambda dy, x, k: conv.conv2d_backward_weight(dy, x, k.shape, (1, 1), "valid"),
    lambda dy, x, k: conv.conv2d_backward(dy, x, k, None, False, False, (1, 1), "valid"),
])
def test_an_output_gradient_of_another_shape_is_refused(call):
    x = np.ones((2, 6, 6, 3), np.float32)
    k = np.ones((3, 3, 3, 32), np.float32)
    dy = np.ones((2, 4, 4, 16), np.float32)  # 16 channels where the kernel has 32
    with pytest.raises(ValueError, match=r"conv2d: the output gradient has shape \(2, 4, 4, 16\), expected "
                                         r"\(2, 4, 4, 32\) for an input of shape \(2, 6, 6, 3\)"):
        call(dy, x, k)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_parts_gives_the_bits_of_np_sum(count, dtype):
    """The threads' partial gradients summed in order: the bits of np.sum over the stacked list,
    also when the parts come in another dtype than the sum's."""
    rng = np.random.default_rng(count)
    parts = [(rng.standard_normal((3, 3, 5, 4)) * 10 ** rng.uniform(-3, 3)).astype(dtype) for _ in range(count)]
    np.testing.assert_array_equal(sum_parts(parts), np.sum(parts, axis=0))
    np.testing.assert_array_equal(sum_parts(parts, np.float32), np.sum(parts, axis=0, dtype=np.float32))
    assert sum_parts(parts) is not parts[0]
