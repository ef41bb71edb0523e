"""Keras 3's ``.keras`` format and ``.weights.h5`` layout, both ways.

- Archives real Keras 3 wrote (``data/keras3_archives/make_archives.py``: Sequential, functional,
  nested, compiled and not, and every layer family of ``data/keras3_layers``) load with Keras's
  predictions to 1e-5 and Keras's optimizer state exactly. (Keras 3 loading kerasette's archives
  is in ``test_keras_interop.py``.)
- kerasette's own archives round-trip: predictions, configs, and training continues exactly.
- File names pick the format; a name that does not fit the call is refused.
- Hostile archives are refused with a `CheckpointError` naming the file, and nothing is written
  anywhere; a fuzz run over 200+ damaged archives in a memory-limited worker process.
"""

from __future__ import annotations

import json
import os
import zipfile

import h5py
import numpy as np
import pytest

from kerasette.backend import random as krandom
from kerasette.layers import Dense, Input
from kerasette.models import Model, Sequential, load_model
from kerasette.optimizers import Adam
from kerasette.saving import CheckpointError
from kerasette.saving.keras_archive import MAX_COMPRESSION_RATIO
from kerasette.saving.optimizer_state import optimizer_arrays
from tests.saving import fuzz_mutations
from tests.saving import keras_archive_mutations as hostile
from tests.saving.conftest import DATA, compiled, small_convnet, toy_data
from tests.saving.test_fuzz import _run_worker

FOLDER = DATA / "keras3_archives"
ARCHIVES = sorted(p.stem for p in FOLDER.glob("*.keras"))


def _inputs(data):
    if "x" in data.files:
        return data["x"]
    return [data[f"x_{i}"] for i in range(sum(k.startswith("x_") for k in data.files))]


def test_the_fixtures_cover_models_and_every_layer_family():
    assert {"convnet", "two_inputs", "nested", "uncompiled"} <= set(ARCHIVES)
    families = {p.stem for p in (DATA / "keras3_layers").glob("*.h5")}
    assert {f"layers_{f}" for f in families} <= set(ARCHIVES), "rerun make_archives.py"


@pytest.mark.parametrize("name", ARCHIVES)
def test_keras3_archives_predict_as_keras(name):
    data = np.load(FOLDER / f"{name}.npz")
    model = load_model(FOLDER / f"{name}.keras")
    np.testing.assert_allclose(model.predict(_inputs(data), verbose=0), data["y"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["convnet", "two_inputs", "nested"])
def test_keras3_archives_restore_the_optimizer_exactly(name):
    data = np.load(FOLDER / f"{name}.npz")
    model = load_model(FOLDER / f"{name}.keras")
    keras_state = [data[f"opt_{i}"] for i in range(sum(k.startswith("opt_") for k in data.files))]
    _, ours = optimizer_arrays(model)
    assert len(ours) == len(keras_state)
    assert int(ours[0]) == int(keras_state[0]) > 0  # iterations
    for a, b in zip(ours[1:], keras_state[1:], strict=True):
        np.testing.assert_array_equal(np.asarray(a, "float32"), np.asarray(b, "float32"))


def test_an_uncompiled_archive_loads_uncompiled():
    model = load_model(FOLDER / "uncompiled.keras")
    assert not model.compiled


def test_compile_false_skips_the_optimizer():
    model = load_model(FOLDER / "convnet.keras", compile=False)
    assert not model.compiled


def test_a_nested_model_keeps_its_structure():
    model = load_model(FOLDER / "nested.keras")
    inner = [layer for layer in model.layers if type(layer).__name__ == "Sequential"]
    assert len(inner) == 1 and inner[0].name == "inner" and len(inner[0].layers) == 2


# -- kerasette's own archives ----------------------------------------------------------------------
def _trained(tmp_path):
    krandom.set_seed(3)
    model = compiled(small_convnet(dropout_seed=2))
    x, y = toy_data(n=16)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    return model, x, y


def test_round_trip_continues_training_exactly(tmp_path):
    model, x, y = _trained(tmp_path)
    model.save(tmp_path / "m.keras")
    before = model.predict(x, verbose=0)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # the uninterrupted run
    again = load_model(tmp_path / "m.keras")  # restores the random state saved with it
    np.testing.assert_array_equal(again.predict(x, verbose=0), before)
    assert again.get_config() == model.get_config()
    again.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_archive_has_keras_3_members_and_layout(tmp_path):
    model, _, _ = _trained(tmp_path)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert [i.filename for i in zf.infolist()] == ["metadata.json", "config.json", "model.weights.h5"]
        config = json.loads(zf.read("config.json"))
        zf.extract("model.weights.h5", tmp_path)
    assert config["module"] == "keras" and config["class_name"] == "Sequential"
    assert config["compile_config"]["optimizer"]["module"] == "keras.optimizers"
    with h5py.File(tmp_path / "model.weights.h5") as f:
        assert f["vars"].attrs["name"] == model.name
        assert f["layers/conv2d/vars/0"].shape == model.layers[0].weights[0].shape
        assert f["optimizer/vars/0"][()] == model.optimizer.iterations


def test_functional_round_trip(tmp_path):
    a, b = Input((3,), name="a"), Input((2,), name="b")
    from kerasette.layers import Concatenate

    out = Dense(2)(Concatenate()([Dense(4)(a), Dense(4)(b)]))
    model = Model([a, b], out)
    model.compile(Adam(0.01), "mse")
    xs = [np.ones((4, 3), "float32"), np.ones((4, 2), "float32")]
    model.fit(xs, np.zeros((4, 2), "float32"), verbose=0)
    model.save(tmp_path / "f.keras")
    again = load_model(tmp_path / "f.keras")
    np.testing.assert_array_equal(again.predict(xs, verbose=0), model.predict(xs, verbose=0))
    assert again.optimizer.iterations == model.optimizer.iterations


def test_native_weights_round_trip_and_load_weights_from_an_archive(tmp_path):
    model, x, _ = _trained(tmp_path)
    model.save_weights(tmp_path / "w.weights.h5")
    model.save(tmp_path / "m.keras")
    with h5py.File(tmp_path / "w.weights.h5") as f:
        assert "layers" in f and "model_weights" not in f and "optimizer/vars" in f
    for source in ("w.weights.h5", "m.keras"):
        fresh = compiled(small_convnet(dropout_seed=2))
        fresh.load_weights(tmp_path / source)
        np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_load_weights_from_an_archive_of_another_model_changes_nothing(tmp_path):
    model, _, _ = _trained(tmp_path)
    model.save(tmp_path / "m.keras")
    other = Sequential([Input((5,)), Dense(3)])
    before = other.get_weights()
    with pytest.raises(CheckpointError, match=r"m\.keras.*conv2d.*which model .* does not have"):
        other.load_weights(tmp_path / "m.keras")
    for a, b in zip(before, other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("call", "name", "message"), [
    ("save", "m.weights.h5", "holds weights only: call model.save_weights"),
    ("save_weights", "m.keras", "holds a whole model: call model.save"),
])
def test_a_name_that_does_not_fit_the_call_is_refused(tmp_path, call, name, message):
    model, _, _ = _trained(tmp_path)
    with pytest.raises(CheckpointError, match=message):
        getattr(model, call)(tmp_path / name)
    assert not (tmp_path / name).exists()


def test_a_failed_save_keeps_the_previous_archive(tmp_path, monkeypatch):
    model, _, _ = _trained(tmp_path)
    model.save(tmp_path / "m.keras")
    before = (tmp_path / "m.keras").read_bytes()
    from kerasette.saving import keras3_files

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(keras3_files, "write_archive", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "m.keras")
    assert (tmp_path / "m.keras").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]


# -- hostile archives ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile_cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    krandom.set_seed(3)
    model = compiled(small_convnet(dropout_seed=2))
    x, y = toy_data(n=8)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    base = folder / "base.keras"
    model.save(base)
    return folder, hostile.hostile_archives(base, folder / "cases")


EXPECTED = {
    "traversal-dotdot": "leads outside the archive", "absolute-path": "leads outside the archive",
    "windows-drive": "leads outside the archive", "backslash-dotdot": "leads outside the archive",
    "traversal-deep": "leads outside the archive",
    "symlink-member": "not a regular file", "symlink-extra": "not a regular file",
    "duplicate-config": "appears more than once", "duplicate-weights": "appears more than once",
    "missing-config": "lacks config.json", "missing-weights": "lacks model.weights.h5",
    "extra-member": "is not one of the members", "assets-folder": "layer assets",
    "config-not-json": "is not valid JSON", "config-a-list": "should hold a JSON object",
    "bomb-declared-ratio": f"more than {MAX_COMPRESSION_RATIO} times",
    "size-declared-huge": "declares 4294967295 bytes",
    "weights-not-hdf5": "not an HDF5 file", "weights-missing-layer": "does not match the weights",
    "weights-huge-dataset": "more than the file", "weights-wrong-shape": "has shape",
    "weights-extra-layer": "which model .* does not have", "config-lambda-bytecode": "Lambda",
    "config-huge-units": "",
}


def test_every_hostile_archive_is_refused_naming_the_file(hostile_cases):
    folder, cases = hostile_cases
    assert len(cases) >= 40
    outside_before = sorted(os.listdir(folder.parent))
    for cid, path in cases:
        with pytest.raises(CheckpointError) as caught:
            load_model(path)
        assert str(path) in str(caught.value), (cid, str(caught.value))
        assert re_search(EXPECTED.get(cid, ""), str(caught.value)), (cid, str(caught.value))
    assert sorted(os.listdir(folder.parent)) == outside_before  # nothing extracted next to the files
    assert not (folder / "cases" / ".." / "evil.txt").exists() and not os.path.exists("/tmp/evil.txt")


def re_search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_mutated_archives_load_identically_or_are_refused(tmp_path, hostile_cases):
    """Flipped bytes and truncations of a kerasette archive (the zip's CRCs cover every member) and
    the hostile archives, loaded in a worker process with a memory limit: each loads identically
    or raises CheckpointError; none crashes, hangs or allocates what it claims."""
    krandom.set_seed(11)
    model = compiled(small_convnet(dropout_seed=4))
    x, y = toy_data(n=16)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    base = tmp_path / "base.keras"
    model.save(base)
    np.savez(tmp_path / "x.npz", x=x[:4])
    cases = fuzz_mutations.byte_mutations(base, tmp_path / "k", seed=5, flips=130, truncations=30)
    cases += hostile_cases[1]
    assert len(cases) >= 200
    results = _run_worker(base, tmp_path / "x.npz", cases, tmp_path)
    assert len(results) == len(cases)
    bad = {cid: r for cid, r in results.items() if r["outcome"] not in ("error", "identical")}
    assert not bad, json.dumps(dict(list(bad.items())[:8]), indent=1)
    hostile_ids = {cid for cid, _ in hostile_cases[1]}
    assert all(results[cid]["outcome"] == "error" for cid in hostile_ids)
    assert sum(r["outcome"] == "error" for r in results.values()) > 150


def test_input_layer_takes_keras_3_15_optional_false_and_refuses_what_it_cannot_do():
    from kerasette.layers import InputLayer

    assert InputLayer(shape=(3,), optional=False).batch_input_shape == (None, 3)
    for key in ("sparse", "ragged", "optional"):
        with pytest.raises(ValueError, match=f"InputLayer: {key} inputs are not supported; received {key}=True"):
            InputLayer(shape=(3,), **{key: True})
