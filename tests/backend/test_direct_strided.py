"""The strided input gradient phase by phase (`kernels.direct_strided`) against the slow numpy
reference: every phase, phases without taps, blocks and single pixels, one and two vectors."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from kerasette.backend.engine import conv, conv_algorithms, conv_settings
from kerasette.backend.engine import direct_conv as direct
from kerasette.backend.engine.algorithms import choose
from kerasette.backend.engine.batch import scratch
from kerasette.backend.engine.geometry import conv_geometry
from kerasette.backend.kernels import simd
from tests.backend.narrower_vectors import NARROWER_CPUS, run_with_narrower_vectors
from tests.backend.test_conv_kernels import TOL, ref_conv, ref_conv_backward

PHASE_CASES = [
    # (n, h, w, cin, cout, kernel, strides, padding)
    (2, 32, 32, 16, 32, (3, 3), (2, 2), "same"),  # ResNet-20's 16->32 layer: 16x16 phases
    (2, 16, 16, 32, 64, (3, 3), (2, 2), "same"),  # its 32->64 layer: 8x8 phases, two vectors
    (2, 32, 32, 16, 32, (1, 1), (2, 2), "same"),  # 1x1 shortcut: three phases receive nothing
    (1, 11, 10, 16, 16, (5, 5), (2, 2), "same"),  # odd height: phases of different sizes; 3x3 sub-kernels
    (3, 7, 20, 16, 32, (3, 3), (2, 1), "valid"),  # strided rows only; the last rows receive nothing
    (1, 9, 13, 32, 16, (2, 2), (3, 3), "valid"),  # stride larger than the kernel
    (1, 6, 9, 16, 32, (2, 4), (1, 3), "same"),  # even kernel, asymmetric padding, 3-pixel phase rows
    (1, 5, 5, 48, 8, (3, 3), (2, 2), "same"),  # three vectors (AVX-512 float32: a pair and one)
    (2, 13, 27, 24, 16, (3, 3), (2, 2), "same"),  # 24 channels; 14- and 13-pixel phase rows (overlap)
]


@contextlib.contextmanager
def _any_width():
    """The phases for outputs of any width (rows shorter than a block of pixels too)."""
    saved = direct.MIN_PHASE_WIDTH
    direct.MIN_PHASE_WIDTH = 1
    try:
        yield
    finally:
        direct.MIN_PHASE_WIDTH = saved


def _arrays(case, dtype):
    n, h, w, cin, cout, kernel, strides, padding = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    k = rng.standard_normal((*kernel, cin, cout)).astype(dtype)
    dy = rng.standard_normal(ref_conv(x, k, None, strides, padding).shape).astype(dtype)
    return x, k, dy


def _skip_unless_phases(case, dtype):
    n, h, w, cin, cout, kernel, strides, padding = case
    g = conv_geometry((n, h, w, cin), (*kernel, cin, cout), strides, padding, dtype)
    if not direct.whole_vectors(cin, dtype):
        pytest.skip(f"{cin} channels are not whole {simd.VECTOR_BYTES}-byte vectors of {np.dtype(dtype).name}")
    assert choose("input_grad", g).name == ("direct" if g.out_hw[1] >= direct.MIN_PHASE_WIDTH else "col2im")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", PHASE_CASES)
def test_input_gradient_matches_the_reference(case, dtype):
    _skip_unless_phases(case, dtype)
    x, k, dy = _arrays(case, dtype)
    strides, padding = case[6], case[7]
    dx_ref, _ = ref_conv_backward(dy, x, k, strides, padding)
    with conv_algorithms(allow=["direct"]), _any_width():
        dx = conv.conv2d_backward_input(dy, k, x.shape, strides, padding)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])


@pytest.mark.parametrize("case", PHASE_CASES)
def test_every_input_pixel_is_written(case):
    """The kernel overwrites the whole input gradient (phases without taps with zeros): a
    gradient full of NaN beforehand comes out equal to the reference."""
    _skip_unless_phases(case, np.float32)
    x, k, dy = _arrays(case, np.float32)
    strides, padding = case[6], case[7]
    g = conv_geometry(x.shape, k.shape, strides, padding, np.float32)
    plan, taps, dy_pads = direct.phase_plan(g.kernel, g.strides, g.pads, g.in_hw, g.out_hw)
    dx = np.full(x.shape, np.nan, np.float32)
    direct.strided_input_grad(dy, direct.phase_kernels(k, taps), plan, dy_pads, strides, dx, scratch)
    np.testing.assert_allclose(dx, ref_conv_backward(dy, x, k, strides, padding)[0], **TOL[np.float32])


def test_fused_backward_and_threads_match_the_reference():
    """conv2d_backward (bias gradient, then both gradients per chunk of images) with the batch
    split over threads and in one chunk."""
    case = PHASE_CASES[1]
    x, k, dy = _arrays(case, np.float64)
    strides, padding = case[6], case[7]
    dx_ref, dw_ref = ref_conv_backward(dy, x, k, strides, padding)
    for min_elements in (1, 10**12):
        with conv_settings(parallel_min_elements=min_elements):
            dx, dw, db = conv.conv2d_backward(dy, x, k, None, False, True, strides, padding)
        np.testing.assert_allclose(dx, dx_ref, **TOL[np.float64])
        np.testing.assert_allclose(dw, dw_ref, **TOL[np.float64])
        np.testing.assert_allclose(db, dy.sum(axis=(0, 1, 2)), **TOL[np.float64])


def test_phase_plan_of_a_3x3_stride_2_same_convolution():
    """32x32 input, 16x16 output, padding (0, 1, 0, 1): phase (0, 0) reads output rows and
    columns r - 1 and r (taps 2 and 0), phase 1 reads r (tap 1); the output gradient is
    padded by one row and column before."""
    plan, taps, dy_pads = direct.phase_plan((3, 3), (2, 2), (0, 1, 0, 1), (32, 32), (16, 16))
    assert dy_pads == (1, 0, 1, 0)
    assert plan.tolist() == [
        [0, 0, 16, 16, 0, 0, 2, 2, 0],
        [0, 1, 16, 16, 0, 1, 2, 1, 4],
        [1, 0, 16, 16, 1, 0, 1, 2, 6],
        [1, 1, 16, 16, 1, 1, 1, 1, 8],
    ]
    assert taps == ((2, 2), (2, 0), (0, 2), (0, 0), (2, 1), (0, 1), (1, 2), (1, 0), (1, 1))


@pytest.mark.parametrize("kernel, strides, cin, cout, width, dtype, expected", [
    ((3, 3), (2, 2), 16, 32, 16, np.float32, True),
    ((3, 3), (2, 2), 32, 64, 8, np.float32, True),  # 2 x 2 x 64 = 256 taps
    ((3, 3), (2, 2), 64, 128, 8, np.float32, False),  # 512 taps: col2im
    ((3, 3), (2, 2), 32, 64, 7, np.float32, False),  # output rows narrower than a block
    ((3, 3), (1, 1), 16, 32, 16, np.float32, False),  # stride 1: the other rules
    ((3, 3), (2, 2), 3, 32, 16, np.float32, False),  # input channels not whole vectors
    ((1, 1), (2, 2), 128, 256, 8, np.float64, True),
])
def test_phases_apply(kernel, strides, cin, cout, width, dtype, expected):
    assert direct.phases_apply(kernel, strides, cin, cout, width, dtype) == expected


@pytest.mark.parametrize("cpu, features", NARROWER_CPUS)
def test_narrower_vectors_give_the_same_results(cpu, features, tmp_path):
    """16- and 32-byte vectors (4-pixel blocks of two vectors), float32 and float64."""
    body = (
        "import numpy as np\n"
        "from kerasette.backend.engine import conv, direct_conv\n"
        "from tests.backend.test_direct_strided import PHASE_CASES, _any_width, _arrays\n"
        "from tests.backend.test_conv_kernels import TOL, ref_conv_backward\n"
        "for t in (np.float32, np.float64):\n"
        "    for case in PHASE_CASES:\n"
        "        x, k, dy = _arrays(case, t)\n"
        "        s, p = case[6], case[7]\n"
        "        with _any_width():\n"
        "            assert direct_conv.phases_apply(k.shape[:2], s, x.shape[3], k.shape[3], 1, t) == (\n"
        "                x.shape[3] % simd.lanes(np.dtype(t).itemsize) == 0)\n"
        "            np.testing.assert_allclose(conv.conv2d_backward_input(dy, k, x.shape, s, p),\n"
        "                                       ref_conv_backward(dy, x, k, s, p)[0], **TOL[t])\n"
    )
    run_with_narrower_vectors(body, cpu, features, tmp_path)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_phase_and_flipped_kernels_against_numpy(dtype):
    """The sub-kernels of the phases (each tap's slice transposed, in the plan's order, in an
    aligned array) and the 'full' convolution's flipped, transposed kernel."""
    k = np.random.default_rng(9).standard_normal((3, 3, 8, 16)).astype(dtype)
    g = conv_geometry((2, 9, 9, 8), k.shape, (2, 2), "same", dtype)
    _, taps, _ = direct.phase_plan(g.kernel, g.strides, g.pads, g.in_hw, g.out_hw)
    wq = direct.phase_kernels(k, taps)
    assert wq.ctypes.data % 64 == 0 and len(taps) == 9
    np.testing.assert_array_equal(wq, np.concatenate([k[i, j].T for i, j in taps]))
    flipped = direct.flipped_transposed(k)
    assert flipped.flags.c_contiguous
    np.testing.assert_array_equal(flipped, k[::-1, ::-1].transpose(0, 1, 3, 2))
