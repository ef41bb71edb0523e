"""Layers: stateful building blocks over the backend ops, one module per family.

Every layer registers itself where it is defined (`kerasette.layers.legacy.keras_layer`), with
its Keras name, its aliases and its Keras 1 argument names. This package imports the family
modules and exports every registered name, so the aliases (``Convolution2D``, ``MaxPool2D``, ...)
are written once, at the class.
"""

from kerasette import registry
from kerasette.layers import (  # noqa: F401 - they register their layers
    activation,
    advanced_activations,
    convolutional,
    core,
    dropout,
    embeddings,
    masking,
    merge,
    merge_keras1,
    noise,
    normalization,
    pooling,
    pooling1d,
    pooling3d,
    preprocessing,
    recurrent,
    reshaping,
    reshaping3d,
    wrappers,
)
from kerasette.layers.base import Layer
from kerasette.layers.core import Input
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.merge import (  # the functional forms; Keras 1's `merge` hides the module name, as in Keras
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from kerasette.layers.merge_keras1 import merge  # noqa: F811 - Keras 1's merge() replaces the module's name, as in Keras 1

# Every registered layer class under each of its names (Conv2D and Convolution2D alike).
globals().update({name: registry.get("layer", name) for name in registry.known("layer")})

__all__ = ["Input", "InputSpec", "Layer", "add", "average", "concatenate", "deserialize", "dot", "maximum", "merge",
           "minimum", "multiply", "serialize", "subtract", *registry.known("layer")]


def deserialize(spec: dict, custom_objects: dict | None = None) -> Layer:
    """A layer from ``{'class_name': ..., 'config': {...}}``; names resolve only through the
    registry and ``custom_objects`` (nothing from a file is ever imported or run)."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"a layer config must be a dict with 'class_name' and 'config'; received {spec!r:.200}")
    name = spec.get("registered_name") or spec["class_name"]
    cls = registry.lookup("layer", name, custom_objects) or registry.lookup("layer", spec["class_name"], custom_objects)
    if cls is None:
        raise ValueError(
            f"Unknown layer class {spec['class_name']!r}. Known layers: {', '.join(registry.known('layer'))}. "
            "Pass custom layers with custom_objects={'" + str(spec["class_name"]) + "': YourLayerClass}."
        )
    return cls.from_config(dict(spec.get("config") or {}))


def serialize(layer: Layer) -> dict:
    """``{'class_name', 'config'}`` of a layer, as Keras writes it."""
    return registry.serialize("layer", layer)
