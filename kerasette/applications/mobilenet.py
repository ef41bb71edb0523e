"""MobileNet (Howard et al., 2017), as Keras builds it (``kerasette.applications.mobilenet``, as
Keras's ``keras.applications.mobilenet``).

A 3x3 stride-2 convolution (``conv1``) then 13 depthwise separable blocks (``conv_dw_<i>``: a 3x3
depthwise convolution, ``conv_pw_<i>``: a 1x1 convolution; each followed by batch normalization
and ReLU6). Strided blocks pad the bottom and right by one (``conv_pad_<i>``) and convolve with
'valid' padding. ``alpha`` scales every layer's filters, ``depth_multiplier`` the depthwise
outputs. The top is a global average pooling kept 4D, dropout, a 1x1 convolution
``conv_preds``, ``reshape_2`` and the activation ``predictions``, as in Keras's weight files.
"""

from __future__ import annotations

import warnings

import kerasette.backend as K
from kerasette import layers
from kerasette.applications import imagenet_utils
from kerasette.models import Model

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"

# (pointwise filters, stride) of the 13 depthwise separable blocks
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
           (512, 1), (1024, 2), (1024, 1))
_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}


def _channel_axis() -> int:
    return 1 if K.image_data_format() == "channels_first" else -1


def _depthwise_block(x, pointwise_filters: int, alpha: float, depth_multiplier: int, stride: int, block_id: int):
    if stride != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid", depth_multiplier=depth_multiplier,
                               strides=(stride, stride), use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=_channel_axis(), name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(int(pointwise_filters * alpha), (1, 1), padding="same", use_bias=False, strides=(1, 1),
                      name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=_channel_axis(), name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def _default_size(input_shape, sizes: tuple) -> int:
    """The square size the user's ``input_shape`` asks for, when it is one with weights; else 224."""
    if input_shape is None:
        return 224
    rows, cols = (input_shape[1], input_shape[2]) if K.image_data_format() == "channels_first" else input_shape[:2]
    return rows if rows == cols and rows in sizes else 224


def _weights_rows(rows, cols, sizes: tuple) -> int:
    """The input size whose ImageNet weights are loaded (224 when the input is not one of ``sizes``)."""
    if rows != cols or rows not in sizes:
        warnings.warn(f"`input_shape` is undefined or non-square, or `rows` is not in {list(sizes)}. Weights for "
                      "input shape (224, 224) will be loaded as the default.", stacklevel=3)
        return 224
    return rows


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True,  # noqa: N802
              weights="imagenet", input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax",
              name=None):
    """The MobileNet network, as Keras builds it.

    Inputs are RGB images prepared by `preprocess_input` ('tf' mode: scaled to [-1, 1]).

    Args:
        input_shape: the image shape without the batch; only without the top or with a size
            other than 224 (ImageNet weights exist for 128, 160, 192 and 224); at least 32x32.
        alpha: the width multiplier: every layer has ``int(filters * alpha)`` filters
            (0.25, 0.5, 0.75 or 1.0 with ImageNet weights).
        depth_multiplier: the depthwise convolutions' channel multiplier (1 with ImageNet weights).
        dropout: the dropout rate before the classifier.
        include_top: include the classifier (see the module's docstring).
        weights: None (random initialization), ``'imagenet'`` (Keras's published weights,
            downloaded once into ``~/.keras/models``) or the path of a weights file.
        input_tensor: a symbolic tensor to use as the image input (e.g. the output of other layers).
        pooling: without the top: None (the 4D output of the last block), ``'avg'`` or ``'max'``.
        classes: the number of classes, with the top (1000 with ImageNet weights).
        classifier_activation: the top's activation (None gives logits; only None or
            ``'softmax'`` with pretrained weights).
        name: the model's name; None gives Keras's ``mobilenet_<alpha>_<rows>``.

    Returns:
        A functional `Model`.
    """
    imagenet_utils.check_weights_argument(weights, include_top, classes)
    sizes = (128, 160, 192, 224)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=_default_size(input_shape, sizes),
                                                    min_size=32, data_format=K.image_data_format(),
                                                    require_flatten=include_top, weights=weights)
    rows, cols = (input_shape[1:] if K.image_data_format() == "channels_first" else input_shape[:2])
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError("If imagenet weights are being loaded, depth multiplier must be 1; received "
                             f"depth_multiplier={depth_multiplier}")
        if alpha not in _ALPHA_TEXT:
            raise ValueError("If imagenet weights are being loaded, alpha can be one of 0.25, 0.50, 0.75 or 1.0 "
                             f"only; received alpha={alpha}")
        rows = _weights_rows(rows, cols, sizes)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = layers.Conv2D(int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2), name="conv1")(img_input)
    x = layers.BatchNormalization(axis=_channel_axis(), name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = _depthwise_block(x, filters, alpha, depth_multiplier, stride, block_id)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    model = Model(imagenet_utils.model_inputs(input_tensor, img_input), x, name=name)
    file_name = None
    if weights == "imagenet":
        file_name = f"mobilenet_{_ALPHA_TEXT[alpha]}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHT_PATH + (file_name or ""))
    return model


def preprocess_input(x, data_format=None):
    """Prepares RGB images in [0, 255] for MobileNet: 'tf' mode (scaled to [-1, 1]); see
    `imagenet_utils.preprocess_input`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction; see `imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
