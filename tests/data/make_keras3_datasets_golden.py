"""Writes keras3_datasets_golden.json: what real Keras 3's ``load_data`` functions return for the
small files of synthetic.py (their downloads replaced by those files), for test_datasets.py.

Run with real Keras 3 (never in kerasette's environment):

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/data/make_keras3_datasets_golden.py
"""

import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import keras  # noqa: E402
import synthetic  # noqa: E402
from keras.src.datasets import (  # noqa: E402
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)


def describe(a):
    """dtype, shape and a hash of the bytes (numeric arrays), or the lists (object arrays)."""
    a = np.asarray(a)
    if a.dtype == object:
        return {"dtype": "object", "shape": list(a.shape), "lists": [list(map(int, s)) for s in a]}
    return {"dtype": str(a.dtype), "shape": list(a.shape),
            "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()}


def result(splits):
    (x_train, y_train), (x_test, y_test) = splits
    return [describe(x_train), describe(y_train), describe(x_test), describe(y_test)]


def main():
    folder = tempfile.mkdtemp()
    files = {"mnist.npz": synthetic.write_mnist(folder), "boston_housing.npz": synthetic.write_boston(folder),
             "california_housing.npz": synthetic.write_california(folder)}
    files["imdb.npz"], files["imdb_word_index.json"] = synthetic.write_imdb(folder)
    files["reuters.npz"], files["reuters_word_index.json"] = synthetic.write_reuters(folder)
    fashion = synthetic.write_fashion_mnist(folder)
    for name, data in (("c10", synthetic.cifar10_tar()), ("c100", synthetic.cifar100_tar())):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(os.path.join(folder, name), filter="data")

    def fake_get_file(fname=None, origin=None, **kwargs):
        if "cifar-10-" in origin:
            return os.path.join(folder, "c10")
        if "cifar-100-" in origin:
            return os.path.join(folder, "c100")
        if "fashion-mnist" in str(kwargs.get("cache_subdir", "")):
            return os.path.join(fashion, fname)
        return files[fname]

    for module in (boston_housing, california_housing, cifar10, cifar100, fashion_mnist, imdb, mnist, reuters):
        module.get_file = fake_get_file

    golden = {"keras_version": keras.__version__}
    golden["mnist"] = result(mnist.load_data())
    golden["fashion_mnist"] = result(fashion_mnist.load_data())
    # Keras's cifar10.load_data assumes batches of 10,000 images; the small copy is checked through
    # the batch parser it uses (the assembly is written out in test_datasets.py)
    from keras.src.datasets.cifar import load_batch
    for name in ("data_batch_1", "test_batch"):
        data, labels = load_batch(os.path.join(folder, "c10", "cifar-10-batches-py", name))
        golden[f"cifar10_{name}"] = [describe(data), list(map(int, labels))]
    golden["cifar100_fine"] = result(cifar100.load_data())
    golden["cifar100_coarse"] = result(cifar100.load_data(label_mode="coarse"))
    keras.config.set_image_data_format("channels_first")
    golden["cifar100_channels_first"] = result(cifar100.load_data())
    keras.config.set_image_data_format("channels_last")
    golden["imdb"] = [[options, result(imdb.load_data(**options))] for options in synthetic.IMDB_OPTIONS]
    golden["reuters"] = [[options, result(reuters.load_data(**options))] for options in synthetic.REUTERS_OPTIONS]
    golden["boston_housing"] = [[o, result(boston_housing.load_data(**o))] for o in synthetic.HOUSING_OPTIONS]
    golden["california_housing"] = [[o, result(california_housing.load_data(**o))] for o in
                                    synthetic.HOUSING_OPTIONS + [{"version": "small"}]]
    golden["imdb_word_index"] = imdb.get_word_index()
    golden["reuters_word_index"] = reuters.get_word_index()
    golden["reuters_label_names"] = list(reuters.get_label_names())
    with open(os.path.join(HERE, "keras3_datasets_golden.json"), "w") as f:
        json.dump(golden, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
