"""More of the Keras backend API, as plain eager functions over Tensors.

Each function takes Tensors (or arrays and numbers) and returns a Tensor, built from
`kerasette.backend.ops`, so the differentiable ones record the autograd graph like any op and
can be wrapped for symbolic tensors. Comparisons, `sign`, `round`, `argmin`/`argmax`,
`shape`, `one_hot` and the random draws have no gradient and return constant Tensors.

Example:
    >>> import numpy as np
    >>> from kerasette.backend.tensor import Tensor
    >>> batch_dot(Tensor(np.ones((2, 3))), Tensor(np.ones((2, 3)))).shape
    (2, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from kerasette.backend import ops, state
from kerasette.backend import random as _random
from kerasette.backend.config import floatx
from kerasette.backend.ops.base import as_tensor
from kerasette.backend.tensor import Tensor

__all__ = [
    "argmax", "argmin", "batch_dot", "cast", "elu", "equal", "expand_dims", "gather", "greater",
    "greater_equal", "hard_sigmoid", "in_test_phase", "in_train_phase", "less", "less_equal", "log_softmax",
    "not_equal", "one_hot", "prod", "random_normal", "random_uniform", "relu", "round", "shape", "sign",
    "sparse_categorical_crossentropy", "squeeze", "stack", "std", "switch", "tile", "var",
]


def _values(x) -> np.ndarray:
    """The values of a Tensor, array or number, as an ndarray."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _axis(axis: int, ndim: int, fn: str, shape) -> int:
    """``axis`` made non-negative, or a ValueError naming the function and the shape."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"{fn}: argument `axis` must be an integer in [{-ndim}, {ndim}) for a tensor of "
                         f"shape {tuple(shape)}; received axis={axis!r}")
    return int(axis) % ndim


# -- dtype --------------------------------------------------------------------------------------
def cast(x, dtype) -> Tensor:
    """``x`` converted to ``dtype`` (Keras's ``K.cast``).

    Between floating-point dtypes the conversion is differentiable; to or from integer and
    boolean dtypes it gives a constant Tensor.

    Args:
        x: a Tensor, array or number.
        dtype: the target dtype, e.g. ``'float32'``.
    """
    return ops.cast(x, dtype)


# -- comparisons (no gradient) ------------------------------------------------------------------
def _compare(fn: Callable, x, y) -> Tensor:
    return Tensor(fn(_values(x), _values(y)))


def equal(x, y) -> Tensor:
    """Elementwise ``x == y`` as a boolean Tensor (numpy broadcasting)."""
    return _compare(np.equal, x, y)


def not_equal(x, y) -> Tensor:
    """Elementwise ``x != y`` as a boolean Tensor."""
    return _compare(np.not_equal, x, y)


def greater(x, y) -> Tensor:
    """Elementwise ``x > y`` as a boolean Tensor."""
    return _compare(np.greater, x, y)


def greater_equal(x, y) -> Tensor:
    """Elementwise ``x >= y`` as a boolean Tensor."""
    return _compare(np.greater_equal, x, y)


def less(x, y) -> Tensor:
    """Elementwise ``x < y`` as a boolean Tensor."""
    return _compare(np.less, x, y)


def less_equal(x, y) -> Tensor:
    """Elementwise ``x <= y`` as a boolean Tensor."""
    return _compare(np.less_equal, x, y)


def sign(x) -> Tensor:
    """-1, 0 or 1 elementwise, in ``x``'s dtype (no gradient: it is zero almost everywhere)."""
    return Tensor(np.sign(_values(x)))


def round(x) -> Tensor:  # noqa: A001 - the Keras backend name
    """Rounds to the nearest integer, halves to even as TensorFlow does (no gradient)."""
    return Tensor(np.round(_values(x)))


def argmax(x, axis: int = -1) -> Tensor:
    """The index of the largest value along ``axis`` (int64, no gradient)."""
    values = _values(x)
    return Tensor(np.argmax(values, axis=_axis(axis, values.ndim, "argmax", values.shape)))


def argmin(x, axis: int = -1) -> Tensor:
    """The index of the smallest value along ``axis`` (int64, no gradient)."""
    values = _values(x)
    return Tensor(np.argmin(values, axis=_axis(axis, values.ndim, "argmin", values.shape)))


# -- statistics ---------------------------------------------------------------------------------
def var(x, axis=None, keepdims: bool = False) -> Tensor:
    """The (population) variance over ``axis`` (all axes when None), differentiable."""
    x = as_tensor(x)
    centred = ops.subtract(x, ops.mean(x, axis, keepdims=True))
    return ops.mean(ops.square(centred), axis, keepdims)


def std(x, axis=None, keepdims: bool = False) -> Tensor:
    """The (population) standard deviation over ``axis``, differentiable where it is not 0."""
    return ops.sqrt(var(x, axis, keepdims))


def prod(x, axis=None, keepdims: bool = False) -> Tensor:
    """The product over ``axis`` (all axes when None); its gradient is exact with zeros."""
    return ops.prod(x, axis, keepdims)


# -- shapes -------------------------------------------------------------------------------------
def shape(x) -> Tensor:
    """The shape of ``x`` as a 1-D int32 Tensor (``K.int_shape`` gives a tuple)."""
    return Tensor(np.array(np.shape(_values(x)), dtype=np.int32))


def expand_dims(x, axis: int = -1) -> Tensor:
    """Inserts an axis of size 1 at ``axis`` (-1: a new last axis)."""
    x = as_tensor(x)
    _axis(axis, x.ndim + 1, "expand_dims", x.shape)
    return ops.expand_dims(x, axis)


def squeeze(x, axis: int) -> Tensor:
    """Removes the axis ``axis``, which must have size 1."""
    x = as_tensor(x)
    a = _axis(axis, x.ndim, "squeeze", x.shape)
    if x.shape[a] != 1:
        raise ValueError(f"squeeze: axis {axis} of a tensor of shape {x.shape} has size {x.shape[a]}; "
                         "only an axis of size 1 can be removed")
    return ops.reshape(x, x.shape[:a] + x.shape[a + 1:])


def stack(x: Sequence, axis: int = 0) -> Tensor:
    """Joins tensors of one shape along a new axis ``axis``."""
    tensors = [as_tensor(t) for t in x]
    if not tensors:
        raise ValueError("stack: argument `x` must hold at least one tensor; received an empty list")
    shapes = [t.shape for t in tensors]
    if len(set(shapes)) > 1:
        raise ValueError(f"stack: every tensor must have the same shape; received shapes {shapes}")
    _axis(axis, tensors[0].ndim + 1, "stack", shapes[0])
    return ops.concatenate([ops.expand_dims(t, axis) for t in tensors], axis=axis)


def tile(x, n) -> Tensor:
    """Repeats ``x`` ``n[i]`` times along axis i (an int ``n`` repeats the last axis), with the
    gradient summing the copies."""
    return ops.tile(x, n)


def gather(reference, indices) -> Tensor:
    """``reference[indices]`` along the first axis (repeats allowed; the gradient adds up).

    Args:
        reference: a Tensor of shape ``(n, ...)``.
        indices: integers in ``[-n, n)`` of any shape (a Tensor, array or list).

    Returns:
        A Tensor of shape ``indices.shape + reference.shape[1:]``.
    """
    reference = as_tensor(reference)
    idx = np.asarray(_values(indices))
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"gather: argument `indices` must hold integers; received dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if reference.ndim == 0:
        raise ValueError("gather: argument `reference` must have at least one axis; received a scalar")
    n = reference.shape[0]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise ValueError(f"gather: indices must be in [{-n}, {n}) for a reference of shape {reference.shape}; "
                         f"received indices from {idx.min()} to {idx.max()}")
    return ops.getitem(reference, idx)


def one_hot(indices, num_classes: int) -> Tensor:
    """One-hot encoding: integers of shape ``s`` give a floatx Tensor of shape ``s + (num_classes,)``."""
    idx = np.asarray(_values(indices))
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"one_hot: argument `num_classes` must be a positive integer; received {num_classes!r}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"one_hot: argument `indices` must hold integers; received dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise ValueError(f"one_hot: indices must be in [0, {num_classes}); received indices from "
                         f"{idx.min()} to {idx.max()}")
    out = np.zeros(idx.shape + (int(num_classes),), dtype=floatx())
    np.put_along_axis(out, idx.astype(np.int64)[..., None], 1, axis=-1)
    return Tensor(out)


# -- control flow -------------------------------------------------------------------------------
def switch(condition, then_expression, else_expression) -> Tensor:
    """``then_expression`` where ``condition`` is true, else ``else_expression`` (Keras's ``K.switch``).

    A scalar condition picks a whole branch. A tensor condition picks elementwise; when it has
    fewer axes than the branches it is extended on the right (a per-sample condition of shape
    ``(batch,)`` selects whole rows), as Keras does. Each branch may be a callable returning
    the tensor. The gradient goes to the branch each value was taken from.
    """
    then_value = then_expression() if callable(then_expression) else then_expression
    else_value = else_expression() if callable(else_expression) else else_expression
    cond = _values(condition).astype(bool)
    if cond.ndim == 0:
        return as_tensor(then_value if cond else else_value)
    ndim = max(np.ndim(_values(then_value)), np.ndim(_values(else_value)))
    if cond.ndim > ndim:
        raise ValueError(f"switch: the condition has {cond.ndim} axes (shape {cond.shape}), more than the "
                         f"branches ({ndim})")
    cond = cond.reshape(cond.shape + (1,) * (ndim - cond.ndim))
    return ops.where(cond, then_value, else_value)


def in_train_phase(x, alt, training=None):
    """``x`` in the training phase, ``alt`` otherwise (each may be a callable returning it).

    Args:
        x: what to return when training.
        alt: what to return otherwise.
        training: a bool or 0/1 (scalar Tensors too); None uses the learning phase (the one a
            running ``K.function`` was fed, else the one ``set_learning_phase`` set).
    """
    if training is None:
        # inside a running K.function, the phase it was given; else the one set_learning_phase set
        training = state.learning_phase.current()
    phase = _values(training)
    if phase.ndim != 0:
        raise ValueError(f"in_train_phase: argument `training` must be a scalar (bool or 0/1); received "
                         f"a tensor of shape {phase.shape}")
    chosen = x if bool(phase) else alt
    return chosen() if callable(chosen) else chosen


def in_test_phase(x, alt, training=None):
    """``x`` outside the training phase, ``alt`` in it (the reverse of `in_train_phase`)."""
    return in_train_phase(alt, x, training)


# -- activations and losses ---------------------------------------------------------------------
def elu(x, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    return ops.elu(x, alpha)


def relu(x, alpha: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> Tensor:
    """Keras 2's ``K.relu``: ``x`` above ``threshold`` (else 0), capped at ``max_value``, minus
    ``alpha * max(threshold - x, 0)``."""
    if alpha == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    return ops.general_relu(x, alpha, max_value, threshold)


def hard_sigmoid(x) -> Tensor:
    """Keras 1 and 2's ``K.hard_sigmoid``: ``clip(0.2 * x + 0.5, 0, 1)`` (the activation
    ``'hard_sigmoid'`` is Keras 3's, with slope 1/6)."""
    return ops.hard_sigmoid(x, 0.2, 0.5)


def log_softmax(x, axis: int = -1) -> Tensor:
    """``log(softmax(x))`` along ``axis``, computed stably."""
    return ops.log_softmax(x, axis)


def sparse_categorical_crossentropy(target, output, from_logits: bool = False) -> Tensor:
    """Categorical cross-entropy with integer labels (Keras's argument order: target first).

    Args:
        target: integer labels of shape ``output.shape[:-1]`` (or with a last axis of 1).
        output: probabilities (or logits with ``from_logits=True``) over the last axis; a softmax
            output is read from its logits, exactly.
        from_logits: whether ``output`` holds logits.

    Returns:
        The per-sample losses, of shape ``output.shape[:-1]``; differentiable in ``output``.
    """
    fn = "sparse_categorical_crossentropy"
    output = as_tensor(output)
    if output.ndim == 0:
        raise ValueError(f"{fn}: `output` must have a last axis of class scores; received a scalar")
    labels = np.asarray(_values(target))
    if labels.ndim == output.ndim and labels.shape[-1:] == (1,):
        labels = labels[..., 0]
    if labels.shape != output.shape[:-1]:
        raise ValueError(f"{fn}: `target` has shape {labels.shape}, expected {output.shape[:-1]} (the "
                         f"output's shape {output.shape} without its last axis, or with a last axis of 1)")
    if labels.size and not (np.issubdtype(labels.dtype, np.number) or labels.dtype == bool):
        raise ValueError(f"{fn}: `target` must hold integer class labels; received dtype {labels.dtype}")
    if labels.size and not np.all(np.mod(labels, 1) == 0):
        bad = labels[np.mod(labels, 1) != 0].flat[0]
        raise ValueError(f"{fn}: `target` must hold integer class labels; received non-integer values "
                         f"such as {bad}")
    classes = output.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{fn}: `target` labels must be in [0, {classes}); received labels from "
                         f"{labels.min()} to {labels.max()} (the output has {classes} classes)")
    target_one_hot = np.zeros(output.shape, dtype=output.dtype)
    np.put_along_axis(target_one_hot, labels.astype(np.int64)[..., None], 1, axis=-1)
    return ops.categorical_crossentropy(Tensor(target_one_hot), output, from_logits=from_logits)


# -- linear algebra -----------------------------------------------------------------------------
def batch_dot(x, y, axes=None) -> Tensor:
    """Dot products of the samples of two batches (Keras's ``K.batch_dot``).

    Two cases are supported:

    * 3-D ``x`` (batch, n, m) and ``y`` (batch, m, k): a batched matrix product over ``axes``
      (default ``(2, 1)``, giving (batch, n, k)); ``axes`` may name axis 1 or 2 of each.
    * 2-D ``x`` and ``y`` of one shape (batch, d): the row-wise dot product, of shape
      (batch, 1); ``axes`` must be None, 1 or ``(1, 1)``.

    Args:
        x, y: the batches.
        axes: an int (the same axis of both) or a pair ``(axis of x, axis of y)``.
    """
    x, y = as_tensor(x), as_tensor(y)
    if isinstance(axes, (int, np.integer)):
        axes = (int(axes), int(axes))
    if x.ndim == 2 and y.ndim == 2:
        pair = (1, 1) if axes is None else tuple(a % 2 for a in axes)
        if pair != (1, 1):
            raise ValueError(f"batch_dot: for 2-D tensors `axes` must be 1 or (1, 1) (axis 0 is the batch); "
                             f"received axes={axes!r}")
        if x.shape != y.shape:
            raise ValueError(f"batch_dot: 2-D tensors must have the same shape; received {x.shape} and {y.shape}")
        return ops.sum(ops.multiply(x, y), axis=1, keepdims=True)
    if x.ndim == 3 and y.ndim == 3:
        pair = (2, 1) if axes is None else tuple(a % 3 for a in axes)
        if 0 in pair or len(pair) != 2:
            raise ValueError(f"batch_dot: `axes` must name axis 1 or 2 of each 3-D tensor (axis 0 is the batch); "
                             f"received axes={axes!r}")
        if x.shape[0] != y.shape[0] or x.shape[pair[0]] != y.shape[pair[1]]:
            raise ValueError(f"batch_dot: shapes {x.shape} and {y.shape} do not match on the batch axis and "
                             f"axes {pair}")
        left = x if pair[0] == 2 else ops.transpose(x, (0, 2, 1))
        right = y if pair[1] == 1 else ops.transpose(y, (0, 2, 1))
        return ops.matmul(left, right)
    raise ValueError(f"batch_dot: supports two 3-D tensors (a batched matrix product) or two 2-D tensors "
                     f"(row-wise dot products); received shapes {x.shape} and {y.shape}")


# -- random -------------------------------------------------------------------------------------
def _rng(seed) -> np.random.Generator:
    return _random.generator() if seed is None else np.random.default_rng(seed)


def random_normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype=None, seed=None) -> Tensor:
    """A Tensor of normal samples (``dtype`` default floatx; ``seed`` fixes them, else the shared
    generator that ``K.set_seed`` seeds is used)."""
    values = _rng(seed).normal(mean, stddev, tuple(shape))
    return Tensor(values.astype(dtype or floatx()))


def random_uniform(shape, minval: float = 0.0, maxval: float = 1.0, dtype=None, seed=None) -> Tensor:
    """A Tensor of samples uniform in ``[minval, maxval)`` (``dtype`` default floatx)."""
    if maxval < minval:
        raise ValueError(f"random_uniform: `maxval` must be >= `minval`; received minval={minval!r}, "
                         f"maxval={maxval!r}")
    values = _rng(seed).uniform(minval, maxval, tuple(shape))
    return Tensor(values.astype(dtype or floatx()))
