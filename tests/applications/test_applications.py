"""Keras Applications: architectures, weight names and predictions checked against real Keras 3.

Fixtures (``data/``, written by ``make_applications.py`` with Keras 3.15.1 on torch): for each
configuration, an input, Keras's predictions after setting every weight by ``weight_recipe``, and
the layer name and shape of every Keras weight. kerasette builds the same configuration, sets its
weights by the same recipe, and must list the same weights (names, shapes, order) and predict the
same to 1e-4. Two small models are also kept as Keras's legacy ``.h5`` files and loaded by name,
by order and through ``weights=path``; the large ones (VGG16, ResNet50) are written at test time
by real Keras when ``KERASETTE_KERAS_PYTHON`` names a Python with Keras.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

import kerasette.backend as K
from kerasette import applications
from kerasette.applications import imagenet_utils, mobilenet, mobilenet_v2, resnet50, vgg16, vgg19
from kerasette.layers import Input
from kerasette.utils import data_utils
from tests.applications.weight_recipe import fill

HERE = pathlib.Path(__file__).parent
DATA = HERE / "data"
SCRIPT = HERE / "make_applications.py"

# The configurations of make_applications.py, built in kerasette.
CONFIGS = {
    "vgg16_top": (applications.VGG16, dict(input_shape=(32, 32, 3), classes=10), "channels_last"),
    "vgg19_avg": (applications.VGG19, dict(include_top=False, input_shape=(32, 32, 3), pooling="avg"),
                  "channels_last"),
    "resnet50_top": (applications.ResNet50, dict(input_shape=(64, 64, 3), classes=10, classifier_activation=None),
                     "channels_last"),
    "resnet50_notop": (applications.ResNet50, dict(include_top=False), "channels_last"),
    "mobilenet_top": (applications.MobileNet, dict(input_shape=(64, 64, 3), alpha=0.25, classes=10, dropout=0.5),
                      "channels_last"),
    "mobilenet_dm2_avg": (applications.MobileNet, dict(include_top=False, input_shape=(64, 64, 3), alpha=0.5,
                                                       depth_multiplier=2, pooling="avg"), "channels_last"),
    "mobilenetv2_top": (applications.MobileNetV2, dict(input_shape=(64, 64, 3), alpha=0.35, classes=10),
                        "channels_last"),
    "mobilenetv2_odd_max": (applications.MobileNetV2, dict(include_top=False, input_shape=(65, 67, 3), alpha=1.3,
                                                           pooling="max"), "channels_last"),
    "mobilenetv2_cf": (applications.MobileNetV2, dict(input_shape=(3, 64, 64), alpha=0.35, classes=10),
                       "channels_first"),
}

# Keras 3.15.1's count_params() of each default architecture (make_applications.py --counts).
KERAS_PARAMS = {"VGG16": 138357544, "VGG19": 143667240, "ResNet50": 25636712, "ResNet101": 44707176,
                "ResNet152": 60419944, "MobileNet": 4253864, "MobileNetV2": 3538984}


def build(name):
    builder, kwargs, data_format = CONFIGS[name]
    K.set_image_data_format(data_format)
    return builder(weights=None, **kwargs)


def assert_same_predictions(model, fixture):
    y = model.predict(fixture["x"], verbose=0)
    scale = max(1.0, float(np.abs(fixture["y"]).max()))
    np.testing.assert_allclose(y, fixture["y"], rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_architecture_and_predictions_match_keras(name):
    fixture = np.load(DATA / f"{name}.npz")
    model = build(name)
    listed = fill(model.layers)
    assert [n for n, _ in listed] == [str(n) for n in fixture["weight_layers"]]
    assert [list(s) for _, s in listed] == json.loads(str(fixture["weight_shapes"]))
    assert_same_predictions(model, fixture)


@pytest.mark.parametrize("builder", sorted(KERAS_PARAMS))
def test_parameter_counts_equal_keras(builder):
    model = getattr(applications, builder)(weights=None)
    assert model.count_params() == KERAS_PARAMS[builder]
    assert model.output_shape == (None, 1000)


@pytest.mark.parametrize("name", ["mobilenet_top", "mobilenetv2_top"])
@pytest.mark.parametrize("how", ["by_name", "by_order", "weights_argument"])
def test_keras_h5_files_load(name, how):
    fixture, path = np.load(DATA / f"{name}.npz"), DATA / f"{name}.h5"
    if how == "weights_argument":
        builder, kwargs, _ = CONFIGS[name]
        model = builder(weights=str(path), **kwargs)
    else:
        model = build(name)
        model.load_weights(path, by_name=how == "by_name")
    assert_same_predictions(model, fixture)


def test_large_keras_files_load_by_name(tmp_path):
    """VGG16 and ResNet50 saved by real Keras (tens of MB, so written here, not kept)."""
    python = os.environ.get("KERASETTE_KERAS_PYTHON")
    if not python:
        pytest.skip("set KERASETTE_KERAS_PYTHON to a Python with Keras 3 to write the large Keras files")
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERASETTE_KERAS_BACKEND", "torch"))
    subprocess.run([python, str(SCRIPT), str(tmp_path), "--large", "--only=vgg16_top,resnet50_top"], check=True,
                   env=env, capture_output=True)
    for name in ("vgg16_top", "resnet50_top"):
        model = build(name)
        model.load_weights(tmp_path / f"{name}.h5", by_name=True)
        assert_same_predictions(model, np.load(tmp_path / f"{name}.npz"))


# --- module paths, arguments and errors -------------------------------------------------------

def test_module_paths_as_keras():
    assert vgg16.VGG16 is applications.VGG16 and vgg19.VGG19 is applications.VGG19
    assert resnet50.ResNet50 is applications.ResNet50 and applications.resnet.ResNet50 is applications.ResNet50
    assert mobilenet.MobileNet is applications.MobileNet and mobilenet_v2.MobileNetV2 is applications.MobileNetV2
    for module in (vgg16, vgg19, resnet50, mobilenet, mobilenet_v2):
        assert callable(module.preprocess_input) and callable(module.decode_predictions)


def test_keras_layer_names():
    names = {layer.name for layer in applications.ResNet50(weights=None, include_top=False).layers}
    assert {"conv1_pad", "conv1_conv", "pool1_pool", "conv2_block1_0_conv", "conv2_block1_1_conv",
            "conv2_block3_out", "conv5_block3_3_bn"} <= names
    names = {layer.name for layer in applications.MobileNetV2(weights=None, input_shape=(96, 96, 3)).layers}
    assert {"Conv1", "bn_Conv1", "expanded_conv_depthwise", "expanded_conv_project_BN", "block_1_expand",
            "block_1_pad", "block_2_add", "block_16_project", "Conv_1", "out_relu", "predictions"} <= names
    model = applications.MobileNet(weights=None, input_shape=(128, 128, 3))
    assert model.name == "mobilenet_1.00_128"
    assert {"conv1", "conv_dw_1", "conv_pw_13_relu", "conv_pad_2", "conv_preds", "reshape_2"} <= {
        layer.name for layer in model.layers}


@pytest.mark.parametrize("pooling, shape", [(None, (None, 1, 1, 512)), ("avg", (None, 512)), ("max", (None, 512))])
def test_pooling(pooling, shape):
    model = applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling=pooling)
    assert model.output_shape == shape


def test_input_tensor_from_other_layers():
    from kerasette.layers import Rescaling

    image = Input(shape=(64, 64, 3))
    scaled = Rescaling(1 / 127.5, offset=-1)(image)
    model = applications.MobileNetV2(weights=None, input_tensor=scaled, include_top=False, pooling="avg", alpha=0.35)
    assert model.inputs[0] is image
    assert model.output_shape == (None, 1280)
    assert model.predict(np.zeros((1, 64, 64, 3), "float32"), verbose=0).shape == (1, 1280)


def test_classifier_activation_none_gives_logits():
    model = applications.MobileNet(weights=None, alpha=0.25, input_shape=(32, 32, 3), classes=4,
                                   classifier_activation=None)
    y = model.predict(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32"), verbose=0)
    assert y.shape == (2, 4) and not np.allclose(y.sum(axis=1), 1.0)


@pytest.mark.parametrize("call, message", [
    (lambda: applications.VGG16(weights="no/such/file.h5"), r"weights.*received weights='no/such/file.h5'"),
    (lambda: applications.VGG16(weights="imagenet", classes=10), r"`classes` should be 1000; received classes=10"),
    (lambda: applications.ResNet50(weights=None, input_shape=(16, 16, 3), include_top=False),
     r"at least 32x32; received input_shape=\(16, 16, 3\)"),
    (lambda: applications.ResNet50(weights=None, input_shape=(64, 64)), r"three integers"),
    (lambda: applications.VGG16(weights=None, input_shape=(None, None, 3)), r"static `input_shape`"),
    (lambda: applications.VGG16(weights="imagenet", input_shape=(64, 64, 3)), r"should be \(224, 224, 3\)"),
    (lambda: applications.VGG16(weights="imagenet", include_top=False, input_shape=(64, 64, 1)),
     r"must have 3 channels"),
    (lambda: applications.MobileNet(weights="imagenet", depth_multiplier=2), r"depth_multiplier=2"),
    (lambda: applications.MobileNet(weights="imagenet", alpha=0.3), r"alpha=0.3"),
    (lambda: applications.MobileNetV2(weights="imagenet", alpha=0.6), r"alpha=0.6"),
    (lambda: applications.VGG16(weights=None, input_tensor=np.zeros((1, 32, 32, 3))), r"symbolic tensor"),
])
def test_argument_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_pretrained_top_allows_only_softmax_or_none(tmp_path, monkeypatch):
    model = applications.MobileNet(weights=None, alpha=0.25, input_shape=(32, 32, 3), classes=3)
    path = tmp_path / "w.h5"
    model.save_weights(path)
    with pytest.raises(ValueError, match=r"classifier_activation='relu'"):
        applications.MobileNet(weights=str(path), alpha=0.25, input_shape=(32, 32, 3), classes=3,
                               classifier_activation="relu")


def test_channel_warning():
    with pytest.warns(UserWarning, match="1 or 3 input channels"):
        applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 5))


# --- 'imagenet': Keras's file names, URLs and hashes through get_file -----------------------

@pytest.mark.parametrize("call, fname, file_hash", [
    (lambda: applications.VGG16(), "vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    (lambda: applications.VGG19(include_top=False), "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
     "253f8cb515780f3b799900260a226db6"),
    (lambda: applications.ResNet50(), "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
     "2cb95161c43110f7111970584f804107"),
    (lambda: applications.ResNet50(include_top=False), "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
     "4d473c1dd8becc155b73f8504c6f6626"),
    (lambda: applications.MobileNet(alpha=0.5, input_shape=(160, 160, 3)), "mobilenet_5_0_160_tf.h5", None),
    (lambda: applications.MobileNetV2(alpha=0.35, include_top=False, input_shape=(96, 96, 3)),
     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5", None),
])
def test_imagenet_weights_are_fetched_as_keras_does(monkeypatch, call, fname, file_hash):
    asked = {}

    class StopError(Exception):
        pass

    def fake_get_file(name, origin, cache_subdir, file_hash=None):
        asked.update(name=name, origin=origin, cache_subdir=cache_subdir, file_hash=file_hash)
        raise StopError

    monkeypatch.setattr(data_utils, "get_file", fake_get_file)
    with pytest.raises(StopError):
        call()
    assert asked["name"] == fname and asked["cache_subdir"] == "models" and asked["file_hash"] == file_hash
    assert asked["origin"].startswith("https://storage.googleapis.com/tensorflow/keras-applications/")
    assert asked["origin"].endswith("/" + fname)


def test_imagenet_weights_load_from_the_cache(tmp_path, monkeypatch):
    """A file in Keras's cache (~/.keras/models) is used without a network."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    reference = applications.MobileNet(weights=None, alpha=0.25, input_shape=(64, 64, 3), include_top=False)
    reference.load_weights(DATA / "mobilenet_top.h5", by_name=True)  # Keras's file, without its top
    reference.save_weights(tmp_path / "models" / "mobilenet_2_5_224_tf_no_top.h5")
    with pytest.warns(UserWarning, match="Weights for input shape"):
        # 64x64 is not a published size: Keras takes the 224 file, as here
        model = applications.MobileNet(weights="imagenet", alpha=0.25, input_shape=(64, 64, 3), include_top=False)
    assert model.name == "mobilenet_0.25_224"
    x = np.load(DATA / "mobilenet_top.npz")["x"]
    np.testing.assert_array_equal(model.predict(x, verbose=0), reference.predict(x, verbose=0))


# --- preprocess_input and decode_predictions ----------------------------------------------------

def test_preprocess_caffe():
    x = np.arange(2 * 2 * 2 * 3, dtype="float64").reshape(2, 2, 2, 3) * 10
    expected = x[..., ::-1] - np.array([103.939, 116.779, 123.68])
    np.testing.assert_allclose(vgg16.preprocess_input(x.copy()), expected)
    np.testing.assert_allclose(resnet50.preprocess_input(x.copy()), expected)
    cf = np.moveaxis(x, -1, 1)
    np.testing.assert_allclose(vgg19.preprocess_input(cf.copy(), data_format="channels_first"),
                               np.moveaxis(expected, -1, 1))
    np.testing.assert_allclose(vgg16.preprocess_input(cf[0].copy(), data_format="channels_first"),
                               np.moveaxis(expected[0], -1, 0))


def test_preprocess_tf_and_torch():
    x = np.array([[[0, 127.5, 255]]], dtype="float32")
    np.testing.assert_allclose(mobilenet.preprocess_input(x.copy()), [[[-1, 0, 1]]])
    np.testing.assert_allclose(mobilenet_v2.preprocess_input(x.copy()), [[[-1, 0, 1]]])
    torch_mode = imagenet_utils.preprocess_input(x.copy(), mode="torch")
    np.testing.assert_allclose(torch_mode, [[[(0 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (1 - 0.406) / 0.225]]],
                               rtol=1e-6)


def test_preprocess_integer_input_and_in_place():
    x = np.full((1, 2, 2, 3), 255, dtype="uint8")
    y = mobilenet.preprocess_input(x)
    assert y.dtype == np.float32 and np.all(y == 1.0) and x.dtype == np.uint8
    f = np.full((1, 2, 2, 3), 255.0, dtype="float32")
    assert mobilenet.preprocess_input(f) is f and np.all(f == 1.0)  # written over, as Keras does


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_symbolic_matches_numpy(mode):
    from kerasette.models import Model

    image = Input(shape=(4, 4, 3))
    model = Model(image, imagenet_utils.preprocess_input(image, mode=mode))
    x = np.random.default_rng(1).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), imagenet_utils.preprocess_input(x.copy(), mode=mode),
                               rtol=1e-5, atol=1e-4)


def test_preprocess_errors():
    with pytest.raises(ValueError, match=r"mode must be 'caffe', 'tf' or 'torch'; received mode='bgr'"):
        imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), mode="bgr")
    with pytest.raises(ValueError, match=r"data_format must be .*received data_format='nhwc'"):
        vgg16.preprocess_input(np.zeros((1, 2, 2, 3)), data_format="nhwc")
    with pytest.raises(ValueError, match=r"a symbolic input must be a batch of images \(4D\); received shape "
                                         r"\(None, 4, 3\)"):
        mobilenet.preprocess_input(Input(shape=(4, 3)))


@pytest.fixture
def class_index(tmp_path, monkeypatch):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_HASH", None)  # our stand-in is not Keras's file
    return index


def test_decode_predictions(class_index):
    preds = np.zeros((2, 1000), dtype="float32")
    preds[0, [3, 7, 500]] = [0.2, 0.5, 0.3]
    preds[1, 999] = 1.0
    decoded = vgg16.decode_predictions(preds, top=3)
    assert [(c, n) for c, n, _ in decoded[0]] == [("n00000007", "class_7"), ("n00000500", "class_500"),
                                                   ("n00000003", "class_3")]
    assert [s for _, _, s in decoded[0]] == pytest.approx([0.5, 0.3, 0.2])
    assert decoded[1][0][:2] == ("n00000999", "class_999") and len(mobilenet.decode_predictions(preds)[1]) == 5


def test_decode_predictions_shape_error():
    with pytest.raises(ValueError, match=r"\(samples, 1000\); received an array of shape \(2, 10\)"):
        resnet50.decode_predictions(np.zeros((2, 10)))


def test_decode_predictions_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)

    def offline(*args, **kwargs):
        raise data_utils.DownloadError("could not reach storage.googleapis.com; place the file at X")

    monkeypatch.setattr(data_utils, "get_file", offline)
    with pytest.raises(OSError, match=r"decode_predictions needs ImageNet's class names "
                                      r"\(imagenet_class_index.json\).*place the file at X"):
        mobilenet_v2.decode_predictions(np.zeros((1, 1000)))
