"""image_dataset_from_directory (Keras 3): labels, label modes, splits, sizes, and training."""

from __future__ import annotations

import os

import numpy as np
import pytest

from kerasette.layers import Conv2D, Dense, GlobalAveragePooling2D, Rescaling
from kerasette.models import Sequential
from kerasette.utils import Sequence, image_dataset_from_directory, save_img
from kerasette.utils.image_utils import resize_array
from tests.images.conftest import needs_pillow

pytestmark = needs_pillow


def _folder(root, counts=(("a", 4), ("b", 3), ("c", 2)), size=(6, 8)):
    """Class folders whose images are filled with their class index * 50 + their number."""
    for c, (name, count) in enumerate(counts):
        os.makedirs(root / name / "deeper", exist_ok=True)
        for i in range(count):
            where = root / name / ("deeper" if i == count - 1 else "") / f"img{i}.png"
            save_img(where, np.full(size + (3,), c * 50 + i), scale=False)
        (root / name / "readme.txt").write_text("skip me")
    return root


def _class_of(images):
    return (images[:, 0, 0, 0] // 50).astype(int)


def test_inferred_labels_and_iteration(tmp_path, capsys):
    ds = image_dataset_from_directory(_folder(tmp_path), image_size=(4, 4), batch_size=4, seed=3)
    assert "Found 9 files belonging to 3 classes." in capsys.readouterr().out
    assert isinstance(ds, Sequence) and ds.class_names == ["a", "b", "c"] and len(ds) == 3
    seen = []
    for x, y in ds:
        assert x.dtype == np.float32 and x.shape[1:] == (4, 4, 3) and y.dtype == np.int32
        np.testing.assert_array_equal(_class_of(x), y)
        seen.extend(x[:, 0, 0, 0].tolist())
    assert sorted(seen) == [0, 1, 2, 3, 50, 51, 52, 100, 101]
    assert len(ds.file_paths) == 9 and all(p.endswith(".png") for p in ds.file_paths)


def test_label_modes_and_class_names(tmp_path):
    root = _folder(tmp_path / "three")
    x, y = image_dataset_from_directory(root, label_mode="categorical", image_size=(2, 2), batch_size=9,
                                        shuffle=False)[0]
    np.testing.assert_array_equal(y, np.eye(3, dtype="float32")[_class_of(x)])
    ds = image_dataset_from_directory(root, class_names=["c", "b", "a"], image_size=(2, 2), batch_size=9,
                                      shuffle=False)
    x, y = ds[0]
    np.testing.assert_array_equal(y, 2 - _class_of(x))
    assert ds.class_names == ["c", "b", "a"] and y.tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 2]
    only = image_dataset_from_directory(root, label_mode=None, image_size=(2, 2), batch_size=9)
    assert isinstance(only[0], np.ndarray) and only.class_names is None
    two = _folder(tmp_path / "two", counts=(("no", 2), ("yes", 3)))
    x, y = image_dataset_from_directory(two, label_mode="binary", image_size=(2, 2), batch_size=5, shuffle=False)[0]
    assert y.shape == (5, 1) and y.dtype == np.float32 and y[:, 0].tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match=r"label_mode='binary' needs exactly 2 classes; found 3"):
        image_dataset_from_directory(root, label_mode="binary")
    with pytest.raises(ValueError, match=r"argument `class_names` must list exactly the subfolders of the directory, "
                                         r"\['a', 'b', 'c'\]; received class_names=\['a', 'b'\]"):
        image_dataset_from_directory(root, class_names=["a", "b"])


def test_explicit_labels_follow_the_sorted_paths(tmp_path):
    root = _folder(tmp_path)
    labels = list(range(9))
    ds = image_dataset_from_directory(root, labels=labels, image_size=(2, 2), batch_size=9, shuffle=False)
    x, y = ds[0]
    paths = sorted(ds.file_paths)
    assert ds.file_paths == paths and y.tolist() == labels
    with pytest.raises(ValueError, match=r"argument `labels` must have one label per image file \(9 found in"):
        image_dataset_from_directory(root, labels=[0, 1])
    nothing = image_dataset_from_directory(root, labels=None, image_size=(2, 2), batch_size=3)
    assert nothing[0].shape == (3, 2, 2, 3)


def test_validation_split_subsets_and_both(tmp_path, capsys):
    root = _folder(tmp_path)
    train, val = image_dataset_from_directory(root, validation_split=0.34, subset="both", seed=5, image_size=(2, 2),
                                              batch_size=2)
    out = capsys.readouterr().out
    assert "Using 6 files for training." in out and "Using 3 files for validation." in out
    assert set(train.file_paths).isdisjoint(val.file_paths) and len(train.file_paths) + len(val.file_paths) == 9
    again = image_dataset_from_directory(root, validation_split=0.34, subset="validation", seed=5,
                                         image_size=(2, 2), verbose=False)
    assert again.file_paths == val.file_paths
    with pytest.raises(ValueError, match=r"with `validation_split` and shuffle=True, give a `seed`"):
        image_dataset_from_directory(root, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match=r"argument `subset` must be 'training', 'validation', 'both' or None; "
                                         r"received subset='test'"):
        image_dataset_from_directory(root, validation_split=0.2, subset="test", seed=1)
    with pytest.raises(ValueError, match=r"`validation_split` and `subset` must be given together"):
        image_dataset_from_directory(root, validation_split=0.2, seed=1)


def test_shuffling_is_seeded_and_changes_each_epoch(tmp_path):
    root = _folder(tmp_path)
    a = image_dataset_from_directory(root, image_size=(2, 2), batch_size=9, seed=11, verbose=False)
    b = image_dataset_from_directory(root, image_size=(2, 2), batch_size=9, seed=11, verbose=False)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    first = a[0][0][:, 0, 0, 0].copy()
    a.on_epoch_end()
    second = a[0][0][:, 0, 0, 0]
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)
    ordered = image_dataset_from_directory(root, image_size=(2, 2), batch_size=9, shuffle=False, verbose=False)
    assert ordered[0][1].tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2]


def test_sizes_color_modes_crop_and_pad(tmp_path):
    root = tmp_path / "one"
    os.makedirs(root / "k")
    picture = np.random.default_rng(0).integers(0, 256, (6, 10, 3))
    save_img(root / "k" / "p.png", picture, scale=False)
    kwargs = {"batch_size": 1, "verbose": False}
    x = image_dataset_from_directory(root, image_size=(3, 5), **kwargs)[0][0][0]
    np.testing.assert_allclose(x, resize_array(picture.astype("float32"), (3, 5)), rtol=1e-6)
    near = image_dataset_from_directory(root, image_size=(3, 5), interpolation="nearest", **kwargs)[0][0][0]
    np.testing.assert_array_equal(near, picture[1::2, 1::2])
    crop = image_dataset_from_directory(root, image_size=(3, 3), crop_to_aspect_ratio=True, **kwargs)[0][0][0]
    np.testing.assert_allclose(crop, resize_array(picture[:, 2:8].astype("float32"), (3, 3)), rtol=1e-6)
    pad = image_dataset_from_directory(root, image_size=(5, 5), pad_to_aspect_ratio=True, **kwargs)[0][0][0]
    padded = np.pad(picture, ((2, 2), (0, 0), (0, 0))).astype("float32")
    np.testing.assert_allclose(pad, resize_array(padded, (5, 5)), rtol=1e-6)
    gray = image_dataset_from_directory(root, image_size=(6, 10), color_mode="grayscale", **kwargs)[0][0]
    rgba = image_dataset_from_directory(root, image_size=(6, 10), color_mode="rgba", **kwargs)[0][0]
    assert gray.shape == (1, 6, 10, 1) and rgba.shape == (1, 6, 10, 4) and np.all(rgba[..., 3] == 255)
    with pytest.raises(ValueError, match=r"only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio`"):
        image_dataset_from_directory(root, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match=r"argument `interpolation` must be one of bilinear, nearest, bicubic, area, "
                                         r"lanczos3, lanczos5; received interpolation='gaussian'"):
        image_dataset_from_directory(root, interpolation="gaussian")
    area = image_dataset_from_directory(root, image_size=(3, 5), interpolation="area", **kwargs)[0][0][0]
    np.testing.assert_allclose(area, resize_array(picture.astype("float32"), (3, 5), "area"), rtol=1e-6)
    np.testing.assert_allclose(area[0, 0], picture[:2, :2].mean((0, 1)), rtol=1e-5)


def test_batch_size_none_and_batch(tmp_path):
    ds = image_dataset_from_directory(_folder(tmp_path), image_size=(2, 2), batch_size=None, shuffle=False,
                                      verbose=False)
    assert len(ds) == 9
    x, y = ds[0]
    assert x.shape == (2, 2, 3) and y.shape == () and int(y) == 0
    batched = ds.batch(4)
    assert len(batched) == 3 and batched[0][0].shape == (4, 2, 2, 3)
    with pytest.raises(ValueError, match=r"argument `batch_size` must be a positive integer or None; received "
                                         r"batch_size=0"):
        ds.batch(0)


def test_follow_links(tmp_path):
    root = _folder(tmp_path / "data")
    _folder(tmp_path / "elsewhere", counts=(("z", 2),))
    os.symlink(tmp_path / "elsewhere" / "z", root / "a" / "linked")
    assert len(image_dataset_from_directory(root, verbose=False).file_paths) == 9
    assert len(image_dataset_from_directory(root, follow_links=True, verbose=False).file_paths) == 11


def test_fit_takes_the_data_set(tmp_path):
    train, val = image_dataset_from_directory(_folder(tmp_path, size=(8, 8)), image_size=(8, 8), batch_size=3,
                                              validation_split=0.3, subset="both", seed=2, verbose=False)
    model = Sequential([Rescaling(1 / 255, input_shape=(8, 8, 3)), Conv2D(4, 3, activation="relu"),
                        GlobalAveragePooling2D(), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    assert model.predict(val).shape == (len(val.file_paths), 3)
