"""Layer table entries for Lambda (``kerasette.layers.lambda_layer``).

The functions are named and registered (``register_keras_serializable``), so that the harness's
config round trip finds them by name without ``custom_objects``, as a user's registered function
would be found.
"""

from __future__ import annotations

import numpy as np

from kerasette import backend as K
from kerasette.layers.lambda_layer import Lambda
from kerasette.saving import register_keras_serializable
from tests.layers.specs import Spec


@register_keras_serializable(package="layer_specs")
def softsign_scaled(x, scale=1.0):
    return x / (K.abs(x) + 1.0) * scale


@register_keras_serializable(package="layer_specs")
def first_columns(x, k=2):
    return x[:, :k]


@register_keras_serializable(package="layer_specs")
def swap_last_axes(x):
    return K.permute_dimensions(x, (0, 2, 1))


@register_keras_serializable(package="layer_specs")
def swapped_shape(input_shape):
    return (input_shape[0], input_shape[2], input_shape[1])


SPECS = [
    Spec("lambda-elementwise", lambda: Lambda(softsign_scaled), (5,), 0, 0, lambda x: x / (np.abs(x) + 1)),
    Spec("lambda-arguments", lambda: Lambda(softsign_scaled, arguments={"scale": 3.0}), (2, 3), 0, 0,
         lambda x: 3 * x / (np.abs(x) + 1)),
    Spec("lambda-output_shape-tuple", lambda: Lambda(first_columns, output_shape=(3,), arguments={"k": 3}), (5,),
         0, 0, lambda x: x[:, :3]),
    Spec("lambda-output_shape-callable", lambda: Lambda(swap_last_axes, output_shape=swapped_shape), (2, 4), 0, 0,
         lambda x: x.transpose(0, 2, 1)),
]
