"""timeseries_dataset_from_array, TimeseriesGenerator and text_dataset_from_directory: windows
against a plain loop, Keras 3's documented examples, shuffling, splits, and training with fit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kerasette.layers import Dense, Flatten
from kerasette.models import Sequential
from kerasette.utils import Sequence, text_dataset_from_directory, timeseries_dataset_from_array
from kerasette.utils.dataset_utils import BatchDataset
from kerasette.utils.timeseries import TimeseriesGenerator, timeseries_generator_from_json


def reference_windows(data, targets, length, stride, rate, start, end):
    """Keras 3's windows, one by one: window k starts at start + k * stride."""
    end = len(data) if end is None else end
    start = start or 0
    count = end - start - (length - 1) * rate
    if targets is not None:
        count = min(count, len(targets))
    xs, ys = [], []
    for s in range(0, max(count, 0), stride):
        xs.append([data[start + s + j * rate] for j in range(length)])
        if targets is not None:
            ys.append(targets[start + s])
    return np.array(xs), (np.array(ys) if targets is not None else None)


@pytest.mark.parametrize("length, stride, rate, start, end, batch_size, with_targets", [
    (3, 1, 1, None, None, 4, True), (5, 2, 1, None, None, 3, True), (4, 1, 3, None, None, 128, True),
    (2, 3, 2, 5, 40, 7, True), (6, 1, 1, 10, None, 5, False), (3, 4, 2, None, 30, None, True),
])
def test_windows_match_a_plain_loop(length, stride, rate, start, end, batch_size, with_targets):
    data = np.arange(100 * 3).reshape(100, 3).astype("float32")
    targets = np.arange(1000, 1060) if with_targets else None  # shorter than the data: it limits the windows
    ds = timeseries_dataset_from_array(data, targets, length, sequence_stride=stride, sampling_rate=rate,
                                       batch_size=batch_size, start_index=start, end_index=end)
    batches = list(ds)
    want_x, want_y = reference_windows(data, targets, length, stride, rate, start, end)
    if batch_size is None:
        assert len(ds) == len(want_x)
        got_x = np.stack([b[0] if with_targets else b for b in batches])
        got_y = np.array([b[1] for b in batches]) if with_targets else None
    else:
        assert len(ds) == -(-len(want_x) // batch_size)
        assert all(len(b[0] if with_targets else b) <= batch_size for b in batches)
        got_x = np.concatenate([b[0] if with_targets else b for b in batches])
        got_y = np.concatenate([b[1] for b in batches]) if with_targets else None
    np.testing.assert_array_equal(got_x, want_x)
    assert got_x.dtype == np.float32
    if with_targets:
        np.testing.assert_array_equal(got_y, want_y)


def test_keras3_documented_examples():
    # "predict the next step": windows of 10 steps, target the step after each window
    data = np.arange(100)
    ds = timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10, batch_size=128)
    x, y = next(iter(ds))
    assert x.shape == (81, 10) and x[0].tolist() == list(range(10)) and y[0] == 10
    # every other step, windows every 3 steps, sample 0 = [0, 2, ..., 12], sample 1 = [3, 5, ..., 15]
    ds = timeseries_dataset_from_array(np.arange(100), None, sequence_length=7, sampling_rate=2, sequence_stride=3)
    first = next(iter(ds))
    assert first[0].tolist() == [0, 2, 4, 6, 8, 10, 12] and first[1].tolist() == [3, 5, 7, 9, 11, 13, 15]


def test_shuffle_first_order_is_keras_and_reshuffles_every_epoch():
    data = np.arange(40)
    ds = timeseries_dataset_from_array(data, data, 4, batch_size=8, shuffle=True, seed=11)
    starts = np.arange(0, 37)
    np.random.RandomState(11).shuffle(starts)  # Keras shuffles the start positions with this generator
    epoch1 = np.concatenate([x[:, 0] for x, _ in ds])
    np.testing.assert_array_equal(epoch1, starts)
    epoch2 = np.concatenate([x[:, 0] for x, _ in ds])
    assert sorted(epoch2) == list(range(37)) and not np.array_equal(epoch1, epoch2)
    again = timeseries_dataset_from_array(data, data, 4, batch_size=8, shuffle=True, seed=11)
    np.testing.assert_array_equal(np.concatenate([x[:, 0] for x, _ in again]), epoch1)
    for x, y in ds:
        np.testing.assert_array_equal(x[:, 0], y)  # windows keep their targets


@pytest.mark.parametrize("kwargs, message", [
    ({"start_index": -1}, "start_index must be 0 or greater; received -1"),
    ({"start_index": 50}, "start_index must be lower than the length of the data; received start_index=50"),
    ({"start_index": 5, "end_index": 5}, "end_index must be higher than start_index"),
    ({"end_index": 50}, "end_index must be lower than the length of the data; received end_index=50"),
    ({"sampling_rate": 0}, "sampling_rate must be a positive integer; received 0"),
    ({"sampling_rate": 50}, "sampling_rate must be lower than the length of the data; received sampling_rate=50"),
    ({"sequence_stride": 0}, "sequence_stride must be a positive integer; received 0"),
    ({"sequence_length": 0}, "sequence_length must be a positive integer; received 0"),
    ({"format": "numpy"}, "format must be 'tf' or 'grain'; received 'numpy'"),
    ({"batch_size": 0}, "batch_size must be None or a positive integer; received 0"),
])
def test_timeseries_dataset_errors(kwargs, message):
    arguments = {"data": np.arange(50), "targets": None, "sequence_length": 3}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        timeseries_dataset_from_array(**arguments)


def small_model(steps: int, features: int) -> Sequential:
    model = Sequential([Flatten(input_shape=(steps, features)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_fit_evaluate_predict_take_the_dataset_and_the_generator():
    rng = np.random.default_rng(0)
    series = rng.normal(size=(200, 2)).astype("float32")
    target = (series[:, :1] * 0.5).astype("float32")
    ds = timeseries_dataset_from_array(series, target[5:], 5, batch_size=16, shuffle=True, seed=1)
    assert isinstance(ds, Sequence)
    model = small_model(5, 2)
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(model.evaluate(ds, verbose=0))
    inputs_only = timeseries_dataset_from_array(series, None, 5, batch_size=32)
    assert model.predict(inputs_only, verbose=0).shape == (196, 1)
    generator = TimeseriesGenerator(series, target, length=5, batch_size=16)
    history = model.fit(generator, epochs=2, verbose=0, workers=2)
    assert len(history.history["loss"]) == 2
    assert model.predict(generator, verbose=0).shape == (195, 1)


def test_timeseries_generator_json_and_errors():
    g = TimeseriesGenerator(list(range(10)), list(range(10)), length=2, batch_size=3, stride=2)
    back = timeseries_generator_from_json(g.to_json())
    assert back.start_index == g.start_index + 2  # Keras 2 stores start_index + length and reads it back as is
    assert g[0][0].tolist() == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ValueError, match="data and targets must have the same length; received data of length 3 "
                                         "and targets of length 2"):
        TimeseriesGenerator([1, 2, 3], [1, 2], length=1)
    with pytest.raises(ValueError, match=r"start_index \+ length = 5 is beyond end_index = 3"):
        TimeseriesGenerator([1, 2, 3, 4], [1, 2, 3, 4], length=5)
    with pytest.raises(ValueError, match="length must be a positive integer; received 0"):
        TimeseriesGenerator([1, 2], [1, 2], length=0)
    with pytest.raises(ValueError, match="start_index must be 0 or greater; received -1"):
        TimeseriesGenerator([1, 2, 3], [1, 2, 3], length=1, start_index=-1)


# ----- text_dataset_from_directory -----

@pytest.fixture
def texts(tmp_path):
    """neg/ (3 files, one nested), pos/ (4 files), a hidden folder and files that are not .txt."""
    root = tmp_path / "reviews"
    for label, names in (("neg", ["n1.txt", "n2.TXT", "deep/n3.txt"]), ("pos", ["p1.txt", "p2.txt", "p3.txt",
                                                                                 "p4.txt"])):
        for name in names:
            path = root / label / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{label} {name} text é", encoding="utf-8")
    (root / "pos" / "ignored.md").write_text("no")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "h.txt").write_text("hidden")
    (root / "top.txt").write_text("at the top")  # not in a class folder: only with explicit labels
    return root


def collect(ds):
    xs, ys = [], []
    for batch in ds:
        x, y = batch if isinstance(batch, tuple) else (batch, None)
        xs += list(x)
        if y is not None:
            ys += list(y)
    return xs, ys


def test_inferred_labels_in_sorted_order(texts, capsys):
    ds = text_dataset_from_directory(str(texts), batch_size=4, shuffle=False)
    assert "Found 7 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["neg", "pos"] and len(ds) == 2 and isinstance(ds, BatchDataset)
    x, y = ds[0]
    assert x.dtype == object and y.dtype == np.int32 and len(x) == 4
    xs, ys = collect(ds)
    # Keras's order: class by class, folders by path, files by name (so neg/ before neg/deep/)
    assert xs == ["neg n1.txt text é", "neg n2.TXT text é", "neg deep/n3.txt text é", "pos p1.txt text é",
                  "pos p2.txt text é", "pos p3.txt text é", "pos p4.txt text é"]
    assert ys == [0, 0, 0, 1, 1, 1, 1]


def test_label_modes_class_names_and_max_length(texts):
    ds = text_dataset_from_directory(str(texts), label_mode="categorical", shuffle=False, verbose=False,
                                     class_names=["pos", "neg"], max_length=3)
    x, y = ds[0]
    assert y.dtype == np.float32 and y.shape == (7, 2)
    assert x[0] == "pos" and y[0].tolist() == [1, 0] and y[-1].tolist() == [0, 1]
    x, y = text_dataset_from_directory(str(texts), label_mode="binary", shuffle=False, verbose=False)[0]
    assert y.shape == (7, 1) and y.dtype == np.float32 and y[:, 0].tolist() == [0, 0, 0, 1, 1, 1, 1]
    only_texts = text_dataset_from_directory(str(texts), labels=None, shuffle=False, verbose=False, batch_size=None)
    # every .txt below the folder: top.txt and the hidden folder's too (Keras skips hidden folders only as classes)
    assert len(only_texts) == 9 and only_texts.class_names is None
    assert isinstance(only_texts[0], str)
    listed = text_dataset_from_directory(str(texts), labels=[7, 3, 3, 3, 5, 5, 5, 5, 9], shuffle=False, verbose=False)
    assert listed.class_names == ["3", "5", "7", "9"] and listed[0][1].tolist() == [7, 3, 3, 3, 5, 5, 5, 5, 9]
    assert listed[0][0][:2].tolist() == ["at the top", "hidden"]  # by folder path: the top folder, then .hidden


def test_shuffle_seed_and_validation_subsets(texts):
    kwargs = {"validation_split": 0.3, "seed": 5, "batch_size": 2, "verbose": False}
    train = text_dataset_from_directory(str(texts), subset="training", **kwargs)
    val = text_dataset_from_directory(str(texts), subset="validation", **kwargs)
    both = text_dataset_from_directory(str(texts), subset="both", **kwargs)
    train_x, _ = collect(train)
    val_x, val_y = collect(val)
    assert len(train_x) == 5 and len(val_x) == 2 and not set(train_x) & set(val_x)
    assert sorted(collect(both[0])[0]) == sorted(train_x) and collect(both[1]) == (val_x, val_y)
    # a seeded shuffle is repeatable, and the files keep their labels
    for x, y in zip(*collect(text_dataset_from_directory(str(texts), seed=9, verbose=False))):
        assert x.startswith("pos" if y == 1 else "neg")
    assert collect(text_dataset_from_directory(str(texts), seed=9, verbose=False)) == collect(
        text_dataset_from_directory(str(texts), seed=9, verbose=False))


@pytest.mark.parametrize("kwargs, message", [
    ({"labels": "folders"}, "labels must be 'inferred', None, or a list of int labels"),
    ({"labels": [0] * 9, "class_names": ["a"]}, "class_names can only be given with labels='inferred'"),
    ({"label_mode": "sparse"}, "label_mode must be 'int', 'categorical', 'binary' or None; received 'sparse'"),
    ({"validation_split": 1.5, "subset": "training", "seed": 1}, "validation_split must be between 0 and 1"),
    ({"validation_split": 0.2}, "give both `subset` and `validation_split`, or neither"),
    ({"validation_split": 0.2, "subset": "testing", "seed": 1}, "subset must be 'training', 'validation' or 'both'"),
    ({"validation_split": 0.2, "subset": "training"}, "with validation_split and shuffle, give a `seed`"),
    ({"class_names": ["pos", "other"]}, r"class_names \['pos', 'other'\] are not among the subfolders"),
    ({"labels": [1, 2]}, "2 labels were given for the 9 files found"),
    ({"class_names": ["neg"], "label_mode": "binary"}, r'label_mode="binary" needs exactly 2 classes; found 1'),
])
def test_text_dataset_errors(texts, kwargs, message):
    with pytest.raises(ValueError, match=r"text_dataset_from_directory: " + message):
        text_dataset_from_directory(str(texts), verbose=False, **kwargs)


def test_text_dataset_empty_folder_and_missing_folder(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match=r"no text files \(\.txt\) found in"):
        text_dataset_from_directory(str(tmp_path), verbose=False)
    with pytest.raises(ValueError, match="is not a folder"):
        text_dataset_from_directory(str(tmp_path / "nope"), verbose=False)


def test_batch_dataset_indexing_and_threads(texts):
    ds = text_dataset_from_directory(str(texts), batch_size=3, shuffle=False, verbose=False)
    assert [len(b[0]) for b in ds] == [3, 3, 1]
    assert ds[-1][0].tolist() == ds[2][0].tolist()
    with pytest.raises(IndexError):
        ds[3]
    assert list(itertools.islice(ds.as_numpy_iterator(), 1))[0][0].tolist() == ds[0][0].tolist()
