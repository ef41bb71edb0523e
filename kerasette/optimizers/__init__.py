"""Optimizers: the update rules of Keras 3, applied in place, and learning-rate schedules.

``SGD`` (momentum, Nesterov; a fused kernel for large weights), ``RMSprop`` (momentum,
centered), ``Adagrad``, ``Adadelta``, ``Adam`` (amsgrad), ``AdamW``, ``Adamax``, ``Nadam``,
``Ftrl`` and ``Lion``, each with its rule written in its docstring; every one takes
``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``weight_decay``, Keras 3's moving average of
the weights (``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``; ``fit`` ends with the
weights replaced by their averages) and Keras 1/2's ``lr`` and ``decay``. ``learning_rate`` may
be a schedule from `kerasette.optimizers.schedules`.

Example:
    >>> from kerasette import optimizers
    >>> opt = optimizers.get("adam")
    >>> optimizers.serialize(opt)["class_name"]
    'Adam'
"""

from __future__ import annotations

from kerasette import registry
from kerasette.optimizers import schedules
from kerasette.optimizers.adam import Adam, Adamax, AdamW, Nadam
from kerasette.optimizers.adaptive import Adadelta, Adagrad, RMSprop
from kerasette.optimizers.base import Optimizer
from kerasette.optimizers.ftrl import Ftrl
from kerasette.optimizers.lion import Lion
from kerasette.optimizers.schedules import LearningRateSchedule
from kerasette.optimizers.sgd import FUSED_UPDATE_MIN_SIZE, SGD

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "FUSED_UPDATE_MIN_SIZE", "Ftrl",
           "LearningRateSchedule", "Lion", "Nadam", "Optimizer", "RMSprop", "deserialize", "get", "schedules",
           "serialize"]


def get(identifier) -> Optimizer:
    """An optimizer from a name (default settings), a config dict or an instance."""
    if isinstance(identifier, Optimizer) or hasattr(identifier, "apply_gradients"):
        return identifier
    if isinstance(identifier, str):
        return registry.get("optimizer", identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(f"optimizer must be a name or an Optimizer; received {identifier!r}")


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """An optimizer from ``{'class_name', 'config'}`` (Keras 1, 2 or 3 hyperparameter names; a
    learning-rate schedule given as its own ``{'class_name', 'config'}``)."""
    spec = {"class_name": config.get("class_name"), "config": dict(config.get("config") or {})}
    if isinstance(spec["config"].get("learning_rate"), dict):
        spec["config"]["learning_rate"] = schedules.deserialize(spec["config"]["learning_rate"], custom_objects)
    return registry.deserialize("optimizer", spec, custom_objects)


def serialize(optimizer: Optimizer) -> dict:
    """``{'class_name', 'config'}`` as Keras writes it."""
    return registry.serialize("optimizer", optimizer)
