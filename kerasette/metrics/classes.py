"""Stateful metrics, as in Keras 3: ``update_state(y_true, y_pred, sample_weight=None)`` adds a
batch, ``result()`` gives the value over every batch since ``reset_state()``. The training loop
resets them at each epoch's start, so the logged value is the epoch's.

Example:
    >>> import numpy as np
    >>> m = Precision()
    >>> m.update_state(np.array([1, 0, 1, 1]), np.array([0.9, 0.8, 0.2, 0.7]))
    >>> round(float(m.result()), 4)
    0.6667
"""

from __future__ import annotations

import numpy as np

from kerasette import registry
from kerasette.metrics import functions as fns
from kerasette.utils.masks import align_mask

_EPSILON = 1e-7


def _register(cls):
    """Registers a metric class under its name and, as Keras 3 does, its snake-case name
    (``'auc'``, ``'precision'``) unless a function holds that name already."""
    snake = _snake(cls.__name__)
    aliases = () if registry.lookup("metric", snake) is not None else (snake,)
    return registry.register("metric", aliases=aliases)(cls)


class Metric:
    """Base class: subclasses implement ``update_state``, ``result`` and ``reset_state``.

    ``applies_mask``: ``update_state`` takes ``mask=`` (the output's mask, batch and steps) and
    leaves out the masked steps; in Keras 3 the metrics built on a function of ``(y_true,
    y_pred)`` do (`MeanMetricWrapper`: accuracy, mse, ...), the others (Precision, AUC, ...) see
    every step."""

    applies_mask = False

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self) -> None:
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The metric of this batch alone (the state is left as it was)."""
        saved = dict(self.__dict__)
        self.reset_state()
        self.update_state(y_true, y_pred, sample_weight)
        value = self.result()
        self.__dict__.update(saved)
        return value

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**{k: v for k, v in config.items() if k != "dtype"})


def _snake(name: str) -> str:
    return "".join(("_" + ch.lower()) if ch.isupper() and i and not name[i - 1].isupper() else ch.lower()
                   for i, ch in enumerate(name))


def _weights(sample_weight, values: np.ndarray) -> np.ndarray:
    if sample_weight is None:
        return np.ones(values.shape, dtype=np.float64)
    weight = np.asarray(sample_weight, dtype=np.float64)
    return np.broadcast_to(weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim)), values.shape)


@_register
class Mean(Metric):
    """The (weighted) mean of every value given."""

    def reset_state(self):
        self.total, self.count = 0.0, 0.0

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values, dtype=np.float64)
        weight = _weights(sample_weight, values)
        self.total += float(np.sum(values * weight))
        self.count += float(np.sum(weight))

    def result(self):
        return self.total / self.count if self.count else 0.0


@_register
class Sum(Metric):
    """The (weighted) sum of every value given."""

    def reset_state(self):
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values, dtype=np.float64)
        self.total += float(np.sum(values * _weights(sample_weight, values)))

    def result(self):
        return self.total


@_register
class MeanMetricWrapper(Mean):
    """The mean over samples of a function ``fn(y_true, y_pred)`` of per-sample values."""

    def __init__(self, fn, name: str | None = None, dtype=None, **kwargs):
        self.fn, self.fn_kwargs = fn, kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"), dtype)

    applies_mask = True  # Keras 3: the predictions' mask weighs each value (see `update_state`)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        """Adds the batch's values of ``fn``, weighted by ``sample_weight`` (per sample, or per
        sample and step). ``mask`` (default: ``y_pred``'s ``_keras_mask``, the mask of a masked
        sequence model's output) leaves out the masked steps, as Keras 3's metrics do: it
        multiplies the weights (per-sample weights apply to each of their steps)."""
        mask = getattr(y_pred, "_keras_mask", None) if mask is None else mask
        values = np.asarray(self.fn(np.asarray(y_true), np.asarray(y_pred), **self.fn_kwargs), dtype=np.float64)
        if mask is not None:
            weight = align_mask(mask, values.shape, "metric").astype(np.float64)
            if sample_weight is not None:
                given = np.asarray(sample_weight, dtype=np.float64)
                weight = weight * given.reshape(given.shape + (1,) * (weight.ndim - given.ndim))
            sample_weight = weight
        super().update_state(values, sample_weight)

    def get_config(self):
        return {**super().get_config(), **self.fn_kwargs}


def _wrapper(name: str, fn, **defaults):
    def __init__(self, name=name, dtype=None, **kwargs):  # noqa: N807
        MeanMetricWrapper.__init__(self, fn, name, dtype, **{**defaults, **kwargs})

    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "dtype"})

    cls_name = "".join(part.capitalize() for part in name.split("_"))
    cls = type(cls_name, (MeanMetricWrapper,), {"__init__": __init__, "from_config": classmethod(from_config),
                                               "__doc__": f"The mean of `{fn.__name__}` over samples."})
    return _register(cls)


def _top_k(y_true, y_pred, k=5):
    top = np.argsort(-np.asarray(y_pred), axis=-1, kind="stable")[..., :k]
    return np.any(top == np.asarray(y_true)[..., None], axis=-1).astype("float32")


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the one-hot target's class is among the ``k`` highest predictions."""
    return _top_k(np.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the integer label is among the ``k`` highest predictions."""
    labels = np.asarray(y_true)
    if labels.ndim == np.ndim(y_pred):
        labels = labels[..., 0]
    return _top_k(labels.astype(np.int64), y_pred, k)


registry.register("metric")(top_k_categorical_accuracy)
registry.register("metric")(sparse_top_k_categorical_accuracy)
Accuracy = _wrapper("accuracy", lambda t, p: (np.asarray(t) == np.asarray(p)).astype("float32"))
BinaryAccuracy = _wrapper("binary_accuracy", fns.binary_accuracy, threshold=0.5)
CategoricalAccuracy = _wrapper("categorical_accuracy", fns.categorical_accuracy)
SparseCategoricalAccuracy = _wrapper("sparse_categorical_accuracy", fns.sparse_categorical_accuracy)
TopKCategoricalAccuracy = _wrapper("top_k_categorical_accuracy", top_k_categorical_accuracy, k=5)
SparseTopKCategoricalAccuracy = _wrapper("sparse_top_k_categorical_accuracy", sparse_top_k_categorical_accuracy, k=5)
MeanSquaredError = _wrapper("mean_squared_error", fns.mean_squared_error)
MeanAbsoluteError = _wrapper("mean_absolute_error", fns.mean_absolute_error)


@_register
class RootMeanSquaredError(Metric):
    """sqrt(the mean of the squared errors over every value given)."""

    def reset_state(self):
        self.total, self.count = 0.0, 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        error = np.square(np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64))
        weight = _weights(sample_weight, error) if sample_weight is None else _weights(
            sample_weight, error.mean(axis=-1))[..., None] * np.ones_like(error)
        self.total += float(np.sum(error * weight))
        self.count += float(np.sum(weight))

    def result(self):
        return float(np.sqrt(self.total / self.count)) if self.count else 0.0


class _Confusion(Metric):
    """True/false positives and negatives at ``thresholds`` (or among the ``top_k`` predictions),
    for one class (``class_id``) or all."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        default = 0.5 if top_k is None else -np.inf  # with top_k, every one of the top k counts (Keras)
        self.thresholds = np.atleast_1d(np.asarray(default if thresholds is None else thresholds, dtype=np.float64))
        self.top_k, self.class_id = top_k, class_id
        super().__init__(name, dtype)

    def reset_state(self):
        shape = (len(self.thresholds),) if hasattr(self, "thresholds") else (1,)
        self.tp, self.fp, self.fn = (np.zeros(shape) for _ in range(3))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true, np.float64) > 0.5
        y_pred = np.asarray(y_pred, np.float64)
        y_true = np.broadcast_to(y_true, y_pred.shape) if y_true.shape != y_pred.shape else y_true
        if self.top_k is not None:
            kth = -np.sort(-y_pred, axis=-1)[..., self.top_k - 1:self.top_k]
            y_pred = np.where(y_pred >= kth, y_pred, -np.inf)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        weight = _weights(sample_weight, y_pred.reshape(y_pred.shape[0], -1).mean(axis=1) if y_pred.ndim > 1
                          else y_pred)
        weight = weight.reshape(weight.shape + (1,) * (y_pred.ndim - weight.ndim)) * np.ones_like(y_pred)
        for i, threshold in enumerate(self.thresholds):
            positive = y_pred > threshold
            self.tp[i] += np.sum(weight * (positive & y_true))
            self.fp[i] += np.sum(weight * (positive & ~y_true))
            self.fn[i] += np.sum(weight * (~positive & y_true))

    def _scalar(self, values):
        return float(values[0]) if self.init_thresholds is None or np.ndim(self.init_thresholds) == 0 else values

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


@_register
class Precision(_Confusion):
    """tp / (tp + fp): of the predictions above the threshold, the fraction that are right."""

    def result(self):
        return self._scalar(np.divide(self.tp, self.tp + self.fp, out=np.zeros_like(self.tp),
                                      where=(self.tp + self.fp) > 0))


@_register
class Recall(_Confusion):
    """tp / (tp + fn): of the positive targets, the fraction predicted above the threshold."""

    def result(self):
        return self._scalar(np.divide(self.tp, self.tp + self.fn, out=np.zeros_like(self.tp),
                                      where=(self.tp + self.fn) > 0))


@_register
class AUC(Metric):
    """Area under the ROC or precision-recall curve, from confusion counts at ``num_thresholds``
    thresholds spread over [0, 1] (Keras 3's method: trapezoids for ROC, Davis and Goadrich's
    interpolation for PR)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if curve not in ("ROC", "PR"):
            raise ValueError(f"AUC: argument `curve` must be 'ROC' or 'PR'; received curve={curve!r}")
        if summation_method != "interpolation" or multi_label or thresholds is not None or from_logits:
            raise ValueError("AUC: only summation_method='interpolation', multi_label=False, from_logits=False "
                             "and evenly spaced thresholds are supported")
        self.num_thresholds, self.curve, self.summation_method = int(num_thresholds), curve, summation_method
        inner = [(i + 1) / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
        self.thresholds = np.array([0.0 - _EPSILON, *inner, 1.0 + _EPSILON])
        super().__init__(name or "auc", dtype)

    def reset_state(self):
        n = len(self.thresholds) if hasattr(self, "thresholds") else 1
        self.tp, self.fp, self.tn, self.fn = (np.zeros(n) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, np.float64)
        weight = np.ones(y_pred.shape) if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, np.float64).reshape(-1, *([1] * (y_pred.ndim - 1))), y_pred.shape)
        y_true = (np.broadcast_to(np.asarray(y_true, np.float64), y_pred.shape) > 0.5).ravel()
        y_pred, weight = y_pred.ravel(), weight.ravel()
        above = y_pred[None, :] > self.thresholds[:, None]
        self.tp += (above & y_true).astype(np.float64) @ weight
        self.fp += (above & ~y_true).astype(np.float64) @ weight
        self.fn += (~above & y_true).astype(np.float64) @ weight
        self.tn += (~above & ~y_true).astype(np.float64) @ weight

    def result(self):
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        if self.curve == "ROC":
            tpr = _ratio(tp, tp + fn)
            fpr = _ratio(fp, fp + tn)
            return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2.0))
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _ratio(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _ratio(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return float(np.sum(_ratio(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))))

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method}


def _ratio(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


@_register
class MeanIoU(Metric):
    """The mean over classes of intersection / union, from integer class labels (Keras 3's
    defaults, ``sparse_y_pred=True``), or the arg-max of predictions (``sparse_y_pred=False``)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        self.num_classes, self.ignore_class = int(num_classes), ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        super().__init__(name or "mean_io_u", dtype)

    def reset_state(self):
        n = getattr(self, "num_classes", 1)
        self.confusion = np.zeros((n, n))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true) if self.sparse_y_true else np.argmax(y_true, axis=self.axis)
        y_pred = np.asarray(y_pred) if self.sparse_y_pred else np.argmax(y_pred, axis=self.axis)
        t, p = y_true.astype(np.int64).ravel(), y_pred.astype(np.int64).ravel()
        weight = np.ones(t.shape) if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, np.float64).reshape(-1, *([1] * (y_true.ndim - 1))), y_true.shape).ravel()
        keep = (t != self.ignore_class) if self.ignore_class is not None else np.ones(t.shape, bool)
        np.add.at(self.confusion, (t[keep], p[keep]), weight[keep])

    def result(self):
        tp = np.diag(self.confusion)
        union = self.confusion.sum(axis=0) + self.confusion.sum(axis=1) - tp
        valid = union > 0
        return float(np.mean(tp[valid] / union[valid])) if valid.any() else 0.0

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


@_register
class F1Score(Metric):
    """The F1 score per class (``average=None``) or ``'micro'``, ``'macro'``, ``'weighted'``; a
    prediction is its row's arg-max (``threshold=None``) or every value above ``threshold``."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"F1Score: argument `average` must be None, 'micro', 'macro' or 'weighted'; received "
                             f"average={average!r}")
        self.average, self.threshold = average, threshold
        super().__init__(name, dtype)

    def reset_state(self):
        self.tp = self.fp = self.fn = self.support = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true, np.float64)
        y_pred = np.asarray(y_pred, np.float64)
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)).astype(np.float64)
        else:
            predicted = (y_pred > self.threshold).astype(np.float64)
        weight = np.ones((len(y_true), 1)) if sample_weight is None else np.asarray(sample_weight, np.float64)[:, None]
        counts = [np.sum(weight * a, axis=0) for a in (predicted * y_true, predicted * (1 - y_true),
                                                        (1 - predicted) * y_true, y_true)]
        if self.tp is None:
            self.tp, self.fp, self.fn, self.support = counts
        else:
            self.tp, self.fp, self.fn, self.support = (a + b for a, b in zip((self.tp, self.fp, self.fn, self.support),
                                                                             counts))

    def result(self):
        if self.tp is None:
            return 0.0
        tp, fp, fn = self.tp, self.fp, self.fn
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = _ratio(2 * precision * recall, precision + recall)
        if self.average == "macro":
            return float(np.mean(f1))
        if self.average == "weighted":
            return float(np.sum(f1 * _ratio(self.support, self.support.sum())))
        return float(f1) if np.ndim(f1) == 0 else f1

    def get_config(self):
        return {**super().get_config(), "average": self.average, "threshold": self.threshold}
