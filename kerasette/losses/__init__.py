"""Losses: functions ``loss(y_true, y_pred)`` giving one value per sample (``functions.py``), and
Keras 3's classes holding a loss's options and reduction (``classes.py``). The cross-entropies of
probabilities clip them as Keras 3 does, also after a softmax or sigmoid layer (``clipped.py``).

Each built-in registers itself with its Keras names and declares the targets it takes
(``targets``: ``'dense'``, the output's shape, or ``'sparse'``, integer labels). A loss of your
own (any ``fn(y_true, y_pred)`` written with ``K.*`` ops or tensor operators, or a `Loss`
subclass) declares nothing and gets its targets unchecked.
"""

from __future__ import annotations

from collections.abc import Callable

from kerasette import registry
from kerasette.losses import functions
from kerasette.losses.classes import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    Loss,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    reduce_values,
)
from kerasette.losses.functions import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)

# Keras's short names (``losses.mse``, ``losses.kld``) too, as registered with each function.
globals().update({name: registry.get("loss", name) for name in registry.known("loss") if name.islower()})


def get(identifier) -> Callable:
    """A loss from a name (a function's Keras 1/2/3 spellings; a class name gives an instance with
    its defaults), Keras 3's ``{'class_name', 'config'}`` (an instance with that config), a
    `Loss` instance or any callable."""
    if isinstance(identifier, dict) or isinstance(identifier, str):
        found = registry.deserialize("loss", identifier)
        return found() if isinstance(found, type) else found
    if callable(identifier):
        return identifier
    raise TypeError(f"loss must be a name or a callable; received {identifier!r}")


def serialize(loss):
    """A function's registered name (else its ``__name__``); a `Loss` as ``{'class_name', 'config'}``."""
    if isinstance(loss, Loss):
        return registry.serialize("loss", loss)
    return registry.name_of("loss", loss) or getattr(loss, "__name__", str(loss))


def target_kind(loss) -> str | None:
    """``'dense'`` or ``'sparse'`` for a built-in loss (function or class), None for your own."""
    kind = getattr(loss, "targets", None)
    return kind if registry.name_of("loss", loss) or registry.name_of("loss", type(loss)) else None


def per_sample(loss) -> Callable:
    """The function giving one value per sample: a `Loss`'s ``call``, or the function itself."""
    return loss.call if isinstance(loss, Loss) else loss


__all__ = ["BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy",
           "CategoricalFocalCrossentropy", "binary_focal_crossentropy", "categorical_focal_crossentropy", "CategoricalHinge", "CosineSimilarity", "Hinge",
           "Huber", "KLDivergence", "LogCosh", "Loss", "MeanAbsoluteError", "MeanAbsolutePercentageError",
           "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson", "SparseCategoricalCrossentropy",
           "SquaredHinge", "binary_crossentropy", "categorical_crossentropy", "categorical_hinge",
           "cosine_similarity", "functions", "get", "hinge", "huber", "kl_divergence", "log_cosh",
           "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
           "mean_squared_logarithmic_error", "per_sample", "poisson", "reduce_values", "serialize",
           "sparse_categorical_crossentropy", "squared_hinge", "target_kind"]
