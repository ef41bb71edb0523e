"""Loss functions: ``loss(y_true, y_pred)`` returns one value per sample (a Tensor).

(`kerasette.losses` exports these with the `Loss` classes of ``classes.py``.)

Each built-in loss registers itself with its Keras names and declares two facts the training
loop needs: the targets it takes (``'dense'``: the output's shape; ``'sparse'``: integer class
labels) and the accuracy that ``metrics=['accuracy']`` means with it. A loss of your own (any
``fn(y_true, y_pred)``, written with ``K.*`` ops or tensor operators) declares nothing and gets
its targets unchecked.
"""

from __future__ import annotations

import numpy as np

from kerasette import registry
from kerasette.backend import functions as kfunctions
from kerasette.backend import ops
from kerasette.backend.tensor import Tensor
from kerasette.losses import clipped


def _loss(targets: str, accuracy: str | None = None, aliases: tuple[str, ...] = ()):
    def decorate(fn):
        fn.targets = targets
        fn.accuracy = accuracy
        return registry.register("loss", aliases=aliases)(fn)

    return decorate


@_loss("dense")
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log(p)) over the classes, per sample.

    From probabilities (``from_logits=False``), as Keras 3 computes it: each row of ``y_pred`` is
    divided by its sum and clipped to [eps, 1 - eps] (the backend epsilon, 1e-7 unless
    ``K.set_epsilon``) before the logarithm, also when ``y_pred`` is a softmax layer's output
    (Keras 3 does not look through the softmax to its logits). So a confidently wrong sample
    costs at most ``-log(1e-7)`` (about 16.118) and, through the clip, gives no gradient from a
    probability outside that range (see `kerasette.losses.clipped`). From logits:
    ``-sum(y_true * log_softmax(y_pred))``, exactly.

    Args:
        y_true: targets of ``y_pred``'s shape (one-hot or distributions).
        y_pred: probabilities (or logits with ``from_logits=True``) over the last axis.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]: the targets become ``y_true * (1 - s) + s / classes``.
        axis: the class axis (only -1).
    """
    y_true, y_pred = _as_pair(y_true, y_pred)
    _class_axis(axis, "categorical_crossentropy")
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / y_pred.shape[-1])
    if from_logits:
        return ops.softmax_cross_entropy(y_pred, y_true)
    return clipped.categorical(y_true, y_pred)


@_loss("sparse", accuracy="sparse_categorical_accuracy")
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Categorical cross-entropy with integer class labels instead of one-hot targets, per
    sample; probabilities are normalised and clipped as in `categorical_crossentropy`.

    Args:
        y_true: integer labels of shape ``y_pred.shape[:-1]`` (or with a last axis of 1).
        y_pred: probabilities (or logits with ``from_logits=True``) over the last axis.
        from_logits: whether ``y_pred`` holds logits.
        axis: the class axis (only -1).
    """
    _class_axis(axis, "sparse_categorical_crossentropy")
    if from_logits:
        return kfunctions.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
    y_pred = y_pred if isinstance(y_pred, Tensor) else Tensor(np.asarray(y_pred, dtype="float32"))
    return clipped.categorical(Tensor(_one_hot(y_true, y_pred)), y_pred)


@_loss("dense", accuracy="binary_accuracy")
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Mean over the last axis of the elementwise binary cross-entropy
    ``-(y_true * log(p) + (1 - y_true) * log(1 - p))``.

    From probabilities, as Keras 3 computes it: ``p`` is ``y_pred`` clipped to [1e-7, 1 - 1e-7],
    also when ``y_pred`` is a sigmoid layer's output (a confidently wrong value costs at most
    about 15.94 in float32 and gives no gradient). From logits: computed stably, exactly.

    Args:
        y_true: targets in [0, 1], of ``y_pred``'s shape.
        y_pred: probabilities (or logits with ``from_logits=True``).
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]: the targets become ``y_true * (1 - s) + s / 2``.
        axis: the axis averaged over.
    """
    y_true, y_pred = _as_pair(y_true, y_pred)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        values = ops.binary_crossentropy(y_true, y_pred, from_logits=True)
    else:
        values = clipped.binary(y_true, y_pred)
    return ops.mean(values, axis=axis)


def _class_axis(axis, fn: str) -> None:
    if axis not in (-1,):
        raise ValueError(f"{fn}: only axis=-1 (classes on the last axis) is supported; received axis={axis!r}")


def _one_hot(y_true, y_pred: Tensor) -> np.ndarray:
    """Integer labels as one-hot rows of ``y_pred``'s shape and dtype, checked as
    ``K.sparse_categorical_crossentropy`` checks them."""
    fn = "sparse_categorical_crossentropy"
    if y_pred.ndim == 0:
        raise ValueError(f"{fn}: `output` must have a last axis of class scores; received a scalar")
    labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1:] == (1,):
        labels = labels[..., 0]
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"{fn}: `target` has shape {labels.shape}, expected {y_pred.shape[:-1]} (the "
                         f"output's shape {y_pred.shape} without its last axis, or with a last axis of 1)")
    if labels.size and not (np.issubdtype(labels.dtype, np.number) or labels.dtype == bool):
        raise ValueError(f"{fn}: `target` must hold integer class labels; received dtype {labels.dtype}")
    if labels.size and not np.all(np.mod(labels, 1) == 0):
        bad = labels[np.mod(labels, 1) != 0].flat[0]
        raise ValueError(f"{fn}: `target` must hold integer class labels; received non-integer values such as {bad}")
    classes = y_pred.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{fn}: `target` labels must be in [0, {classes}); received labels from "
                         f"{labels.min()} to {labels.max()} (the output has {classes} classes)")
    one_hot = np.zeros(y_pred.shape, dtype=y_pred.dtype)
    np.put_along_axis(one_hot, labels.astype(np.int64)[..., None], 1, axis=-1)
    return one_hot


@_loss("dense")
def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """The binary cross-entropy scaled by ``(1 - p_t) ** gamma`` (p_t: the probability given to
    the true value), so easy samples weigh less; ``alpha`` balances the classes when asked.
    Mean over the last axis."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    bce = ops.binary_crossentropy(y_true, y_pred, from_logits=from_logits)
    p = ops.sigmoid(y_pred) if from_logits else y_pred
    p_t = ops.add(ops.multiply(y_true, p), ops.multiply(ops.subtract(1.0, y_true), ops.subtract(1.0, p)))
    focal = ops.multiply(ops.power(ops.subtract(1.0, p_t), np.asarray(gamma, p_t.dtype)), bce)
    if apply_class_balancing:
        balance = ops.add(ops.multiply(y_true, alpha), ops.multiply(ops.subtract(1.0, y_true), 1.0 - alpha))
        focal = ops.multiply(balance, focal)
    return ops.mean(focal, axis=axis)


@_loss("dense")
def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """The categorical cross-entropy of each class scaled by ``alpha * (1 - p) ** gamma``, with
    the probabilities clipped to [epsilon, 1 - epsilon] as Keras 3 does; summed over classes."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / y_pred.shape[-1])
    p = ops.softmax(y_pred, axis) if from_logits else y_pred
    p = ops.clip(ops.divide(p, ops.sum(p, axis=axis, keepdims=True)), _EPSILON, 1.0 - _EPSILON)
    cce = ops.negative(ops.multiply(y_true, ops.log(p)))
    weight = ops.multiply(ops.power(ops.subtract(1.0, p), np.asarray(gamma, p.dtype)), alpha)
    return ops.sum(ops.multiply(weight, cce), axis=axis)


@_loss("dense", aliases=("mse",))
def mean_squared_error(y_true, y_pred):
    """mean((y_pred - y_true) ** 2) over the last axis."""
    return ops.mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


@_loss("dense", aliases=("mae",))
def mean_absolute_error(y_true, y_pred):
    """mean(|y_pred - y_true|) over the last axis."""
    return ops.mean(ops.abs(ops.subtract(y_pred, y_true)), axis=-1)


_EPSILON = 1e-7  # Keras's backend epsilon, used where a loss divides or takes a logarithm


def _eps_like(x):
    return np.asarray(_EPSILON, dtype=x.dtype if np.issubdtype(np.dtype(x.dtype), np.floating) else "float32")


@_loss("dense", aliases=("mape",))
def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(|y_true - y_pred| / max(|y_true|, epsilon)) over the last axis."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    scale = ops.maximum(ops.abs(y_true), _eps_like(y_pred))
    return ops.multiply(ops.mean(ops.abs(ops.divide(ops.subtract(y_true, y_pred), scale)), axis=-1),
                        np.asarray(100.0, y_pred.dtype))


@_loss("dense", aliases=("msle",))
def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)) ** 2) over the last axis."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    eps = _eps_like(y_pred)
    first = ops.log(ops.add(ops.maximum(y_pred, eps), 1.0))
    second = ops.log(ops.add(ops.maximum(y_true, eps), 1.0))
    return ops.mean(ops.square(ops.subtract(first, second)), axis=-1)


def _hinge_labels(y_true):
    """Labels in {0, 1} become {-1, 1}, as Keras does for the hinge losses."""
    values = y_true.data
    if values.size and np.all((values == 0) | (values == 1)):
        return Tensor(2.0 * values - 1.0)
    return y_true


@_loss("dense")
def hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; labels -1/1 (0/1 are converted)."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    margin = ops.subtract(1.0, ops.multiply(_hinge_labels(y_true), y_pred))
    return ops.mean(ops.relu(margin), axis=-1)


@_loss("dense")
def squared_hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0) ** 2) over the last axis; labels -1/1 (0/1 are converted)."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    margin = ops.subtract(1.0, ops.multiply(_hinge_labels(y_true), y_pred))
    return ops.mean(ops.square(ops.relu(margin)), axis=-1)


@_loss("dense")
def categorical_hinge(y_true, y_pred):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) over the last axis."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    positive = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    negative = ops.max(ops.multiply(ops.subtract(1.0, y_true), y_pred), axis=-1)
    return ops.relu(ops.add(ops.subtract(negative, positive), 1.0))


@_loss("dense", aliases=("huber_loss",))
def huber(y_true, y_pred, delta: float = 1.0):
    """mean(0.5 * e**2 where |e| <= delta, else delta * |e| - 0.5 * delta**2), e = y_pred - y_true."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    error = ops.subtract(y_pred, y_true)
    size = ops.abs(error)
    quadratic = ops.multiply(ops.square(error), 0.5)
    linear = ops.subtract(ops.multiply(size, float(delta)), 0.5 * float(delta) ** 2)
    return ops.mean(ops.where(size.data <= delta, quadratic, linear), axis=-1)


@_loss("dense", aliases=("logcosh",))
def log_cosh(y_true, y_pred):
    """mean(log(cosh(y_pred - y_true))) over the last axis, computed without overflow."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    x = ops.subtract(y_pred, y_true)
    value = ops.subtract(ops.add(x, ops.softplus(ops.multiply(x, -2.0))), float(np.log(2.0)))
    return ops.mean(value, axis=-1)


@_loss("dense", aliases=("kld", "kullback_leibler_divergence"))
def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [epsilon, 1]."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    y_true = ops.clip(y_true, _EPSILON, 1.0)
    y_pred = ops.clip(y_pred, _EPSILON, 1.0)
    return ops.sum(ops.multiply(y_true, ops.log(ops.divide(y_true, y_pred))), axis=-1)


@_loss("dense")
def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + epsilon)) over the last axis."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    return ops.mean(ops.subtract(y_pred, ops.multiply(y_true, ops.log(ops.add(y_pred, _EPSILON)))), axis=-1)


@_loss("dense")
def cosine_similarity(y_true, y_pred, axis: int = -1):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) along ``axis`` (-1 for identical directions)."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    return ops.negative(ops.sum(ops.multiply(_l2_normalize(y_true, axis), _l2_normalize(y_pred, axis)), axis=axis))


def _l2_normalize(x, axis: int):
    norm = ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), np.asarray(1e-12, x.dtype)))
    return ops.divide(x, norm)


def _as_pair(y_true, y_pred):
    """Tensors of one floating dtype (the prediction's)."""
    y_pred = y_pred if isinstance(y_pred, Tensor) else Tensor(np.asarray(y_pred, dtype="float32"))
    if not isinstance(y_true, Tensor) or y_true.dtype != y_pred.dtype:
        y_true = Tensor(np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true, dtype=y_pred.dtype))
    return y_true, y_pred
