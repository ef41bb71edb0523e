"""ResNet50, ResNet101 and ResNet152 (He et al., CVPR 2015), as Keras builds them
(``kerasette.applications.resnet``, as Keras's ``keras.applications.resnet``).

A 7x7 stride-2 convolution (``conv1_*``) and a 3x3 stride-2 max pooling (``pool1_*``), then four
stacks (``conv2`` ... ``conv5``) of bottleneck blocks (1x1, 3x3, 1x1 convolutions, each followed by
batch normalization, ReLU after the first two; the block adds a shortcut and applies ReLU). The
first block of each stack has a 1x1 convolution shortcut (``*_0_conv``, ``*_0_bn``) carrying the
stack's stride (1 for ``conv2``, 2 for the others, on the first 1x1 convolution); the others add
their input. Batch normalization uses epsilon 1.001e-5. Layer names are Keras's
(``conv2_block1_1_conv``, ``conv2_block1_add``, ``conv2_block1_out``...).
"""

from __future__ import annotations

import kerasette.backend as K
from kerasette import layers
from kerasette.applications import imagenet_utils
from kerasette.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
WEIGHTS_HASHES = {  # md5 of (with top, without top)
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}
_EPSILON = 1.001e-5


def _bn_axis() -> int:
    return 1 if K.image_data_format() == "channels_first" else 3


def _bottleneck(x, filters: int, stride: int, conv_shortcut: bool, name: str):
    bn_axis = _bn_axis()
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=bn_axis, epsilon=_EPSILON, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=_EPSILON, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _stack(x, filters: int, blocks: int, stride: int, name: str):
    x = _bottleneck(x, filters, stride, True, f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _bottleneck(x, filters, 1, False, f"{name}_block{i}")
    return x


def build_resnet(blocks: tuple, weights_name: str, name: str, include_top: bool, weights, input_tensor,
                 input_shape, pooling, classes: int, classifier_activation):
    """A ResNet (version 1) with ``blocks`` bottleneck blocks in the stacks conv2 ... conv5."""
    imagenet_utils.check_weights_argument(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                                    data_format=K.image_data_format(),
                                                    require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=_bn_axis(), epsilon=_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stack, (filters, count) in enumerate(zip((64, 128, 256, 512), blocks), start=2):
        x = _stack(x, filters, count, 1 if stack == 2 else 2, f"conv{stack}")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = Model(imagenet_utils.model_inputs(input_tensor, img_input), x, name=name)
    suffix = "" if include_top else "_notop"
    file_name = f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHTS_PATH + file_name,
                                WEIGHTS_HASHES[weights_name][0 if include_top else 1])
    return model


_ARGS_DOC = """
    Inputs are RGB images prepared by `preprocess_input` ('caffe' mode: BGR, mean-centred).

    Args:
        include_top: include the classifier (global average pooling ``avg_pool`` and a dense
            ``predictions`` layer of ``classes`` units).
        weights: None (random initialization), ``'imagenet'`` (Keras's published weights,
            downloaded once into ``~/.keras/models``) or the path of a weights file.
        input_tensor: a symbolic tensor to use as the image input (e.g. the output of other layers).
        input_shape: the image shape without the batch; only without the top (else it is
            (224, 224, 3)); 3 channels with ImageNet weights, at least 32x32.
        pooling: without the top: None (the 4D output of the last stack), ``'avg'`` or ``'max'``
            (global pooling, a 2D output).
        classes: the number of classes, with the top (1000 with ImageNet weights).
        classifier_activation: the top's activation (None gives logits; only None or
            ``'softmax'`` with pretrained weights).
        name: the model's name.

    Returns:
        A functional `Model`.
    """


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
             classes=1000, classifier_activation="softmax", name="resnet50"):
    return build_resnet((3, 4, 6, 3), "resnet50", name, include_top, weights, input_tensor, input_shape, pooling,
                        classes, classifier_activation)


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
              classes=1000, classifier_activation="softmax", name="resnet101"):
    return build_resnet((3, 4, 23, 3), "resnet101", name, include_top, weights, input_tensor, input_shape,
                        pooling, classes, classifier_activation)


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
              classes=1000, classifier_activation="softmax", name="resnet152"):
    return build_resnet((3, 8, 36, 3), "resnet152", name, include_top, weights, input_tensor, input_shape,
                        pooling, classes, classifier_activation)


ResNet50.__doc__ = "The ResNet50 network (3, 4, 6, 3 bottleneck blocks), as Keras builds it.\n" + _ARGS_DOC
ResNet101.__doc__ = "The ResNet101 network (3, 4, 23, 3 bottleneck blocks), as Keras builds it.\n" + _ARGS_DOC
ResNet152.__doc__ = "The ResNet152 network (3, 8, 36, 3 bottleneck blocks), as Keras builds it.\n" + _ARGS_DOC


def preprocess_input(x, data_format=None):
    """Prepares RGB images in [0, 255] for a ResNet: 'caffe' mode (BGR, ImageNet mean
    subtracted); see `imagenet_utils.preprocess_input`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction; see `imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
