"""Layers: stateful building blocks over the backend ops."""

from kerasette.layers.base import Layer
from kerasette.layers.convolutional import Conv2D, Convolution2D
from kerasette.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer
from kerasette.layers.merge import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    concatenate,
)
from kerasette.layers.pooling import MaxPool2D, MaxPooling2D

LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (Activation, Add, Average, Concatenate, Conv2D, Dense, Dropout, Flatten, InputLayer,
                Maximum, MaxPooling2D, Minimum, Multiply, Subtract)
}
LAYER_CLASSES.update({"Convolution2D": Conv2D, "MaxPool2D": MaxPooling2D})

__all__ = [
    "Add", "Average", "Concatenate", "Input", "Maximum", "Minimum", "Multiply", "Subtract", "add",
    "concatenate",
    "Activation", "Conv2D", "Convolution2D", "Dense", "Dropout", "Flatten", "InputLayer",
    "LAYER_CLASSES", "Layer", "MaxPool2D", "MaxPooling2D",
]


def deserialize(spec: dict, custom_objects: dict | None = None) -> Layer:
    """A layer from ``{'class_name': ..., 'config': {...}}``; names resolve only through the
    registry above and ``custom_objects`` (nothing from a file is ever imported or run)."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"a layer config must be a dict with 'class_name' and 'config'; received {spec!r:.200}")
    name = spec["class_name"]
    cls = (custom_objects or {}).get(name) or LAYER_CLASSES.get(name)
    if cls is None:
        raise ValueError(
            f"Unknown layer class {name!r}. Known layers: {', '.join(sorted(LAYER_CLASSES))}. "
            "Pass custom layers with custom_objects={'" + str(name) + "': YourLayerClass}."
        )
    return cls.from_config(dict(spec.get("config") or {}))
