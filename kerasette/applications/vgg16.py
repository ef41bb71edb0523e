"""VGG16: 13 convolutions and 3 dense layers (``kerasette.applications.vgg16``, as Keras's
``keras.applications.vgg16``)."""

from __future__ import annotations

from kerasette.applications import imagenet_utils
from kerasette.applications._vgg import build_vgg

WEIGHTS_PATH = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
WEIGHTS_PATH_NO_TOP = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                       "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
_WEIGHT_FILES = {
    True: ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", WEIGHTS_PATH, "64373286793e3c8b2b4e3219cbf3544b"),
    False: ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", WEIGHTS_PATH_NO_TOP,
            "6d6bbae143d832006294945121d1f1fc"),
}


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
          classes=1000, classifier_activation="softmax", name="vgg16"):
    """The VGG16 network (Simonyan and Zisserman, ICLR 2015), as Keras builds it.

    Inputs are RGB images prepared by `preprocess_input` ('caffe' mode: BGR, mean-centred).

    Args:
        include_top: include the classifier (flatten, two 4096-unit layers, ``classes`` outputs).
        weights: None (random initialization), ``'imagenet'`` (Keras's published weights,
            downloaded once into ``~/.keras/models``) or the path of a weights file.
        input_tensor: a symbolic tensor to use as the image input (e.g. the output of other layers).
        input_shape: the image shape without the batch; only without the top (else it is
            (224, 224, 3)); 3 channels with ImageNet weights, at least 32x32.
        pooling: without the top: None (the 4D output of the last block), ``'avg'`` or ``'max'``
            (global pooling, a 2D output).
        classes: the number of classes, with the top (1000 with ImageNet weights).
        classifier_activation: the top's activation (None gives logits; only None or
            ``'softmax'`` with pretrained weights).
        name: the model's name.

    Returns:
        A functional `Model`.
    """
    return build_vgg((2, 2, 3, 3, 3), name, include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, _WEIGHT_FILES)


def preprocess_input(x, data_format=None):
    """Prepares RGB images in [0, 255] for VGG16: 'caffe' mode (BGR, ImageNet mean subtracted);
    see `imagenet_utils.preprocess_input`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction; see `imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
