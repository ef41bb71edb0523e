"""Keras's data sets, read from small files in Keras's exact formats placed in a temporary
KERAS_HOME, compared with what real Keras 3 returns for the same files
(keras3_datasets_golden.json, written by make_keras3_datasets_golden.py); the restricted
unpickler against hostile pickles. No test here reaches the network."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest

import kerasette.backend as K  # noqa: N812 - the Keras convention
from kerasette import datasets
from kerasette.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
    safe_pickle,
)
from kerasette.utils.data_utils import DownloadError, hash_file
from tests.data import synthetic

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "keras3_datasets_golden.json")) as _f:
    GOLDEN = json.load(_f)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Only 127.0.0.1 may be reached: anything else fails as an offline machine would."""
    real = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        if not str(url).startswith("http://127.0.0.1:"):
            raise urllib.error.URLError("network disabled in the tests")
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


@pytest.fixture
def cache(keras_home, monkeypatch):
    """``$KERAS_HOME/datasets`` holding the small files; the loaders' expected hashes are theirs."""
    folder = keras_home / "datasets"
    folder.mkdir()
    d = str(folder)
    for module, path in ((mnist, synthetic.write_mnist(d)), (boston_housing, synthetic.write_boston(d)),
                         (california_housing, synthetic.write_california(d))):
        monkeypatch.setattr(module, "FILE_HASH", hash_file(path))
    for module, (path, index) in ((imdb, synthetic.write_imdb(d)), (reuters, synthetic.write_reuters(d))):
        monkeypatch.setattr(module, "FILE_HASH", hash_file(path))
        monkeypatch.setattr(module, "WORD_INDEX_HASH", hash_file(index, "md5"))
    synthetic.write_fashion_mnist(d)
    return folder


def describe(a) -> dict:
    a = np.asarray(a)
    if a.dtype == object:
        assert a.ndim == 1
        return {"dtype": "object", "shape": list(a.shape), "lists": [list(map(int, s)) for s in a]}
    return {"dtype": str(a.dtype), "shape": list(a.shape),
            "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()}


def described(splits) -> list:
    (x_train, y_train), (x_test, y_test) = splits
    return [describe(x_train), describe(y_train), describe(x_test), describe(y_test)]


# ----- each loader against Keras 3 -----

def test_mnist_and_fashion_mnist(cache):
    assert described(mnist.load_data()) == GOLDEN["mnist"]
    assert described(fashion_mnist.load_data()) == GOLDEN["fashion_mnist"]
    (x, y), _ = mnist.load_data()
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28) and y.dtype == np.uint8


def test_an_absolute_path_is_read_where_it_is(cache, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(str(cache / "mnist.npz"), str(elsewhere / "my_mnist.npz"))  # Keras 2 took a path here
    assert described(mnist.load_data(path=str(elsewhere / "my_mnist.npz"))) == GOLDEN["mnist"]
    assert not (cache / "mnist.npz").exists()


@pytest.mark.parametrize("index", range(len(synthetic.IMDB_OPTIONS)))
def test_imdb_matches_keras3(cache, index):
    options, expected = GOLDEN["imdb"][index]
    assert described(imdb.load_data(**options)) == expected


@pytest.mark.parametrize("index", range(len(synthetic.REUTERS_OPTIONS)))
def test_reuters_matches_keras3(cache, index):
    options, expected = GOLDEN["reuters"][index]
    assert described(reuters.load_data(**options)) == expected


@pytest.mark.parametrize("index", range(len(synthetic.HOUSING_OPTIONS)))
def test_boston_housing_matches_keras3(cache, index):
    options, expected = GOLDEN["boston_housing"][index]
    assert described(boston_housing.load_data(**options)) == expected


@pytest.mark.parametrize("index", range(len(synthetic.HOUSING_OPTIONS) + 1))
def test_california_housing_matches_keras3(cache, index):
    options, expected = GOLDEN["california_housing"][index]
    assert described(california_housing.load_data(**options)) == expected


def test_word_indices_and_label_names(cache):
    assert imdb.get_word_index() == GOLDEN["imdb_word_index"]
    assert reuters.get_word_index() == GOLDEN["reuters_word_index"]
    assert list(reuters.get_label_names()) == GOLDEN["reuters_label_names"]


def test_keras1_names_and_argument_errors(cache):
    with pytest.warns(DeprecationWarning, match="`nb_words` is the Keras 1 name"):
        old = imdb.load_data(nb_words=30)
    assert described(old) == GOLDEN["imdb"][1][1]
    with pytest.warns(DeprecationWarning):
        assert described(reuters.load_data(nb_words=30)) == GOLDEN["reuters"][1][1]
    # Keras 1's positional order: path, nb_words, skip_top, ...
    assert described(imdb.load_data("imdb.npz", 30, 8)) == GOLDEN["imdb"][2][1]
    with pytest.raises(TypeError, match=r"imdb.load_data: unrecognized keyword arguments: \['bogus'\]"):
        imdb.load_data(bogus=1)
    with pytest.raises(TypeError, match="both `num_words` and its Keras 1 name"):
        imdb.load_data(num_words=3, nb_words=3)
    with pytest.raises(ValueError, match=r"imdb.load_data: no sequence is shorter than maxlen=2 in the training data"):
        imdb.load_data(maxlen=2)
    for module in (boston_housing, california_housing):
        with pytest.raises(ValueError, match=r"load_data: test_split must be in \[0, 1\); received 1"):
            module.load_data(test_split=1)
    with pytest.raises(ValueError, match="version must be 'small' or 'large'; received 'huge'"):
        california_housing.load_data(version="huge")
    with pytest.raises(ValueError, match="label_mode must be 'fine' or 'coarse'; received 'medium'"):
        cifar100.load_data(label_mode="medium")


def test_object_arrays_stay_one_dimensional(cache):
    # every sequence the same length: Keras's np.array(..., dtype=object) would make a 2-D array
    (x, _), _ = imdb.load_data(maxlen=None, num_words=3, oov_char=None, skip_top=0, start_char=None, index_from=0)
    assert x.ndim == 1 and x.dtype == object


# ----- CIFAR: both cache layouts, the Keras 2 archive, a download -----

def unpack(data: bytes, where) -> None:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(str(where), filter="data")


def expected_cifar10(channels_last=True):
    names = [f"data_batch_{i}" for i in range(1, 6)]
    folder = {}
    tmp = io.BytesIO(synthetic.cifar10_tar())
    with tarfile.open(fileobj=tmp) as tar:
        for name in names + ["test_batch"]:
            folder[name] = pickle.loads(tar.extractfile(f"cifar-10-batches-py/{name}").read(), encoding="bytes")
    x_train = np.concatenate([folder[n][b"data"] for n in names]).reshape(-1, 3, 32, 32)
    y_train = np.concatenate([folder[n][b"labels"] for n in names]).astype("uint8").reshape(-1, 1)
    x_test = folder["test_batch"][b"data"].reshape(-1, 3, 32, 32)
    y_test = np.asarray(folder["test_batch"][b"labels"], "uint8").reshape(-1, 1)
    if channels_last:
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test, y_test)


def check_cifar10(result, channels_last=True):
    # the batch parser agrees with Keras 3's on the same files
    with tarfile.open(fileobj=io.BytesIO(synthetic.cifar10_tar())) as tar:
        for name in ("data_batch_1", "test_batch"):
            batch = pickle.loads(tar.extractfile(f"cifar-10-batches-py/{name}").read(), encoding="bytes")
            data = batch[b"data"].reshape(-1, 3, 32, 32)
            assert [describe(data), batch[b"labels"]] == GOLDEN[f"cifar10_{name}"]
    (x_train, y_train), (x_test, y_test) = result
    (ex_train, ey_train), (ex_test, ey_test) = expected_cifar10(channels_last)
    for got, want in ((x_train, ex_train), (y_train, ey_train), (x_test, ex_test), (y_test, ey_test)):
        assert got.dtype == np.uint8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_cifar10_from_keras3_layout(keras_home):
    unpack(synthetic.cifar10_tar(), keras_home / "datasets" / "cifar-10-batches-py-target")
    check_cifar10(cifar10.load_data())
    K.set_image_data_format("channels_first")
    check_cifar10(cifar10.load_data(), channels_last=False)


def test_cifar10_from_keras2_layout(keras_home):
    unpack(synthetic.cifar10_tar(), keras_home / "datasets")  # Keras 2: datasets/cifar-10-batches-py/
    check_cifar10(cifar10.load_data())


def test_cifar10_from_keras2_archive(keras_home, monkeypatch):
    data = synthetic.cifar10_tar()
    (keras_home / "datasets").mkdir()
    (keras_home / "datasets" / "cifar-10-batches-py.tar.gz").write_bytes(data)
    monkeypatch.setattr(cifar10, "FILE_HASH", hashlib.sha256(data).hexdigest())
    check_cifar10(cifar10.load_data())
    assert (keras_home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "test_batch").is_file()


def test_cifar10_download_and_reuse(keras_home, server, monkeypatch):
    data = synthetic.cifar10_tar()
    server.files["/cifar-10-python.tar.gz"] = data
    monkeypatch.setattr(cifar10, "ORIGIN", server.url("/cifar-10-python.tar.gz"))
    monkeypatch.setattr(cifar10, "FILE_HASH", hashlib.sha256(data).hexdigest())
    check_cifar10(cifar10.load_data())
    check_cifar10(cifar10.load_data())
    assert server.count("/cifar-10-python.tar.gz") == 1
    # Keras 3's layout: the archive kept beside the folder it was unpacked into
    assert (keras_home / "datasets" / "cifar-10-batches-py-target_archive").read_bytes() == data


def test_cifar_folder_missing_a_batch(keras_home):
    unpack(synthetic.cifar10_tar(), keras_home / "datasets" / "cifar-10-batches-py-target")
    (keras_home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py lacks the CIFAR files \['data_batch_3'\]; "
                                                r"delete the folder .*cifar-10-batches-py-target to unpack or download"):
        cifar10.load_data()


def test_cifar100_matches_keras3(keras_home):
    unpack(synthetic.cifar100_tar(), keras_home / "datasets" / "cifar-100-python-target")
    assert described(cifar100.load_data()) == GOLDEN["cifar100_fine"]
    assert described(cifar100.load_data(label_mode="coarse")) == GOLDEN["cifar100_coarse"]
    K.set_image_data_format("channels_first")
    assert described(cifar100.load_data()) == GOLDEN["cifar100_channels_first"]


def test_cifar100_keras2_layout(keras_home):
    unpack(synthetic.cifar100_tar(), keras_home / "datasets")
    assert described(cifar100.load_data()) == GOLDEN["cifar100_fine"]


# ----- offline -----

def test_offline_loader_names_url_and_path(keras_home):
    with pytest.raises(DownloadError) as info:
        mnist.load_data()
    message = str(info.value)
    assert "Could not download https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz" in message
    assert f"place the file at {keras_home / 'datasets' / 'mnist.npz'}" in message
    with pytest.raises(DownloadError, match=r"cifar-10-python\.tar\.gz.*cifar-10-batches-py-target") as info:
        cifar10.load_data()
    assert f"the archive as {keras_home / 'datasets' / 'cifar-10-batches-py.tar.gz'}" in str(info.value)
    with pytest.raises(DownloadError, match=r"Fashion-MNIST needs all four files train-labels-idx1-ubyte\.gz, "
                                            r"train-images-idx3-ubyte\.gz, .* in .*datasets.fashion-mnist"):
        fashion_mnist.load_data()


def test_the_shipped_digits_need_no_file(keras_home):
    (x_train, _), (x_test, _) = datasets.digits.load_data()
    assert x_train.shape == (1438, 8, 8) and x_test.shape == (359, 8, 8)
    assert not os.listdir(keras_home)


# ----- hostile pickles: nothing runs -----

class RunsCommand:
    """Unpickling this calls os.system (the classic pickle attack)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class Evaluates:
    def __reduce__(self):
        return eval, ("__import__('os').system('true')",)


def hostile_batch(marker) -> bytes:
    batch = {b"data": np.zeros((1, 3072), "uint8"), b"labels": [RunsCommand(f"touch {marker}")]}
    return pickle.dumps(batch, protocol=4)  # bytes as BINBYTES: os.system is the first global


def test_hostile_cifar_batch_runs_nothing(keras_home, tmp_path):
    marker = tmp_path / "pwned"
    folder = keras_home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in cifar10.BATCHES:
        (folder / name).write_bytes(hostile_batch(marker))
    with pytest.raises(safe_pickle.UnsafePickleError) as info:
        cifar10.load_data()
    message = str(info.value)
    assert f"Refusing to load {folder / 'data_batch_1'}" in message
    assert f"the global {os.system.__module__}.system" in message
    assert not marker.exists()


@pytest.mark.parametrize("payload", ["system", "eval", "reduce_builtin"])
def test_restricted_unpickler_refuses_other_globals(tmp_path, payload):
    marker = tmp_path / "ran"
    obj = {"system": RunsCommand(f"touch {marker}"), "eval": Evaluates(),
           "reduce_builtin": [np.float64(1.0)]}[payload]  # numpy scalars need numpy.core.multiarray.scalar
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(safe_pickle.UnsafePickleError, match=rf"Refusing to load {path}: its pickle asks for the "
                                                            r"global [\w.]+\.\w+, which a data file never needs"):
        safe_pickle.load_pickle(str(path))
    assert not marker.exists()


def npz_with_member(path, name: str, npy: bytes) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, npy)


def test_hostile_npz_object_member_runs_nothing(keras_home, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    good = io.BytesIO()
    np.lib.format.write_array(good, np.array([None, None], dtype=object), allow_pickle=True)
    header_end = good.getvalue().index(b"\n") + 1  # the .npy header of an object array, then its pickle
    hostile = good.getvalue()[:header_end] + pickle.dumps(RunsCommand(f"touch {marker}"), protocol=3)
    folder = keras_home / "datasets"
    folder.mkdir()
    path = folder / "imdb.npz"
    npz_with_member(path, "x_train.npy", hostile)
    monkeypatch.setattr(imdb, "FILE_HASH", hash_file(str(path)))
    with pytest.raises(safe_pickle.UnsafePickleError, match=r"Refusing to load .*imdb\.npz \(member x_train\.npy\): "
                                                            r"its pickle asks for the global"):
        imdb.load_data()
    assert not marker.exists()


def test_npz_object_member_must_be_an_array(tmp_path):
    good = io.BytesIO()
    np.lib.format.write_array(good, np.array([None], dtype=object), allow_pickle=True)
    header_end = good.getvalue().index(b"\n") + 1
    path = tmp_path / "f.npz"
    npz_with_member(path, "x.npy", good.getvalue()[:header_end] + pickle.dumps([1, 2], protocol=3))
    with pytest.raises(safe_pickle.UnsafePickleError, match="holds a list, not a numpy array"):
        safe_pickle.load_npz(str(path))


def test_load_npz_reads_numeric_and_object_members(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = [1, 2, 3], [4]
    path = tmp_path / "m.npz"
    np.savez(path, numbers=np.arange(6, dtype="float32").reshape(2, 3), ragged=ragged)
    shutil.copy(path, tmp_path / "copy.npz")
    loaded = safe_pickle.load_npz(str(tmp_path / "copy.npz"))
    np.testing.assert_array_equal(loaded["numbers"], np.arange(6, dtype="float32").reshape(2, 3))
    assert loaded["numbers"].dtype == np.float32
    assert loaded["ragged"].dtype == object and list(loaded["ragged"]) == [[1, 2, 3], [4]]
