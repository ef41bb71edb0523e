"""Differentiable ops on tensors, grouped by theme; each op's gradient sits beside its forward."""

from kerasette.backend.ops.conv import conv2d, max_pool2d
from kerasette.backend.ops.elementwise import (
    abs,
    add,
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
)
from kerasette.backend.ops.linalg import bias_add, dense, matmul
from kerasette.backend.ops.nn import (
    binary_crossentropy,
    categorical_crossentropy,
    dropout,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    tanh,
)
from kerasette.backend.ops.reduce import max, mean, min, sum
from kerasette.backend.ops.shape import concatenate, flatten, getitem, reshape, transpose

__all__ = [
    "abs", "add", "bias_add", "binary_crossentropy", "categorical_crossentropy", "clip",
    "concatenate", "conv2d", "dense", "divide", "dropout", "exp", "flatten", "getitem", "log",
    "log_softmax", "matmul", "max", "max_pool2d", "maximum", "mean", "min", "minimum",
    "multiply", "negative", "power", "relu", "reshape", "sigmoid", "softmax",
    "softmax_cross_entropy", "sqrt", "square", "subtract", "sum", "tanh", "transpose",
]
