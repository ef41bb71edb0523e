"""Lambda layers in files: Keras 3's file (a lambda and a named function, written by
``data/keras3_layers/make_merge_lambda.py``) loads only when ``custom_objects`` gives the
functions, never by running the stored bytecode; Keras 1/2 configs likewise; kerasette writes
Keras 3's form, which kerasette and real Keras 3 read back.

The fixture lives in ``data/keras3_lambda/``, not ``data/keras3_layers/``: the generic round trip
there has Keras reload kerasette's file without any functions, which no Lambda file allows.
"""

from __future__ import annotations

import json
import marshal
import subprocess
import sys

import h5py
import numpy as np
import pytest

from kerasette import activations
from kerasette import backend as K
from kerasette.layers import Dense, Input, Lambda
from kerasette.models import Model, Sequential, load_model
from kerasette.optimizers import SGD
from kerasette.saving import CheckpointError, custom_object_scope, register_keras_serializable
from kerasette.saving.model_config import model_from_config
from tests.saving.conftest import DATA

FOLDER = DATA / "keras3_lambda"


def shifted_tanh(x, shift=0.0):
    """The fixture's named function, with kerasette's operations."""
    return K.tanh(x) * 2.0 + shift


def anon_function(t):
    """What the fixture's anonymous lambda computes (``keras.ops.square(t) * 0.5 - t``)."""
    return K.square(t) * 0.5 - t


FUNCTIONS = {"anon": anon_function, "shifted_tanh": shifted_tanh}


@pytest.fixture
def no_bytecode(monkeypatch):
    """Fails the test if anything but Python's own import system unmarshals code while it runs."""
    real = marshal.loads

    def refuse(data, *args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("importlib"):  # a module's .pyc, imported lazily
            return real(data, *args, **kwargs)
        raise AssertionError(f"marshal.loads was called from {caller}: stored bytecode must never be loaded")

    monkeypatch.setattr(marshal, "loads", refuse)


def test_the_keras3_lambda_file_predicts_as_keras_with_its_functions(no_bytecode):
    data = np.load(FOLDER / "lambda.npz")
    model = load_model(FOLDER / "lambda.h5", custom_objects=FUNCTIONS)
    np.testing.assert_allclose(model.predict(data["x"]), data["y"], rtol=0, atol=1e-5)
    named = model.get_layer("named")
    assert named.function is shifted_tanh and named.arguments == {"shift": 0.25}
    assert named.compute_output_shape((None, 4)) == (None, 4)
    assert model.get_layer("anon").function is anon_function


def test_a_stored_lambda_is_refused_with_the_key_to_pass(no_bytecode):
    with pytest.raises(CheckpointError, match=r"Lambda 'anon': the file stores this layer's `function` as a Python "
                                              r"lambda \(marshalled bytecode\), and kerasette never runs code stored "
                                              r"in a file. Pass the function when loading, under the layer's name: "
                                              r"load_model\(path, custom_objects=\{'anon': your_function\}\)"):
        load_model(FOLDER / "lambda.h5", custom_objects={"shifted_tanh": shifted_tanh})


def test_a_named_function_is_found_only_by_its_name(no_bytecode):
    with pytest.raises(CheckpointError, match=r"Lambda 'named': the file names its `function` 'shifted_tanh', which "
                                              r"is not known here \(nothing stored in a file is imported or run\). "
                                              r"Pass it when loading: load_model\(path, "
                                              r"custom_objects=\{'shifted_tanh': shifted_tanh\}\)"):
        load_model(FOLDER / "lambda.h5", custom_objects={"anon": anon_function})


def test_functions_from_a_custom_object_scope(no_bytecode):
    data = np.load(FOLDER / "lambda.npz")
    with custom_object_scope(FUNCTIONS):
        model = load_model(FOLDER / "lambda.h5")
    np.testing.assert_allclose(model.predict(data["x"]), data["y"], rtol=0, atol=1e-5)


def test_kerasette_trains_saves_and_reloads_the_lambda_model(tmp_path, no_bytecode):
    data = np.load(FOLDER / "lambda.npz")
    model = load_model(FOLDER / "lambda.h5", custom_objects=FUNCTIONS)
    dense_in = model.get_layer("dense_in").get_weights()[0]
    model.train_on_batch(data["x"], np.zeros((5, 2), "float32"))
    assert not np.array_equal(dense_in, model.get_layer("dense_in").get_weights()[0])  # through both Lambdas
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as f:
        entries = {e["name"]: e for e in json.loads(f.attrs["model_config"])["config"]["layers"]}
    assert entries["named"]["config"]["function"] == {"module": "builtins", "class_name": "function",
                                                      "config": "shifted_tanh", "registered_name": "function"}
    assert entries["named"]["config"]["arguments"] == {"shift": 0.25}
    assert entries["named"]["config"]["output_shape"] == [4]
    # the layer 'anon' now holds the named anon_function, so it is saved, and found, by that name
    assert entries["anon"]["config"]["function"]["config"] == "anon_function"
    again = load_model(tmp_path / "m.h5", custom_objects={"anon_function": anon_function,
                                                          "shifted_tanh": shifted_tanh})
    np.testing.assert_allclose(again.predict(data["x"]), model.predict(data["x"]), rtol=1e-6, atol=1e-6)


def test_real_keras3_loads_kerasette_lambda_files(tmp_path):
    """Keras 3 finds a named function in its custom_objects; a lambda it rebuilds only from the
    bytecode kerasette wrote in its form, with ``safe_mode=False`` (same Python version)."""
    from tests.saving.keras_interop_check import backend
    from tests.saving.test_keras_interop import _require_keras

    keras_python = _require_keras()
    inp = Input(shape=(3,))
    h = Lambda(lambda t: t * 3.0 - 1.0, name="anon")(Dense(4)(inp))
    out = Dense(2)(Lambda(shifted_tanh, arguments={"shift": 0.5}, name="named")(h))
    model = Model(inp, out)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    model.save(tmp_path / "m.h5")
    np.savez(tmp_path / "m.npz", x=x, y=model.predict(x))
    script = (
        "import sys, numpy as np, keras\n"
        "def shifted_tanh(x, shift=0.0):\n    return keras.ops.tanh(x) * 2.0 + shift\n"
        "path = sys.argv[1]\n"
        "try:\n    keras.models.load_model(path + '.h5', custom_objects={'shifted_tanh': shifted_tanh})\n"
        "    print('safe_mode loaded')\nexcept ValueError as e:\n    print('safe_mode refused')\n"
        "m = keras.models.load_model(path + '.h5', custom_objects={'shifted_tanh': shifted_tanh}, safe_mode=False)\n"
        "d = np.load(path + '.npz')\n"
        "print(float(np.abs(np.asarray(m.predict(d['x'], verbose=0)) - d['y']).max()))\n"
    )
    proc = subprocess.run([keras_python, "-c", script, str(tmp_path / "m")], capture_output=True, text=True,
                          env={"KERAS_BACKEND": backend(), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert "safe_mode refused" in lines  # Keras's own rule for lambdas
    assert float(lines[-1]) < 1e-5


# -- Keras 1 and 2 configs ---------------------------------------------------------------------
def _side_effect(x):
    open("/tmp/kerasette_must_not_exist", "w").close()  # noqa: SIM115 - would prove the bytecode ran
    return x


def _keras2_sequential(function_entry: dict) -> dict:
    lam = {"class_name": "Lambda", "config": {"name": "lambda_1", "trainable": True, "arguments": {},
                                             "output_shape": None, "output_shape_type": "raw",
                                             "output_shape_module": None, **function_entry}}
    dense = {"class_name": "Dense", "config": {"name": "dense_1", "units": 2, "batch_input_shape": [None, 3]}}
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [dense, lam]}}


@pytest.mark.parametrize("stored", [
    [__import__("base64").encodebytes(marshal.dumps(_side_effect.__code__)).decode("ascii"), None, None],
    __import__("base64").encodebytes(marshal.dumps(_side_effect.__code__)).decode("ascii"),  # Keras 1.0
], ids=["keras2-list", "keras1-string"])
def test_keras1_and_2_lambda_configs_are_refused_safely(stored, no_bytecode, tmp_path):
    config = _keras2_sequential({"function": stored, "function_type": "lambda", "module": "__main__"})
    with pytest.raises(CheckpointError, match=r"Lambda 'lambda_1': the file stores this layer's `function` as a "
                                              r"Python lambda \(marshalled bytecode\), and kerasette never runs code "
                                              r"stored in a file. Pass the function when loading, under the layer's "
                                              r"name: load_model\(path, custom_objects=\{'lambda_1': your_function\}\)"):
        model_from_config(config)
    model = model_from_config(config, custom_objects={"lambda_1": lambda x: x * 2.0})
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(model.predict(x), 2 * model.layers[0](x).data, rtol=1e-6)
    assert not __import__("os").path.exists("/tmp/kerasette_must_not_exist")


def test_keras2_named_function_and_output_shape_configs(no_bytecode):
    config = _keras2_sequential({"function": "halve", "function_type": "function", "module": "__main__",
                                 "output_shape": ["AAAA", None, None], "output_shape_type": "lambda"})
    with pytest.raises(CheckpointError, match=r"Lambda 'lambda_1': the file names its `function` 'halve'"):
        model_from_config(config)
    model = model_from_config(config, custom_objects={"halve": lambda x: x * 0.5})
    assert model.output_shape == (None, 2)  # the stored output_shape lambda is not needed: inferred
    keras_fn = _keras2_sequential({"function": "tanh", "function_type": "function",
                                   "module": "keras.backend.tensorflow_backend"})
    # a function of Keras itself (module keras...) is kerasette's activation of that name
    assert model_from_config(keras_fn).layers[-1].function is activations.tanh
    unknown = _keras2_sequential({"function": "tanh", "function_type": "function", "module": "mypackage.ops"})
    with pytest.raises(CheckpointError, match=r"the file names its `function` 'tanh', which is not known here"):
        model_from_config(unknown)


def test_a_registered_function_needs_no_custom_objects(tmp_path):
    @register_keras_serializable(package="lambda_tests")
    def cube(x):
        return x * x * x

    model = Sequential([Dense(2, input_dim=3), Lambda(cube)])
    model.compile(SGD(0.1), "mse")
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as f:
        layer = json.loads(f.attrs["model_config"])["config"]["layers"][-1]
    assert layer["config"]["function"]["registered_name"] == "lambda_tests>cube"
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(load_model(tmp_path / "m.h5").predict(x), model.predict(x), rtol=1e-6)
