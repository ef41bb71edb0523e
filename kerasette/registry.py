"""Every name a file or a ``compile`` call can hold, resolved in one place.

The bottom floor of kerasette: it imports nothing from the package. Layers, models, optimizers,
losses, metrics, activations, initializers, regularizers, constraints, learning-rate schedules
and callbacks register themselves where they are defined, with their Keras 2/3 name and their
aliases (Keras 1 spellings such as ``Convolution2D``, short names such as ``mse``)::

    @registry.register("loss", aliases=("mse",))
    def mean_squared_error(y_true, y_pred): ...

A name resolves through, in order: the ``custom_objects`` given to the call, the innermost
`custom_object_scope`, objects registered with `register_keras_serializable` (Keras 3's
``"package>Name"`` naming, also found by the plain name), then the built-in table of its kind.
Nothing named in a file is ever imported or run: an unknown name is an `UnknownObjectError`
(a ``ValueError``) that lists the known names and says how to pass ``custom_objects``.

Example:
    >>> from kerasette import losses  # registers the built-in losses
    >>> get("loss", "mse") is losses.mean_squared_error
    True
    >>> name_of("loss", losses.mean_squared_error)
    'mean_squared_error'
"""

from __future__ import annotations

import contextlib
from typing import Any

KINDS = ("layer", "model", "optimizer", "loss", "metric", "activation", "initializer", "regularizer",
         "constraint", "schedule", "callback")

_builtin: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}  # name or alias -> object
_canonical: dict[str, dict[int, str]] = {kind: {} for kind in KINDS}  # id(object) -> its own name
_lowercase: dict[str, set[str]] = {kind: set() for kind in KINDS}  # names also found in any case
_custom: dict[str, Any] = {}  # "package>Name" and "Name" -> object, any kind
_custom_names: dict[int, str] = {}  # id(object) -> "package>Name"
_scopes: list[dict] = []
_INSTANTIATED_BY_NAME = ("optimizer", "initializer", "regularizer", "constraint")  # 'sgd' means SGD()


class UnknownObjectError(ValueError):
    """A name that neither the caller's ``custom_objects`` nor the registry knows."""


def _check_kind(kind: str) -> None:
    if kind not in _builtin:
        raise ValueError(f"registry: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


def register(kind: str, name: str | None = None, aliases: tuple[str, ...] = (), any_case: bool = False):
    """Decorator: registers a built-in class or function of ``kind`` under its Keras name.

    Args:
        kind: one of `KINDS`.
        name: the Keras 2/3 name (default: the object's ``__name__``).
        aliases: other names that resolve to it (Keras 1 class names, short forms).
        any_case: also resolve the name and aliases in any letter case (``'SGD'``, ``'sgd'``).
    """
    _check_kind(kind)

    def decorate(obj):
        own = name or obj.__name__
        for key in (own, *aliases):
            _builtin[kind][key] = obj
            if any_case:
                _lowercase[kind].add(key.lower())
        _canonical[kind][id(obj)] = own
        return obj

    return decorate


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: registers your own class or function for loading by name (Keras 3's API).

    It is saved as ``"package>name"`` (Keras 3's ``registered_name``) and found by that name or
    by its plain name. Registrations are process-wide; ``custom_objects`` given to a call win.

    Example:
        >>> @register_keras_serializable(package="my_pkg")
        ... def scaled_mse(y_true, y_pred):
        ...     return ((y_pred - y_true) ** 2).mean(axis=-1)
        >>> get("loss", "my_pkg>scaled_mse") is scaled_mse
        True
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: `package` must be a string without '>'; "
                         f"received package={package!r}")

    def decorate(obj):
        own = name or getattr(obj, "__name__", None)
        if not isinstance(own, str) or not own:
            raise ValueError(f"register_keras_serializable: cannot tell the name of {obj!r:.80}; pass name=...")
        key = f"{package}>{own}"
        _custom[key] = _custom[own] = obj
        _custom_names[id(obj)] = key
        return obj

    return decorate


def register_serializable(obj=None, name: str | None = None):
    """kerasette's older spelling of `register_keras_serializable` (package ``'Custom'``),
    usable as ``@register_serializable()``, ``@register_serializable`` or a call."""
    if obj is not None and not isinstance(obj, str):
        return register_keras_serializable("Custom", name)(obj)
    return register_keras_serializable("Custom", name or obj)


@contextlib.contextmanager
def custom_object_scope(*scopes: dict):
    """Within the block, names resolve through these ``{name: object}`` dicts too (Keras's
    ``custom_object_scope``)."""
    merged: dict = {}
    for scope in scopes:
        merged.update(scope or {})
    _scopes.append(merged)
    try:
        yield merged
    finally:
        _scopes.pop()


def get_custom_objects() -> dict:
    """The process-wide registrations (Keras's ``get_custom_objects``); the dict itself."""
    return _custom


def _custom_lookup(name: str, custom_objects: dict | None):
    for table in (custom_objects or {}, *reversed(_scopes), _custom):
        if name in table:
            return table[name]
    return None


def lookup(kind: str, name: str, custom_objects: dict | None = None):
    """The object registered for ``name`` of ``kind``, or None when nobody knows it.

    The caller's objects, scopes and registrations come first; ``"package>Name"`` falls back
    to ``Name`` (tf.keras writes ``"Custom>SGD"`` for its own optimizers).
    """
    _check_kind(kind)
    if not isinstance(name, str) or not name:
        return None
    found = _custom_lookup(name, custom_objects)
    if found is not None:
        return found
    table = _builtin[kind]
    if name in table:
        return table[name]
    if name.lower() in _lowercase[kind]:
        return next(obj for key, obj in table.items() if key.lower() == name.lower())
    if ">" in name:
        return lookup(kind, name.rpartition(">")[2], custom_objects)
    return None


def is_custom(name: str, custom_objects: dict | None = None) -> bool:
    """Whether ``name`` resolves to one of the user's objects rather than a built-in."""
    return isinstance(name, str) and _custom_lookup(name, custom_objects) is not None


def known(kind: str) -> list[str]:
    """The built-in names (aliases included) of ``kind``, sorted."""
    _check_kind(kind)
    return sorted(_builtin[kind])


def unknown_error(kind: str, name, extra_known=()) -> UnknownObjectError:
    """The error for a name nobody registered: it lists the known ones and names the fix."""
    names = sorted(set(_builtin[kind]) | set(extra_known))
    plural = f"{kind}es" if kind.endswith("s") else f"{kind}s"
    return UnknownObjectError(
        f"Unknown {kind}: {name!r}. Known {plural}: {', '.join(names)}. A custom {kind} can be passed "
        "as a callable or object, or through `custom_objects` when loading a model."
    )


def get(kind: str, name, custom_objects: dict | None = None):
    """The object registered for ``name`` of ``kind``.

    Raises:
        UnknownObjectError: nobody registered ``name`` (the message lists the known names).
    """
    found = lookup(kind, name, custom_objects)
    if found is None:
        raise unknown_error(kind, name)
    return found


def name_of(kind: str, obj) -> str | None:
    """The name ``obj`` was registered under (``"package>Name"`` for your own), else None."""
    _check_kind(kind)
    return _custom_names.get(id(obj)) or _canonical[kind].get(id(obj))


def serialize(kind: str, obj) -> Any:
    """A function as its registered name; an object as ``{'class_name', 'config'}`` (with
    Keras 3's ``registered_name`` for your own registered classes).

    Raises:
        ValueError: for a function or object that has neither a name nor ``get_config``.
    """
    if isinstance(obj, type) or not hasattr(obj, "get_config"):
        name = name_of(kind, obj) or getattr(obj, "__name__", None)
        if not isinstance(name, str) or name == "<lambda>":
            raise ValueError(f"cannot serialize the {kind} {obj!r:.60}: it has no name; use a named "
                             "function or a class with get_config()")
        return name
    cls = type(obj)
    registered = _custom_names.get(id(cls))
    own = _canonical[kind].get(id(cls)) or (registered.rpartition(">")[2] if registered else cls.__name__)
    out = {"class_name": own, "config": obj.get_config()}
    if registered:
        out["registered_name"] = registered
    return out


def deserialize(kind: str, spec, custom_objects: dict | None = None):
    """The inverse of `serialize`: a name gives the registered object (a class is instantiated
    with no arguments when ``kind`` holds objects); ``{'class_name', 'config'}`` gives
    ``cls.from_config(config)``; Keras 3's ``{'class_name': 'function', 'config': name}`` gives
    the function."""
    if isinstance(spec, dict) and "class_name" in spec:
        class_name = spec.get("registered_name") or spec["class_name"]
        config = spec.get("config")
        if spec["class_name"] in ("function", "builtin_function"):
            return get(kind, config if isinstance(config, str) else class_name, custom_objects)
        cls = lookup(kind, class_name, custom_objects) or get(kind, spec["class_name"], custom_objects)
        if not isinstance(cls, type):
            return cls
        config = dict(config or {})
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    found = get(kind, spec, custom_objects)
    return found() if isinstance(found, type) and kind in _INSTANTIATED_BY_NAME else found
