"""The direct kernel gradient with the output pass inside (`kernels.direct_masked`: a first
layer's backward pass, or a layer without a ReLU) gives the bits of the separate passes, and the
reference."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend.engine import conv, conv_settings
from kerasette.backend.engine import direct_conv as direct
from kerasette.backend.engine.algorithms import choose
from kerasette.backend.engine.batch import scratch
from kerasette.backend.engine.geometry import conv_geometry
from kerasette.backend.kernels import simd
from tests.backend.narrower_vectors import NARROWER_CPUS, run_with_narrower_vectors
from tests.backend.test_conv_kernels import TOL, ref_conv_backward

MASKED_CASES = [
    # (n, h, w, cin, cout, kernel, strides, padding, relu)
    (4, 28, 28, 1, 32, (3, 3), (1, 1), "valid", True),  # MNIST's first layer: one group of 9 taps
    (3, 32, 32, 3, 16, (3, 3), (1, 1), "same", False),  # ResNet-20's: bias only; one vector (AVX-512)
    (2, 30, 30, 3, 32, (3, 3), (1, 1), "valid", True),  # cifar32's: three groups of taps
    (3, 13, 11, 3, 48, (3, 3), (2, 2), "same", True),  # a pair and one vector, strided
    (2, 9, 10, 5, 16, (5, 5), (1, 1), "same", True),  # 125 taps: the last group partial
]

#: the split kernel's cases: the pointwise layer of SeparableConv2D (issue 14's row), a
#: strided one without a ReLU (its bands of rows wrap by whole strided rows) and ResNet-20's
#: 32 -> 64 3x3 stride 2 layer (288 taps: `direct_conv.MAX_WINDOW_GRAD_TAPS` on AVX2) besides
SPLIT_CASES = MASKED_CASES + [(2, 8, 9, 64, 64, (1, 1), (1, 1), "valid", False),
                              (2, 13, 11, 3, 32, (3, 3), (2, 2), "same", False),
                              (2, 16, 16, 32, 64, (3, 3), (2, 2), "same", False)]
#: The split kernel's cases at this machine's vector width: output channels in whole pairs of
#: vectors (the narrower-vector run checks the others at its own width).
SPLIT_HERE = [(case, dtype) for case in SPLIT_CASES for dtype in (np.float32, np.float64)
              if case[4] % (2 * simd.lanes(np.dtype(dtype).itemsize)) == 0]


def _arrays(case, dtype):
    n, h, w, cin, cout, kernel, strides, padding, relu = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    k = rng.standard_normal((*kernel, cin, cout)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    y = conv.conv2d_forward(x, k, b, strides, padding, relu)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dy[0, 0, 0, :4] = -0.0
    if relu:
        y[0, 0, 1, :3] = np.nan  # the mask takes a NaN output as not positive
        y[0, 1, 0, :2] = -0.0
    return x, k, y, dy


def _padded(x, pads):
    """``x`` zero-padded by ``pads`` as the direct passes pad it (their padding's calls, run), a copy."""
    calls, padded = direct._padded_calls(x, pads, scratch)
    for call in calls:
        call()
    return padded.copy()


def _separate_passes(dy, x, k, y, relu, strides, padding):
    """The output pass, then the kernel gradient (the path with the input gradient)."""
    dz, db = conv.output_pass_backward(dy, y, relu)
    return conv.conv2d_backward_weight(dz, x, k.shape, strides, padding), db


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", MASKED_CASES)
def test_the_fused_pass_gives_the_bits_of_the_separate_passes(case, dtype):
    x, k, y, dy = _arrays(case, dtype)
    strides, padding, relu = case[6], case[7], case[8]
    g = conv_geometry(x.shape, k.shape, strides, padding, dtype)
    if choose("kernel_grad", g).run_masked is None:
        pytest.skip(f"the direct kernels do not take {case[4]} channels of {np.dtype(dtype).name}")
    before = dy.copy()
    for min_elements in (1, 10**12):  # split over the threads, and in one chunk
        with conv_settings(parallel_min_elements=min_elements):
            dx, dw, db = conv.conv2d_backward(dy, x, k, y, relu, True, strides, padding, need_input=False,
                                              overwrite_dy=True)
            dw_ref, db_ref = _separate_passes(dy, x, k, y, relu, strides, padding)
        assert dx is None
        np.testing.assert_array_equal(dw, dw_ref)
        np.testing.assert_array_equal(db, db_ref)
    np.testing.assert_array_equal(dy, before)  # only read, even when it may be overwritten
    dz = np.where(y > 0, dy, 0) if relu else dy
    np.testing.assert_allclose(dw, ref_conv_backward(dz, x, k, strides, padding)[1], **TOL[dtype])


@pytest.mark.parametrize("relu", [False, True])
def test_with_the_input_gradient(relu):
    """Without a ReLU the input gradient reads ``dy`` itself and the kernel gradient takes the
    bias gradient (ResNet's strided layers); with one, the output pass stores the masked
    gradient first. Either way the bits of the separate passes."""
    case = (3, 16, 16, 16, 32, (3, 3), (2, 2), "same", relu)
    x, k, y, dy = _arrays(case, np.float32)
    before = dy.copy()
    dx, dw, db = conv.conv2d_backward(dy.copy() if relu else dy, x, k, y, relu, True, (2, 2), "same",
                                      overwrite_dy=True)
    dz, db_ref = conv.output_pass_backward(before, y, relu)
    np.testing.assert_array_equal(dx, conv.conv2d_backward_input(dz, k, x.shape, (2, 2), "same"))
    np.testing.assert_array_equal(dw, conv.conv2d_backward_weight(dz, x, k.shape, (2, 2), "same"))
    np.testing.assert_array_equal(db, db_ref)
    if not relu:
        np.testing.assert_array_equal(dy, before)


def test_without_a_bias_no_bias_gradient_is_returned():
    x, k, y, dy = _arrays(MASKED_CASES[0], np.float32)
    _, dw, db = conv.conv2d_backward(dy, x, k, y, True, False, (1, 1), "valid", need_input=False)
    assert db is None
    np.testing.assert_array_equal(dw, _separate_passes(dy, x, k, y, True, (1, 1), "valid")[0])


def test_one_vector_kernel_when_called_directly():
    """The last-vector kernel at this machine's width, with and without the ReLU."""
    nl = simd.lanes(4)
    case = (2, 9, 12, 3, nl, (3, 3), (1, 1), "same", True)
    x, k, y, dy = _arrays(case, np.float32)
    g = conv_geometry(x.shape, k.shape, (1, 1), "same", np.float32)
    for relu in (True, False):
        db, dw = direct.weight_grad_masked(dy, y, relu, x, (3, 3), (1, 1), g.pads, scratch)
        dw_ref, db_ref = _separate_passes(dy, x, k, y, relu, (1, 1), "same")
        np.testing.assert_array_equal(dw.reshape(k.shape), dw_ref)
        np.testing.assert_array_equal(db, db_ref)


@pytest.mark.parametrize("cpu, features", NARROWER_CPUS)
def test_narrower_vectors_give_the_same_bits(cpu, features, tmp_path):
    body = (
        "import numpy as np\n"
        "import pytest\n"
        "from tests.backend.test_direct_masked import MASKED_CASES, SPLIT_CASES, "
        "test_the_fused_pass_gives_the_bits_of_the_separate_passes as check, "
        "test_the_split_tap_groups_give_the_bits_of_the_one_pass_kernels as check_split\n"
        "for t in (np.float32, np.float64):\n"
        "    for case in MASKED_CASES:\n"
        "        check(case, t)\n"
        "    for case in SPLIT_CASES:\n"
        "        try:\n"
        "            check_split(case, t)\n"
        "        except pytest.skip.Exception:\n"
        "            pass\n"
        # ResNet-20's 32 -> 64 3x3 stride 2 kernel gradient (288 taps) is direct with AVX2's vectors
        "from kerasette.backend.engine import algorithms, geometry\n"
        "from kerasette.backend.kernels import simd\n"
        "g = geometry.conv_geometry((2, 16, 16, 32), (3, 3, 32, 64), (2, 2), 'same', np.float32)\n"
        "assert (algorithms.choose('kernel_grad', g).name == 'direct') == (simd.VECTOR_BYTES >= 32)\n"
    )
    run_with_narrower_vectors(body, cpu, features, tmp_path)


@pytest.mark.parametrize("case, dtype", SPLIT_HERE)
def test_the_split_tap_groups_give_the_bits_of_the_one_pass_kernels(case, dtype):
    """`direct_masked.weight_grad_chunk_split` (the kernel of machines with 16 vector registers)
    called at this machine's width: the bits of `weight_grad_chunk_masked` with the output pass,
    of `direct.weight_grad_chunk` without it, and the reference."""
    from kerasette.backend.kernels import direct as k_direct
    from kerasette.backend.kernels import direct_masked as k_masked

    assert k_direct.TAP_GROUP == 5 + 4  # the split kernel's two passes
    x, k, y, dy = _arrays(case, dtype)
    strides, padding, relu = case[6], case[7], case[8]
    nl, cout = simd.lanes(np.dtype(dtype).itemsize), k.shape[3]
    if cout % (2 * nl):
        pytest.skip(f"{cout} channels of {np.dtype(dtype).name} are not whole pairs of vectors here")
    g = conv_geometry(x.shape, k.shape, strides, padding, dtype)
    xp = _padded(x, g.pads)
    rows = -(-k.size // cout // k_direct.TAP_GROUP) * k_direct.TAP_GROUP
    start = np.random.default_rng(1).standard_normal((rows, cout)).astype(dtype)  # they add into dw, db
    ref = y if relu else dy
    dw_one, db_one, dw_split, db_split = start.copy(), start[0].copy(), start.copy(), start[0].copy()
    k_masked.weight_grad_chunk_masked(dy, ref, xp, dw_one, db_one, relu, *strides, *k.shape[:2], nl)
    k_masked.weight_grad_chunk_split(dy, ref, xp, dw_split, db_split, relu, True, *strides, *k.shape[:2], nl)
    np.testing.assert_array_equal(dw_split, dw_one)
    np.testing.assert_array_equal(db_split, db_one)
    dw_one, dw_split, db_untouched = start.copy(), start.copy(), start[0].copy()
    k_direct.weight_grad_chunk(dy, xp, dw_one, *strides, *k.shape[:2], nl)
    k_masked.weight_grad_chunk_split(dy, dy, xp, dw_split, db_untouched, False, False, *strides, *k.shape[:2], nl)
    np.testing.assert_array_equal(dw_split, dw_one)
    np.testing.assert_array_equal(db_untouched, start[0])
    taps = k.size // cout
    np.testing.assert_allclose(dw_split[:taps] - start[:taps], ref_conv_backward(dy, x, k, strides, padding)[1]
                               .reshape(taps, cout), **TOL[dtype])
