"""Keras 3's operation layers (``kerasette.layers.operations``): each operation against numpy,
gradients in float64, the entries Keras 3 writes read and written back, and the fixtures of
``tests/saving/data/keras3_layers/make_masked_ops.py`` in both of Keras's file formats (also
checked by the discovery tests: ``tests/saving/test_keras3_layers.py``,
``test_keras_archives.py``, and both ways ``test_keras_interop.py``)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from kerasette.backend.tensor import Tensor
from kerasette.layers import LSTM, Dense, Embedding, Input
from kerasette.layers.operations import OPERATIONS, TENSOR, from_keras_entry, is_keras_operation
from kerasette.models import Model, load_model
from kerasette.saving import CheckpointError
from tests.helpers import check_gradients
from tests.saving.conftest import DATA
from tests.saving.test_keras3_layers import fixture_inputs

FOLDER = DATA / "keras3_layers"
FIXTURES = ["masked_ops_embedding_lstm", "masked_ops_merges", "masked_ops_explicit"]


def _file(name: str, suffix: str):
    """A fixture as Keras 3 wrote it: ``.h5`` here, the archive in ``keras3_archives``."""
    return FOLDER / f"{name}.h5" if suffix == ".h5" else DATA / "keras3_archives" / f"layers_{name}.keras"

rng = np.random.default_rng(0)
A = rng.normal(size=(2, 3, 4)).astype("float32")
B = rng.normal(size=(2, 3, 4)).astype("float32")
POSITIVE = np.abs(A) + 0.5

# Keras's name -> (call arguments with arrays in place of tensors, operation config, numpy's result)
CASES = {
    "Add": ([A, B], {}, A + B),
    "Subtract": ([A, 1.5], {}, A - 1.5),
    "Multiply": ([A, B], {}, A * B),
    "Divide": ([A, POSITIVE], {}, A / POSITIVE),
    "TrueDivide": ([2.0, POSITIVE], {}, 2.0 / POSITIVE),
    "Power": ([POSITIVE, 2.0], {}, POSITIVE ** 2),
    "Maximum": ([A, 0.0], {}, np.maximum(A, 0)),
    "Minimum": ([A, B], {}, np.minimum(A, B)),
    "Negative": ([A], {}, -A),
    "Absolute": ([A], {}, np.abs(A)),
    "Abs": ([A], {}, np.abs(A)),
    "Square": ([A], {}, A * A),
    "Sqrt": ([POSITIVE], {}, np.sqrt(POSITIVE)),
    "Exp": ([A], {}, np.exp(A)),
    "Log": ([POSITIVE], {}, np.log(POSITIVE)),
    "Equal": ([np.round(A), 0], {}, np.round(A) == 0),
    "NotEqual": ([np.round(A), 0], {}, np.round(A) != 0),
    "Greater": ([A, B], {}, A > B),
    "GreaterEqual": ([A, 0.0], {}, A >= 0),
    "Less": ([A, B], {}, A < B),
    "LessEqual": ([A, 0.0], {}, A <= 0),
    "LogicalAnd": ([A > 0, B > 0], {}, (A > 0) & (B > 0)),
    "LogicalOr": ([A > 0, B > 0], {}, (A > 0) | (B > 0)),
    "LogicalXor": ([A > 0, B > 0], {}, (A > 0) ^ (B > 0)),
    "LogicalNot": ([A > 0], {}, A <= 0),
    "Any": ([A > 1], {"axis": -1, "keepdims": False}, (A > 1).any(-1)),
    "All": ([A > -1], {"axis": [1, 2], "keepdims": True}, (A > -1).all((1, 2), keepdims=True)),
    "Sum": ([A], {"axis": 1, "keepdims": False}, A.sum(1)),
    "Mean": ([A], {"axis": None, "keepdims": False}, A.mean()),
    "Max": ([A], {"axis": -1, "keepdims": True}, A.max(-1, keepdims=True)),
    "Min": ([A], {"axis": 0, "keepdims": False}, A.min(0)),
    "ExpandDims": ([A], {"axis": 1}, A[:, None]),
    "Squeeze": ([A[:, :1]], {"axis": 1}, A[:, 0]),
    "Concatenate": ([[A, B]], {"axis": -1}, np.concatenate([A, B], -1)),
    "Where": ([A > 0, A, B], {}, np.where(A > 0, A, B)),
    "ZerosLike": ([A], {"dtype": "bool"}, np.zeros(A.shape, bool)),
    "OnesLike": ([A], {"dtype": None}, np.ones_like(A)),
    "Cast": ([A > 0], {"dtype": "float32"}, (A > 0).astype("float32")),
}


def _template(value):
    """Arrays replaced by tensor placeholders (the layer's ``arguments``), and the arrays."""
    if isinstance(value, np.ndarray):
        return TENSOR, [value]
    if isinstance(value, list):
        parts = [_template(v) for v in value]
        return [p[0] for p in parts], [a for p in parts for a in p[1]]
    return value, []


def test_every_operation_has_a_case():
    assert set(CASES) == set(OPERATIONS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_operation_matches_numpy(name):
    args, config, expected = CASES[name]
    template, arrays = _template(args)
    layer = OPERATIONS[name](arguments=template, operation_config=config)
    out = layer([Tensor(a) for a in arrays])
    assert out.data.dtype == expected.dtype, name
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    shape = layer.compute_output_shape([(None, *a.shape[1:]) for a in arrays])
    assert shape[1:] == expected.shape[1:] or expected.ndim == 0


@pytest.mark.parametrize("name, args, config", [
    ("TrueDivide", [TENSOR, TENSOR], {}),
    ("Where", [TENSOR, TENSOR, TENSOR], {}),
    ("Maximum", [TENSOR, 0.3], {}),
    ("Sum", [TENSOR], {"axis": [0, 2], "keepdims": True}),
    ("Concatenate", [[TENSOR, TENSOR]], {"axis": 1}),
    ("Cast", [TENSOR], {"dtype": "float64"}),
])
def test_operation_gradients_float64(name, args, config):
    layer = OPERATIONS[name](arguments=args, operation_config=config, dtype="float64")
    count = sum(1 for a in json.dumps(args).split("__keras_tensor__")) - 1
    inputs = [rng.normal(size=(2, 3, 2)) + (1.5 if name == "TrueDivide" and i == 1 else 0) for i in range(count)]
    wrt = [1, 2] if name == "Where" else None  # the condition takes no gradient
    check_gradients(lambda *ts: layer(list(ts)), inputs, wrt=wrt)


def test_keras3_entry_reads_and_writes_back():
    entry = {"module": "keras.src.ops.numpy", "class_name": "NotEqual", "config": {"name": "not_equal"},
             "registered_name": "NotEqual", "name": "not_equal", "inbound_nodes": [{"args": [
                 {"class_name": "__keras_tensor__", "config": {"shape": [None, 5], "dtype": "float32",
                                                               "keras_history": ["tokens", 0, 0]}}, 0], "kwargs": {}}]}
    assert is_keras_operation(entry)
    ours = from_keras_entry(entry)
    assert ours["class_name"] == "NotEqualOperation"
    assert ours["config"]["arguments"] == [{"class_name": "__keras_tensor__",
                                            "config": {"shape": [None, 5], "dtype": "float32"}}, 0]
    assert ours["inbound_nodes"] == [{"args": [[entry["inbound_nodes"][0]["args"][0]]], "kwargs": {}}]
    layer_config = OPERATIONS["NotEqual"].from_config(ours["config"]).get_config()
    kerasette_entry = {"name": "not_equal", "class_name": "NotEqualOperation", "config": layer_config,
                       "inbound_nodes": [[["tokens", 0, 0, {}]]]}
    assert OPERATIONS["NotEqual"].keras_file_entry(kerasette_entry) == entry


def test_operations_and_merge_layers_of_one_name_are_told_apart():
    """``.h5`` files name no module: Keras's Add layer writes ``trainable``, its add operation not."""
    assert not is_keras_operation({"class_name": "Add", "config": {"name": "add", "trainable": True, "dtype": "float32"}})
    assert is_keras_operation({"class_name": "Add", "config": {"name": "add"}})
    assert is_keras_operation({"class_name": "Concatenate", "module": "keras.src.ops.numpy", "config": {"axis": 1}})
    assert not is_keras_operation({"class_name": "Concatenate", "module": "keras.layers", "config": {"axis": 1}})
    assert not is_keras_operation({"class_name": "Dense", "config": {"name": "d"}})


def test_unsupported_operation_is_a_clear_error(tmp_path):
    path = tmp_path / "cumsum.h5"
    with h5py.File(FOLDER / "masked_ops_embedding_lstm.h5", "r") as source, h5py.File(path, "w") as f:
        for key, value in source.attrs.items():
            f.attrs[key] = value
        source.copy("model_weights", f)
        config = json.loads(source.attrs["model_config"])
        entry = next(e for e in config["config"]["layers"] if e["class_name"] == "NotEqual")
        entry["class_name"], entry["module"] = "Cumsum", "keras.src.ops.numpy"
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(CheckpointError, match=r"layers\[2\]: Keras 3 operation keras\.src\.ops\.numpy\.Cumsum "
                                              r"\(layer 'not_equal'\) is not supported; supported operations: Abs, "):
        load_model(path)


def test_layer_errors():
    with pytest.raises(ValueError, match=r"SumOperation 'op': Keras's Sum takes \['axis', 'keepdims'\] in its config; "
                                         r"received \['axes'\]"):
        OPERATIONS["Sum"](operation_config={"axes": 1}, name="op")
    layer = OPERATIONS["Add"](arguments=[TENSOR, TENSOR], name="two")
    with pytest.raises(ValueError, match=r"AddOperation 'two': its arguments hold 2 tensor\(s\); received 1"):
        layer(Tensor(A))


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_keras3_files_with_operation_layers_predict_as_keras(name, suffix):
    data = np.load(FOLDER / f"{name}.npz")
    model = load_model(_file(name, suffix), compile=False)
    np.testing.assert_allclose(model.predict(fixture_inputs(data), verbose=0), data["y"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_kerasette_writes_operations_as_keras3_does(tmp_path, suffix):
    data = np.load(FOLDER / "masked_ops_explicit.npz")
    model = load_model(_file("masked_ops_explicit", suffix), compile=False)
    model.save(tmp_path / f"again{suffix}")
    again = load_model(tmp_path / f"again{suffix}", compile=False)
    np.testing.assert_allclose(again.predict(data["x"], verbose=0), data["y"], rtol=0, atol=1e-5)
    if suffix == ".h5":
        with h5py.File(tmp_path / "again.h5", "r") as f:
            layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        maximum = next(e for e in layers if e["name"] == "maximum")
        assert maximum["module"] == "keras.src.ops.numpy" and maximum["class_name"] == "Maximum"
        assert maximum["config"] == {"name": "maximum"}
        args = maximum["inbound_nodes"][0]["args"]
        assert args[1] == 1.0 and args[0]["config"]["keras_history"] == ["sum_1", 0, 0]
        assert args[0]["config"]["shape"] == [None, 1]


def test_a_mask_of_keras_3_reaches_the_lstm_through_propagation():
    """Keras 3 passes the mask its NotEqual layer computes as the LSTM's ``mask=``; kerasette
    computes the same mask from the Embedding, so the padded steps are skipped."""
    model = load_model(FOLDER / "masked_ops_embedding_lstm.h5", compile=False)
    x = np.array([[3, 4, 0, 0, 0, 0, 0], [0, 0, 5, 6, 7, 1, 2]], "float32")
    inp = Input((7,))
    reference = Model(inp, Dense(2)(LSTM(4)(Embedding(20, 5, mask_zero=True)(inp))))
    reference.set_weights(model.get_weights())
    np.testing.assert_allclose(reference.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_a_model_with_operation_layers_round_trips_through_its_config():
    """kerasette's own config form (Keras 2's nodes; the call's constants in the layer config)."""
    data = np.load(FOLDER / "masked_ops_explicit.npz")
    model = load_model(FOLDER / "masked_ops_explicit.h5", compile=False)
    rebuilt = Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(data["x"], verbose=0), data["y"], rtol=0, atol=1e-5)
    assert any(type(layer).__name__ == "MaximumOperation" for layer in rebuilt.layers)
