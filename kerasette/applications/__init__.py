"""Keras Applications: ImageNet networks with Keras's architectures and layer names, so Keras's
published weight files (and any file Keras saved from these models) load into them.

``kerasette.applications.VGG16`` (and ``VGG19``, ``ResNet50``, ``ResNet101``, ``ResNet152``,
``MobileNet``, ``MobileNetV2``); each family's module (``vgg16``, ``vgg19``, ``resnet``,
``resnet50``, ``mobilenet``, ``mobilenet_v2``) also has its ``preprocess_input`` and
``decode_predictions``, as in Keras.

Example:
    >>> from kerasette.applications import VGG16
    >>> model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output_shape
    (None, 512)
"""

from kerasette.applications import imagenet_utils, mobilenet, mobilenet_v2, resnet, resnet50, vgg16, vgg19
from kerasette.applications.mobilenet import MobileNet
from kerasette.applications.mobilenet_v2 import MobileNetV2
from kerasette.applications.resnet import ResNet50, ResNet101, ResNet152
from kerasette.applications.vgg16 import VGG16
from kerasette.applications.vgg19 import VGG19

__all__ = ["MobileNet", "MobileNetV2", "ResNet50", "ResNet101", "ResNet152", "VGG16", "VGG19", "imagenet_utils",
           "mobilenet", "mobilenet_v2", "resnet", "resnet50", "vgg16", "vgg19"]
