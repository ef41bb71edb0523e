"""The Keras-backend-style functional API over kerasette's engine.

Example:
    >>> import numpy as np
    >>> import kerasette.backend as K
    >>> W = K.variable(np.ones((2, 3)))
    >>> K.int_shape(K.dot(K.constant(np.ones((4, 2))), W))
    (4, 3)
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops, state
from kerasette.backend import random as _random
from kerasette.backend.config import (
    epsilon,
    floatx,
    image_data_format,
    image_dim_ordering,
    normalize_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
    set_image_dim_ordering,
)
from kerasette.backend.graph import function, gradients, stop_gradient
from kerasette.backend.ops import (
    abs,
    binary_crossentropy,
    categorical_crossentropy,
    clip,
    exp,
    log,
    max,
    maximum,
    mean,
    min,
    minimum,
    relu,
    sigmoid,
    softmax,
    softplus,
    softsign,
    sqrt,
    square,
    sum,
    tanh,
)
from kerasette.backend.recurrence import rnn
from kerasette.backend.symbolic import (
    LEARNING_PHASE,
    KerasTensor,
    learning_phase_scope,
    placeholder,
    set_learning_phase,
    symbolic_aware,
)
from kerasette.backend.tensor import Tensor, Variable, enable_grad, is_grad_enabled, no_grad
from kerasette.utils import conv_utils


def backend() -> str:
    """The backend's name."""
    return "kerasette"


def clear_session() -> None:
    """Restarts automatic naming of layers (``dense_1`` again), variables and symbolic tensors."""
    state.reset_names()


def set_seed(seed: int) -> None:
    """Seeds initialisation, dropout and shuffling."""
    _random.set_seed(seed)


def variable(value, dtype=None, name: str | None = None, trainable: bool = True) -> Variable:
    """A trainable variable holding a copy of ``value``."""
    return Variable(value, dtype=dtype, name=name, trainable=trainable)


def constant(value, dtype=None, shape=None, name: str | None = None) -> Tensor:
    """A constant tensor (``shape`` broadcasts a scalar)."""
    array = np.asarray(value, dtype=dtype or floatx())
    if shape is not None:
        array = np.broadcast_to(array, shape).copy()
    return Tensor(array, name=name)


def zeros(shape, dtype=None, name: str | None = None) -> Variable:
    """A variable of zeros (as in Keras)."""
    return Variable(np.zeros(shape, dtype=dtype or floatx()), name=name)


def ones(shape, dtype=None, name: str | None = None) -> Variable:
    """A variable of ones (as in Keras)."""
    return Variable(np.ones(shape, dtype=dtype or floatx()), name=name)


def eval(x) -> np.ndarray:  # noqa: A001 - the Keras backend name
    """The values of a tensor as an ndarray."""
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def get_value(x) -> np.ndarray:
    """The values of a variable."""
    return eval(x)


def set_value(x: Variable, value) -> None:
    """Overwrites a variable's values."""
    x.assign(value)


def int_shape(x) -> tuple:
    """The shape as a tuple of ints (None for unknown)."""
    return tuple(x.shape)


def ndim(x) -> int:
    return len(x.shape)


def dtype(x) -> str:
    return str(x.dtype)


def dot(x, y):
    """Matrix product."""
    return ops.matmul(x, y)


def transpose(x):
    """Reverses the axes."""
    return ops.transpose(x)


def reshape(x, shape):
    return ops.reshape(x, shape)


def flatten(x):
    """All values in one axis."""
    return ops.reshape(x, (-1,))


def batch_flatten(x):
    """Keeps the first axis, flattens the rest."""
    return ops.flatten(x)


def permute_dimensions(x, pattern):
    return ops.transpose(x, pattern)


def concatenate(tensors, axis: int = -1):
    return ops.concatenate(tensors, axis)


def pow(x, a):  # noqa: A001 - the Keras backend name
    return ops.power(x, a)


def bias_add(x, bias, data_format=None):
    return ops.bias_add(x, bias, normalize_data_format(data_format))


def dropout(x, level: float, seed=None):
    rng = np.random.default_rng(seed) if seed is not None else None
    return ops.dropout(x, level, rng)


def conv2d(x, kernel, strides=(1, 1), padding: str = "valid", data_format=None):
    """2-D convolution of a 4-D tensor with an (rows, cols, in, out) kernel."""
    strides = conv_utils.normalize_tuple(strides, 2, "strides", "conv2d")
    padding = conv_utils.normalize_padding(padding, "conv2d")
    if normalize_data_format(data_format) == "channels_first":
        y = ops.conv2d(ops.transpose(x, (0, 2, 3, 1)), kernel, None, strides, padding)
        return ops.transpose(y, (0, 3, 1, 2))
    return ops.conv2d(x, kernel, None, strides, padding)


def pool2d(x, pool_size, strides=(1, 1), padding: str = "valid", data_format=None, pool_mode: str = "max"):
    """2-D max (or average, for non-overlapping 'valid' windows) pooling of a 4-D tensor."""
    pool_size = conv_utils.normalize_tuple(pool_size, 2, "pool_size", "pool2d")
    strides = conv_utils.normalize_tuple(strides, 2, "strides", "pool2d")
    padding = conv_utils.normalize_padding(padding, "pool2d")
    channels_first = normalize_data_format(data_format) == "channels_first"
    if channels_first:
        x = ops.transpose(x, (0, 2, 3, 1))
    if pool_mode == "max":
        y = ops.max_pool2d(x, pool_size, strides, padding)
    elif pool_mode == "avg" and strides == pool_size and padding == "valid":
        n, h, w, c = x.shape
        ph, pw = pool_size
        rows, cols = h // ph, w // pw
        y = ops.getitem(x, (slice(None), slice(0, rows * ph), slice(0, cols * pw)))
        y = ops.mean(ops.reshape(y, (n, rows, ph, cols, pw, c)), axis=(2, 4))
    else:
        raise ValueError(f"pool2d: pool_mode must be 'max', or 'avg' with strides == pool_size and "
                         f"padding='valid'; received pool_mode={pool_mode!r}, strides={strides}, padding={padding!r}")
    return ops.transpose(y, (0, 3, 1, 2)) if channels_first else y


def zeros_like(x, dtype=None):
    return Variable(np.zeros(x.shape, dtype=dtype or x.dtype))


def ones_like(x, dtype=None):
    return Variable(np.ones(x.shape, dtype=dtype or x.dtype))


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic tensor (from `placeholder` or `Input`)."""
    return isinstance(x, KerasTensor)


def is_placeholder(x) -> bool:
    return isinstance(x, KerasTensor) and x.node is None


def learning_phase():
    """The learning-phase placeholder: feed 1 to a function to run layers as in training.

    `set_learning_phase` (or, for a ``with`` block, `learning_phase_scope`) sets the phase that
    functions use when it is not fed.
    """
    return LEARNING_PHASE


def update(x: Variable, new_x):
    """An update pair for `function`'s ``updates``."""
    return (x, new_x)


def update_add(x: Variable, increment):
    return (x, x + increment)


def update_sub(x: Variable, decrement):
    return (x, x - decrement)


# The rest of the Keras backend API (comparisons, shape helpers, random tensors, switch, ...).
from kerasette.backend import functions as _functions  # noqa: E402
from kerasette.backend.functions import *  # noqa: E402,F403

# Every op above also builds graph nodes when given symbolic tensors (placeholders, Input).
for _name in (
    "abs", "binary_crossentropy", "categorical_crossentropy", "clip", "exp", "log", "max",
    "maximum", "mean", "min", "minimum", "relu", "sigmoid", "softmax", "sqrt", "square", "sum",
    "tanh", "dot", "transpose", "reshape", "flatten", "batch_flatten", "permute_dimensions",
    "concatenate", "pow", "bias_add", "dropout", "softplus", "softsign", "conv2d", "pool2d",
    *(name for name in _functions.__all__ if name not in ("switch", "in_train_phase", "in_test_phase",
                                                          "random_normal", "random_uniform", "shape")),
):
    globals()[_name] = symbolic_aware(globals()[_name])
del _name


__all__ = [*_functions.__all__,
    "KerasTensor", "learning_phase", "learning_phase_scope", "set_learning_phase", "conv2d", "function", "gradients", "is_keras_tensor", "is_placeholder",
    "ones_like", "placeholder", "pool2d", "softsign", "stop_gradient", "update", "update_add",
    "update_sub", "zeros_like",
    "Tensor", "Variable", "abs", "backend", "batch_flatten", "bias_add", "binary_crossentropy",
    "categorical_crossentropy", "clear_session", "clip", "concatenate", "constant", "dot", "dropout",
    "dtype", "enable_grad", "epsilon", "eval", "exp", "flatten", "floatx", "get_value",
    "image_data_format", "image_dim_ordering", "int_shape", "is_grad_enabled", "log", "max",
    "maximum", "mean", "min", "minimum", "ndim", "no_grad", "ones", "permute_dimensions", "pow",
    "relu", "reshape", "rnn", "set_epsilon", "set_floatx", "set_image_data_format",
    "set_image_dim_ordering", "set_seed", "set_value", "sigmoid", "softmax", "softplus", "sqrt",
    "square", "sum", "tanh", "transpose", "variable", "zeros",
]
