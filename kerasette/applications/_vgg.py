"""The VGG architecture shared by VGG16 and VGG19 (Simonyan and Zisserman, 2015).

Five blocks of 3x3 'same' convolutions with ReLU, each closed by a 2x2 max pooling of stride 2:
64, 128, 256, 512 and 512 filters, with 2, 2, 3, 3, 3 convolutions (VGG16) or 2, 2, 4, 4, 4
(VGG19). The top flattens the last block and applies two 4096-unit ReLU layers and the
classifier. Layers carry Keras's names (``block1_conv1`` ... ``block5_pool``, ``flatten``,
``fc1``, ``fc2``, ``predictions``), so Keras's weight files load into them.
"""

from __future__ import annotations

import kerasette.backend as K
from kerasette import layers
from kerasette.applications import imagenet_utils
from kerasette.models import Model

_FILTERS = (64, 128, 256, 512, 512)


def build_vgg(convs_per_block: tuple, name: str, include_top: bool, weights, input_tensor, input_shape, pooling,
              classes: int, classifier_activation, weight_files: dict):
    """A VGG model with ``convs_per_block`` convolutions in each of the five blocks.

    ``weight_files`` maps ``include_top`` to (file name, URL, hash) of Keras's ImageNet weights.
    """
    imagenet_utils.check_weights_argument(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                                    data_format=K.image_data_format(),
                                                    require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = img_input
    for block, (filters, convs) in enumerate(zip(_FILTERS, convs_per_block), start=1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    model = Model(imagenet_utils.model_inputs(input_tensor, img_input), x, name=name)
    imagenet_utils.load_weights(model, weights, *weight_files[bool(include_top)])
    return model
