"""Running a stack of layers with two rewrites that change no result, only the work done.

1. A `Conv2D` or `Dense` without activation followed by ``Activation('relu')`` runs as one op
   with the ReLU fused into its output pass.
2. Consecutive channels-first image layers keep their tensors channels-last between them: the
   engine computes channels-last anyway, so each such layer would transpose its input in and its
   output back. Elementwise layers (`Dropout`, elementwise `Activation`) work in either layout,
   and a channels-first `Flatten` flattens in (rows, cols, channels) order, which is exactly the
   channels-last tensor's own order. Anything else gets the channels-first tensor back first.
"""

from __future__ import annotations

from kerasette import activations
from kerasette.backend import ops
from kerasette.layers.convolutional import TO_CHANNELS_FIRST, TO_CHANNELS_LAST, Conv2D
from kerasette.layers.core import Activation, Dense, Dropout, Flatten
from kerasette.layers.pooling import MaxPooling2D

_ELEMENTWISE = {activations.relu, activations.sigmoid, activations.tanh, activations.linear,
                activations.softplus, activations.softsign, activations.exponential}


def _relu_follows(layers, i: int) -> bool:
    """Whether layer ``i`` is linear, can fuse a ReLU, and is followed by Activation('relu')."""
    layer = layers[i]
    return (isinstance(layer, (Conv2D, Dense)) and layer.activation is activations.linear
            and i + 1 < len(layers) and type(layers[i + 1]) is Activation
            and layers[i + 1].activation is activations.relu)


def _layout_free(layer) -> bool:
    """Layers whose result does not depend on where the channel axis is."""
    if type(layer) is Dropout:
        return True
    return type(layer) is Activation and layer.activation in _ELEMENTWISE


def _channels_first_image_layer(layer) -> bool:
    return type(layer) in (Conv2D, MaxPooling2D) and layer.data_format == "channels_first"


def run_layers(layers, x, training: bool):
    """``layers[-1](...layers[0](x))`` with the rewrites above."""
    nhwc = False  # True while x holds a channels-first tensor's values in channels-last order
    i = 0
    while i < len(layers):
        layer, fuse = layers[i], _relu_follows(layers, i)
        step = 2 if fuse else 1
        kwargs = {"fused_relu": True} if fuse else {}
        if _channels_first_image_layer(layer) and x.ndim == 4:
            if not nhwc:
                layer._check_input(x.shape) if isinstance(layer, Conv2D) else None
                x = ops.transpose(x, TO_CHANNELS_LAST)
                nhwc = True
            x = layer.call_channels_last(x, training, **kwargs)
        elif nhwc and _layout_free(layer):
            x = layer.call(x, training=training)
        elif nhwc and type(layer) is Flatten and layer.data_format == "channels_first":
            x = ops.reshape(x, (x.shape[0], -1))
            nhwc = False
        else:
            if nhwc:
                x = ops.transpose(x, TO_CHANNELS_FIRST)
                nhwc = False
            x = layer.call(x, training=training, **kwargs)
        i += step
    return ops.transpose(x, TO_CHANNELS_FIRST) if nhwc else x
