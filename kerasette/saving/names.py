"""Names in a file, resolved through `kerasette.registry` with the file's context in errors.

Loading never imports a module or runs code named by a file: a layer, model, optimizer, loss,
metric or activation name is looked up in the caller's ``custom_objects`` first, then in objects
registered with `kerasette.registry.register_keras_serializable`, then in the built-in
registry. An unknown name raises a `CheckpointError` that names it and shows how to pass
``custom_objects``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kerasette import registry
from kerasette.saving.errors import CheckpointError


def resolve(kind: str, name, custom_objects: dict | None, where: str = "", filepath=None):
    """The class or function registered for ``name`` of ``kind`` ('layer', 'optimizer', ...).

    Raises:
        CheckpointError: the name is not a string or is not known.
    """
    if not isinstance(name, str) or not name:
        raise CheckpointError(f"{where}{kind} name should be a non-empty string; found {name!r:.100}", filepath)
    found = registry.lookup(kind, name, custom_objects)
    if found is None:
        raise unknown_object_error(kind, name, where, filepath)
    return found


def unknown_object_error(kind: str, name: str, where: str = "", filepath=None) -> CheckpointError:
    known = ", ".join(registry.known(kind))
    example = "YourLayerClass" if kind == "layer" else f"your_{kind}"
    return CheckpointError(
        f"{where}unknown {kind} {name!r}. Known {kind}s: {known}. If it is your own {kind}, pass it "
        f"when loading: load_model(path, custom_objects={{{name!r}: {example}}}) (or register it "
        "with kerasette.saving.register_keras_serializable). Nothing named in a file is imported or run.",
        filepath,
    )


def resolve_function(kind: str, value, custom_objects: dict | None, where: str, filepath=None) -> Callable | Any:
    """A loss/metric/activation given as a name or Keras 3 dict that names one of the user's
    objects, resolved; any other value unchanged (built-in names are resolved by their kind's
    ``get``)."""
    if isinstance(value, dict) and "class_name" in value:
        name = value.get("registered_name") or value.get("class_name")
        if name == "function" or value.get("class_name") == "function":
            name = value.get("config")
        name = str(name)
        return registry.lookup(kind, name, custom_objects) if registry.is_custom(name, custom_objects) else value
    if isinstance(value, str) and registry.is_custom(value, custom_objects):
        return registry.lookup(kind, value, custom_objects)
    return value
