"""The folding kernels (`kerasette.backend.kernels.folding`, through `engine.folding` and
`ops.normalization.fold_affine`) against the numpy formulas they replace: the same bits, in
float32 and float64, with and without a bias, for a convolution's and a dense layer's kernel."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.backend.engine import folding
from kerasette.backend.ops.normalization import fold_affine, inference_scale_shift
from kerasette.backend.tensor import no_grad


def _numpy_scale_shift(gamma, beta, mean, variance, epsilon, dtype):
    kind = np.dtype(dtype).type
    g, b, m, v = (np.asarray(a, dtype) for a in (gamma, beta, mean, variance))
    scale = g * (kind(1) / np.sqrt(v + kind(epsilon)))
    return scale, b - m * scale


def _statistics(rng, chans, dtype):
    return (rng.uniform(0.5, 2, chans).astype(dtype), rng.standard_normal(chans).astype(dtype),
            rng.standard_normal(chans).astype(dtype), rng.uniform(1e-4, 3, chans).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chans", [1, 7, 64])
def test_scale_and_shift_has_the_bits_of_the_numpy_formulas(dtype, chans):
    rng = np.random.default_rng(chans)
    stats = _statistics(rng, chans, dtype)
    scale, shift = folding.scale_and_shift(*stats, 1e-3, dtype)
    expected_scale, expected_shift = _numpy_scale_shift(*stats, 1e-3, dtype)
    assert scale.dtype == dtype and shift.dtype == dtype
    np.testing.assert_array_equal(scale, expected_scale)
    np.testing.assert_array_equal(shift, expected_shift)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 3, 5, 7), (1, 1, 16, 16), (11, 4)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_fold_has_the_bits_of_the_numpy_products(dtype, shape, with_bias):
    rng = np.random.default_rng(len(shape))
    kernel = rng.standard_normal(shape).astype(dtype)
    bias = rng.standard_normal(shape[-1]).astype(dtype) if with_bias else None
    scale, shift = (rng.standard_normal(shape[-1]).astype(dtype) for _ in range(2))
    folded, folded_bias = fold_affine(kernel, bias, scale, shift)
    assert folded.data.shape == shape and folded.data.dtype == dtype
    np.testing.assert_array_equal(folded.data, kernel * scale)
    np.testing.assert_array_equal(folded_bias.data, bias * scale + shift if with_bias else shift)
    assert folded.requires_grad is False and folded._op is None  # nothing recorded


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inference_scale_shift_without_a_gradient_uses_the_kernel_with_the_recorded_bits(dtype):
    """The same numbers as the recorded ops (a gradient may flow) and as numpy, shaped like gamma."""
    rng = np.random.default_rng(3)
    stats = _statistics(rng, (2, 3), dtype)
    recorded = inference_scale_shift(*stats, 1e-3, dtype)
    with no_grad():
        plain = inference_scale_shift(*stats, 1e-3, dtype)
    for a, b, c in zip(plain, recorded, _numpy_scale_shift(*stats, 1e-3, dtype)):
        assert a.shape == (2, 3)
        np.testing.assert_array_equal(a.data, c)
        np.testing.assert_array_equal(a.data, b.data)


def test_sizes_that_do_not_match_are_refused_not_read_out_of_bounds():
    one = np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"scale_and_shift: gamma, beta, mean, variance and the outputs must have one "
                                         r"size; received \[3, 3, 1, 3, 3, 3\]"):
        folding.scale_and_shift(one, one, one[:1], one, 1e-3)
    with pytest.raises(ValueError, match=r"fold: scale, shift and bias must have one number per output channel \(3, "
                                         r"the kernel's last axis\); received sizes 2, 3 and 3"):
        folding.fold(np.ones((2, 3), np.float32), one, one[:2], one)


def test_inference_statistics_that_broadcast_still_normalize():
    """Given statistics of broadcastable shapes (a scalar mean, as the Keras backend API allows)."""
    from kerasette.backend import ops

    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    gamma, beta, var = np.full(3, 2.0, np.float32), np.zeros(3, np.float32), np.full(3, 4.0, np.float32)
    y = ops.batch_normalization(x, gamma, beta, (0,), 0.0, np.float32(1.0), var)[0]
    np.testing.assert_allclose(y.data, (x - 1.0) / 2.0 * 2.0, rtol=1e-6)


def _numpy_changed(groups, copies):
    """The reference: which groups hold an array whose bytes differ from its copy."""
    return [int(any(a.tobytes() != c for a, c in zip(group, kept))) for group, kept in zip(groups, copies)]


def test_the_snapshot_sees_every_changed_byte():
    """Words and last bytes, an array at an address that is not a multiple of 8, empty arrays,
    other dtypes; after a look the copy is up to date (the next look sees nothing)."""
    rng = np.random.default_rng(3)
    buffer = np.zeros(64, np.uint8)
    groups = [[rng.standard_normal(7).astype(np.float32), rng.standard_normal((3, 3, 2, 5)).astype(np.float32)],
              [buffer[1:20]],  # odd address and size
              [np.zeros(0, np.float32), np.arange(3, dtype=np.int16)],
              [rng.standard_normal(33)]]
    snapshot = folding.SourceSnapshot(groups)
    copies = [[a.tobytes() for a in group] for group in groups]
    assert snapshot.changed().tolist() == [0, 0, 0, 0]
    for group, index, flat in [(0, 0, 6), (0, 1, 0), (0, 1, 89), (1, 0, 18), (1, 0, 0), (2, 1, 2), (3, 0, 32)]:
        array = groups[group][index].reshape(-1)
        array.view(np.uint8)[flat * array.itemsize + array.itemsize - 1] ^= 1  # its highest byte's lowest bit
        expected = _numpy_changed(groups, copies)
        assert snapshot.changed().tolist() == expected
        copies = [[a.tobytes() for a in g] for g in groups]
        assert snapshot.changed().tolist() == [0, 0, 0, 0]
    groups[0][1][...] = groups[0][1] * 2
    groups[3][0][:] = 0
    assert snapshot.changed().tolist() == [1, 0, 0, 1]


def test_the_snapshot_takes_contiguous_arrays_only():
    with pytest.raises(ValueError, match="C-contiguous"):
        folding.SourceSnapshot([[np.zeros((4, 4), np.float32)[:, ::2]]])


def test_the_folded_weights_are_read_only():
    """An engine may keep what it derives from them (the planner keeps them between calls)."""
    kernel, bias = folding.fold(np.ones((3, 3, 2, 4), np.float32), np.zeros(4, np.float32),
                                np.full(4, 2, np.float32), np.ones(4, np.float32))
    for array in (kernel, bias):
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0


def test_a_folded_kernel_has_its_winograd_transform_kept():
    from kerasette.backend.engine import winograd_conv

    kernel, _ = folding.fold(np.ones((3, 3, 2, 4), np.float32), None, np.full(4, 2, np.float32),
                             np.ones(4, np.float32))
    first = winograd_conv.kernel_transform(kernel)
    assert winograd_conv.kernel_transform(kernel) is first
    np.testing.assert_array_equal(first, winograd_conv.kernel_transform(kernel.copy()))
