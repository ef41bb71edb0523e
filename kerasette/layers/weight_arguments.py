"""`Layer.add_weight`'s arguments in the three forms Keras has used, read by name.

- Keras 3: ``add_weight(shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
  regularizer=None, constraint=None, ..., name=None)`` (usually all keywords);
- Keras 2: ``add_weight(name, shape, dtype=None, initializer=None, regularizer=None,
  trainable=True, constraint=None)`` (kerasette's older internal form
  ``add_weight(name, shape, initializer)`` is read too);
- Keras 1: ``add_weight(shape, initializer, name=None, trainable=True, regularizer=None,
  constraint=None)``.

Example:
    >>> weight_arguments(None, ("kernel", (3, 2)), {"initializer": "zeros"})["initializer"]
    'zeros'
"""

from __future__ import annotations

import numpy as np

_DTYPE_NAMES = ("float16", "float32", "float64", "int32", "int64", "bool", "uint8")

_KERAS2_ORDER = ("name", "shape", "dtype", "initializer", "regularizer", "trainable", "constraint")
_KERAS1_ORDER = ("shape", "initializer", "name", "trainable", "regularizer", "constraint")
_KERAS3_ORDER = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer", "constraint")


def weight_arguments(layer, args: tuple, kwargs: dict) -> dict:
    """`Layer.add_weight`'s arguments in any of Keras's three forms, by name."""
    cls_name, layer_name = type(layer).__name__, getattr(layer, "name", "?")
    if args and isinstance(args[0], str):
        order = _KERAS2_ORDER
        if len(args) >= 3 and not _is_dtype(args[2]):  # add_weight(name, shape, initializer)
            order = ("name", "shape", "initializer", "regularizer", "trainable", "constraint")
    elif len(args) >= 3 and isinstance(args[2], str) and not _is_dtype(args[2]):
        order = _KERAS1_ORDER
    else:
        order = _KERAS3_ORDER
    if len(args) > len(order):
        raise TypeError(f"{cls_name} '{layer_name}': add_weight takes at most {len(order)} positional "
                        f"arguments; received {len(args)}")
    given = dict(zip(order, args))
    for key in kwargs:
        if key in given:
            raise TypeError(f"{cls_name} '{layer_name}': add_weight got argument `{key}` twice")
    given.update(kwargs)
    given.pop("autocast", None)
    given.pop("aggregation", None)
    given.pop("synchronization", None)
    given.pop("use_resource", None)
    unknown = sorted(set(given) - set(_KERAS2_ORDER))
    if unknown:
        raise TypeError(f"{cls_name} '{layer_name}': add_weight got unexpected argument(s) {unknown}")
    if given.get("shape") is None:
        raise TypeError(f"{cls_name} '{layer_name}': add_weight needs a `shape`")
    shape = given["shape"]
    given["shape"] = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return {"name": given.get("name"), "shape": given["shape"], "dtype": given.get("dtype"),
            "initializer": given.get("initializer"), "regularizer": given.get("regularizer"),
            "trainable": True if given.get("trainable") is None else given["trainable"],
            "constraint": given.get("constraint")}


def _is_dtype(value) -> bool:
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return True
    return isinstance(value, str) and value in _DTYPE_NAMES
