"""Layer configs as Keras 1, 2 and 3 write them, translated to kerasette's constructor arguments.

One function, `layer_from_spec`, turns ``{'class_name': ..., 'config': {...}}`` into a layer:

- the class resolves through the registry (``custom_objects`` first), never by import;
- Keras 3's nested ``DTypePolicy`` becomes a dtype name;
- Keras 1 argument names (``nb_filter``, ``border_mode``, ``output_dim``, ``p``, ``init``,
  ``dim_ordering``, ...) become Keras 2/3 names through the layer class's own
  ``translate_config`` (the table its constructor uses), silently (the file is not the user's
  code, so there is nothing for them to update);
- options that Keras writes but that mean nothing here (``ragged=False``, ``optional=False``,
  ``quantization_config=None``, ...) are dropped when they hold their inert value, and rejected
  with a clear message when they ask for something kerasette does not do;
- activations and initializers named in ``custom_objects`` are substituted; regularizers and
  constraints (Keras 1's ``{'name': 'WeightRegularizer', 'l2': 0.01}``, Keras 2's
  ``{'class_name': 'L1L2', 'config': ...}``, Keras 3's with ``module``) become objects through
  the registry, ``custom_objects`` first.
"""

from __future__ import annotations

import inspect

from kerasette import constraints, registry, regularizers
from kerasette.layers.base import Layer
from kerasette.saving import names
from kerasette.saving.errors import CheckpointError

# key -> values for which the key may be dropped (ANY: whatever its value).
ANY = object()
INERT_KEYS: dict[str, tuple] = {
    "optional": (False, None),
    "ragged": (False, None),
    "sparse": (False, None),
    "quantization_config": (None,),
    "lora_rank": (None, 0),
    "lora_alpha": (None,),
    "activity_regularizer": (None,),  # a value other than None is kept (Dense and Conv2D take it)
    "input_tensor": (None,),
    "autocast": (ANY,),
    "build_config": (ANY,),
    "compile_config": (ANY,),
    "input_dtype": (ANY,),  # Keras 1; becomes `dtype` below when `dtype` is absent
}
_FLOAT_DTYPES = ("float16", "float32", "float64")
#: what a layer that takes integer inputs (``takes_integer_dtype``: an InputLayer) may declare too
_INTEGER_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


def _dtype_name(value, where: str, integer_ok: bool = False):
    """A dtype string from Keras 3's ``{'class_name': 'DTypePolicy', 'config': {'name': ...}}``
    (``integer_ok``: integer and boolean dtypes are accepted too)."""
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    if value is None:
        return None
    if not isinstance(value, str):
        raise CheckpointError(f"{where}: `dtype` should be a name like 'float32'; found {value!r:.80}")
    allowed = _FLOAT_DTYPES + (_INTEGER_DTYPES if integer_ok else ())
    if value not in allowed:
        raise CheckpointError(f"{where}: dtype policy {value!r} is not supported (kerasette computes in "
                              f"{', '.join(_FLOAT_DTYPES)})")
    return value


def _drop_inert(config: dict, where: str) -> dict:
    out = {}
    for key, value in config.items():
        inert = INERT_KEYS.get(key)
        if inert is None:
            out[key] = value
        elif key == "activity_regularizer":
            out[key] = value
        elif inert[0] is not ANY and value not in inert:
            raise CheckpointError(f"{where}: option {key}={value!r:.80} is not supported by kerasette")
    if "input_dtype" in config and out.get("dtype") is None:
        out["dtype"] = config["input_dtype"]
    return out


def _resolve_objects(config: dict, custom_objects, where: str) -> dict:
    """Substitutes custom activations and initializers, and unwraps Keras 3 function dicts."""
    for key in ("activation",):
        if key in config:
            value = names.resolve_function("activation", config[key], custom_objects, where)
            if isinstance(value, dict) and isinstance(value.get("config"), str):
                value = value["config"]  # Keras 3 {'class_name': 'function', 'config': 'relu'}
            config[key] = value
    for key, value in list(config.items()):
        if key.endswith("_initializer") or key == "init":
            config[key] = _resolve_initializer(value, custom_objects, where)
        elif key.endswith("_regularizer") and value is not None:
            config[key] = _resolve_penalty(regularizers, "regularizer", key, value, custom_objects, where)
        elif key.endswith("_constraint") and value is not None:
            config[key] = _resolve_penalty(constraints, "constraint", key, value, custom_objects, where)
    return config


def _resolve_penalty(module, kind: str, key: str, value, custom_objects, where: str):
    """A regularizer or constraint object from its config, through the registry only."""
    try:
        return module.get(value, custom_objects)
    except registry.UnknownObjectError:
        name = value.get("registered_name") or value.get("class_name") or value.get("name") \
            if isinstance(value, dict) else value
        raise names.unknown_object_error(kind, str(name), f"{where}: {key}: ") from None
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: {key}={value!r:.120} cannot be read: {exc}") from None


def _resolve_initializer(value, custom_objects, where: str):
    if isinstance(value, str):
        found = names.resolve_function("initializer", value, custom_objects, where)
        return found() if isinstance(found, type) else found
    if isinstance(value, dict) and "class_name" in value:
        name = str(value.get("registered_name") or value["class_name"])
        custom = registry.lookup("initializer", name, custom_objects) if registry.is_custom(name, custom_objects) else None
        if custom is not None:
            kwargs = dict(value.get("config") or {})
            return custom.from_config(kwargs) if hasattr(custom, "from_config") else custom(**kwargs)
        return {"class_name": value["class_name"], "config": value.get("config") or {}}
    return value


def translate_layer_config(cls, config: dict, custom_objects=None, where: str = "") -> dict:
    """The constructor arguments of a built-in layer (a class, or a name the registry resolves)
    for a config written by any Keras version.

    Example:
        >>> from kerasette.layers import Dense
        >>> translate_layer_config(Dense, {'output_dim': 3, 'init': 'glorot_uniform', 'name': 'd'})
        {'name': 'd', 'units': 3, 'kernel_initializer': 'glorot_uniform'}
    """
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: the layer config should be a dict; found {type(config).__name__}")
    if isinstance(cls, str):
        cls = names.resolve("layer", cls, custom_objects, f"{where}: " if where else "")
    config = dict(config)
    if "dtype" in config:
        config["dtype"] = _dtype_name(config["dtype"], where, getattr(cls, "takes_integer_dtype", False))
    config = _drop_inert(config, where)
    try:
        config = cls.translate_config(config)
    except TypeError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    return _resolve_objects(config, custom_objects, where)


def _check_kwargs(cls, config: dict, where: str) -> None:
    """Names unexpected arguments before the constructor sees them (clearer than its TypeError)."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return
    accepted = set(params) - {"self"}
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted |= set(inspect.signature(Layer.__init__).parameters)
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise CheckpointError(f"{where}: {cls.__name__} does not accept the argument(s) {unknown} "
                              "found in the config")


def layer_from_spec(spec, custom_objects=None, where: str = "model_config"):
    """A layer from ``{'class_name', 'config'}``; class names resolve through the registry only.

    Raises:
        CheckpointError: unknown class (with how to pass ``custom_objects``), or a config the
            layer rejects (with the layer's own message).
    """
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise CheckpointError(f"{where}: a layer entry should be a dict with 'class_name' and 'config'; "
                              f"found {spec!r:.120}")
    class_name = spec["class_name"]
    config = spec.get("config") or {}
    name = config.get("name") if isinstance(config, dict) else None
    where = f"{where}: layer {name!r} ({class_name})" if name else f"{where}: layer {class_name!r}"
    cls = names.resolve("layer", class_name, custom_objects, where + ": ")
    if not registry.is_custom(str(class_name), custom_objects):
        config = translate_layer_config(cls, config, custom_objects, where)
        if getattr(cls.from_config, "__func__", None) is Layer.from_config.__func__:  # config = arguments
            _check_kwargs(cls, config, where)
    elif isinstance(config, dict) and isinstance(config.get("dtype"), dict):
        config = {**config, "dtype": _dtype_name(config["dtype"], where, getattr(cls, "takes_integer_dtype", False))}
    try:
        if not hasattr(cls, "from_config"):
            return cls(**config)
        if "custom_objects" in inspect.signature(cls.from_config).parameters:  # a model inside the model
            return cls.from_config(dict(config), custom_objects=custom_objects)
        return cls.from_config(dict(config))
    except CheckpointError:
        raise
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise CheckpointError(f"{where}: {exc}") from None
