"""The ``training_config`` attribute: loss, metrics, loss weights and the optimizer's config.

Written so that Keras 3's ``load_model`` compiles the model (``learning_rate`` rather than
``lr``, an explicit ``loss_weights``); read from the forms of Keras 1 (``lr``), tf.keras 2
(``Custom>SGD``, metrics as nested ``MeanMetricWrapper`` dicts) and Keras 3, learning-rate
schedules included (``{'class_name': 'ExponentialDecay', 'config': ...}``).
"""

from __future__ import annotations

import inspect
import warnings

from kerasette import losses as klosses
from kerasette import metrics as kmetrics
from kerasette import registry
from kerasette.optimizers import schedules
from kerasette.saving import names
from kerasette.saving.errors import CheckpointError

# Keras 3 optimizer options that carry no meaning in kerasette when they hold these values.
_INERT_OPTIMIZER_OPTIONS = {"centered": (False,), "momentum": (0, 0.0), "weight_decay": (None, 0, 0.0)}


def _serialize_fn(fn):
    """A loss as Keras writes it. A short name given to compile (``'mse'``) is written under its
    full name (``'mean_squared_error'``): Keras 3 reads the full names only."""
    if fn is None:
        return fn
    if isinstance(fn, str):
        found = registry.lookup("loss", fn)
        return registry.name_of("loss", found) if callable(found) and not isinstance(found, type) else fn
    if isinstance(fn, dict):
        return {k: _serialize_fn(v) for k, v in fn.items()}
    if isinstance(fn, (list, tuple)):
        return [_serialize_fn(v) for v in fn]
    return klosses.serialize(fn)


def _serialize_metric(metric):
    """A metric as Keras writes it: its name, or a `Metric` object's ``{'class_name', 'config'}``."""
    if isinstance(metric, str):
        return metric
    if hasattr(metric, "get_config") and hasattr(metric, "update_state"):
        return registry.serialize("metric", metric)
    return getattr(metric, "__name__", str(metric))


def optimizer_config(optimizer) -> dict:
    """``{'class_name', 'config'}`` of an optimizer, as Keras 3 reads it."""
    config = dict(optimizer.get_config())
    if "lr" in config:
        config.setdefault("learning_rate", config.pop("lr"))
    if not config.get("decay"):
        config.pop("decay", None)  # Keras 3 warns about `decay` even when it is 0
    elif isinstance(config.get("learning_rate"), (int, float)):
        # Keras 3 ignores `decay`: it reads the same decay as InverseTimeDecay(lr, 1, decay), and
        # kerasette reads `decay` back from the pair (see `_keras1_decay`)
        config["learning_rate"] = schedules.serialize(schedules.InverseTimeDecay(
            config["learning_rate"], decay_steps=1, decay_rate=config["decay"]))
    return {"class_name": type(optimizer).__name__, "config": config}


def _keras1_decay(config: dict) -> None:
    """Undoes `optimizer_config`'s translation of ``decay`` for Keras 3: the number ``learning_rate``
    again when the schedule is exactly ``InverseTimeDecay(learning_rate, 1, decay)``."""
    rate, decay = config.get("learning_rate"), config.get("decay")
    if not decay or not isinstance(rate, dict) or rate.get("class_name") != "InverseTimeDecay":
        return
    inner = rate.get("config") or {}
    if inner.get("decay_steps") == 1 and inner.get("decay_rate") == decay and not inner.get("staircase"):
        config["learning_rate"] = inner.get("initial_learning_rate")


def training_config(model) -> dict | None:
    """The training config of a compiled model (None when it was never compiled)."""
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        return None
    compiled = model.get_compile_config()
    weights = compiled["loss_weights"]
    if isinstance(weights, (list, tuple)) and all(float(w) == 1.0 for w in weights):
        weights = None
    metrics = [_serialize_metric(m) for m in compiled["metrics"]]
    weighted = [_serialize_metric(m) for m in compiled.get("weighted_metrics") or []]
    return {"loss": _serialize_fn(compiled["loss"]), "metrics": metrics, "weighted_metrics": weighted or None,
            "loss_weights": weights, "sample_weight_mode": None,
            "optimizer_config": optimizer_config(compiled["optimizer"])}


def _metric_names(spec, custom_objects) -> list:
    """Flat list of metric names/callables from Keras 1/2/3 metric configs."""
    out: list = []
    items = spec.values() if isinstance(spec, dict) else spec if isinstance(spec, list) else [spec]
    for item in items:
        if item is None:
            continue
        if isinstance(item, (list, dict)) and not (isinstance(item, dict) and "class_name" in item):
            out.extend(_metric_names(item, custom_objects))
            continue
        if isinstance(item, dict):  # tf.keras 2: MeanMetricWrapper {'name': 'accuracy', 'fn': ...}
            config = item.get("config") or {}
            custom = names.resolve_function("metric", item, custom_objects, "")
            if not isinstance(custom, dict):
                item = custom
            elif item.get("class_name") != "MeanMetricWrapper" and registry.lookup("metric", item["class_name"]):
                pass  # a Metric class of ours (Precision, AUC, ...): built from its config
            else:
                item = config.get("name") or config.get("fn")
        elif isinstance(item, str):
            item = names.resolve_function("metric", item, custom_objects, "")
        if item is not None and item not in out:
            out.append(item)
    return out


def _known_metrics(metrics: list, filepath) -> list:
    """The metrics kerasette knows; others are skipped with a warning (they do not affect the model)."""
    known = []
    for metric in metrics:
        try:
            kmetrics.get(metric)
        except (ValueError, TypeError):
            warnings.warn(f"{filepath}: training_config: metric {metric!r} is not known to kerasette and is "
                          "left out; pass it with custom_objects to keep it", stacklevel=4)
            continue
        known.append(metric)
    return known


def _loss(spec, custom_objects, where: str):
    if isinstance(spec, list):
        return [_loss(s, custom_objects, where) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:
        return {k: _loss(v, custom_objects, where) for k, v in spec.items()}
    value = names.resolve_function("loss", spec, custom_objects, where)
    return klosses.get(value) if not callable(value) else value


def _optimizer(spec, custom_objects, where: str):
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise CheckpointError(f"{where}: optimizer_config should be a dict with 'class_name'; found {spec!r:.100}")
    cls = names.resolve("optimizer", spec["class_name"], custom_objects, f"{where}: ")
    config = dict(spec.get("config") or {})
    if "lr" in config:
        config.setdefault("learning_rate", config.pop("lr"))
    _keras1_decay(config)
    if isinstance(config.get("learning_rate"), dict):  # a schedule, resolved through the registry
        config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
    for key, inert in _INERT_OPTIMIZER_OPTIONS.items():
        if key in config and config[key] in inert and key not in _init_arguments(cls):
            config.pop(key)
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)


def _init_arguments(cls) -> set[str]:
    try:
        return set(inspect.signature(cls.__init__).parameters)
    except (TypeError, ValueError):
        return set()


def compile_from_training_config(model, config, custom_objects=None, filepath=None) -> None:
    """Compiles ``model`` as the ``training_config`` describes."""
    where = "training_config"
    if not isinstance(config, dict):
        raise CheckpointError(f"{where} should be a JSON object; found {type(config).__name__}", filepath)
    try:
        optimizer = _optimizer(config.get("optimizer_config"), custom_objects, f"{where}: optimizer_config")
        loss = _loss(config.get("loss"), custom_objects, f"{where}: loss")
        metrics = _known_metrics(_metric_names(config.get("metrics") or [], custom_objects), filepath)
        weighted = _known_metrics(_metric_names(config.get("weighted_metrics") or [], custom_objects), filepath)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=config.get("loss_weights"),
                      weighted_metrics=weighted)
    except CheckpointError as exc:
        raise CheckpointError(exc.detail, filepath) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{where}: cannot compile the model from it ({type(exc).__name__}: {exc})",
                              filepath) from None
