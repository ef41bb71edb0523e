"""The explicit registry through which every name in a file resolves to a class or function.

Loading never imports a module or runs code named by a file: a layer, model, optimizer, loss,
metric or activation name is looked up in the caller's ``custom_objects`` first, then in objects
registered with `register_serializable`, then in kerasette's own tables. An unknown name raises
a `CheckpointError` that names it and shows how to pass ``custom_objects``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kerasette.saving.errors import CheckpointError

_REGISTERED: dict[str, Any] = {}

# Keras 1 and Keras 2/3 spellings of the built-in layers that are not their class names.
LAYER_ALIASES = {
    "Convolution2D": "Conv2D",
    "MaxPool2D": "MaxPooling2D",
}


def register_serializable(obj=None, name: str | None = None):
    """Registers a custom layer, optimizer, loss, metric or activation for loading by name.

    Usable as a decorator (``@register_serializable()``) or a call. Registered names are
    process-wide; ``custom_objects`` given to a load call take precedence.

    Example:
        >>> from kerasette.layers import Layer
        >>> @register_serializable()
        ... class Scale(Layer):
        ...     pass
        >>> resolve("layer", "Scale", None) is Scale
        True
    """

    def register(target):
        key = name or getattr(target, "__name__", None)
        if not key:
            raise ValueError(f"register_serializable: cannot tell the name of {target!r}; pass name=...")
        _REGISTERED[key] = target
        return target

    return register if obj is None else register(obj)


def _builtin_tables() -> dict[str, dict[str, Any]]:
    from kerasette import activations, losses, metrics, optimizers
    from kerasette.layers import LAYER_CLASSES

    return {
        "layer": dict(LAYER_CLASSES),
        "optimizer": dict(optimizers.CLASSES),
        "loss": dict(losses.LOSSES),
        "metric": dict(metrics.METRICS),
        "activation": dict(activations._ACTIVATIONS),
    }


def _custom_lookup(name: str, custom_objects: dict | None):
    for table in (custom_objects or {}, _REGISTERED):
        if name in table:
            return table[name]
    return None


def resolve(kind: str, name, custom_objects: dict | None, where: str = "", filepath=None):
    """The class or function registered for ``name`` of ``kind`` ('layer', 'optimizer', ...).

    Raises:
        CheckpointError: the name is not a string or is not known.
    """
    if not isinstance(name, str) or not name:
        raise CheckpointError(f"{where}{kind} name should be a non-empty string; found {name!r:.100}", filepath)
    found = _custom_lookup(name, custom_objects)
    if found is not None:
        return found
    table = _builtin_tables()[kind]
    key = LAYER_ALIASES.get(name, name) if kind == "layer" else name
    if kind == "optimizer" and key.startswith("Custom>"):  # tf.keras 2.11+ writes "Custom>SGD"
        key = key[len("Custom>"):]
    found = table.get(key)
    if found is None and kind == "optimizer":
        found = {k.lower(): v for k, v in table.items()}.get(key.lower())
    if found is None:
        raise unknown_object_error(kind, name, table, where, filepath)
    return found


def unknown_object_error(kind: str, name: str, table: dict, where: str = "", filepath=None) -> CheckpointError:
    known = ", ".join(sorted(table))
    example = "YourLayerClass" if kind == "layer" else f"your_{kind}"
    return CheckpointError(
        f"{where}unknown {kind} {name!r}. Known {kind}s: {known}. If it is your own {kind}, pass it "
        f"when loading: load_model(path, custom_objects={{{name!r}: {example}}}) (or register it "
        "with kerasette.saving.register_serializable). Nothing named in a file is imported or run.",
        filepath,
    )


def resolve_function(kind: str, value, custom_objects: dict | None, where: str, filepath=None) -> Callable | Any:
    """A loss/metric/activation given as a name or Keras 3 dict, resolved; other values unchanged."""
    if isinstance(value, dict) and "class_name" in value:
        name = value.get("registered_name") or value.get("class_name")
        if name == "function" or value.get("class_name") == "function":
            name = value.get("config")
        if _custom_lookup(str(name), custom_objects) is not None:
            return _custom_lookup(str(name), custom_objects)
        return value
    if isinstance(value, str) and _custom_lookup(value, custom_objects) is not None:
        return _custom_lookup(value, custom_objects)
    return value
