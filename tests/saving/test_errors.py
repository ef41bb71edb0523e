"""Every way a checkpoint can be wrong raises a CheckpointError naming the file and the problem."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from kerasette import saving
from kerasette.layers import Dense
from kerasette.models import Sequential, load_model
from kerasette.saving import CheckpointError, read_checkpoint
from tests.saving.conftest import compiled, mlp


@pytest.fixture
def saved(tmp_path):
    """A saved compiled MLP and a function to edit a copy of it (dropping the checksum first)."""
    model = compiled(mlp())
    model.train_on_batch(np.ones((4, 6), "float32"), np.eye(3, dtype="float32")[[0, 1, 2, 0]])
    path = tmp_path / "m.h5"
    model.save(path)

    def edit(fn, keep_digest: bool = False):
        with h5py.File(path, "r+") as f:
            if not keep_digest:
                del f.attrs["kerasette_digest"]
            fn(f)
        return path

    return model, path, edit


def _config(f) -> dict:
    return json.loads(f.attrs["model_config"])


def _set_config(f, config) -> None:
    f.attrs["model_config"] = json.dumps(config).encode()


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.h5: no such file"):
        load_model(tmp_path / "nope.h5")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        load_model(tmp_path)


def test_not_hdf5(tmp_path):
    (tmp_path / "t.h5").write_text("hello")
    with pytest.raises(CheckpointError, match=r"t\.h5: not an HDF5 file, or it is truncated"):
        load_model(tmp_path / "t.h5")
    (tmp_path / "k.keras").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(CheckpointError, match=r"k\.keras: not a valid zip archive"):
        load_model(tmp_path / "k.keras")
    with pytest.raises(CheckpointError, match=r"k\.keras: this is a \.keras archive, which holds a model, not an "
                                              r"HDF5 checkpoint"):
        read_checkpoint(tmp_path / "k.keras")


def test_truncated(saved):
    _, path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"m\.h5: "):
        load_model(path)


def test_checksum_mismatch(saved):
    _, path, edit = saved
    edit(lambda f: f["model_weights/dense_1/dense_1/bias:0"].__setitem__(0, 5.0), keep_digest=True)
    with pytest.raises(CheckpointError, match=r"m\.h5: the file is damaged: .*checksum.*'kerasette_digest'"):
        load_model(path)


@pytest.mark.parametrize("edit_fn, message", [
    (lambda f: f.__delitem__("model_weights"), "has a model_config but no 'model_weights' group"),
    (lambda f: f["model_weights"].attrs.__delitem__("layer_names"), "model_weights: the attribute 'layer_names' is missing"),
    (lambda f: f["model_weights"].__delitem__("dense_1"), "model_weights/dense_1: the group 'dense_1' is missing"),
    (lambda f: f["model_weights/dense_1/dense_1"].__delitem__("bias:0"), "the dataset 'dense_1/bias:0' is missing"),
    (lambda f: f["model_weights"].attrs.__setitem__("layer_names", np.array([b"dense_1", b"dense_1"])),
     "'layer_names' lists the same layer twice"),
    (lambda f: f["model_weights"].attrs.__setitem__("layer_names", np.array([b"dense_1"])),
     "the file holds weights for 1 layers .*model 'sequential_1' has 2 layers with weights"),
    (lambda f: f["model_weights/dense_2"].attrs.__setitem__("weight_names", np.array([b"dense_2/kernel:0"])),
     r"layer 'dense_2' \(Dense; 'dense_2' in the file\): the layer has 2 weights, the file holds 1"),
    (lambda f: f.attrs.__setitem__("model_config", b"{not json"), "model_config is not valid JSON"),
    (lambda f: f.attrs.__setitem__("model_config", b"[" * 100000 + b"]" * 100000), "model_config is not valid JSON"),
    (lambda f: f.attrs.__setitem__("model_config", b'{"class_name": "Sequential"}'),
     "model_config should be a dict with 'class_name' and 'config'"),
    (lambda f: f.attrs.__setitem__("training_config", b'{"optimizer_config": {"class_name": "Evil", "config": {}}}'),
     "training_config: optimizer_config: unknown optimizer 'Evil'"),
    (lambda f: f.attrs.__setitem__("kerasette_training_state", b'{"random": {"bit_generator": "seed"}}'),
     "unknown random generator 'seed'"),
    (lambda f: f["optimizer_weights/sgd/iteration"].__setitem__((), -5), "the iteration count -5 is not a count"),
])
def test_damaged_structure(saved, edit_fn, message):
    _, path, edit = saved
    edit(edit_fn)
    with pytest.raises(CheckpointError, match=r"m\.h5: .*" + message):
        load_model(path)


def _replace(f, name, data=None, **kwargs):
    del f[name]
    f.create_dataset(name, data=data, **kwargs)


@pytest.mark.parametrize("edit_fn, message", [
    (lambda f: _replace(f, "model_weights/dense_1/dense_1/kernel:0", np.zeros((7, 16), "float32")),
     r"weight 'dense_1/kernel:0' has shape \(7, 16\) in the file; the model's 'dense_1/kernel' has shape \(6, 16\)"),
    (lambda f: _replace(f, "model_weights/dense_1/dense_1/kernel:0", np.zeros((6, 16), "int32")),
     "weight 'dense_1/kernel:0' has dtype int32; expected floating point"),
    (lambda f: _replace(f, "model_weights/dense_1/dense_1/kernel:0", np.array([b"abc"] * 3)),
     "has dtype |S3; expected numbers"),
    (lambda f: _replace(f, "model_weights/dense_1/dense_1/kernel:0", shape=(10**6, 10**6), dtype="float32",
                        chunks=(1, 1000)),
     r"declares shape \(1000000, 1000000\) \(4000000000000 bytes\), more than the file"),
])
def test_wrong_datasets(saved, edit_fn, message):
    _, path, edit = saved
    edit(edit_fn)
    with pytest.raises(CheckpointError, match=r"m\.h5: .*" + message.replace("|", r"\|")):
        load_model(path)


def test_config_cannot_make_kerasette_allocate_what_the_file_does_not_hold(saved):
    _, path, edit = saved

    def huge(f):
        config = _config(f)
        config["config"]["layers"][1]["config"]["units"] = 10**9
        _set_config(f, config)

    edit(huge)
    with pytest.raises(CheckpointError, match=r"layer 'dense_1' would create weight 'kernel' of shape \(6, 1000000000\)"
                                              r".*larger than any weight stored in the file"):
        load_model(path)


def test_config_the_layer_rejects_names_the_layer(saved):
    _, path, edit = saved

    def bad(f):
        config = _config(f)
        config["config"]["layers"][2]["config"]["rate"] = 7
        _set_config(f, config)

    edit(bad)
    with pytest.raises(CheckpointError, match=r"layers\[2\]: layer 'dropout_1' \(Dropout\): .*rate.*\[0, 1\)"):
        load_model(path)


def test_unbuilt_model_cannot_load_weights(saved):
    _, path, _ = saved
    with pytest.raises(CheckpointError, match="is not built, so it has no weights to load into yet"):
        Sequential([Dense(2)]).load_weights(path)


def test_json_errors_outside_files():
    with pytest.raises(CheckpointError, match="the model JSON is not valid JSON"):
        saving.model_from_json("{")
    with pytest.raises(CheckpointError, match="unknown model class 'Pipeline'"):
        saving.model_from_config({"class_name": "Pipeline", "config": {}})
