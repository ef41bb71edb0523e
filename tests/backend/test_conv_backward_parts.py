"""The convolution backward pass's last step: the threads' bias and kernel gradient parts added
(`engine.conv._finished_parts`, one kernel call for two parts of one dtype)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend.engine import conv as engine_conv
from kerasette.backend.engine.algorithms import Summed
from kerasette.backend.engine.batch import sum_parts
from kerasette.backend.kernels import conv as conv_kernels


def _parts(rng, dtype, n=2, w_shape=(3, 3, 5, 7)):
    return [(rng.standard_normal(w_shape[-1]).astype(dtype), rng.standard_normal(w_shape).astype(dtype))
            for _ in range(n)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_parts_in_one_call_give_sum_parts_bits(dtype, monkeypatch):
    rng = np.random.default_rng(21)
    parts = _parts(rng, dtype)
    calls = []
    plain = conv_kernels.sum_two_parts
    monkeypatch.setattr(conv_kernels, "sum_two_parts", lambda *a: calls.append(1) or plain(*a))
    db, dw = engine_conv._finished_parts(parts, True, True, Summed(dtype, (3, 3, 5, 7)))
    assert calls == [1]
    assert db.dtype == dw.dtype == dtype and dw.shape == (3, 3, 5, 7)
    np.testing.assert_array_equal(db, sum_parts([p[0] for p in parts]))
    np.testing.assert_array_equal(dw, sum_parts([p[1] for p in parts], dtype))


def test_a_direct_kernels_part_is_a_leading_slice():
    """Direct kernel gradients return ``dw[:taps]`` of a longer array: added as it is."""
    rng = np.random.default_rng(22)
    longer = [rng.standard_normal((50, 7)).astype(np.float32) for _ in range(2)]
    parts = [(rng.standard_normal(7).astype(np.float32), part[:45]) for part in longer]
    db, dw = engine_conv._finished_parts(parts, True, True, Summed(np.float32, (3, 3, 5, 7)))
    np.testing.assert_array_equal(dw, (longer[0][:45] + longer[1][:45]).reshape(3, 3, 5, 7))
    np.testing.assert_array_equal(db, parts[0][0] + parts[1][0])


@pytest.mark.parametrize("case", ["three parts", "no bias", "no kernel", "float64 part", "other finish"])
def test_other_cases_take_sum_parts(case, monkeypatch):
    rng = np.random.default_rng(23)
    parts = _parts(rng, np.float32, 3 if case == "three parts" else 2)
    if case == "float64 part":
        parts[1] = (parts[1][0], parts[1][1].astype(np.float64))
    has_bias, need_kernel = case != "no bias", case != "no kernel"
    finish = Summed(np.float32, (3, 3, 5, 7))
    if case == "other finish":
        finish = lambda ps: sum_parts(ps, np.float32).reshape(3, 3, 5, 7)  # noqa: E731
    monkeypatch.setattr(conv_kernels, "sum_two_parts", lambda *a: pytest.fail("the kernel ran"))
    db, dw = engine_conv._finished_parts(parts, has_bias, need_kernel, finish)
    assert (db is None) == (not has_bias) and (dw is None) == (not need_kernel)
    if has_bias:
        np.testing.assert_array_equal(db, sum_parts([p[0] for p in parts]))
    if need_kernel:
        np.testing.assert_array_equal(dw, sum_parts([p[1] for p in parts], np.float32).reshape(3, 3, 5, 7))


def test_summed_finish_adds_in_its_dtype_and_shape():
    rng = np.random.default_rng(24)
    parts = [rng.standard_normal(12).astype(np.float64), rng.standard_normal(12).astype(np.float32)]
    out = Summed(np.float32, (3, 4))(parts)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    np.testing.assert_array_equal(out, sum_parts(parts, np.float32).reshape(3, 4))
