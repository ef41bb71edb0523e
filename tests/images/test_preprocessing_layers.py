"""Keras 3's preprocessing layers: what the random ones do in training (and only there),
Normalization.adapt and its weights, the resizing maps, gradients, errors, and models that train
and save with them. (Values at inference are in the layer table, tests/layers/specs/preprocessing.py,
and against Keras 3's own files in tests/saving.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerasette import layers
from kerasette.backend.tensor import Tensor
from kerasette.models import Sequential, load_model
from kerasette.utils import Sequence

DATA = Path(__file__).parent / "data"


def _images(n=4, rows=6, cols=7, channels=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, rows, cols, channels)).astype("float32")


RANDOM_LAYERS = [
    lambda: layers.RandomFlip(seed=1),
    lambda: layers.RandomRotation(0.3, seed=1),
    lambda: layers.RandomZoom(0.4, seed=1),
    lambda: layers.RandomTranslation(0.3, 0.3, seed=1),
    lambda: layers.RandomContrast(0.9, value_range=(0, 1), seed=1),
    lambda: layers.RandomBrightness(0.5, value_range=(0, 1), seed=1),
]


@pytest.mark.parametrize("make", RANDOM_LAYERS, ids=lambda m: type(m()).__name__)
def test_random_layers_change_images_only_in_training(make):
    layer, x = make(), _images()
    np.testing.assert_array_equal(layer(x).data, x)
    np.testing.assert_array_equal(layer(x, training=False).data, x)
    y = layer(x, training=True).data
    assert y.shape == x.shape and y.dtype == np.float32 and not np.allclose(y, x)
    assert not np.allclose(layer(x, training=True).data, y)  # new draws each call
    same_seed = make()(x, training=True).data
    np.testing.assert_array_equal(same_seed, y)


def test_random_flip_flips_whole_images():
    x = _images(40)
    y = layers.RandomFlip("horizontal", seed=3)(x, training=True).data
    flipped = [np.array_equal(a, b[:, ::-1]) for a, b in zip(y, x)]
    kept = [np.array_equal(a, b) for a, b in zip(y, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and 5 < sum(flipped) < 35
    y = layers.RandomFlip("vertical", seed=3)(x, training=True).data
    assert all(np.array_equal(a, b) or np.array_equal(a, b[::-1]) for a, b in zip(y, x))


def test_rotation_by_a_half_turn_and_translation_by_whole_pixels():
    x = _images(2, 5, 5, 1)
    half_turn = layers.RandomRotation((0.5, 0.5), interpolation="nearest")
    np.testing.assert_allclose(half_turn(x, training=True).data, x[:, ::-1, ::-1], atol=1e-6)
    layer = layers.RandomTranslation((0.2, 0.2), (-0.4, -0.4), fill_mode="constant", fill_value=-1.0)
    y = layer(x, training=True).data  # one row down, two columns left
    np.testing.assert_allclose(y[:, 1:, :3], x[:, :4, 2:], atol=1e-6)
    assert np.all(y[:, 0] == -1) and np.all(y[:, :, 3:] == -1)
    wrap = layers.RandomTranslation((0.2, 0.2), (0.0, 0.0), fill_mode="wrap")(x, training=True).data
    np.testing.assert_allclose(wrap, np.roll(x, 1, axis=1), atol=1e-6)


def test_zoom_out_by_two_shows_the_image_at_half_size():
    x = np.zeros((1, 9, 9, 1), "float32")
    x[0, 4, 4] = 1.0
    y = layers.RandomZoom((1.0, 1.0), interpolation="nearest", fill_mode="constant")(x, training=True).data
    assert y[0, 4, 4, 0] == 1 and y.sum() == 1  # the centre stays; zoom 2 shows twice the area
    x = np.ones((1, 8, 8, 1), "float32")
    y = layers.RandomZoom((1.0, 1.0), fill_mode="constant")(x, training=True).data[0, :, :, 0]
    assert y[3:5, 3:5].min() == 1 and y[0, 0] == 0


def test_contrast_and_brightness_follow_keras3s_formulas():
    x = _images(3)
    contrast = layers.RandomContrast((0.5, 0.5), value_range=(-10, 10), seed=0)
    assert contrast.factor == (0.5, 0.5)
    y = contrast(x, training=True).data  # factor uniform in [1 - 0.5, 1 + 0.5]
    mean = x.mean((1, 2), keepdims=True)
    factor = ((y - mean) / (x - mean)).reshape(3, -1)
    np.testing.assert_allclose(factor, factor[:, :1] * np.ones_like(factor), rtol=1e-3)
    assert np.all((factor >= 0.5 - 1e-4) & (factor <= 1.5 + 1e-4))
    brightness = layers.RandomBrightness((0.1, 0.2), value_range=(0, 255), seed=0)
    y = brightness(x * 100, training=True).data
    delta = (y - x * 100).reshape(3, -1)
    assert np.all((delta >= 25.4) & (delta <= 51.1)) and np.allclose(delta, delta[:, :1], atol=1e-3)
    assert layers.RandomContrast(0.3).factor == (0.0, 0.3)  # Keras 3 reads a number f as (0, f)


def test_random_crop_in_training_and_inference():
    x = np.arange(2 * 6 * 8, dtype="float32").reshape(2, 6, 8, 1)
    crop = layers.RandomCrop(3, 4, seed=2)
    windows = set()
    for _ in range(30):
        y = crop(x, training=True).data
        assert y.shape == (2, 3, 4, 1) and np.array_equal(y[1] - y[0], np.full((3, 4, 1), 48.0))
        top, left = divmod(int(y[0, 0, 0, 0]), 8)
        np.testing.assert_array_equal(y[0, :, :, 0], x[0, top:top + 3, left:left + 4, 0])
        windows.add((top, left))
    assert len(windows) > 5
    inference = crop(x).data  # centred 6x8 window of the 3:4 ratio is the whole image, resized
    np.testing.assert_allclose(inference[0, :, :, 0], layers.Resizing(3, 4)(x).data[0, :, :, 0])


def test_normalization_adapt_matches_numpy_and_streams_batches():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 4, 3)).astype("float32") * [1, 5, 10] + [0, 3, -2]
    layer = layers.Normalization()
    layer.adapt(x)
    assert [w.name.split("/")[-1] for w in layer.weights] == ["mean", "variance", "count"]
    assert not any(w.trainable for w in layer.weights) and layer.count.data.dtype.kind == "i"
    np.testing.assert_allclose(layer.adapt_mean.data, x.mean((0, 1)), rtol=1e-5)
    np.testing.assert_allclose(layer.adapt_variance.data, x.var((0, 1)), rtol=1e-5)
    y = layer(x).data
    np.testing.assert_allclose(y.mean((0, 1)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std((0, 1)), 1, atol=1e-4)

    class Batches(Sequence):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return x[i * 10:(i + 1) * 10], None

    streamed = layers.Normalization()
    streamed.adapt(Batches())
    np.testing.assert_allclose(streamed.adapt_variance.data, layer.adapt_variance.data, rtol=1e-5)
    listed = layers.Normalization(axis=(1, 2))
    listed.adapt([x[:7], x[7:]])
    np.testing.assert_allclose(listed.adapt_mean.data, x.mean(0), rtol=1e-4, atol=1e-6)
    inverse = layers.Normalization(invert=True)
    inverse.adapt(x)
    np.testing.assert_allclose(inverse(y).data, x, rtol=1e-4, atol=1e-4)


def test_normalization_errors():
    with pytest.raises(ValueError, match=r"Normalization 'normalization_\d+': give both `mean` and `variance`, or "
                                         r"neither; received mean=1.0 and variance=None"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match=r"`mean` and `variance` must have the same shape; received shapes \(2,\) "
                                         r"and \(3,\)"):
        layers.Normalization(mean=[1, 2], variance=[1, 2, 3])
    with pytest.raises(ValueError, match=r"every `axis` must be in \[-2, 2\) for inputs of rank 2; received "
                                         r"axis=\[3\]"):
        layers.Normalization(axis=3).adapt(np.zeros((4, 3)))
    layer = layers.Normalization()
    layer.adapt(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"adapt\(\) received data of shape \(4, 2\), incompatible with the input "
                                         r"shape \(None, 3\)"):
        layer.adapt(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"adapt\(\) cannot change a mean and variance given to the constructor"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(np.zeros((2, 2)))


@pytest.mark.parametrize("make,message", [
    (lambda: layers.RandomFlip("diagonal"), r"RandomFlip 'random_flip_\d+': argument `mode` must be one of "
                                            r"'horizontal', 'vertical', 'horizontal_and_vertical'; received "
                                            r"mode='diagonal'"),
    (lambda: layers.RandomRotation(0.2, fill_mode="mirror"), r"argument `fill_mode` must be one of 'reflect', "
                                                             r"'wrap', 'constant', 'nearest'; received "
                                                             r"fill_mode='mirror'"),
    (lambda: layers.RandomRotation(2.0), r"argument `factor` must be a number or a pair of numbers in \[-1.0, 1.0\]; "
                                         r"received factor=2.0"),
    (lambda: layers.RandomZoom((-1.0, 0.2)), r"argument `height_factor` must stay above -1"),
    (lambda: layers.RandomTranslation(0.1, "a"), r"argument `width_factor` must be a number or a pair"),
    (lambda: layers.RandomContrast(1.5), r"RandomContrast '.*': argument `factor` must be a number or a pair of "
                                         r"numbers in \[0.0, 1.0\]; received factor=1.5"),
    (lambda: layers.RandomBrightness(0.2, value_range=5), r"argument `value_range` must be a pair \[low, high\]"),
    (lambda: layers.RandomFlip(seed="x"), r"argument `seed` must be an integer or None; received seed='x'"),
    (lambda: layers.Resizing(3, 3, interpolation="gaussian"), r"Resizing '.*': argument `interpolation` must be "
                                                             r"one of bilinear, nearest, bicubic, area, lanczos3, lanczos5; "
                                                             r"received interpolation='gaussian'"),
    (lambda: layers.Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True),
     r"only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True"),
    (lambda: layers.Resizing(0, 3), r"argument `height` of Resizing '.*'\. Expected a strictly positive integer"),
    (lambda: layers.CenterCrop(3, -1), r"argument `width` of CenterCrop '.*'\. Expected a strictly positive"),
    (lambda: layers.Rescaling("a"), r"Rescaling '.*': argument `scale` must be a number or an array of numbers; "
                                    r"received scale='a'"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_image_layers_want_rank_4():
    with pytest.raises(ValueError, match=r"RandomFlip 'random_flip_\d+'"):
        layers.RandomFlip()(np.zeros((2, 3, 3), "float32"))


def test_gradients_flow_through_the_deterministic_layers():
    x = Tensor(_images(2), requires_grad=True)
    for layer in (layers.Resizing(4, 9, pad_to_aspect_ratio=True, fill_value=0.5), layers.CenterCrop(3, 3),
                  layers.Rescaling(2.0, 1.0), layers.Normalization(mean=0.5, variance=4.0),
                  layers.RandomFlip(seed=0), layers.RandomContrast(0.5, value_range=(-9, 9), seed=0)):
        x.grad = None
        out = layer(x, training=True)
        weights = np.random.default_rng(1).standard_normal(out.shape).astype("float32")
        (out * weights).sum().backward()
        assert x.grad is not None and x.grad.shape == x.shape and np.any(x.grad != 0), type(layer).__name__


def test_resizing_equals_the_explicit_linear_map():
    """The layer is linear in the image; numerically its Jacobian is the resize of unit images."""
    x = _images(1, 4, 5, 1)
    layer = layers.Resizing(3, 7, pad_to_aspect_ratio=True, fill_value=2.0)
    base = layer(np.zeros_like(x)).data
    out = layer(x).data
    columns = []
    for k in range(x.size):
        unit = np.zeros(x.size, "float32")
        unit[k] = 1
        columns.append((layer(unit.reshape(x.shape)).data - base).ravel())
    np.testing.assert_allclose(out.ravel(), base.ravel() + np.stack(columns, 1) @ x.ravel(), rtol=1e-5, atol=1e-5)
    assert np.allclose(base[0, :, 0], 2.0) and np.allclose(base[0, 1, 3], 0.0)  # padding columns show fill_value


def test_a_model_trains_with_augmentation_and_predicts_without_it(tmp_path):
    x = _images(16, 8, 8, 3) * 255
    y = np.eye(2, dtype="float32")[np.arange(16) % 2]
    norm = layers.Normalization(mean=[0.5, 0.5, 0.5], variance=[0.1, 0.1, 0.1])
    model = Sequential([
        layers.Rescaling(1 / 255, input_shape=(8, 8, 3)), layers.RandomFlip(seed=1), layers.RandomRotation(0.1, seed=2),
        layers.RandomZoom(0.1, seed=3), layers.RandomTranslation(0.1, 0.1, seed=4), layers.RandomContrast(0.2, seed=5),
        layers.RandomBrightness(0.1, value_range=(0, 1), seed=6), layers.RandomCrop(6, 6, seed=7), norm,
        layers.Resizing(5, 5), layers.CenterCrop(4, 4), layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    before = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)  # inference is deterministic
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    after = model.predict(x, verbose=0)
    assert not np.allclose(before, after)
    path = tmp_path / "augmenting.h5"
    model.save(path)
    np.testing.assert_allclose(load_model(path).predict(x, verbose=0), after, rtol=1e-5, atol=1e-6)



def test_keras3_file_with_an_adapted_normalization():
    data = np.load(DATA / "keras3_normalization_adapted.npz")
    model = load_model(DATA / "keras3_normalization_adapted.h5")
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], atol=1e-5)
    norm = next(layer for layer in model.layers if type(layer).__name__ == "Normalization")
    assert int(norm.count.data) == 0 and not np.allclose(norm.adapt_mean.data, 0)


def test_an_adapted_normalization_saves_and_loads(tmp_path):
    x = _images(8, 4, 4, 3)
    norm = layers.Normalization(input_shape=(4, 4, 3))
    norm.adapt(x)
    model = Sequential([norm, layers.Flatten(), layers.Dense(2)])
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_configs_are_keras3s_key_for_key():
    """Each layer made from Keras 3's own config writes that config back (names and dtypes aside)."""
    import json

    from kerasette.layers import deserialize

    saved = json.loads((DATA / "keras3_preprocessing_configs.json").read_text())
    for spec in saved["layers"]:
        theirs = {k: v for k, v in spec["config"].items() if k not in ("name", "dtype", "trainable")}
        ours = deserialize(spec).get_config()
        assert {k: ours.get(k) for k in theirs} == theirs, spec["class_name"]
        assert set(ours) - {"name", "dtype", "trainable"} == set(theirs), spec["class_name"]


@pytest.mark.parametrize("method", ["area", "lanczos3", "lanczos5"])
def test_resizing_area_and_lanczos_are_tensorflows(method):
    """Keras 3 takes these from TensorFlow (make_tf_resize_golden.py wrote its results)."""
    data = np.load(DATA / "tf_resize.npz")
    x = data["x"]
    for key in data.files:
        if key.startswith(method + "_"):
            height, width = (int(v) for v in key.split("_")[1].split("x"))
            got = layers.Resizing(height, width, interpolation=method)(x).data
            np.testing.assert_allclose(got, data[key], rtol=1e-5, atol=1e-3, err_msg=key)


def test_resizing_bicubic_is_keys_cubic_with_clamped_edges():
    """PyTorch's bicubic (Keras 3's torch backend; the Keras 3 fixture preprocessing_resizing has one)."""
    x = np.arange(6, dtype="float32") ** 1.5
    got = layers.Resizing(9, 1, interpolation="bicubic")(x.reshape(1, 6, 1, 1)).data.ravel()
    keras_torch = [-0.08681, 0.32858, 1.30811, 2.37784, 3.92084, 5.74887, 7.36263, 9.85303, 11.45641]
    np.testing.assert_allclose(got, keras_torch, atol=1e-4)
