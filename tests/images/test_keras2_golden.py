"""`ImageDataGenerator.apply_transform` against Keras 2's own output (keras-preprocessing 1.1.2
with scipy 1.17, written by ``make_keras2_golden.py``) for the same explicit parameters.

Tolerance: 1e-4 relative to the image's largest value, with no exception at the borders. Keras 2
resamples with ``scipy.ndimage.affine_transform`` (spline order 0 or 1, whose order-1 spline is
exactly bilinear interpolation); our kernel follows scipy's edge rules ('constant': a position
outside ``[0, size - 1]`` takes ``cval`` whole, without blending; 'wrap': period ``size - 1``;
'reflect': half-sample symmetric), so the borders agree too. The remaining differences are
float32 rounding (scipy computes in float64 and rounds once). Brightness goes through 8-bit
images in both; it is checked to one grey level (the truncation of a product computed in
float32 by Pillow and by numpy can differ by one).

Why keras-preprocessing rather than tf_keras (Keras 2's last release, also checked by hand with
the same script): keras-preprocessing is what ``keras.preprocessing.image`` ran in Keras 2.0 to
2.5. tf_keras moved the centre of rotation to the true centre, but also swaps rows and columns
before scipy, so that its ``height_shift_range`` shifts images sideways and its centre is
transposed for non-square images, and it stops stretching images for the brightness shift.
kerasette keeps keras-preprocessing's results.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kerasette.preprocessing.image import ImageDataGenerator, apply_affine_transform

DATA = np.load(Path(__file__).parent / "data" / "keras2_transforms.npz")
CASES = json.loads(str(DATA["cases"]))


def _id(i):
    c = CASES[i]
    return f"{i}-{c['args'].get('fill_mode', 'nearest')}-o{c['args'].get('interpolation_order', 1)}-{c['image']}"


@pytest.mark.parametrize("i", range(len(CASES)), ids=_id)
def test_apply_transform_matches_keras2(i):
    case = CASES[i]
    x = DATA[f"x_{case['image']}"]
    y = ImageDataGenerator(**case["args"]).apply_transform(x.copy(), case["params"])
    expected = DATA[f"y_{i}"]
    assert y.shape == expected.shape
    if "brightness" in case["params"]:
        np.testing.assert_allclose(y, expected, atol=1.0)
        assert np.mean(y == expected) > 0.99
    else:
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_apply_affine_transform_keeps_keras2s_axes():
    """Keras 2's function takes one channels-first image by default (row_axis=1)."""
    rgb = DATA["x_rgb"]
    first = np.transpose(rgb, (2, 0, 1))
    a = apply_affine_transform(first, theta=17.0, fill_mode="nearest")
    b = ImageDataGenerator(data_format="channels_last").apply_transform(rgb, {"theta": 17.0})
    np.testing.assert_allclose(np.transpose(a, (1, 2, 0)), b, rtol=1e-6, atol=1e-4)
    assert apply_affine_transform(first) is first  # the identity leaves the image alone
