"""load_img, img_to_array, array_to_img, save_img (Keras 2 and 3 paths), resize_array, and the
error naming the ``image`` extra when Pillow is missing."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

try:
    from PIL import Image
except ImportError:  # the module's tests skip (pytestmark)
    Image = None

from kerasette.preprocessing import image as k2image
from kerasette.utils import array_to_img, img_to_array, load_img, save_img
from kerasette.utils.image_utils import resize_array
from tests.images.conftest import needs_pillow

pytestmark = needs_pillow


def _photo(rows=6, cols=10):
    y, x = np.mgrid[0:rows, 0:cols]
    return np.stack([x * 20, y * 30, (x + y) * 10], -1).astype("uint8")


def test_the_keras2_path_has_the_same_functions():
    assert k2image.load_img is load_img and k2image.save_img is save_img
    assert k2image.img_to_array is img_to_array and k2image.array_to_img is array_to_img


@pytest.mark.parametrize("fmt", ["png", "bmp"])
def test_save_and_load_round_trip_lossless(tmp_path, fmt):
    pixels = _photo()
    path = tmp_path / f"a.{fmt}"
    save_img(path, pixels, scale=False)
    img = load_img(path)
    assert img.mode == "RGB" and img.size == (10, 6)
    x = img_to_array(img)
    assert x.dtype == np.float32 and x.shape == (6, 10, 3)
    np.testing.assert_array_equal(x, pixels)
    np.testing.assert_array_equal(img_to_array(load_img(str(path)), data_format="channels_first"),
                                  pixels.transpose(2, 0, 1))


def test_color_modes(tmp_path):
    path = tmp_path / "a.png"
    save_img(path, _photo(), scale=False)
    gray = load_img(path, color_mode="grayscale")
    assert gray.mode == "L" and img_to_array(gray).shape == (6, 10, 1)
    expected = np.asarray(Image.fromarray(_photo()).convert("L"), np.float32)[..., None]
    np.testing.assert_array_equal(img_to_array(gray), expected)
    rgba = img_to_array(load_img(path, color_mode="rgba"))
    assert rgba.shape == (6, 10, 4) and np.all(rgba[..., 3] == 255)
    with pytest.warns(DeprecationWarning, match="grayscale=True is deprecated"):
        assert load_img(path, grayscale=True).mode == "L"
    with pytest.raises(ValueError, match=r"load_img: argument `color_mode` must be 'grayscale', 'rgb' or 'rgba'; "
                                         r"received color_mode='hsv'"):
        load_img(path, color_mode="hsv")


def test_target_size_interpolation_and_aspect_ratio(tmp_path):
    path = tmp_path / "a.png"
    save_img(path, _photo(6, 12), scale=False)
    src = Image.fromarray(_photo(6, 12))
    for interpolation in ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos"):
        got = img_to_array(load_img(path, target_size=(3, 4), interpolation=interpolation))
        want = np.asarray(src.resize((4, 3), getattr(Image.Resampling, interpolation.upper())), np.float32)
        np.testing.assert_array_equal(got, want)
    # keep_aspect_ratio: the centred 6x6 square of the 6x12 image, then resized
    got = img_to_array(load_img(path, target_size=(3, 3), keep_aspect_ratio=True))
    want = np.asarray(src.resize((3, 3), Image.Resampling.NEAREST, box=(3, 0, 9, 6)), np.float32)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"load_img: argument `interpolation` must be one of nearest, bilinear, "
                                         r"bicubic, hamming, box, lanczos; received interpolation='cubic'"):
        load_img(path, target_size=(3, 3), interpolation="cubic")
    with pytest.raises(ValueError, match=r"load_img: argument `target_size` must be \(height, width\), two positive "
                                         r"integers; received target_size=\(3, 0\)"):
        load_img(path, target_size=(3, 0))


def test_load_img_from_a_file_object():
    buffer = io.BytesIO()
    save_img(buffer, _photo(), file_format="png", scale=False)
    buffer.seek(0)
    np.testing.assert_array_equal(img_to_array(load_img(buffer)), _photo())


def test_array_to_img_scales_and_picks_the_mode():
    x = np.linspace(-1, 1, 2 * 3 * 3).reshape(2, 3, 3)
    img = array_to_img(x)
    assert img.mode == "RGB"
    values = img_to_array(img)
    assert values.min() == 0 and values.max() == 255
    assert array_to_img(np.zeros((2, 3, 4))).mode == "RGBA"
    assert array_to_img(np.zeros((2, 3, 1))).mode == "L"
    assert array_to_img(np.full((2, 3, 1), 1000.0), scale=False).mode == "I"
    assert array_to_img(np.zeros((3, 2, 5)), data_format="channels_first").size == (5, 2)
    with pytest.raises(ValueError, match=r"array_to_img: an image must have 1, 3 or 4 channels; received 2"):
        array_to_img(np.zeros((2, 3, 2)))
    with pytest.raises(ValueError, match=r"array_to_img: expected an image array of rank 3 \(one image\); received "
                                         r"an array of shape \(2, 3\)"):
        array_to_img(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"img_to_array: an image must have 2 or 3 dimensions; received an array of "
                                         r"shape \(1, 2, 3, 4\)"):
        img_to_array(np.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"img_to_array: argument `data_format` must be 'channels_last' or "
                                         r"'channels_first'; received data_format='nhwc'"):
        img_to_array(np.zeros((2, 2)), data_format="nhwc")


def test_save_img_jpeg_drops_alpha_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="JPEG format does not keep an alpha channel"):
        save_img(tmp_path / "a.jpg", np.zeros((4, 4, 4)))
    assert Image.open(tmp_path / "a.jpg").format == "JPEG"


def test_without_pillow_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    message = r"needs Pillow, which is not installed\. Install it with `pip install 'kerasette\[image\]'`"
    with pytest.raises(ImportError, match=message):
        load_img(tmp_path / "missing.png")
    with pytest.raises(ImportError, match=message):
        array_to_img(np.zeros((2, 2, 3)))
    with pytest.raises(ImportError, match=message):
        k2image.ImageDataGenerator().flow_from_directory(tmp_path)
    from kerasette.utils import image_dataset_from_directory

    with pytest.raises(ImportError, match=message):
        image_dataset_from_directory(tmp_path)
    # arrays need no Pillow: augmentation of in-memory images still works
    it = k2image.ImageDataGenerator(rotation_range=10).flow(np.zeros((2, 4, 4, 1)), batch_size=2)
    assert it[0].shape == (2, 4, 4, 1)


def _resize_reference(x, size, interpolation):
    """TensorFlow's resize (half-pixel centres, no antialiasing), one pixel at a time."""
    rows, cols = x.shape[:2]
    out = np.zeros(tuple(size) + x.shape[2:])
    for i in range(size[0]):
        for j in range(size[1]):
            r = (i + 0.5) * rows / size[0] - 0.5
            c = (j + 0.5) * cols / size[1] - 0.5
            if interpolation == "nearest":
                out[i, j] = x[min(int(np.floor(r + 0.5)), rows - 1), min(int(np.floor(c + 0.5)), cols - 1)]
                continue
            r, c = min(max(r, 0), rows - 1), min(max(c, 0), cols - 1)
            r0, c0 = int(np.floor(r)), int(np.floor(c))
            r1, c1 = min(r0 + 1, rows - 1), min(c0 + 1, cols - 1)
            fr, fc = r - r0, c - c0
            out[i, j] = ((1 - fr) * (1 - fc) * x[r0, c0] + (1 - fr) * fc * x[r0, c1] + fr * (1 - fc) * x[r1, c0]
                         + fr * fc * x[r1, c1])
    return out


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [(3, 7), (9, 4), (5, 5)])
def test_resize_array_matches_the_reference(interpolation, size):
    x = np.random.default_rng(0).standard_normal((5, 5, 2))
    np.testing.assert_allclose(resize_array(x, size, interpolation), _resize_reference(x, size, interpolation),
                               rtol=1e-12, atol=1e-12)
    batch = np.stack([x, 2 * x])
    np.testing.assert_allclose(resize_array(batch, size, interpolation)[1], 2 * resize_array(x, size, interpolation))
    first = resize_array(np.moveaxis(batch, 3, 1), size, interpolation, data_format="channels_first")
    np.testing.assert_allclose(np.moveaxis(first, 1, 3), resize_array(batch, size, interpolation))


@pytest.mark.parametrize("method", ["area", "lanczos3", "lanczos5"])
def test_resize_array_matches_tensorflow(method):
    from pathlib import Path

    data = np.load(Path(__file__).parent / "data" / "tf_resize.npz")
    for key in data.files:
        if key.startswith(method + "_"):
            size = tuple(int(v) for v in key.split("_")[1].split("x"))
            np.testing.assert_allclose(resize_array(data["x"], size, method), data[key], rtol=1e-5, atol=1e-3)
