"""ImageDataGenerator: arguments, random parameters, normalisation, fit, and the iterators over
arrays, folders and data frames, including training with them."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest

from kerasette.layers import Conv2D, Dense, GlobalAveragePooling2D
from kerasette.models import Sequential
from kerasette.preprocessing.image import ImageDataGenerator, NumpyArrayIterator, transform_matrix
from kerasette.utils import Sequence, save_img
from tests.images.conftest import needs_pillow


def _images(n=10, rows=6, cols=5, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, rows, cols, channels)).astype("float32")


# -- arguments ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,message", [
    ({"fill_mode": "mirror"}, r"argument `fill_mode` must be one of 'constant', 'nearest', 'reflect', 'wrap'; "
                              r"received fill_mode='mirror'"),
    ({"interpolation_order": 6}, r"argument `interpolation_order` must be an integer from 0 to 5 \(0 nearest, 1 "
                                 r"bilinear, 2 to 5 a B-spline of that order\); received interpolation_order=6"),
    ({"interpolation_order": 1.5}, r"argument `interpolation_order` must be an integer from 0 to 5"),
    ({"zoom_range": [0.5]}, r"argument `zoom_range` must be a float or a pair \[low, high\]; received "
                            r"zoom_range=\[0.5\]"),
    ({"brightness_range": 0.5}, r"argument `brightness_range` must be None or a pair \[low, high\]"),
    ({"validation_split": 1.5}, r"argument `validation_split` must be strictly between 0 and 1; received "
                                r"validation_split=1.5"),
    ({"data_format": "nchw"}, r"argument `data_format` must be one of 'channels_last', 'channels_first'"),
    ({"rotation_range": -1}, r"argument `rotation_range` must be a non-negative number; received rotation_range=-1"),
    ({"width_shift_range": "a"}, r"argument `width_shift_range` must be a non-negative float, an int or a list"),
    ({"preprocessing_function": 3}, r"argument `preprocessing_function` must be callable"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match="ImageDataGenerator: " + message):
        ImageDataGenerator(**kwargs)


def test_option_implications_warn_as_keras2():
    with pytest.warns(UserWarning, match="zca_whitening=True turns on featurewise_center"):
        gen = ImageDataGenerator(zca_whitening=True)
    assert gen.featurewise_center
    with pytest.warns(UserWarning, match="featurewise_std_normalization=True turns on featurewise_center"):
        assert ImageDataGenerator(featurewise_std_normalization=True).featurewise_center
    with pytest.warns(UserWarning, match="samplewise_std_normalization=True turns on samplewise_center"):
        assert ImageDataGenerator(samplewise_std_normalization=True).samplewise_center
    assert ImageDataGenerator(zoom_range=0.2).zoom_range == [0.8, 1.2]


# -- random parameters ----------------------------------------------------------------------------
def test_get_random_transform_draws_keras2s_distributions():
    gen = ImageDataGenerator(rotation_range=30, width_shift_range=0.1, height_shift_range=3, shear_range=5,
                             zoom_range=[0.5, 0.9], channel_shift_range=10, brightness_range=[0.2, 0.4],
                             horizontal_flip=True)
    draws = [gen.get_random_transform((20, 40, 3), seed=s) for s in range(300)]
    theta = np.array([d["theta"] for d in draws])
    assert -30 <= theta.min() < -20 and 20 < theta.max() <= 30
    ty = np.array([d["ty"] for d in draws])  # columns: a fraction 0.1 of 40 pixels
    assert -4 <= ty.min() < -3 and 3 < ty.max() <= 4
    tx = {d["tx"] for d in draws}  # rows: an int 3 draws whole pixels in [0, 3) with a sign
    assert tx <= {-2.0, -1.0, 0.0, 1.0, 2.0} and len(tx) >= 4
    zoom = np.array([[d["zx"], d["zy"]] for d in draws])
    assert 0.5 <= zoom.min() and zoom.max() <= 0.9 and not np.allclose(zoom[:, 0], zoom[:, 1])
    assert {d["flip_horizontal"] for d in draws} == {True, False}
    assert {d["flip_vertical"] for d in draws} == {False}
    assert all(0.2 <= d["brightness"] <= 0.4 and abs(d["channel_shift_intensity"]) <= 10 for d in draws)
    assert gen.get_random_transform((20, 40, 3), seed=5) == draws[5]
    plain = ImageDataGenerator().get_random_transform((4, 4, 1))
    assert plain["theta"] == 0 and plain["zx"] == 1 and plain["channel_shift_intensity"] is None
    listed = ImageDataGenerator(width_shift_range=[2, 5]).get_random_transform((9, 9, 1), seed=0)
    assert abs(listed["ty"]) in (2, 5)


def test_random_transform_is_apply_transform_of_the_drawn_parameters():
    gen = ImageDataGenerator(rotation_range=40, zoom_range=0.3, vertical_flip=True, fill_mode="reflect")
    x = _images(1)[0]
    params = gen.get_random_transform(x.shape, seed=3)
    np.testing.assert_array_equal(gen.random_transform(x, seed=3), gen.apply_transform(x, params))


def test_a_quarter_turn_moves_whole_pixels_about_keras2s_centre():
    """keras-preprocessing turns about (rows / 2 + 0.5, cols / 2 + 0.5): (3, 3) on a 5x5 image, so
    output (i, j) reads input (6 - j, i), clamped to the image by fill_mode='nearest'."""
    x5 = np.arange(25.0).reshape(5, 5, 1)
    got = ImageDataGenerator(interpolation_order=0).apply_transform(x5, {"theta": 90})[..., 0]
    i, j = np.mgrid[0:5, 0:5]
    np.testing.assert_array_equal(got, x5[np.clip(6 - j, 0, 4), i, 0])
    assert transform_matrix(rows=4, cols=4).tolist() == [[1, 0, 0], [0, 1, 0]]
    assert ImageDataGenerator().apply_transform(x5, {}).shape == (5, 5, 1)


def test_channels_first_gives_the_same_images():
    x = _images(4)
    last = ImageDataGenerator(rotation_range=30, shear_range=10, channel_shift_range=20, horizontal_flip=True)
    first = ImageDataGenerator(rotation_range=30, shear_range=10, channel_shift_range=20, horizontal_flip=True,
                               data_format="channels_first")
    a = last.flow(x, batch_size=4, shuffle=False, seed=2)[0]
    b = first.flow(np.moveaxis(x, 3, 1), batch_size=4, shuffle=False, seed=2)[0]
    np.testing.assert_allclose(np.moveaxis(b, 1, 3), a, rtol=1e-6, atol=1e-4)


# -- normalisation --------------------------------------------------------------------------------
def test_fit_and_standardize_featurewise():
    x = _images(20, seed=1)
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True, rescale=1 / 255)
    with pytest.warns(UserWarning) as caught:
        gen.standardize(x[0])
    assert [str(w.message).split(":")[1].split("=")[0].strip() for w in caught] == [
        "featurewise_center", "featurewise_std_normalization"]
    gen.fit(x)
    assert gen.mean.shape == (1, 1, 3) and gen.std.shape == (1, 1, 3)
    np.testing.assert_allclose(gen.mean[0, 0], (x / 255).mean((0, 1, 2)), rtol=1e-5)
    out = np.stack([gen.standardize(image) for image in x])
    np.testing.assert_allclose(out.mean((0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std((0, 1, 2)), 1, atol=1e-4)
    batch = gen.flow(x, batch_size=20, shuffle=False)[0]
    np.testing.assert_allclose(batch, out, rtol=1e-5, atol=1e-5)
    channels_first = ImageDataGenerator(featurewise_center=True, data_format="channels_first")
    channels_first.fit(np.moveaxis(x, 3, 1))
    assert channels_first.mean.shape == (3, 1, 1)


def test_fit_with_augment_rounds_and_seed():
    x = _images(6, seed=2)
    a = ImageDataGenerator(featurewise_center=True, rotation_range=90)
    b = ImageDataGenerator(featurewise_center=True, rotation_range=90)
    a.fit(x, augment=True, rounds=3, seed=1)
    b.fit(x, augment=True, rounds=3, seed=1)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert not np.allclose(a.mean[0, 0], x.mean((0, 1, 2)))
    with pytest.raises(ValueError, match=r"ImageDataGenerator.fit: expected images of rank 4; received an array of "
                                         r"shape \(6, 5, 3\)"):
        a.fit(x[0])


def test_zca_whitening_decorrelates():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 2, 2, 1)) + rng.standard_normal((400, 1, 1, 1))
    with pytest.warns(UserWarning):
        gen = ImageDataGenerator(zca_whitening=True, zca_epsilon=1e-9, dtype="float64")
    gen.fit(x)
    white = np.stack([gen.standardize(image) for image in x]).reshape(400, -1)
    # Keras 2 centres by the channel's mean (not each pixel's), and whitens the second moment
    np.testing.assert_allclose(white.T @ white / len(white), np.eye(4), atol=1e-6)


def test_samplewise_and_preprocessing_function():
    x = _images(3, seed=4)
    gen = ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True,
                             preprocessing_function=lambda image: image[::-1])
    out = gen.flow(x, batch_size=3, shuffle=False)[0]
    np.testing.assert_allclose(out.mean((1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std((1, 2, 3)), 1, atol=1e-4)
    ref = x[0, ::-1]
    np.testing.assert_allclose(out[0], (ref - ref.mean()) / (ref.std() + 1e-6), rtol=1e-4, atol=1e-4)
    single = x[0].copy()
    gen.standardize(single)
    np.testing.assert_array_equal(single, x[0])  # the caller's array is left alone


# -- flow -----------------------------------------------------------------------------------------
def test_flow_batches_targets_weights_and_misc():
    x, y, w = _images(10), np.arange(10), np.linspace(0.1, 1, 10)
    it = ImageDataGenerator().flow((x, [y * 2, y * 3]), y, batch_size=4, sample_weight=w, shuffle=False)
    assert isinstance(it, Sequence) and isinstance(it, NumpyArrayIterator) and len(it) == 3
    (bx, m2, m3), by, bw = it[2]
    np.testing.assert_array_equal(bx, x[8:])
    np.testing.assert_array_equal(by, y[8:])
    np.testing.assert_array_equal(m2, 2 * y[8:])
    np.testing.assert_array_equal(bw, w[8:])
    assert bx.dtype == np.float32
    only_x = ImageDataGenerator().flow(x, batch_size=5, shuffle=False)
    np.testing.assert_array_equal(only_x[1], x[5:])
    with pytest.raises(ValueError, match=r"`x` \(images\) and `y` \(labels\) must have the same length; received "
                                         r"10 images and 3 labels"):
        ImageDataGenerator().flow(x, y[:3])
    with pytest.raises(ValueError, match=r"ImageDataGenerator.flow: images must be an array of rank 4; received an "
                                         r"array of shape \(6, 5, 3\)"):
        ImageDataGenerator().flow(x[0])
    with pytest.raises(ValueError, match=r"argument `batch_size` must be a positive integer; received batch_size=0"):
        ImageDataGenerator().flow(x, batch_size=0)


def test_flow_shuffles_each_epoch_and_a_seed_repeats_everything():
    x, y = _images(12), np.arange(12)
    gen = ImageDataGenerator(rotation_range=45, horizontal_flip=True, zoom_range=0.2)
    a, b = gen.flow(x, y, batch_size=5, seed=7), gen.flow(x, y, batch_size=5, seed=7)
    epoch_a = [a[i] for i in range(len(a))]
    epoch_b = [b[i] for i in reversed(range(len(b)))][::-1]  # made in another order: the same batches
    for (xa, ya), (xb, yb) in zip(epoch_a, epoch_b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert sorted(np.concatenate([ya for _, ya in epoch_a])) == list(range(12))
    a.on_epoch_end()
    again = np.concatenate([a[i][1] for i in range(len(a))])
    assert sorted(again) == list(range(12)) and not np.array_equal(again, np.concatenate([ya for _, ya in epoch_a]))
    # next() is Keras 2's endless generator
    batches = [next(b)[1] for _ in range(4)]
    assert [len(v) for v in batches] == [5, 5, 2, 5]


def test_flow_subset_and_class_split():
    x, y = _images(10), np.array([0, 1] * 5)
    gen = ImageDataGenerator(validation_split=0.3)
    val = gen.flow(x, y, subset="validation", shuffle=False, batch_size=10)
    train = gen.flow(x, y, subset="training", shuffle=False, batch_size=10)
    np.testing.assert_array_equal(val[0][0], x[:3])
    np.testing.assert_array_equal(train[0][0], x[3:])
    with pytest.raises(ValueError, match=r"training and validation subsets hold different classes"):
        gen.flow(x, np.sort(y), subset="training")
    assert gen.flow(x, np.sort(y), subset="training", ignore_class_split=True).n == 7
    with pytest.raises(ValueError, match=r"argument `subset` must be one of 'training', 'validation'; received "
                                         r"subset='test'"):
        gen.flow(x, y, subset="test")


@needs_pillow
def test_flow_save_to_dir(tmp_path):
    gen = ImageDataGenerator(rotation_range=10)
    it = gen.flow(_images(3), batch_size=3, save_to_dir=str(tmp_path), save_prefix="aug", save_format="png")
    it[0]
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 3 and all(n.startswith("aug_") and n.endswith(".png") for n in names)


def _small_model(shape, outputs, activation="softmax"):
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=shape), GlobalAveragePooling2D(),
                        Dense(outputs, activation=activation)])
    model.compile("adam", "categorical_crossentropy" if outputs > 1 else "binary_crossentropy",
                  metrics=["accuracy"])
    return model


def test_flow_trains_with_fit_fit_generator_evaluate_and_predict():
    x = _images(16, 8, 8) / 255
    y = np.eye(2, dtype="float32")[np.arange(16) % 2]
    model = _small_model((8, 8, 3), 2)
    gen = ImageDataGenerator(rotation_range=20, width_shift_range=0.1, horizontal_flip=True)
    history = model.fit(gen.flow(x, y, batch_size=4, seed=0), epochs=2, verbose=0, workers=2)
    assert len(history.history["loss"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model.fit_generator(gen.flow(x, y, batch_size=4), steps_per_epoch=4, epochs=1, verbose=0)
    loss, acc = model.evaluate(gen.flow(x, y, batch_size=8, shuffle=False), verbose=0)
    assert np.isfinite(loss) and 0 <= acc <= 1
    predictions = model.predict(ImageDataGenerator().flow(x, batch_size=5, shuffle=False))
    np.testing.assert_allclose(predictions, model.predict(x), rtol=1e-5, atol=1e-6)


# -- folders --------------------------------------------------------------------------------------
def _folder(root, counts=(("cat", 5), ("dog", 3)), size=(7, 9), fmt="png"):
    rng = np.random.default_rng(0)
    for name, count in counts:
        os.makedirs(root / name / "nested", exist_ok=True)
        for i in range(count):
            where = root / name / ("nested" if i == 0 else "") / f"{i:02d}.{fmt}"
            save_img(where, rng.integers(0, 256, size + (3,)), scale=False)
        (root / name / "notes.txt").write_text("not an image")
    return root


@needs_pillow
def test_flow_from_directory_classes_and_modes(tmp_path, capsys):
    root = _folder(tmp_path)
    gen = ImageDataGenerator(rescale=1 / 255)
    it = gen.flow_from_directory(root, target_size=(4, 6), batch_size=3, shuffle=False)
    assert "Found 8 images belonging to 2 classes." in capsys.readouterr().out
    assert it.class_indices == {"cat": 0, "dog": 1} and it.samples == 8 and len(it) == 3
    assert it.filenames[0] == os.path.join("cat", "01.png") and it.filenames[4] == os.path.join("cat", "nested",
                                                                                                 "00.png")
    assert list(it.classes) == [0] * 5 + [1] * 3
    x, y = it[2]
    assert x.shape == (2, 4, 6, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(y, [[0, 1], [0, 1]])
    for mode, expected in (("binary", [1.0, 1.0]), ("sparse", [1.0, 1.0])):
        _, y = gen.flow_from_directory(root, target_size=(4, 6), class_mode=mode, batch_size=3, shuffle=False)[2]
        np.testing.assert_array_equal(y, expected)
    inputs = gen.flow_from_directory(root, target_size=(4, 6), class_mode="input", batch_size=3, shuffle=False)[0]
    np.testing.assert_array_equal(inputs[0], inputs[1])
    alone = gen.flow_from_directory(root, target_size=(4, 6), class_mode=None, batch_size=3, shuffle=False)[0]
    assert isinstance(alone, np.ndarray) and alone.shape == (3, 4, 6, 3)
    gray = gen.flow_from_directory(root, target_size=(4, 6), color_mode="grayscale", classes=["dog"], shuffle=False)
    assert gray.samples == 3 and gray[0][0].shape == (3, 4, 6, 1) and gray.class_indices == {"dog": 0}
    with pytest.raises(ValueError, match=r"flow_from_directory: argument `class_mode` must be one of 'categorical', "
                                         r"'binary', 'sparse', 'input', None; received class_mode='raw'"):
        gen.flow_from_directory(root, class_mode="raw")
    with pytest.raises(ValueError, match=r"flow_from_directory: argument `directory` must be an existing folder"):
        gen.flow_from_directory(root / "missing")


@needs_pillow
def test_flow_from_directory_reads_the_files_with_load_img(tmp_path):
    from kerasette.utils import img_to_array, load_img

    root = _folder(tmp_path, fmt="jpg")
    it = ImageDataGenerator().flow_from_directory(root, target_size=(5, 5), batch_size=8, shuffle=False,
                                                   interpolation="bilinear", keep_aspect_ratio=True)
    x, _ = it[0]
    for i, path in enumerate(it.filepaths):
        want = img_to_array(load_img(path, target_size=(5, 5), interpolation="bilinear", keep_aspect_ratio=True))
        np.testing.assert_array_equal(x[i], want)


@needs_pillow
def test_flow_from_directory_subset_and_links(tmp_path):
    root = _folder(tmp_path / "data")
    gen = ImageDataGenerator(validation_split=0.4)
    val = gen.flow_from_directory(root, target_size=(3, 3), subset="validation", shuffle=False)
    train = gen.flow_from_directory(root, target_size=(3, 3), subset="training", shuffle=False)
    assert val.samples == 2 + 1 and train.samples == 3 + 2
    assert set(val.filenames).isdisjoint(train.filenames)
    extra = tmp_path / "extra"
    _folder(extra, counts=(("more", 2),))
    os.symlink(extra / "more", root / "cat" / "linked")
    assert ImageDataGenerator().flow_from_directory(root, target_size=(3, 3)).samples == 8
    assert ImageDataGenerator().flow_from_directory(root, target_size=(3, 3), follow_links=True).samples == 10


@needs_pillow
def test_flow_from_directory_trains(tmp_path):
    root = _folder(tmp_path, counts=(("a", 6), ("b", 6)), size=(8, 8))
    it = ImageDataGenerator(rescale=1 / 255, horizontal_flip=True).flow_from_directory(
        root, target_size=(8, 8), batch_size=4, seed=1)
    model = _small_model((8, 8, 3), 2)
    model.fit(it, epochs=1, verbose=0)
    assert model.predict(it).shape == (12, 2)


def test_flow_from_dataframe_needs_pandas(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"flow_from_dataframe needs pandas, which is not installed: `pip install "
                                          r"pandas`"):
        ImageDataGenerator().flow_from_dataframe(object(), str(tmp_path))


class _Frame:
    """The little of a pandas DataFrame that flow_from_dataframe reads."""

    def __init__(self, columns: dict):
        self._columns = columns
        self.columns = list(columns)

    def __getitem__(self, name):
        return self._columns[name]


@needs_pillow
def test_flow_from_dataframe_with_a_frame(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pandas", type(sys)("pandas"))  # present, but only the frame is read
    root = _folder(tmp_path)
    files = [os.path.join("cat", "01.png"), os.path.join("dog", "01.png"), "missing.png", os.path.join("cat",
                                                                                                       "02.png")]
    frame = _Frame({"filename": files, "class": ["cat", "dog", "dog", "cat"], "w": [1.0, 2.0, 3.0, 4.0],
                    "score": [0.5, 1.5, 2.5, 3.5]})
    gen = ImageDataGenerator()
    with pytest.warns(UserWarning, match="1 rows name a missing or non-image file"):
        it = gen.flow_from_dataframe(frame, str(root), target_size=(4, 4), weight_col="w", shuffle=False)
    assert it.class_indices == {"cat": 0, "dog": 1} and it.samples == 3
    x, y, w = it[0]
    np.testing.assert_array_equal(y, [[1, 0], [0, 1], [1, 0]])
    np.testing.assert_array_equal(w, [1.0, 2.0, 4.0])
    with pytest.warns(UserWarning):
        raw = gen.flow_from_dataframe(frame, str(root), y_col="score", class_mode="raw", target_size=(4, 4),
                                      shuffle=False)
    np.testing.assert_array_equal(raw[0][1], [0.5, 1.5, 3.5])
    with pytest.raises(ValueError, match=r"flow_from_dataframe: the data frame has no column\(s\) \['label'\]"):
        gen.flow_from_dataframe(frame, str(root), y_col="label")


# -- Keras 2's module-level helpers ---------------------------------------------------------------
def test_keras2_random_functions():
    from kerasette.backend import random as krandom
    from kerasette.preprocessing import image

    x = _images(1, 7, 7, 3)[0].transpose(2, 0, 1)  # Keras 2's helpers take channels first by default
    krandom.set_seed(0)
    rotated = image.random_rotation(x, 30)
    assert rotated.shape == x.shape and not np.allclose(rotated, x)
    krandom.set_seed(0)
    theta = krandom.generator().uniform(-30, 30)
    np.testing.assert_array_equal(rotated, image.apply_affine_transform(x, theta=theta))
    for out in (image.random_shift(x, 0.2, 0.2), image.random_shear(x, 20), image.random_zoom(x, (0.7, 1.3)),
                image.random_channel_shift(x, 10)):
        assert out.shape == x.shape and not np.allclose(out, x)
    np.testing.assert_array_equal(image.random_zoom(x, (1, 1)), x)
    np.testing.assert_array_equal(image.flip_axis(x, 2), x[:, :, ::-1])
    bright = image.random_brightness(x.transpose(1, 2, 0), (0.5, 0.6))
    assert bright.max() <= 0.6 * 255 + 1
    with pytest.raises(ValueError, match=r"random_zoom: argument `zoom_range` must be a pair \[low, high\]; received "
                                         r"zoom_range=0.2"):
        image.random_zoom(x, 0.2)


def test_smart_resize_crops_to_the_aspect_ratio_then_resizes():
    from kerasette.preprocessing.image import smart_resize
    from kerasette.utils.image_utils import resize_array

    x = _images(2, 6, 10, 1)
    np.testing.assert_allclose(smart_resize(x, (3, 3)), resize_array(x[:, :, 2:8], (3, 3)))
    np.testing.assert_allclose(smart_resize(x[0], (4, 2)), resize_array(x[0, :, 3:6], (4, 2)))
    with pytest.raises(ValueError, match=r"smart_resize: expected an image of rank 3 or a batch of rank 4"):
        smart_resize(x[0, 0], (3, 3))


def test_keras1_dim_ordering():
    with pytest.warns(DeprecationWarning, match=r"Keras 1 argument translated \(dim_ordering -> data_format\)"):
        gen = ImageDataGenerator(dim_ordering="th")
    assert gen.data_format == "channels_first" and gen.channel_axis == 1
    with pytest.raises(TypeError, match="got both the Keras 1 argument `dim_ordering` and its Keras 2 name"):
        ImageDataGenerator(dim_ordering="tf", data_format="channels_last")


@needs_pillow
def test_flow_from_directory_channels_first(tmp_path):
    root = _folder(tmp_path)
    kwargs = {"rotation_range": 30, "zoom_range": 0.2, "horizontal_flip": True}
    last = ImageDataGenerator(**kwargs).flow_from_directory(root, target_size=(5, 6), batch_size=8, seed=3)
    first = ImageDataGenerator(data_format="channels_first", **kwargs).flow_from_directory(
        root, target_size=(5, 6), batch_size=8, seed=3)
    (a, ya), (b, yb) = last[0], first[0]
    assert b.shape == (8, 3, 5, 6)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_allclose(np.moveaxis(b, 1, 3), a, rtol=1e-5, atol=1e-3)


@needs_pillow
def test_flow_from_directory_in_worker_processes(tmp_path):
    """The decoding threads are per process: a forked data worker makes its own."""
    root = _folder(tmp_path, size=(8, 8))
    it = ImageDataGenerator().flow_from_directory(root, target_size=(8, 8), batch_size=4, shuffle=False)
    first = it[0][0]  # the parent's pool exists before the workers are forked
    model = _small_model((8, 8, 3), 2)
    predictions = model.predict(it, workers=2, use_multiprocessing=True)
    assert predictions.shape == (8, 2)
    np.testing.assert_allclose(model.predict(first), predictions[:4], rtol=1e-5, atol=1e-6)
