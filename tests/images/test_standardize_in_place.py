"""The iterator normalises the batch it made in place; arrays it does not own stay untouched."""

from __future__ import annotations

import numpy as np

from kerasette.preprocessing.image import ImageDataGenerator


def test_standardize_leaves_the_callers_arrays_alone():
    kept = np.full((4, 4, 3), 10.0, np.float32)
    gen = ImageDataGenerator(rescale=0.5, samplewise_center=True, preprocessing_function=lambda image: kept)
    x = np.arange(48, dtype=np.float32).reshape(4, 4, 3)
    before = x.copy()
    out = gen.standardize(x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(kept, 10.0)  # the function's own array, not changed in place
    np.testing.assert_array_equal(out, 0.0)


def test_batches_normalise_the_same_in_place_and_leave_the_source_alone():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 5, 6, 3)).astype(np.float32)
    source = x.copy()
    gen = ImageDataGenerator(rescale=1 / 255, featurewise_center=True, featurewise_std_normalization=True,
                             samplewise_center=True, samplewise_std_normalization=True)
    gen.fit(x)
    batch = gen.flow(x, batch_size=8, shuffle=False)[0]
    np.testing.assert_array_equal(x, source)
    expected = x * np.float32(1 / 255)
    expected = expected - expected.mean(axis=(1, 2, 3), keepdims=True)
    expected = expected / (expected.std(axis=(1, 2, 3), keepdims=True) + 1e-6)
    expected = (expected - gen.mean) / (gen.std + 1e-6)
    assert batch.dtype == np.float32
    np.testing.assert_allclose(batch, expected, rtol=1e-5, atol=1e-5)
