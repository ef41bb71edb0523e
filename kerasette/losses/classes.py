"""Keras 3's loss classes: objects holding a loss's options (``from_logits``, ``label_smoothing``,
``delta``, ``axis``, ...) and its reduction, saved in configs as ``{'class_name', 'config'}``.

``loss.call(y_true, y_pred)`` gives one value per sample (what the training loop weights and
averages); ``loss(y_true, y_pred, sample_weight=None)`` reduces them as ``reduction`` says, as
Keras 3 does: ``'sum_over_batch_size'`` (the default) and ``'mean'`` divide the weighted sum by
the number of values, ``'mean_with_sample_weight'`` by the sum of the weights, ``'sum'`` does
not divide, ``'none'`` keeps the values. A mask on the predictions (``y_pred._keras_mask``, the
output of a masked sequence model) leaves out the masked steps (see `reduce_values`).

Example:
    >>> import numpy as np
    >>> loss = CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    >>> loss.get_config()['label_smoothing']
    0.1
"""

from __future__ import annotations

import numpy as np

from kerasette import registry
from kerasette.backend import ops
from kerasette.backend.tensor import Tensor
from kerasette.losses import functions as fns
from kerasette.utils.masks import align_mask

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", "auto", "mean_with_sample_weight")


class Loss:
    """Base class of losses: subclasses implement ``call(y_true, y_pred)`` (one value per sample)."""

    targets = "dense"  # 'dense': targets shaped like the output; 'sparse': integer labels

    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: argument `reduction` must be one of {', '.join(REDUCTIONS)}; "
                             f"received reduction={reduction!r}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = "sum_over_batch_size" if reduction == "auto" else reduction

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred)")

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = y_pred if isinstance(y_pred, Tensor) else Tensor(np.asarray(y_pred, "float32"))
        values = self.call(y_true if isinstance(y_true, Tensor) else Tensor(np.asarray(y_true)), y_pred)
        return reduce_values(values, sample_weight, self.reduction, getattr(y_pred, "_keras_mask", None))

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict):
        config = {k: v for k, v in config.items() if k != "dtype"}
        return cls(**config)


def _snake(name: str) -> str:
    """``MeanSquaredError`` -> ``mean_squared_error``."""
    return "".join(("_" + ch.lower()) if ch.isupper() and i and not name[i - 1].isupper() else ch.lower()
                   for i, ch in enumerate(name))


def reduce_values(values: Tensor, sample_weight, reduction: str, mask=None) -> Tensor:
    """Weights ``values`` (one per sample, or per sample and step) by ``sample_weight`` and
    reduces them as Keras 3 does.

    ``sample_weight`` has one weight per sample (batch,) or per sample and step (batch, steps);
    per-sample weights apply to every step of their sample (Keras 2's rule: Keras 3.15 fails to
    broadcast them against a (batch, steps) mask).

    ``mask`` (booleans over the leading axes of ``values``: an output's mask, batch and steps,
    from ``Embedding(mask_zero=True)`` or ``Masking``) marks the values that count, as Keras 3's
    losses apply their predictions' mask: masked-out values weigh 0; with the averaging
    reductions (``'sum_over_batch_size'``, ``'mean'``) the kept ones weigh ``total / kept``, so
    the loss is the weighted sum over the kept values divided by their number (0 when none is
    kept); with ``'mean_with_sample_weight'`` the divisor is the sum of the kept values' weights.
    """
    if mask is not None:
        keep = align_mask(mask, values.shape, "loss")
        weight = keep.astype(values.dtype)
        if reduction in ("sum_over_batch_size", "mean"):
            kept = float(np.count_nonzero(keep))
            weight = weight * np.asarray(keep.size / kept if kept else 0.0, values.dtype)
        if sample_weight is not None:
            given = np.asarray(sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight,
                               values.dtype)
            weight = weight * given.reshape(given.shape + (1,) * (weight.ndim - given.ndim))
        sample_weight = weight
    if sample_weight is not None:
        weight = np.asarray(sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight, values.dtype)
        weight = weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim))
        values = ops.multiply(values, weight)
    if reduction == "none":
        return values
    if reduction == "sum":
        return ops.sum(values)
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        total = float(np.sum(weight))
        return ops.multiply(ops.sum(values), np.asarray(1.0 / total if total else 0.0, values.dtype))
    return ops.mean(values)


def _register(cls):
    return registry.register("loss")(cls)


@_register
class CategoricalCrossentropy(Loss):
    """Categorical cross-entropy of one-hot targets; ``label_smoothing`` mixes them with the
    uniform distribution; ``from_logits`` when the predictions are logits. Probabilities are
    normalised and clipped to [1e-7, 1 - 1e-7] as Keras 3 does (see
    `functions.categorical_crossentropy`)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(name, reduction, dtype)
        if axis not in (-1,):
            raise ValueError(f"CategoricalCrossentropy: only axis=-1 is supported; received axis={axis!r}")
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), float(label_smoothing), axis

    def call(self, y_true, y_pred):
        return fns.categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits,
                                            label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


@_register
class SparseCategoricalCrossentropy(Loss):
    """Categorical cross-entropy of integer labels; ``from_logits`` when the predictions are logits
    (probabilities are clipped as in `CategoricalCrossentropy`)."""

    targets = "sparse"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name, reduction, dtype)
        if ignore_class is not None:
            raise ValueError(f"SparseCategoricalCrossentropy: argument `ignore_class` is not supported; "
                             f"received ignore_class={ignore_class!r}")
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return fns.sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": None}


@_register
class BinaryCrossentropy(Loss):
    """Mean binary cross-entropy over the last axis; ``label_smoothing`` moves targets toward 0.5;
    probabilities are clipped to [1e-7, 1 - 1e-7] as Keras 3 does (see
    `functions.binary_crossentropy`)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(name, reduction, dtype)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), float(label_smoothing), axis

    def call(self, y_true, y_pred):
        return fns.binary_crossentropy(y_true, y_pred, from_logits=self.from_logits,
                                       label_smoothing=self.label_smoothing, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


def _wrapping(function, **options):
    """A class for a loss function whose only options are ``options`` (name: default)."""

    class Wrapped(Loss):
        def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
            unknown = sorted(set(kwargs) - set(options))
            if unknown:
                raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {unknown}")
            super().__init__(name or function.__name__, reduction, dtype)
            self.options = {**options, **kwargs}

        def call(self, y_true, y_pred):
            return function(y_true, y_pred, **self.options)

        def get_config(self):
            return {**super().get_config(), **self.options}

    return Wrapped


MeanSquaredError = _register(type("MeanSquaredError", (_wrapping(fns.mean_squared_error),), {}))
MeanAbsoluteError = _register(type("MeanAbsoluteError", (_wrapping(fns.mean_absolute_error),), {}))
MeanAbsolutePercentageError = _register(type("MeanAbsolutePercentageError",
                                             (_wrapping(fns.mean_absolute_percentage_error),), {}))
MeanSquaredLogarithmicError = _register(type("MeanSquaredLogarithmicError",
                                             (_wrapping(fns.mean_squared_logarithmic_error),), {}))
Hinge = _register(type("Hinge", (_wrapping(fns.hinge),), {}))
SquaredHinge = _register(type("SquaredHinge", (_wrapping(fns.squared_hinge),), {}))
CategoricalHinge = _register(type("CategoricalHinge", (_wrapping(fns.categorical_hinge),), {}))
Huber = _register(type("Huber", (_wrapping(fns.huber, delta=1.0),), {}))
LogCosh = _register(type("LogCosh", (_wrapping(fns.log_cosh),), {}))
KLDivergence = _register(type("KLDivergence", (_wrapping(fns.kl_divergence),), {}))
Poisson = _register(type("Poisson", (_wrapping(fns.poisson),), {}))
CosineSimilarity = _register(type("CosineSimilarity", (_wrapping(fns.cosine_similarity, axis=-1),), {}))
BinaryFocalCrossentropy = _register(type("BinaryFocalCrossentropy", (_wrapping(
    fns.binary_focal_crossentropy, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
    label_smoothing=0.0, axis=-1),), {}))
CategoricalFocalCrossentropy = _register(type("CategoricalFocalCrossentropy", (_wrapping(
    fns.categorical_focal_crossentropy, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1),),
    {}))
