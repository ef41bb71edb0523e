"""The ``kerasette`` command: ``run`` (unmodified Keras 1/2/3 scripts through the ``import keras``
alias), ``inspect`` and ``convert``, with their exit codes and messages."""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import kerasette
from kerasette.cli import main
from kerasette.models import load_model
from tests.saving import keras1_files as k1
from tests.saving.conftest import DATA

SCRIPTS = pathlib.Path(__file__).with_name("scripts")
REPO = pathlib.Path(__file__).resolve().parents[2]
#: every full-model and weights file of the saving tests: real Keras 1/2/3 files and Keras 3 archives
MODEL_FILES = sorted(p for pattern in ("keras3/*.h5", "tf_keras2/*.h5", "wild/*.hdf5", "keras3_functional/*.h5",
                                       "keras3_layers/*.h5", "keras3_archives/*.keras")
                     for p in DATA.glob(pattern))


def _kerasette(*args, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    return subprocess.run([sys.executable, "-m", "kerasette", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)


# -- run -------------------------------------------------------------------------------------------
def test_run_trains_an_unmodified_keras2_script():
    proc = _kerasette("run", SCRIPTS / "keras2_mlp.py", 8)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"keras {kerasette.__version__} accuracy" in proc.stdout


def test_run_trains_an_unmodified_keras1_script():
    proc = _kerasette("run", SCRIPTS / "keras1_convnet.py")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Test accuracy:" in proc.stdout


def test_run_passes_argv_name_and_exit_code():
    proc = _kerasette("run", SCRIPTS / "argv_and_exit.py", 4, "--flag", "x")
    assert proc.returncode == 4
    assert "name __main__ argv ['4', '--flag', 'x'] keras keras" in proc.stdout


def test_run_prints_the_scripts_traceback_as_python_does():
    proc = _kerasette("run", SCRIPTS / "raises.py")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Traceback (most recent call last):\n")
    assert 'raises.py", line 2, in inner' in proc.stderr and "ValueError: the script's own error" in proc.stderr
    assert "runpy" not in proc.stderr and "cli.py" not in proc.stderr


def test_run_names_what_kerasette_does_not_provide():
    proc = _kerasette("run", SCRIPTS / "missing_name.py")
    assert proc.returncode == 1
    assert "kerasette is serving `import keras` for this script" in proc.stderr
    assert "does not provide the module `keras.wrappers`" in proc.stderr


def test_run_a_missing_script_is_a_usage_error():
    proc = _kerasette("run", "no_such_script.py")
    assert proc.returncode == 2 and "can't open file 'no_such_script.py'" in proc.stderr


@pytest.fixture
def alias():
    kerasette.install_keras_alias()
    yield
    kerasette.uninstall_keras_alias()


@pytest.mark.parametrize(("statement", "bound", "expected"), [
    ("from keras.layers.core import Dense", "Dense", "kerasette.layers:Dense"),
    ("from keras.layers.convolutional import Convolution2D, MaxPooling2D", "MaxPooling2D",
     "kerasette.layers:MaxPooling2D"),
    ("from keras.layers.convolutional import Convolution2D", "Convolution2D", "kerasette.layers:Conv2D"),
    ("from keras.layers.normalization import BatchNormalization", "BatchNormalization",
     "kerasette.layers:BatchNormalization"),
    ("from keras.layers.advanced_activations import LeakyReLU", "LeakyReLU", "kerasette.layers:LeakyReLU"),
    ("from keras.layers.pooling import GlobalAveragePooling2D", "GlobalAveragePooling2D",
     "kerasette.layers:GlobalAveragePooling2D"),
    ("from keras.layers.noise import GaussianNoise", "GaussianNoise", "kerasette.layers:GaussianNoise"),
    ("from keras.engine.topology import Layer", "Layer", "kerasette.layers:Layer"),
    ("from keras.engine.training import Model", "Model", "kerasette.models:Model"),
    ("from keras.engine import InputSpec", "InputSpec", "kerasette.layers:InputSpec"),
    ("from keras.utils.np_utils import to_categorical", "to_categorical", "kerasette.utils:to_categorical"),
    ("from keras.objectives import categorical_crossentropy", "categorical_crossentropy",
     "kerasette.losses:categorical_crossentropy"),
    ("from keras.initializations import glorot_uniform", "glorot_uniform", "kerasette.initializers:glorot_uniform"),
    ("from keras.callbacks import ModelCheckpoint", "ModelCheckpoint", "kerasette.callbacks:ModelCheckpoint"),
    ("from keras.models import Sequential", "Sequential", "kerasette.models:Sequential"),
    ("from tensorflow.keras.layers import Conv2D", "Conv2D", "kerasette.layers:Conv2D"),
    ("from keras import backend as K", "K", "kerasette.backend"),
    ("from tensorflow import keras", "keras", "kerasette"),
    ("import tensorflow.keras.optimizers as o", "o", "kerasette.optimizers"),
])
def test_keras_module_paths_resolve_to_kerasette(alias, statement, bound, expected):
    scope: dict = {}
    exec(statement, scope)  # noqa: S102 - the statements above, as a script would write them
    module, _, name = expected.partition(":")
    if name:
        assert scope[bound] is getattr(importlib.import_module(module), name)
    else:
        assert scope[bound].__kerasette_target__ is importlib.import_module(module)


def test_a_name_kerasette_lacks_raises_an_import_error_saying_so(alias):
    with pytest.raises(ImportError, match=r"kerasette is serving `import keras`.*does not provide `NoSuchLayer` "
                                          r"\(asked for in `keras.layers`\)"):
        exec("from keras.layers import NoSuchLayer", {})  # noqa: S102
    with pytest.raises(ImportError, match=r"does not provide `tensorflow.constant` \(only `tensorflow.keras`"):
        exec("import tensorflow as tf\ntf.constant", {})  # noqa: S102


def test_uninstall_removes_the_alias():
    kerasette.install_keras_alias()
    import keras  # noqa: F401

    kerasette.uninstall_keras_alias()
    assert "keras" not in sys.modules or not hasattr(sys.modules["keras"], "__kerasette_target__")


# -- inspect ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_inspect_describes_every_fixture(path, capsys):
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] in ("keras", "legacy", "legacy-weights", "keras3-weights")
    assert info["weights"] and info["total_params"] > 0
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "format:" in text and "total params:" in text


def test_inspect_counts_what_keras_counts(capsys):
    assert main(["inspect", str(DATA / "keras3/vgg_like.h5"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    model = load_model(DATA / "keras3/vgg_like.h5")
    assert info["total_params"] == model.count_params()
    assert [layer["params"] for layer in info["model"]["layers"] if layer["class_name"] != "InputLayer"] == \
        [layer.count_params() for layer in model.layers]
    assert [tuple(layer["output_shape"]) for layer in info["model"]["layers"][1:]] == \
        [tuple(layer.output_shape) for layer in model.layers]
    assert info["keras_version"] == "3.15.1" and info["backend"] == "torch" and info["image_data_format"] == \
        ["channels_last"]
    assert info["training_config"]["optimizer"]["class_name"] and info["optimizer_state"]["state_arrays"] > 0


def test_inspect_a_keras1_file(tmp_path, capsys):
    k1.write_keras1_file(tmp_path / "k1.h5", "th", k1.random_weights(0), keras_version=None)
    assert main(["inspect", str(tmp_path / "k1.h5")]) == 0
    out = capsys.readouterr().out
    assert "keras 1.0 or 1.1" in out and "channels_first" in out


@pytest.mark.parametrize(("content", "message"), [
    (b"hello", "not an HDF5 file or a .keras archive"),
    (b"PK\x03\x04" + bytes(60), "not a valid zip archive"),
])
def test_inspect_a_bad_file_exits_1_saying_why(tmp_path, capsys, content, message):
    (tmp_path / "bad.h5").write_bytes(content)
    assert main(["inspect", str(tmp_path / "bad.h5")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kerasette inspect: ") and message in err and "bad.h5" in err


def test_inspect_a_missing_file_exits_1(capsys):
    assert main(["inspect", "/no/such/file.h5"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["inspect"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2


# -- convert ---------------------------------------------------------------------------------------
CONVERTIBLE = [p for p in MODEL_FILES if not p.name.endswith(".weights.h5")]


def _inputs(npz):
    """``x``, or the several inputs ``x_0``, ``x_1``, ... (``x_<name>`` in file order)."""
    data = np.load(npz)
    if "x" in data.files:
        return data["x"]
    return [data[k] for k in data.files if k.startswith("x_")]


@pytest.mark.parametrize("path", CONVERTIBLE, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_convert_keeps_the_predictions(tmp_path, capsys, path, suffix):
    npz = path.with_suffix(".npz")
    out = tmp_path / f"converted{suffix}"
    assert main(["convert", str(path), str(out)]) == 0
    if npz.exists():
        x = _inputs(npz)
    else:  # the wild file: random inputs of its input shape
        x = np.random.default_rng(0).uniform(size=(2, *load_model(path).input_shape[1:])).astype("float32")
    np.testing.assert_allclose(load_model(out).predict(x, verbose=0), load_model(path).predict(x, verbose=0),
                               rtol=0, atol=1e-6)


def test_convert_to_weights_only(tmp_path):
    out = tmp_path / "w.weights.h5"
    assert main(["convert", str(DATA / "keras3/vgg_like.h5"), str(out)]) == 0
    model = load_model(DATA / "keras3/vgg_like.h5")
    x = _inputs(DATA / "keras3/vgg_like.npz")
    expected = model.predict(x, verbose=0)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(out)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def test_convert_a_keras1_theano_file_with_and_without_the_kernel_flip(tmp_path):
    k1.write_keras1_file(tmp_path / "k1.h5", "th", k1.random_weights(0), keras_version=None)
    assert main(["convert", str(tmp_path / "k1.h5"), str(tmp_path / "flipped.keras"), "--flip-kernels"]) == 0
    assert main(["convert", str(tmp_path / "k1.h5"), str(tmp_path / "stored.keras"), "--no-flip-kernels"]) == 0
    a, b = load_model(tmp_path / "flipped.keras"), load_model(tmp_path / "stored.keras")
    kernel_a, kernel_b = a.layers[0].get_weights()[0], b.layers[0].get_weights()[0]
    np.testing.assert_array_equal(kernel_a, kernel_b[::-1, ::-1])


def test_convert_errors(tmp_path, capsys):
    assert main(["convert", str(DATA / "keras3/vgg_like.h5"), str(tmp_path / "out.txt")]) == 2
    assert "OUT must end in .keras, .h5, .hdf5, .weights.h5" in capsys.readouterr().err
    assert main(["convert", str(DATA / "keras3/vgg_like.weights.h5"), str(tmp_path / "out.keras")]) == 1
    assert "weights only" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.h5"), str(tmp_path / "out.keras")]) == 1
    assert not (tmp_path / "out.keras").exists()


@pytest.mark.parametrize(("marker", "last_line"), [
    ("For example, this Keras 2 script", kerasette.__version__),
    ("and so does this Keras 1 one", "accuracy"),
])
def test_the_readmes_keras_scripts_run_unmodified(tmp_path, marker, last_line):
    text = (REPO / "README.md").read_text()
    start = text.index("```python\n", text.index(marker)) + len("```python\n")
    script = tmp_path / "readme_script.py"
    script.write_text(text[start:text.index("```", start)])
    proc = _kerasette("run", script)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1].startswith(last_line)
