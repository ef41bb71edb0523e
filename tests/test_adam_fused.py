"""Adam's one-pass kernel (large contiguous weights) gives the same bits as its numpy rule."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend.kernels import update as kernels
from kerasette.optimizers import FUSED_UPDATE_MIN_SIZE, Adam


def _run(value, grads, fused: bool):
    opt = Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-6)
    slots = {"momentum": np.zeros_like(value), "velocity": np.zeros_like(value)}
    value = value.copy()
    for step, g in enumerate(grads):
        opt.iterations = step
        if fused:
            opt.update(value, g, slots, 0.01)
        else:  # below the fused size: the numpy rule, piece by piece
            for piece in np.array_split(np.arange(value.size), 4):
                sub = {k: s.reshape(-1)[piece] for k, s in slots.items()}
                w = value.reshape(-1)[piece]
                opt.update(w, g.reshape(-1)[piece], sub, 0.01)
                value.reshape(-1)[piece] = w
                for k in slots:
                    slots[k].reshape(-1)[piece] = sub[k]
    return value, slots


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adam_equals_the_numpy_rule_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    shape = (FUSED_UPDATE_MIN_SIZE // 64 + 3, 64)
    value = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    grads[1][0, :5] = 0  # zero gradients and a zero second moment: no division by zero
    fused, fused_slots = _run(value, grads, True)
    plain, plain_slots = _run(value, grads, False)
    assert not np.array_equal(fused, value)
    np.testing.assert_array_equal(fused, plain)
    for k in fused_slots:
        np.testing.assert_array_equal(fused_slots[k], plain_slots[k])


def test_adam_kernel_against_a_slow_reference():
    rng = np.random.default_rng(1)
    w, g, m, v = (rng.standard_normal(37) for _ in range(4))
    v = np.abs(v)
    want_w, want_m, want_v = w.copy(), m.copy(), v.copy()
    for i in range(37):
        want_m[i] = m[i] + (g[i] - m[i]) * 0.1
        want_v[i] = v[i] + (g[i] ** 2 - v[i]) * 0.001
        want_w[i] = w[i] - want_m[i] * 0.5 / (np.sqrt(want_v[i]) + 1e-7)
    kernels.adam(w, g, m, v, 0.5, 0.1, 0.001, 1e-7)
    np.testing.assert_allclose(w, want_w, rtol=1e-14)
    np.testing.assert_allclose(m, want_m, rtol=1e-14)
    np.testing.assert_allclose(v, want_v, rtol=1e-14)
