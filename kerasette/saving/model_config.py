"""Models from their JSON config: Sequential (dict or Keras <= 2.1 list style) and functional.

The layers of a Sequential config are created one by one through `layer_from_spec`. When the
config comes from a checkpoint, each layer's weights are checked before they are allocated
against the largest weight the file holds, so a damaged or hostile config cannot make
kerasette allocate memory that the file merely claims to need.
"""

from __future__ import annotations

import json

import numpy as np

from kerasette import registry
from kerasette.layers.operations import from_keras_entry, is_keras_operation
from kerasette.layers.weight_arguments import weight_arguments
from kerasette.saving.errors import CheckpointError
from kerasette.saving.layer_config import layer_from_spec, translate_layer_config

MAX_JSON_CHARS = 256 * 1024 * 1024


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{obj!r:.80} (of type {type(obj).__name__}) cannot be written as JSON")


def to_json(value, what: str) -> str:
    """``json.dumps`` for what a file stores (numpy numbers and arrays as plain ones), whose failure
    is a `CheckpointError` saying what to fix; the inverse of `parse_json`."""
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot save the {what}: {exc}; make get_config() return only numbers, "
                              "strings, lists and dicts") from None


def parse_json(text: str, what: str, filepath=None):
    """``json.loads`` whose failures (syntax, depth, size) are `CheckpointError`."""
    if not isinstance(text, str):
        raise CheckpointError(f"{what} should be a JSON string; received {type(text).__name__}", filepath)
    if len(text) > MAX_JSON_CHARS:
        raise CheckpointError(f"{what} is {len(text)} characters long, more than the {MAX_JSON_CHARS} allowed",
                              filepath)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{what} is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})",
                              filepath) from None


class _WeightGuard:
    """Wraps a layer's ``add_weight`` so that no weight larger than ``max_elements`` is made."""

    def __init__(self, max_elements: int | None, where: str, filepath):
        self.max_elements, self.where, self.filepath = max_elements, where, filepath

    def install(self, layer) -> None:
        if self.max_elements is None or not hasattr(layer, "add_weight"):
            return
        original = layer.add_weight
        guard = self

        def add_weight(*args, **kwargs):
            parsed = weight_arguments(layer, args, kwargs)
            shape = parsed["shape"]
            count = float(np.prod([float(d) for d in shape])) if len(shape) else 1.0
            if count > guard.max_elements:
                raise CheckpointError(
                    f"{guard.where}: layer '{layer.name}' would create weight '{parsed['name']}' of shape "
                    f"{tuple(shape)} ({count:.0f} values), larger than any weight stored in the file "
                    f"(at most {guard.max_elements} values); the model config does not match the weights",
                    guard.filepath)
            return original(*args, **kwargs)

        layer.add_weight = add_weight

    @staticmethod
    def remove(layer) -> None:
        layer.__dict__.pop("add_weight", None)


def _sequential_layers(config, where: str, filepath) -> tuple[str | None, list]:
    if isinstance(config, list):  # Keras 1 and Keras <= 2.1
        return None, config
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: a Sequential config should be a list of layers or a dict with "
                              f"'layers'; found {type(config).__name__}", filepath)
    layers = config.get("layers")
    if not isinstance(layers, list):
        raise CheckpointError(f"{where}: the Sequential config has no list of 'layers'", filepath)
    name = config.get("name")
    return (name if isinstance(name, str) and name else None), layers


def build_sequential(config, custom_objects=None, where: str = "model_config", filepath=None,
                     max_weight_elements: int | None = None):
    """A Sequential model from its config (dict style or the plain list of Keras <= 2.1)."""
    name, specs = _sequential_layers(config, where, filepath)
    model = registry.get("layer", "Sequential")(name=name)
    guard = _WeightGuard(max_weight_elements, where, filepath)
    for index, spec in enumerate(specs):
        try:
            if isinstance(spec, dict) and spec.get("class_name") in _MODEL_CLASSES:  # a model inside
                spec = _translated_entry(spec, custom_objects, f"{where}: layers[{index}]")
            layer = layer_from_spec(spec, custom_objects, f"{where}: layers[{index}]")
        except CheckpointError as exc:
            raise CheckpointError(exc.detail, filepath) from None
        guard.install(layer)
        try:
            model.add(layer)
        except CheckpointError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
            raise CheckpointError(f"{where}: layers[{index}] '{getattr(layer, 'name', '?')}' "
                                  f"({type(layer).__name__}): {exc}", filepath) from None
        finally:
            guard.remove(layer)
    return model


_MODEL_CLASSES = ("Sequential", "Functional", "Model")


def _translated_entry(entry: dict, custom_objects, where: str) -> dict:
    """A layer entry with its config turned into kerasette's arguments; a nested model's layers
    are translated the same way, all the way down."""
    entry = dict(entry)
    name = entry["class_name"]
    config = entry.get("config") or {}
    if name == "Sequential" and not registry.is_custom(name, custom_objects):
        specs = config.get("layers") if isinstance(config, dict) else config
        if not isinstance(specs, list):
            raise CheckpointError(f"{where}: the Sequential config has no list of 'layers'")
        translated = [_translated_entry(spec, custom_objects, f"{where}: layers[{i}]") if isinstance(spec, dict)
                      and "class_name" in spec else spec for i, spec in enumerate(specs)]
        entry["config"] = {**config, "layers": translated} if isinstance(config, dict) else translated
        return entry
    if name in ("Functional", "Model") and not registry.is_custom(name, custom_objects) and isinstance(config, dict):
        entry["config"] = _translated_functional_config(config, custom_objects, where)
        return entry
    cls = registry.lookup("layer", name) if isinstance(name, str) else None
    if cls is not None and not registry.is_custom(name, custom_objects):
        entry["config"] = translate_layer_config(cls, config, custom_objects, where)
    return entry


def _translated_functional_config(config: dict, custom_objects, where: str) -> dict:
    """The functional config with each layer's config turned into kerasette's arguments (Keras
    3's operation layers into kerasette's, `kerasette.layers.operations`)."""
    layers = []
    for index, entry in enumerate(config.get("layers") or []):
        if not isinstance(entry, dict) or "class_name" not in entry:
            raise CheckpointError(f"{where}: layers[{index}] should be a dict with 'class_name'")
        if is_keras_operation(entry) and not registry.is_custom(entry["class_name"], custom_objects):
            try:
                entry = from_keras_entry(entry)
            except ValueError as exc:
                raise CheckpointError(f"{where}: layers[{index}]: {exc}") from None
        layers.append(_translated_entry(entry, custom_objects, f"{where}: layers[{index}]"))
    return {**config, "layers": layers}


def keras_file_config(config):
    """A model's config as a file holds it: each layer entry whose class says how Keras 3 writes
    it (``keras_file_entry``: Keras 3's operation layers) in that form, in nested models too.
    Keras 3 rebuilds the rest from kerasette's own form."""
    if isinstance(config, list):  # Keras <= 2.1's Sequential
        return [keras_file_config(entry) for entry in config]
    if not isinstance(config, dict):
        return config
    if isinstance(config.get("layers"), list):
        return {**config, "layers": [_keras_file_entry(entry) for entry in config["layers"]]}
    return config


def _keras_file_entry(entry):
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        return entry
    cls = registry.lookup("layer", entry["class_name"])
    convert = getattr(cls, "keras_file_entry", None)
    if convert is not None:
        return convert(entry)
    if isinstance(entry.get("config"), (dict, list)) and entry["class_name"] in _MODEL_CLASSES:
        return {**entry, "config": keras_file_config(entry["config"])}
    return entry


def build_functional(config, custom_objects=None, where: str = "model_config", filepath=None):
    """A functional Model through the registered ``Functional`` class's ``from_config``."""
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: a functional model config should be a dict", filepath)
    translated = _translated_functional_config(config, custom_objects, where)
    try:
        return registry.get("layer", "Functional").from_config(translated, custom_objects)
    except CheckpointError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise CheckpointError(f"{where}: {exc}", filepath) from None


def model_from_config(config, custom_objects=None, *, filepath=None, where: str = "model_config",
                      max_weight_elements: int | None = None):
    """A model (fresh weights) from ``{'class_name': ..., 'config': ...}``.

    Args:
        config: the dict that ``model.to_json()`` holds, or a checkpoint's ``model_config``.
        custom_objects: ``{name: class or function}`` for your own layers, activations, ...
        filepath: the file the config came from (named in errors).
        where: the place in the file (named in errors).
        max_weight_elements: refuse to create any weight with more values than this.

    Example:
        >>> m = model_from_config({'class_name': 'Sequential', 'config': {'name': 's', 'layers': [
        ...     {'class_name': 'Dense', 'config': {'units': 2, 'batch_input_shape': [None, 3]}}]}})
        >>> m.output_shape
        (None, 2)
    """
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise CheckpointError(f"{where} should be a dict with 'class_name' and 'config'; found "
                              f"{str(config)[:120]}", filepath)
    class_name = config["class_name"]
    if class_name == "Sequential":
        return build_sequential(config["config"], custom_objects, where, filepath, max_weight_elements)
    if class_name in ("Model", "Functional"):
        return build_functional(config["config"], custom_objects, where, filepath)
    custom = registry.lookup("layer", class_name, custom_objects) if registry.is_custom(class_name, custom_objects) \
        else None
    if custom is not None and hasattr(custom, "from_config"):
        model = custom.from_config(config["config"])
        build = config.get("build_config")  # a subclassed model: built by calling it (Keras 3's build_config)
        if isinstance(build, dict) and build.get("input_shape") is not None and not model.built:
            shape = build["input_shape"]
            model.build([tuple(s) for s in shape] if shape and isinstance(shape[0], list) else tuple(shape))
        return model
    raise CheckpointError(f"{where}: unknown model class {class_name!r}; expected 'Sequential', 'Model' or "
                          "'Functional' (pass your own model class with custom_objects)", filepath)


def model_from_json(json_string: str, custom_objects=None):
    """A model (fresh weights) from the output of ``model.to_json()``.

    Example:
        >>> from kerasette.models import Sequential
        >>> from kerasette.layers import Dense
        >>> text = Sequential([Dense(2, input_dim=3)]).to_json()
        >>> model_from_json(text).output_shape
        (None, 2)
    """
    return model_from_config(parse_json(json_string, "the model JSON"), custom_objects, where="the model JSON")
