"""Loss functions: ``loss(y_true, y_pred)`` returns one value per sample (a Tensor).

Each built-in loss registers itself with its Keras names and declares two facts the training
loop needs: the targets it takes (``'dense'``: the output's shape; ``'sparse'``: integer class
labels) and the accuracy that ``metrics=['accuracy']`` means with it. A loss of your own (any
``fn(y_true, y_pred)``, written with ``K.*`` ops or tensor operators) declares nothing and gets
its targets unchecked.
"""

from __future__ import annotations

from collections.abc import Callable

from kerasette import registry
from kerasette.backend import functions as kfunctions
from kerasette.backend import ops


def _loss(targets: str, accuracy: str | None = None, aliases: tuple[str, ...] = ()):
    def decorate(fn):
        fn.targets = targets
        fn.accuracy = accuracy
        return registry.register("loss", aliases=aliases)(fn)

    return decorate


@_loss("dense", aliases=("CategoricalCrossentropy",))
def categorical_crossentropy(y_true, y_pred):
    """-sum(y_true * log(y_pred)) per sample; exact from the logits when y_pred is a softmax."""
    return ops.categorical_crossentropy(y_true, y_pred)


@_loss("sparse", accuracy="sparse_categorical_accuracy", aliases=("SparseCategoricalCrossentropy",))
def sparse_categorical_crossentropy(y_true, y_pred):
    """Categorical cross-entropy with integer labels instead of one-hot targets."""
    return kfunctions.sparse_categorical_crossentropy(y_true, y_pred)


@_loss("dense", accuracy="binary_accuracy", aliases=("BinaryCrossentropy",))
def binary_crossentropy(y_true, y_pred):
    """Mean over the last axis of the elementwise binary cross-entropy."""
    return ops.mean(ops.binary_crossentropy(y_true, y_pred), axis=-1)


@_loss("dense", aliases=("mse", "MeanSquaredError"))
def mean_squared_error(y_true, y_pred):
    """mean((y_pred - y_true) ** 2) over the last axis."""
    return ops.mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


@_loss("dense", aliases=("mae", "MeanAbsoluteError"))
def mean_absolute_error(y_true, y_pred):
    """mean(|y_pred - y_true|) over the last axis."""
    return ops.mean(ops.abs(ops.subtract(y_pred, y_true)), axis=-1)


def get(identifier) -> Callable:
    """A loss function from a name (Keras 1/2/3 spellings), Keras 3's dict, or a callable."""
    if isinstance(identifier, dict):  # Keras 3 writes {'class_name': ..., 'config': ...}
        identifier = identifier.get("class_name") or identifier.get("config", {}).get("name")
    if isinstance(identifier, str):
        return registry.get("loss", identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"loss must be a name or a callable; received {identifier!r}")


def serialize(loss: Callable) -> str:
    """The name a loss is saved under (its registered name, else its ``__name__``)."""
    return registry.name_of("loss", loss) or getattr(loss, "__name__", str(loss))


def target_kind(loss: Callable) -> str | None:
    """``'dense'`` or ``'sparse'`` for a built-in loss, None for one of your own."""
    return getattr(loss, "targets", None) if registry.name_of("loss", loss) else None
