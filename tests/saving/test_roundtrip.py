"""kerasette -> HDF5 -> kerasette: what is written (Keras's legacy layout, exactly) and what
comes back (weights, config, training config, optimizer state)."""

from __future__ import annotations

import json
import os
import warnings

import h5py
import numpy as np
import pytest

from kerasette import saving
from kerasette.layers import Activation, Dense
from kerasette.models import Sequential, load_model
from kerasette.saving.hdf5_io import HDF5_OBJECT_HEADER_LIMIT
from tests.saving.conftest import optimizer_arrays, small_convnet


def test_full_model_round_trip(tmp_path, trained_convnet):
    model, x = trained_convnet
    model.save(tmp_path / "m.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert again.get_config() == model.get_config()
    assert again.optimizer.get_config() == model.optimizer.get_config()
    assert again.optimizer.iterations == 2
    for a, b in zip(optimizer_arrays(again), optimizer_arrays(model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.metrics_names == model.metrics_names


def test_compile_false_gives_an_uncompiled_model(tmp_path, trained_convnet):
    model, x = trained_convnet
    model.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5", compile=False)
    assert not again.compiled
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_include_optimizer_false_writes_no_optimizer_weights(tmp_path, trained_convnet):
    model, _ = trained_convnet
    model.save(tmp_path / "m.h5", include_optimizer=False)
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert "optimizer_weights" not in f and "training_config" in f.attrs
    assert load_model(tmp_path / "m.h5").optimizer.iterations == 0


def test_written_layout_is_keras_legacy_hdf5(tmp_path, trained_convnet):
    model, _ = trained_convnet
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        for key in ("keras_version", "backend", "model_config", "training_config"):
            assert isinstance(f.attrs[key], np.bytes_), key  # fixed-length bytes: every reader decodes them
        group = f["model_weights"]
        names = group.attrs["layer_names"]
        assert names.dtype.kind == "S"
        assert [n.decode() for n in names] == [layer.name for layer in model.layers]
        conv = model.layers[0].name
        assert [n.decode() for n in group[conv].attrs["weight_names"]] == [f"{conv}/kernel:0", f"{conv}/bias:0"]
        assert group[f"{conv}/{conv}/kernel:0"].shape == (3, 3, 3, 4)
        empty = group[model.layers[1].name].attrs["weight_names"]
        assert empty.dtype == np.float64 and empty.shape == (0,)  # as Keras writes "no weights"
        config = json.loads(f.attrs["model_config"])
        training = json.loads(f.attrs["training_config"])
        optimizer_names = [n.decode() for n in f["optimizer_weights"].attrs["weight_names"]]
    first, second = config["config"]["layers"][:2]
    assert first["class_name"] == "InputLayer" and first["config"]["batch_input_shape"] == [None, 8, 8, 3]
    assert "batch_input_shape" not in second["config"]
    assert "learning_rate" in training["optimizer_config"]["config"]
    assert "lr" not in training["optimizer_config"]["config"] and "loss_weights" in training
    assert optimizer_names[:2] == ["sgd/iteration", "sgd/learning_rate"]
    assert optimizer_names[2] == f"sgd/{model.name}_{conv}_kernel_momentum"


def test_weights_round_trip_and_keras_weights_layout(tmp_path, trained_convnet):
    model, x = trained_convnet
    model.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert "layer_names" in f.attrs and "model_config" not in f.attrs
    other = small_convnet()
    other.load_weights(tmp_path / "w.h5")  # other layer names: matched by order
    np.testing.assert_array_equal(other.predict(x), model.predict(x))


def test_load_model_of_a_weights_only_file_says_so(tmp_path, trained_convnet):
    model, _ = trained_convnet
    model.save_weights(tmp_path / "w.h5")
    with pytest.raises(saving.CheckpointError, match=r"w\.h5: the file holds weights only.*load_weights"):
        load_model(tmp_path / "w.h5")


def test_by_name_loads_matching_layers_only(tmp_path):
    source = Sequential([Dense(4, input_dim=3, name="a"), Dense(2, name="b")])
    source.save_weights(tmp_path / "w.h5")
    target = Sequential([Dense(4, input_dim=3, name="a"), Dense(7, name="other"), Dense(2, name="c")])
    before = target.get_layer("c").get_weights()
    target.load_weights(tmp_path / "w.h5", by_name=True)
    np.testing.assert_array_equal(target.get_layer("a").get_weights()[0], source.get_layer("a").get_weights()[0])
    np.testing.assert_array_equal(target.get_layer("c").get_weights()[0], before[0])


def test_skip_mismatch_skips_with_a_warning(tmp_path):
    source = Sequential([Dense(4, input_dim=3, name="a"), Dense(2, name="b")])
    source.save_weights(tmp_path / "w.h5")
    target = Sequential([Dense(4, input_dim=3, name="a"), Dense(5, name="b")])
    with pytest.raises(saving.CheckpointError, match=r"layer 'b' .*shape \(4, 2\) in the file.*\(4, 5\)"):
        target.load_weights(tmp_path / "w.h5", by_name=True)
    before = target.get_layer("b").get_weights()
    with pytest.warns(UserWarning, match="skipping mismatched weights"):
        target.load_weights(tmp_path / "w.h5", by_name=True, skip_mismatch=True)
    np.testing.assert_array_equal(target.get_layer("a").get_weights()[0], source.get_layer("a").get_weights()[0])
    np.testing.assert_array_equal(target.get_layer("b").get_weights()[0], before[0])
    with pytest.warns(UserWarning, match="skipping"):
        target.load_weights(tmp_path / "w.h5", skip_mismatch=True)  # by order too


def test_failed_load_leaves_the_model_unchanged(tmp_path):
    source = Sequential([Dense(4, input_dim=3), Dense(2)])
    source.save_weights(tmp_path / "w.h5")
    target = Sequential([Dense(4, input_dim=3), Dense(5)])
    before = target.get_weights()
    with pytest.raises(saving.CheckpointError):
        target.load_weights(tmp_path / "w.h5")
    for a, b in zip(before, target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_attributes_over_64kb_are_split_and_read_back(tmp_path):
    layers = [Dense(3, input_dim=2, name="first")]
    layers += [Activation("linear", name=f"{'activation_with_a_very_long_name_' * 6}{i}") for i in range(400)]
    model = Sequential(layers + [Dense(2, name="last")])
    model.save(tmp_path / "big.h5")
    with h5py.File(tmp_path / "big.h5", "r") as f:
        group = f["model_weights"]
        assert "layer_names" not in group.attrs
        parts = [k for k in group.attrs if k.startswith("layer_names")]
        assert len(parts) >= 2 and all(group.attrs[p].nbytes <= HDF5_OBJECT_HEADER_LIMIT for p in parts)
        assert len(f.attrs["model_config"]) > HDF5_OBJECT_HEADER_LIMIT  # stored variable-length, past 64 KB
    again = load_model(tmp_path / "big.h5", compile=False)
    assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
    x = np.ones((2, 2), "float32")
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_save_leaves_no_temporary_file_and_respects_overwrite(tmp_path, trained_convnet):
    model, _ = trained_convnet
    path = tmp_path / "sub" / "m.h5"
    model.save(path)
    model.save(path)
    assert sorted(os.listdir(tmp_path / "sub")) == ["m.h5"]
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(path, overwrite=False)
    mode = os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_string_and_list_attributes_of_every_kind_are_read(tmp_path, trained_convnet):
    """vlen str (Keras 3), fixed bytes (Keras 1/2), object arrays of str or bytes."""
    model, x = trained_convnet
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        del f.attrs["kerasette_digest"]
        config = f.attrs["model_config"].decode()
        f.attrs.create("model_config", config, dtype=h5py.string_dtype("utf-8"))
        names = [n.decode() for n in f["model_weights"].attrs["layer_names"]]
        f["model_weights"].attrs.create("layer_names", names, dtype=h5py.string_dtype("ascii"))
    np.testing.assert_array_equal(load_model(tmp_path / "m.h5").predict(x), model.predict(x))


def test_weights_load_by_the_order_of_layer_names_and_weight_names(tmp_path):
    """Neither group iteration order (alphabetical) nor dataset names decide what goes where."""
    rng = np.random.RandomState(0)
    kernel1, bias1 = rng.rand(3, 4).astype("float32"), rng.rand(4).astype("float32")
    kernel2, bias2 = rng.rand(4, 2).astype("float32"), rng.rand(2).astype("float32")
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names"] = np.array([b"zz_first", b"input_1", b"aa_second"])
        f.attrs["keras_version"], f.attrs["backend"] = b"2.2.4", b"tensorflow"
        for name, values in (("zz_first", (kernel1, bias1)), ("input_1", ()), ("aa_second", (kernel2, bias2))):
            group = f.create_group(name)
            names = [b"z_is_the_kernel:0", b"a_is_the_bias:0"][: len(values)]
            group.attrs["weight_names"] = np.array(names) if names else np.zeros((0,))
            for dataset, value in zip(names, values, strict=True):
                group.create_dataset(dataset.decode(), data=value)
    model = Sequential([Dense(4, input_dim=3), Dense(2)])
    model.load_weights(tmp_path / "w.h5")
    for got, expected in zip(model.get_weights(), [kernel1, bias1, kernel2, bias2], strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_optimizers_with_several_slots_continue_identically(tmp_path, optimizer):
    from tests.saving.conftest import toy_data

    model = Sequential([Dense(8, activation="relu", input_dim=4), Dense(3, activation="softmax")])
    model.compile(optimizer, "categorical_crossentropy")
    x, y = toy_data(n=16, shape=(4,), classes=3)
    model.train_on_batch(x, y)
    model.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5")
    model.train_on_batch(x, y)
    again.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_unbuilt_model_cannot_be_saved(tmp_path):
    with pytest.raises(saving.CheckpointError, match="model 'sequential_1' is not built yet"):
        Sequential([Dense(2)]).save(tmp_path / "m.h5")
