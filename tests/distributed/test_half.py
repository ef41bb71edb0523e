"""The float16 kernels against numpy's conversions (the plain reference), on every class of value."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.distributed import half

ALL_HALVES = np.arange(65536, dtype=np.uint16).view(np.float16)


def _same_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal bits, or both NaN (the NaN payload is not specified)."""
    return (a.view(np.uint16) == b.view(np.uint16)) | (np.isnan(a) & np.isnan(b))


def test_to_float_is_exact_for_every_half():
    out = half.to_float(ALL_HALVES)
    assert out.dtype == np.float32
    finite = ~np.isnan(ALL_HALVES)
    assert np.array_equal(out[finite].view(np.uint32), ALL_HALVES[finite].astype(np.float32).view(np.uint32))
    assert np.isnan(out[~finite]).all()


def _float32_cases() -> np.ndarray:
    rng = np.random.default_rng(7)
    random_bits = rng.integers(0, 2 ** 32, 400_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    exact = ALL_HALVES.astype(np.float32)
    finite = exact[np.isfinite(exact)]
    nudged = np.concatenate([np.nextafter(finite, np.float32(np.inf)), np.nextafter(finite, np.float32(-np.inf))])
    # the midpoints between neighbouring halves: ties, which go to the even neighbour
    ordered = np.sort(finite[finite >= 0])
    midpoints = ((ordered[:-1].astype(np.float64) + ordered[1:]) / 2).astype(np.float32)
    edges = np.array([0.0, -0.0, 65504, 65519.996, 65520, 65536, 1e6, 2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26,
                      2.0 ** -26, 2.0 ** -14, 1e-8, 1e-30, 1e-45, np.inf, -np.inf, np.nan], np.float32)
    return np.concatenate([random_bits, exact, nudged, midpoints, -midpoints, edges])


def test_to_half_rounds_as_numpy_does():
    values = _float32_cases()
    out = np.empty(values.size, np.float16)
    half.to_half(values, out)
    with np.errstate(over="ignore", invalid="ignore"):
        reference = values.astype(np.float16)
    wrong = ~_same_bits(out, reference)
    assert not wrong.any(), (values[wrong][:5], out[wrong][:5], reference[wrong][:5])


def test_to_half_from_float64_goes_through_float32():
    values = np.array([1 / 3, 1e-7, -70000.0], np.float64)
    out = np.empty(3, np.float16)
    half.to_half(values, out)
    with np.errstate(over="ignore"):
        assert _same_bits(out, values.astype(np.float32).astype(np.float16)).all()


@pytest.mark.parametrize("size", [1, 4095, 4096, 10_001])
def test_add_into_is_the_float32_sum_rounded_once(size):
    rng = np.random.default_rng(size)
    with np.errstate(over="ignore"):
        a = (rng.standard_normal(size) * 10.0 ** rng.integers(-8, 5, size)).astype(np.float16)
        b = (rng.standard_normal(size) * 10.0 ** rng.integers(-8, 5, size)).astype(np.float16)
        a[:1], b[:1] = np.float16(60000), np.float16(60000)  # overflows to infinity
        reference = (a.astype(np.float32) + b.astype(np.float32)).astype(np.float16)
    into = b.copy()
    half.add_into(a, into)
    assert _same_bits(into, reference).all()
    swapped = a.copy()
    half.add_into(b, swapped)
    assert np.array_equal(swapped.view(np.uint16), into.view(np.uint16))  # commutative: the same bits on every rank
