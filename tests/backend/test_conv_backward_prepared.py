"""`conv2d_backward`'s chunks as prepared calls (`parallel.map_prepared`, tuples of calls made
in the calling thread): the same bits as the chunks run as Python in each thread, for every
algorithm that prepares and for those that do not (the chunk path then)."""

from __future__ import annotations

import functools
import threading

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.engine import choose, conv, conv_algorithms, conv_settings, winograd_conv
from kerasette.backend.engine.geometry import conv_geometry


@pytest.fixture
def threads():
    """Sets the thread count for a test (``threads(n)``), restoring it afterwards."""
    saved = parallel.num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(saved)


# (n, h, w, cin, cout, kernel, strides, padding, relu, need_input, allowed algorithms or None)
CASES = {
    "winograd full": (5, 12, 11, 16, 16, (3, 3), (1, 1), "same", False, True, None),
    "winograd full relu": (5, 12, 11, 16, 32, (3, 3), (1, 1), "same", True, True, None),
    "winograd adjoint": (5, 14, 13, 32, 32, (3, 3), (1, 1), "valid", True, True, None),
    "winograd blocked": (5, 10, 9, 24, 40, (3, 3), (1, 1), "same", False, True, None),
    "direct phases": (5, 16, 16, 16, 32, (3, 3), (2, 2), "same", False, True, None),
    "direct 1x1 strided": (5, 16, 16, 16, 32, (1, 1), (2, 2), "same", False, True, None),
    "direct sums": (5, 9, 10, 3, 32, (3, 3), (1, 1), "same", True, True, None),
    "direct masked": (5, 9, 10, 3, 16, (3, 3), (1, 1), "same", True, False, None),
    "direct kernel only": (5, 9, 10, 3, 16, (3, 3), (1, 1), "same", False, False, None),
    "gemm and col2im": (5, 9, 8, 5, 7, (3, 3), (2, 2), "same", True, True, ["gemm", "col2im"]),
    "rows (not prepared)": (5, 9, 8, 24, 24, (3, 3), (1, 1), "same", False, True, ["rows", "col2im"]),
}


def _inputs(case, dtype=np.float32):
    """(x, w, out, dy) of a case: its forward output and a random output gradient."""
    n, h, w, cin, cout, kernel, strides, padding, relu, _, allowed = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    wk = (rng.standard_normal((*kernel, cin, cout)) * 0.2).astype(dtype)
    with conv_algorithms(allow=allowed):
        out = conv.conv2d_forward(x, wk, np.zeros(cout, dtype), strides, padding, relu)
    return x, wk, out, rng.standard_normal(out.shape).astype(dtype)


def _backward(case, inputs, overwrite, prepared):
    _, _, _, _, _, _, strides, padding, relu, need_input, allowed = case
    x, wk, out, dy = inputs
    plain = conv._backward_prepared
    if not prepared:
        conv._backward_prepared = lambda *args: None
    try:
        with conv_algorithms(allow=allowed):
            return conv.conv2d_backward(dy.copy() if overwrite else dy, x, wk, out, relu, True, strides, padding,
                                        need_input=need_input, overwrite_dy=overwrite)
    finally:
        conv._backward_prepared = plain


def _assert_same_bits(expected, got):
    for e, g in zip(expected, got, strict=True):
        assert (e is None) == (g is None)
        if e is not None:
            assert e.dtype == g.dtype and e.shape == g.shape
            assert e.tobytes() == g.tobytes()


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_prepared_backward_has_the_chunk_paths_bits(threads, name, overwrite, count):
    threads(count)
    with conv_settings(parallel_min_elements=0):
        inputs = _inputs(CASES[name])
        expected = _backward(CASES[name], inputs, overwrite, prepared=False)
        got = _backward(CASES[name], inputs, overwrite, prepared=True)
    _assert_same_bits(expected, got)


@pytest.mark.parametrize("name", sorted(CASES))
def test_prepared_backward_has_the_chunk_paths_bits_in_float64(threads, name):
    threads(2)
    with conv_settings(parallel_min_elements=0):
        inputs = _inputs(CASES[name], np.float64)
        expected = _backward(CASES[name], inputs, False, prepared=False)
        got = _backward(CASES[name], inputs, False, prepared=True)
    assert expected[1].dtype == np.float64
    _assert_same_bits(expected, got)


def test_the_benchmark_layers_backward_prepared(threads):
    """The algorithms of the seed convnets' and ResNet-20's layers all prepare (none falls back
    to running a chunk's Python in the worker)."""
    threads(2)
    calls = []
    plain = parallel.map_chunks

    def spy(*args, **kwargs):
        calls.append(args)
        return plain(*args, **kwargs)

    with conv_settings(parallel_min_elements=0):
        for name in ("winograd full", "winograd adjoint", "direct phases", "direct 1x1 strided", "direct masked"):
            inputs = _inputs(CASES[name])
            parallel.map_chunks = spy
            try:
                _backward(CASES[name], inputs, False, prepared=True)
            finally:
                parallel.map_chunks = plain
    assert calls == []


def test_winograd_kernel_grad_calls_match_the_transform_of_weight_grad():
    """`winograd_conv.kernel_grad_calls` (products into arrays made ahead) gives the bits of
    ``kernel_grad(weight_grad(...))``, float32 and float64, fused and blocked kernels."""
    from kerasette.backend.engine.batch import scratch

    rng = np.random.default_rng(4)
    for dtype in (np.float32, np.float64):
        for chans, cout in ((16, 16), (24, 40), (64, 64)):
            x = rng.standard_normal((3, 9, 10, chans)).astype(dtype)
            dy = rng.standard_normal((3, 9, 10, cout)).astype(dtype)
            pads = (1, 1, 1, 1)
            expected = winograd_conv.kernel_grad(winograd_conv.weight_grad(dy, x, pads, scratch, 1 << 19))
            calls, dw = winograd_conv.kernel_grad_calls(dy, x, pads, scratch, 1 << 19)
            parallel.in_turn(calls)
            assert dw.tobytes() == expected.tobytes()


def test_map_prepared_runs_a_tuple_of_calls_in_turn_on_its_thread(threads):
    threads(2)
    log, lock = [], threading.Lock()

    def step(k, name):
        with lock:
            log.append((k, name, threading.get_ident()))
        return name

    def prepare(k, start, stop):
        return tuple(functools.partial(step, k, name) for name in ("a", "b", "c"))

    assert parallel.map_prepared(prepare, 4) == [["a", "b", "c"], ["a", "b", "c"]]
    for k in (0, 1):
        mine = [(name, tid) for kk, name, tid in log if kk == k]
        assert [name for name, _ in mine] == ["a", "b", "c"]
        assert len({tid for _, tid in mine}) == 1
    assert {tid for k, _, tid in log if k == 0} == {threading.get_ident()}


def test_direct_input_prepare_leaves_the_full_convolution_to_run():
    """The 'full' convolution by the direct forward kernel does not prepare: `prepare` says so
    (None) and the backward pass takes the chunk path."""
    g = conv_geometry((2, 8, 8, 32), (1, 1, 32, 16), (1, 1), "same", np.float32)
    algorithm = choose("input_grad", g)
    if algorithm.name != "direct":
        pytest.skip("direct is not this input gradient's choice here")
    w = np.ones((1, 1, 32, 16), np.float32)
    assert algorithm.prepare(np.ones((2, 8, 8, 16), np.float32), w, g, (2, 8, 8, 32)) is None
