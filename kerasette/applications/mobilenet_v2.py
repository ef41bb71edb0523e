"""MobileNetV2 (Sandler et al., CVPR 2018), as Keras builds it
(``kerasette.applications.mobilenet_v2``, as Keras's ``keras.applications.mobilenet_v2``).

A 3x3 stride-2 convolution (``Conv1``, ``bn_Conv1``, ``Conv1_relu``), 17 inverted residual blocks,
a 1x1 convolution to 1280 channels (``Conv_1``, ``Conv_1_bn``, ``out_relu``). An inverted residual
block expands its input ``expansion`` times with a 1x1 convolution (``block_<i>_expand``; not in
block 0, whose layers are named ``expanded_conv_*``), applies a 3x3 depthwise convolution
(``*_depthwise``; stride 2 pads first, ``*_pad``, as TensorFlow's 'same'), projects with a 1x1
convolution (``*_project``) without activation, and adds its input (``*_add``) when the shapes
agree. Batch normalizations use epsilon 1e-3 and momentum 0.999; activations are ReLU6.
``alpha`` scales the filters, rounded to multiples of 8.
"""

from __future__ import annotations

import kerasette.backend as K
from kerasette import layers
from kerasette.applications import imagenet_utils
from kerasette.applications.mobilenet import _default_size, _weights_rows
from kerasette.models import Model

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"

# (filters, stride, expansion) of the 17 inverted residual blocks
_BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
           (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
           (320, 1, 6))
_ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)


def _make_divisible(v: float, divisor: int = 8) -> int:
    """``v`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), never more than
    10% below ``v``."""
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def _batch_norm(name: str):
    axis = 1 if K.image_data_format() == "channels_first" else -1
    return layers.BatchNormalization(axis=axis, epsilon=1e-3, momentum=0.999, name=name)


def _inverted_residual(inputs, filters: int, stride: int, expansion: int, alpha: float, block_id: int):
    in_channels = inputs.shape[1 if K.image_data_format() == "channels_first" else -1]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    if block_id:
        prefix = f"block_{block_id}_"
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False,
                          name=f"{prefix}expand")(x)
        x = _batch_norm(f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        pad = imagenet_utils.correct_pad(imagenet_utils.spatial_shape(x), 3)
        x = layers.ZeroPadding2D(padding=pad, name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
    x = _batch_norm(f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _batch_norm(f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None,  # noqa: N802
                pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """The MobileNetV2 network, as Keras builds it.

    Inputs are RGB images prepared by `preprocess_input` ('tf' mode: scaled to [-1, 1]).

    Args:
        input_shape: the image shape without the batch; only without the top or with a size
            other than 224 (ImageNet weights exist for 96, 128, 160, 192 and 224); at least
            32x32. None with an ``input_tensor`` takes the tensor's shape.
        alpha: the width multiplier (0.35, 0.5, 0.75, 1.0, 1.3 or 1.4 with ImageNet weights);
            the last convolution keeps 1280 filters unless ``alpha`` > 1.
        include_top: include the classifier (global average pooling and a dense
            ``predictions`` layer).
        weights: None (random initialization), ``'imagenet'`` (Keras's published weights,
            downloaded once into ``~/.keras/models``) or the path of a weights file.
        input_tensor: a symbolic tensor to use as the image input (e.g. the output of other layers).
        pooling: without the top: None (the 4D output of the last block), ``'avg'`` or ``'max'``.
        classes: the number of classes, with the top (1000 with ImageNet weights).
        classifier_activation: the top's activation (None gives logits; only None or
            ``'softmax'`` with pretrained weights).
        name: the model's name; None gives Keras's ``mobilenetv2_<alpha>_<rows>``.

    Returns:
        A functional `Model`.
    """
    imagenet_utils.check_weights_argument(weights, include_top, classes)
    if input_shape is None and input_tensor is not None and K.is_keras_tensor(input_tensor):
        input_shape = tuple(input_tensor.shape[1:])
    sizes = (96, 128, 160, 192, 224)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=_default_size(input_shape, sizes),
                                                    min_size=32, data_format=K.image_data_format(),
                                                    require_flatten=include_top, weights=weights)
    rows, cols = (input_shape[1:] if K.image_data_format() == "channels_first" else input_shape[:2])
    if weights == "imagenet":
        if alpha not in _ALPHAS:
            raise ValueError("If imagenet weights are being loaded, alpha must be one of 0.35, 0.50, 0.75, 1.0, "
                             f"1.3 or 1.4 only; received alpha={alpha}")
        rows = _weights_rows(rows, cols, sizes)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = layers.Conv2D(_make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="Conv1")(img_input)
    x = _batch_norm("bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_residual(x, filters, stride, expansion, alpha, block_id)
    last_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = _batch_norm("Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    model = Model(imagenet_utils.model_inputs(input_tensor, img_input), x, name=name)
    file_name = None
    if weights == "imagenet":
        file_name = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
                     f"{'' if include_top else '_no_top'}.h5")
    imagenet_utils.load_weights(model, weights, file_name, BASE_WEIGHT_PATH + (file_name or ""))
    return model


def preprocess_input(x, data_format=None):
    """Prepares RGB images in [0, 255] for MobileNetV2: 'tf' mode (scaled to [-1, 1]); see
    `imagenet_utils.preprocess_input`."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction; see `imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
