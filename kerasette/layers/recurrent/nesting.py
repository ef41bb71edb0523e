"""Layers inside layers: a cell or wrapped layer's config as Keras writes it and read back
(`serialize_nested`, `deserialize_nested`), and a cell as Keras reads it: its states' and
output's sizes (`cell_state_sizes`, `cell_output_size`) and calling it (`call_cell`,
`takes_constants`: ``training`` and ``constants`` passed only to cells whose ``call`` takes
them). Used by `RNN`, `StackedRNNCells` and the wrappers (`Bidirectional`, `TimeDistributed`).
"""

from __future__ import annotations

from kerasette import registry
from kerasette.backend.tensor import Tensor


def serialize_nested(layer) -> dict:
    """A layer inside another (a wrapper's layer, an RNN's cell) as Keras 3 writes it: with
    ``module`` and ``registered_name``, which Keras 3's ``from_config`` of the outer layer needs
    to find the class (the outer file format only describes the top-level layers)."""
    spec = registry.serialize("layer", layer)
    name = spec["class_name"]
    if registry.is_custom(name):
        return {"module": None, **spec, "registered_name": name}
    return {"module": "keras.layers", **spec, "registered_name": None}


#: keys Keras 3 writes into nested layer configs that carry nothing when they hold these values
_INERT = {"quantization_config": (None,), "lora_rank": (None, 0), "lora_alpha": (None,), "build_config": None,
          "optional": (False, None), "ragged": (False, None), "sparse": (False, None)}


def deserialize_nested(spec: dict):
    """A layer inside another (a wrapper's ``layer``, an RNN's ``cell``) from ``{'class_name',
    'config'}`` as any Keras version writes it: the class found through the registry (the user's
    registered classes included), Keras 1 names translated by the class, keys that carry nothing
    dropped (a file's top-level layers get the same from `kerasette.saving`)."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"a nested layer config must be a dict with 'class_name' and 'config'; received "
                         f"{spec!r:.200}")
    name = spec.get("registered_name") or spec["class_name"]
    cls = registry.lookup("layer", name) or registry.lookup("layer", spec["class_name"])
    if cls is None:
        raise ValueError(f"Unknown layer class {spec['class_name']!r} in a nested layer config; register "
                         "custom layers (kerasette.utils.register_keras_serializable) to load them")
    config = {k: v for k, v in (spec.get("config") or {}).items()
              if k not in _INERT or (_INERT[k] is not None and v not in _INERT[k])}
    if hasattr(cls, "translate_config"):
        config = cls.translate_config(config)
    return cls.from_config(config)


def takes_constants(cell) -> bool:
    """Whether ``cell.call`` accepts ``constants=`` (by name or through ``**kwargs``)."""
    import inspect  # deferred: only cells given constants need the signature

    params = inspect.signature(cell.call).parameters
    return "constants" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def call_cell(cell, inputs, states, training, constants=None):
    """``cell.call(inputs, states)`` (states as a list, as Keras passes them), with ``training``
    when the cell's ``call`` takes it and ``constants=`` when given (Keras 2's constants of an
    `RNN` call); a cell with one state may return it bare."""
    import inspect  # deferred: only user cells need the signature

    takes = getattr(type(cell), "_takes_training", None)
    if takes is None:
        params = inspect.signature(cell.call).parameters
        takes = "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        try:
            type(cell)._takes_training = takes
        except TypeError:
            pass
    extra = {} if constants is None else {"constants": constants}
    if takes:
        extra["training"] = training
    out, new = cell.call(inputs, states, **extra)
    if isinstance(new, Tensor) or not isinstance(new, (list, tuple)):
        new = [new]
    return out, list(new)


def cell_state_sizes(cell) -> list:
    """The sizes of ``cell``'s states, as a list (a cell with one state may give it bare)."""
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def cell_output_size(cell):
    """The size of ``cell``'s output: its ``output_size``, else the size of its first state."""
    size = getattr(cell, "output_size", None)
    return size if size is not None else cell_state_sizes(cell)[0]
