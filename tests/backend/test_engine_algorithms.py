"""The convolution algorithm lists and their settings: every algorithm can be forced, and each
forced run matches the slow numpy references; bad names and values are refused by name."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from kerasette.backend import state
from kerasette.backend.engine import (
    ALGORITHMS,
    ENV_VAR,
    algorithm_names,
    choose,
    conv,
    conv_algorithms,
    conv_settings,
)
from kerasette.backend.engine.conv_settings import algorithms_from_environment
from kerasette.backend.engine.geometry import conv_geometry
from kerasette.backend.kernels import simd
from tests.backend.test_conv_kernels import TOL, ref_conv, ref_conv_backward

# For each algorithm, a convolution every pass of its chooses it for by default:
# (n, h, w, cin, cout, kernel, strides, padding).
CHOSEN_FOR = {
    "direct": (2, 7, 9, 3, 32, (3, 3), (1, 1), "same"),
    "winograd": (2, 8, 9, 16, 32, (3, 3), (1, 1), "same"),
    "rows": (2, 7, 6, 24, 24, (5, 3), (1, 1), "same"),  # 360 taps: more than direct's 288
    "gemm": (2, 7, 7, 17, 17, (1, 3), (1, 1), "valid"),
    "col2im": (1, 9, 8, 5, 3, (3, 3), (2, 2), "same"),
}
# ... and one it is forced on where another comes first (rows, gemm and col2im after Winograd).
FORCED_ON = {**{name: CHOSEN_FOR["winograd"] for name in CHOSEN_FOR}, "direct": CHOSEN_FOR["direct"]}

PASS_CASES = [(p, a.name) for p, algos in ALGORITHMS.items() for a in algos]


def _arrays(case, dtype=np.float64):
    n, h, w, cin, cout, kernel, strides, padding = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    k = rng.standard_normal((*kernel, cin, cout)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    dy = rng.standard_normal(ref_conv(x, k, None, strides, padding).shape).astype(dtype)
    return x, k, b, dy


def _run_pass(pass_name, x, k, b, dy, strides, padding):
    if pass_name == "forward":
        return conv.conv2d_forward(x, k, b, strides, padding, relu=True), ref_conv(x, k, b, strides, padding, True)
    dx_ref, dw_ref = ref_conv_backward(dy, x, k, strides, padding)
    if pass_name == "input_grad":
        return conv.conv2d_backward_input(dy, k, x.shape, strides, padding), dx_ref
    return conv.conv2d_backward_weight(dy, x, k.shape, strides, padding), dw_ref


def test_the_lists():
    assert [a.name for a in ALGORITHMS["forward"]] == ["direct", "winograd", "rows", "gemm"]
    assert [a.name for a in ALGORITHMS["input_grad"]] == ["direct", "winograd", "rows", "gemm", "col2im"]
    assert [a.name for a in ALGORITHMS["kernel_grad"]] == ["direct", "winograd", "rows", "gemm"]
    assert algorithm_names() == ["direct", "winograd", "rows", "gemm", "col2im"]
    for pass_name, algos in ALGORITHMS.items():
        assert all(a.pass_name == pass_name for a in algos)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pass_name, name", PASS_CASES)
def test_each_algorithm_can_be_forced(pass_name, name, dtype):
    chosen = CHOSEN_FOR[name]
    g = conv_geometry((chosen[0], *chosen[1:4]), (*chosen[5], *chosen[3:5]), chosen[6], chosen[7], dtype)
    assert choose(pass_name, g).name == name
    case = FORCED_ON[name]
    x, k, b, dy = _arrays(case, dtype)
    strides, padding = case[6], case[7]
    g = conv_geometry(x.shape, k.shape, strides, padding, dtype)
    with conv_algorithms(allow=[name]):
        assert choose(pass_name, g).name == name
        got, want = _run_pass(pass_name, x, k, b, dy, strides, padding)
    np.testing.assert_allclose(got, want, **TOL[dtype])


def test_default_choices_for_the_seed_model():
    """RGB input: direct; 32 and 64 channels: Winograd; strided with 4-pixel output rows: the
    direct forward pass (288 taps), col2im, and GEMM's kernel gradient."""
    def names(x_shape, w_shape, strides=(1, 1)):
        g = conv_geometry(x_shape, w_shape, strides, "valid", np.float32)
        return tuple(choose(p, g).name for p in ("forward", "input_grad", "kernel_grad"))

    assert names((32, 100, 100, 3), (3, 3, 3, 32)) == ("direct", "direct", "direct")
    assert names((32, 98, 98, 32), (3, 3, 32, 32)) == ("winograd", "winograd", "winograd")
    assert names((32, 48, 48, 32), (5, 5, 32, 64)) == ("rows", "rows", "rows")
    assert names((4, 9, 9, 32), (3, 3, 32, 16), (2, 2)) == ("direct", "col2im", "gemm")
    assert names((4, 9, 9, 48), (3, 3, 48, 16), (2, 2)) == ("gemm", "col2im", "gemm")  # 432 taps


def test_default_choices_for_resnet20():
    """ResNet-20's layers (32x32x3, stages of 16, 32 and 64 filters): the direct kernels for
    the RGB input and the strided layers of at most 288 taps (the kernel gradient beyond 144
    taps with AVX-512 only), Winograd for the 3x3 stride-1 layers; every strided input gradient
    goes phase by phase (at most 256 output-gradient values per input-gradient value, output
    rows of at least 8)."""
    def names(x_shape, w_shape, strides=(1, 1), dtype=np.float32):
        g = conv_geometry(x_shape, w_shape, strides, "same", dtype)
        return tuple(choose(p, g).name for p in ("forward", "input_grad", "kernel_grad"))

    assert names((32, 32, 32, 3), (3, 3, 3, 16)) == ("direct", "direct", "direct")
    assert names((32, 32, 32, 16), (3, 3, 16, 16)) == ("winograd", "winograd", "winograd")
    assert names((32, 32, 32, 16), (3, 3, 16, 32), (2, 2)) == ("direct", "direct", "direct")
    assert names((32, 32, 32, 16), (1, 1, 16, 32), (2, 2)) == ("direct", "direct", "direct")
    assert names((32, 16, 16, 32), (3, 3, 32, 32)) == ("winograd", "winograd", "winograd")
    wide_grad = "direct" if simd.VECTOR_BYTES == 64 else "gemm"  # 288 taps, 8-pixel output rows
    assert names((32, 16, 16, 32), (3, 3, 32, 64), (2, 2)) == ("direct", "direct", wide_grad)
    assert names((32, 16, 16, 32), (1, 1, 32, 64), (2, 2)) == ("direct", "direct", "direct")
    assert names((32, 8, 8, 64), (3, 3, 64, 64)) == ("winograd", "winograd", "winograd")
    # 1x1 stride 1: GEMM's one matrix product forward (and the 'full' input gradient) with AVX2
    pointwise = "direct" if simd.VECTOR_BYTES == 64 else "gemm"
    assert names((32, 8, 8, 64), (1, 1, 64, 64)) == (pointwise, pointwise, "direct")
    assert names((32, 8, 8, 8), (1, 1, 8, 64)) == ("direct", "direct", "direct")  # few channels: always
    assert names((8, 14, 14, 256), (1, 1, 256, 512), (2, 2)) == ("gemm", "col2im", "gemm")  # 256 taps, 7 wide
    assert names((8, 16, 16, 64), (3, 3, 64, 128), (2, 2)) == ("gemm", "col2im", "gemm")  # 512 values
    assert names((32, 32, 32, 17), (1, 1, 17, 17)) == ("gemm", "gemm", "gemm")  # not whole vectors


def test_winograd_stops_where_its_transformed_kernel_leaves_the_cache():
    """VGG16's 512 -> 512 layers run faster on GEMM; 256 -> 512 keeps Winograd forward but not for
    the kernel gradient (measured; see MAX_KERNEL_BYTES)."""
    def names(cin, cout, size=28, dtype=np.float32):
        g = conv_geometry((8, size, size, cin), (3, 3, cin, cout), (1, 1), "same", dtype)
        return tuple(choose(p, g).name for p in ("forward", "input_grad", "kernel_grad"))

    def winograd(cin, cout, dtype=np.float32):
        return tuple(name == "winograd" for name in names(cin, cout, dtype=dtype))

    assert winograd(256, 256) == (True, True, True)
    assert winograd(256, 512) == (True, True, False)
    assert winograd(512, 512) == (False, False, False)
    assert winograd(256, 256, dtype=np.float64) == (True, True, False)  # twice the bytes
    assert names(32, 32) == ("winograd", "winograd", "winograd")  # the seed model's layers keep it


def test_deny_falls_through_to_the_next_algorithm():
    g = conv_geometry((2, 8, 8, 16), (3, 3, 16, 32), (1, 1), "same", np.float32)
    with conv_algorithms(deny=["winograd"]):
        assert choose("forward", g).name == "rows"
        with conv_algorithms(deny="rows"):  # restrictions add up
            assert choose("forward", g).name == "gemm"
        assert choose("forward", g).name == "rows"
    assert choose("forward", g).name == "winograd"


def test_nested_allow_lists_intersect():
    with conv_algorithms(allow=["gemm", "col2im"]), conv_algorithms(allow=["gemm", "winograd"]):
        assert state.conv.allows("gemm") and not state.conv.allows("col2im")
        assert not state.conv.allows("winograd")
    assert all(state.conv.allows(name) for name in algorithm_names())


def test_full_conv_min_cin_setting_moves_the_input_gradient_off_col2im():
    g = conv_geometry((2, 8, 8, 4), (3, 3, 4, 17), (1, 1), "same", np.float32)  # 17: not whole vectors
    assert choose("input_grad", g).name == "col2im"
    with conv_settings(full_conv_min_cin=1):
        assert choose("input_grad", g).name == "winograd"
    assert choose("input_grad", g).name == "col2im"


def test_when_nothing_allowed_applies_the_error_says_what_to_allow():
    with conv_algorithms(allow=["winograd"]):
        with pytest.raises(ValueError, match=re.escape(
                "conv2d input_grad: no allowed convolution algorithm applies to a 3x3 kernel, strides (2, 2), "
                "5 -> 3 channels, float64; allowed here: ['winograd']. 'col2im' applies to every convolution: "
                f"allow it with {ENV_VAR} or conv_algorithms(allow=[...])")):
            conv.conv2d_backward_input(np.ones((1, 5, 4, 3)), np.ones((3, 3, 5, 3)), (1, 9, 8, 5), (2, 2), "same")


@pytest.mark.parametrize("kwargs, argument", [({"allow": ["gemm", "fft"]}, "allow"), ({"deny": "im2col"}, "deny")])
def test_unknown_algorithm_names_are_refused_with_the_known_ones(kwargs, argument):
    unknown = ["fft"] if argument == "allow" else ["im2col"]
    with pytest.raises(ValueError, match=re.escape(
            f"conv_algorithms: unknown convolution algorithm name(s) {unknown} in `{argument}`; known algorithms: "
            "direct, winograd, rows, gemm, col2im")):
        with conv_algorithms(**kwargs):
            pass
    assert state.conv.allow is None and state.conv.deny == frozenset()


def test_algorithm_names_must_be_strings():
    with pytest.raises(ValueError, match=re.escape("conv_algorithms: `allow` must be algorithm names (strings); "
                                                   "received [1]")):
        with conv_algorithms(allow=[1]):
            pass


def test_environment_variable_is_parsed_and_checked():
    assert algorithms_from_environment({}) == (None, frozenset())
    assert algorithms_from_environment({ENV_VAR: "gemm, col2im"}) == (frozenset({"gemm", "col2im"}), frozenset())
    assert algorithms_from_environment({ENV_VAR: "-winograd,-rows"}) == (None, frozenset({"winograd", "rows"}))
    with pytest.raises(ValueError, match=re.escape(
            f"{ENV_VAR}: unknown convolution algorithm name(s) ['wino'] in `deny`; known algorithms: "
            "direct, winograd, rows, gemm, col2im")):
        algorithms_from_environment({ENV_VAR: "-wino"})


def test_environment_variable_takes_effect_in_a_new_process():
    code = ("import numpy as np\n"
            "from kerasette.backend import state\n"
            "from kerasette.backend.engine import choose\n"
            "from kerasette.backend.engine.geometry import conv_geometry\n"
            "g = conv_geometry((2, 8, 8, 16), (3, 3, 16, 32), (1, 1), 'same', np.float32)\n"
            "print(choose('forward', g).name, choose('input_grad', g).name, sorted(state.conv.deny))\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, **{ENV_VAR: "-winograd, -rows"})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[0] == "gemm gemm ['rows', 'winograd']"


def test_conv_settings_change_the_tuning_for_a_block():
    before = (state.conv.tile_bytes, state.conv.winograd_block_bytes, state.conv.full_conv_min_cin,
              state.conv.parallel_min_elements)
    assert before == (2 << 20, 512 << 10, 16, 1 << 15)
    with conv_settings(tile_bytes=1, winograd_block_bytes=2, full_conv_min_cin=0, parallel_min_elements=0):
        assert (state.conv.tile_bytes, state.conv.winograd_block_bytes, state.conv.full_conv_min_cin,
                state.conv.parallel_min_elements) == (1, 2, 0, 0)
    assert (state.conv.tile_bytes, state.conv.winograd_block_bytes, state.conv.full_conv_min_cin,
            state.conv.parallel_min_elements) == before


@pytest.mark.parametrize("kwargs, message", [
    ({"tile_bytes": 0}, "conv_settings: argument `tile_bytes` must be an integer >= 1; received tile_bytes=0"),
    ({"parallel_min_elements": -1}, "conv_settings: argument `parallel_min_elements` must be an integer >= 0; "
                                    "received parallel_min_elements=-1"),
    ({"winograd_block_bytes": 2.5}, "conv_settings: argument `winograd_block_bytes` must be an integer >= 1; "
                                    "received winograd_block_bytes=2.5"),
    ({"tile_size": 4}, "conv_settings: unknown setting `tile_size`; known settings: tile_bytes, "
                       "winograd_block_bytes, full_conv_min_cin, parallel_min_elements"),
])
def test_conv_settings_refuse_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        with conv_settings(**kwargs):
            pass
    assert state.conv.tile_bytes == 2 << 20


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("strides, padding, cin", [((1, 1), "same", 16), ((2, 2), "same", 16), ((1, 1), "valid", 2)])
def test_forward_residual_matches_numpy(strides, padding, cin, in_place):
    """relu(conv(x) + b + r): in Winograd's output pass (3x3 stride 1), else a pass after the
    convolution (strided: direct; two input channels: no Winograd), the residual array possibly
    the output itself."""
    from kerasette.backend.engine.algorithms import choose, forward_residual  # deferred: test-local names

    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 9, 10, cin)).astype(np.float32)
    w = (rng.standard_normal((3, 3, cin, 16)) * 0.2).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    g = conv_geometry(x.shape, w.shape, strides, padding, np.float32)
    conv = ref_conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), strides, padding)
    r = rng.standard_normal(conv.shape).astype(np.float32)
    expected = np.maximum(conv + r, 0)
    assert choose("forward", g).residual == (strides == (1, 1) and cin == 16)
    y = r.copy() if in_place else np.full_like(r, np.nan)
    forward_residual(x, w, b, True, g, y, y if in_place else r)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("chans, residual", [(16, False), (16, True), (24, True)])
def test_winograd_forward_prepared_chunks_match_one_thread(threads, chans, residual):
    """Winograd's forward chunks are prepared calls (`parallel.map_prepared`), each with scratch
    of its own: the same bits as one thread, with and without the residual epilogue (16 channels:
    the fused kernels; 24: the blocked ones)."""
    from kerasette.backend import parallel
    from kerasette.backend.engine.algorithms import _chunk_scratch, forward_residual

    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 12, 11, chans)).astype(np.float32)
    w = (rng.standard_normal((3, 3, chans, chans)) * 0.2).astype(np.float32)
    b = rng.standard_normal(chans).astype(np.float32)
    r = rng.standard_normal((7, 12, 11, chans)).astype(np.float32) if residual else None
    g = conv_geometry(x.shape, w.shape, (1, 1), "same", np.float32)
    assert choose("forward", g).name == "winograd"

    def run():
        y = np.full((7, 12, 11, chans), np.nan, np.float32)
        if residual:
            forward_residual(x, w, b, True, g, y, r)
        else:
            choose("forward", g).run(x, w, b, True, g, y)
        return y

    previous = parallel.num_threads()
    try:
        with conv_settings(parallel_min_elements=0):
            parallel.set_num_threads(1)
            one = run()
            parallel.set_num_threads(threads)
            split = run()
    finally:
        parallel.set_num_threads(previous)
    assert one.tobytes() == split.tobytes()
    a, c = _chunk_scratch(0)("probe", (4,), np.float32), _chunk_scratch(1)("probe", (4,), np.float32)
    assert not np.shares_memory(a, c)


def test_choose_remembers_each_geometry_under_its_settings():
    """`choose`'s remembered answers follow the allowed algorithms, the 'full' input gradient's
    threshold and a replaced list."""
    from kerasette.backend.engine import algorithms

    g = conv_geometry((2, 8, 8, 16), (3, 3, 16, 16), (1, 1), "same", np.float32)
    assert choose("forward", g).name == "winograd"
    with conv_algorithms(deny=["winograd"]):
        assert choose("forward", g).name == "rows"
    assert choose("forward", g).name == "winograd"
    assert choose("input_grad", g).name == "winograd"
    with conv_settings(full_conv_min_cin=17):
        assert choose("input_grad", g).name == "col2im"
    gemm_only = tuple(a for a in ALGORITHMS["forward"] if a.name == "gemm")
    saved = algorithms.ALGORITHMS
    algorithms.ALGORITHMS = {**saved, "forward": gemm_only}
    try:
        assert choose("forward", g).name == "gemm"
    finally:
        algorithms.ALGORITHMS = saved
    assert choose("forward", g).name == "winograd"
