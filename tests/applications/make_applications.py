"""Writes the application fixtures with real Keras 3 (run with the side environment):

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/applications/make_applications.py [OUT_DIR] [--large]

For each configuration in ``CONFIGS``: Keras builds the model (weights=None), sets its weights by
``weight_recipe`` and predicts on a fixed input; ``<name>.npz`` keeps the input ``x``, Keras's
predictions ``y``, and the layer name and shape of every weight (``weight_layers``,
``weight_shapes``, in Keras's order), a few KB each. Configurations in ``H5`` are also saved
with ``model.save('<name>.h5')`` (legacy HDF5, the layout of Keras's published weight files),
small enough to keep in the repository. ``--large`` writes ``.h5`` files for ``LARGE`` too (tens
of MB: the tests make them at test time in a temporary folder, only when
``KERASETTE_KERAS_PYTHON`` is set). ``--counts`` prints ``count_params()`` of every default
(ImageNet-sized) architecture, the numbers kept in the test.
"""

import json
import os
import sys

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weight_recipe import fill  # noqa: E402

A = keras.applications
# name: (builder, keyword arguments, input shape without the batch, data format)
CONFIGS = {
    "vgg16_top": ("VGG16", dict(input_shape=(32, 32, 3), classes=10), (32, 32, 3), "channels_last"),
    "vgg19_avg": ("VGG19", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg"), (32, 32, 3),
                  "channels_last"),
    "resnet50_top": ("ResNet50", dict(input_shape=(64, 64, 3), classes=10, classifier_activation=None), (64, 64, 3),
                     "channels_last"),  # logits: a random ResNet's softmax saturates
    "resnet50_notop": ("ResNet50", dict(include_top=False), (48, 40, 3), "channels_last"),
    "mobilenet_top": ("MobileNet", dict(input_shape=(64, 64, 3), alpha=0.25, classes=10, dropout=0.5),
                      (64, 64, 3), "channels_last"),
    "mobilenet_dm2_avg": ("MobileNet", dict(include_top=False, input_shape=(64, 64, 3), alpha=0.5,
                                            depth_multiplier=2, pooling="avg"), (64, 64, 3), "channels_last"),
    "mobilenetv2_top": ("MobileNetV2", dict(input_shape=(64, 64, 3), alpha=0.35, classes=10), (64, 64, 3),
                        "channels_last"),
    "mobilenetv2_odd_max": ("MobileNetV2", dict(include_top=False, input_shape=(65, 67, 3), alpha=1.3,
                                                pooling="max"), (65, 67, 3), "channels_last"),
    "mobilenetv2_cf": ("MobileNetV2", dict(input_shape=(3, 64, 64), alpha=0.35, classes=10), (3, 64, 64),
                       "channels_first"),
}
H5 = ("mobilenet_top", "mobilenetv2_top")
LARGE = ("vgg16_top", "resnet50_top")
DEFAULTS = ("VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "MobileNet", "MobileNetV2")


def build(name):
    builder, kwargs, _, data_format = CONFIGS[name]
    keras.config.set_image_data_format(data_format)
    try:
        return getattr(A, builder)(weights=None, **kwargs)
    finally:
        keras.config.set_image_data_format("channels_last")


def write(name, out, h5):
    model = build(name)
    listed = fill(model.layers)
    shape = CONFIGS[name][2]
    rng = np.random.default_rng(len(name))
    x = rng.uniform(-1.0, 1.0, size=(2, *shape)).astype("float32")
    y = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    np.savez(os.path.join(out, f"{name}.npz"), x=x, y=y, weight_layers=np.array([n for n, _ in listed]),
             weight_shapes=np.array(json.dumps([list(s) for _, s in listed])))
    if h5:
        model.save(os.path.join(out, f"{name}.h5"))


def main(argv):
    if "--counts" in argv:
        print(json.dumps({b: getattr(A, b)(weights=None).count_params() for b in DEFAULTS}))
        return
    args = [a for a in argv if not a.startswith("--")]
    out = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    os.makedirs(out, exist_ok=True)
    only = [a.split("=", 1)[1] for a in argv if a.startswith("--only=")]
    names = only[0].split(",") if only else list(CONFIGS)
    for name in names:
        write(name, out, name in H5 or ("--large" in argv and name in LARGE))
        print("wrote", name)


if __name__ == "__main__":
    main(sys.argv[1:])
