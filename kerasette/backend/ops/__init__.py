"""Differentiable ops on tensors, grouped by theme; each op's gradient sits beside its forward.

Importing this package registers the ops behind Tensor's operators (``+``, ``@``, ``[]``, ``.T``,
``.sum()``, ...) with `kerasette.backend.tensor.register_operators`.
"""

from kerasette.backend.ops.activations import gelu, general_relu, hard_sigmoid
from kerasette.backend.ops.conv import conv2d, depthwise_conv2d, max_pool2d
from kerasette.backend.ops.conv3d import conv3d, conv3d_transpose
from kerasette.backend.ops.conv_transpose import conv2d_transpose
from kerasette.backend.ops.elementwise import (
    abs,
    add,
    cast,
    clip,
    divide,
    exp,
    log,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    sqrt,
    square,
    subtract,
    where,
)
from kerasette.backend.ops.linalg import bias_add, dense, matmul
from kerasette.backend.ops.nn import (
    add_relu,
    binary_crossentropy,
    categorical_crossentropy,
    dropout,
    elu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    softplus,
    softsign,
    tanh,
)
from kerasette.backend.ops.normalization import batch_normalization, thresholded_relu
from kerasette.backend.ops.pooling import avg_pool2d
from kerasette.backend.ops.pooling3d import avg_pool3d, max_pool3d
from kerasette.backend.ops.reduce import max, mean, min, prod, sum
from kerasette.backend.ops.resize import resize2d
from kerasette.backend.ops.shape import (
    concatenate,
    expand_dims,
    flatten,
    getitem,
    pad,
    reshape,
    tile,
    transpose,
)
from kerasette.backend.tensor import register_operators

__all__ = [
    "abs", "add", "add_relu", "avg_pool2d", "batch_normalization", "bias_add", "binary_crossentropy", "cast",
    "categorical_crossentropy", "clip", "concatenate", "conv2d", "dense", "divide", "dropout",
    "elu", "exp", "expand_dims", "flatten", "gelu", "general_relu", "getitem", "hard_sigmoid",
    "log", "log_softmax", "matmul", "max", "max_pool2d", "maximum", "mean", "min", "minimum", "multiply", "negative", "power", "prod",
    "relu", "reshape", "sigmoid", "softmax", "softmax_cross_entropy", "softplus",
    "softsign", "sqrt", "square", "subtract", "sum", "tanh", "thresholded_relu", "tile",
    "transpose", "where",
    "depthwise_conv2d",
]
__all__ += ["conv2d_transpose", "resize2d"]
__all__ += ["pad"]
__all__ += ["avg_pool3d", "conv3d", "conv3d_transpose", "max_pool3d"]

register_operators({
    "add": add, "subtract": subtract, "multiply": multiply, "divide": divide, "power": power,
    "matmul": matmul, "negative": negative, "getitem": getitem, "transpose": transpose,
    "reshape": reshape, "sum": sum, "mean": mean,
})
