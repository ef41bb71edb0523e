"""Keras 3's operation layers: the ``keras.ops`` calls a functional model's config records.

Keras 3 writes every ``keras.ops`` call on symbolic tensors into a functional model's config as
a layer of its own, named by the operation's class (``NotEqual``, ``LogicalOr``, ``Cast``,
``Sum``, ...), with the module ``keras.src.ops.numpy`` or ``keras.src.ops.core`` in ``.keras``
archives (none in ``.h5`` files), a config holding only ``name`` and the operation's own
arguments (``axis``, ``keepdims``, ``dtype``), and one inbound node whose ``args`` and
``kwargs`` mix tensors and constants (``not_equal(tokens, 0)``). Every model that carries a
mask does this: Keras computes the mask of ``Embedding(mask_zero=True)`` as ``NotEqual`` layers
(and ``LogicalOr``, ``ExpandDims``, ``Any``... for merges) and passes it to the next layers as
an explicit ``mask=`` argument.

Here each supported operation is a weightless layer, `Operation`, registered under
``<KerasName>Operation`` (``Add`` and ``Multiply`` are also merge layers) and listed in
`OPERATIONS` by Keras's name. Its config keeps the operation's arguments
(``operation_config``) and the call's arguments with the tensors left as placeholders
(``arguments``, ``keyword_arguments``); the layer is called on the list of its tensors, in the
order they appear, and fills them in. Nothing from the file is run: names map to kerasette's
own ops.

`from_keras_entry` turns a Keras 3 entry into this form (for the loaders) and
`Operation.keras_file_entry` turns it back into Keras 3's (for the savers), so Keras 3 loads
kerasette's files (``.h5`` too, which Keras 3 itself cannot read back for such models, since
it writes no module there).

Example:
    >>> import numpy as np
    >>> layer = OPERATIONS["NotEqual"](arguments=[TENSOR, 0])
    >>> layer(np.array([[3.0, 0.0]])).data.tolist()
    [[True, False]]
"""

from __future__ import annotations

import copy

import numpy as np

from kerasette.backend import functions as K
from kerasette.backend import ops
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer

#: a tensor in an operation's call arguments, as Keras 3 writes one (without its history)
TENSOR = {"class_name": "__keras_tensor__", "config": {"shape": None, "dtype": None}}
_NUMPY, _CORE = "keras.src.ops.numpy", "keras.src.ops.core"


def _is_tensor(value) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _fill(template, values: list):
    """``template`` with each tensor placeholder replaced by the next of ``values`` (consumed)."""
    if _is_tensor(template):
        return values.pop(0)
    if isinstance(template, (list, tuple)):
        return [_fill(v, values) for v in template]
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    return template


def _count(template) -> int:
    if _is_tensor(template):
        return 1
    if isinstance(template, (list, tuple)):
        return sum(_count(v) for v in template)
    if isinstance(template, dict):
        return sum(_count(v) for v in template.values())
    return 0


def _strip(value):
    """A Keras 3 call argument with each tensor's history dropped (its shape and dtype kept)."""
    if _is_tensor(value):
        config = value.get("config") or {}
        return {"class_name": "__keras_tensor__",
                "config": {"shape": config.get("shape"), "dtype": config.get("dtype")}}
    if isinstance(value, (list, tuple)):
        return [_strip(v) for v in value]
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items()}
    return value


def _tensors_in(value) -> list:
    """The ``__keras_tensor__`` dicts inside a Keras 3 call argument, in order."""
    if _is_tensor(value):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors_in(v)]
    return []


# -- the operations, with Keras's parameter names -----------------------------------------------
def _values(*args):
    """The arguments as Tensors, numbers made arrays of the first tensor's dtype (as Keras's
    weakly typed Python numbers do: ``multiply(h, 2.0)`` stays float32)."""
    tensors = [a for a in args if isinstance(a, Tensor)]
    dtype = tensors[0].dtype if tensors else None
    return [a if isinstance(a, Tensor) else Tensor(np.asarray(a, dtype)) for a in args]


def _constant(fn):
    """A function of arrays whose result takes no gradient (comparisons, logic)."""
    return lambda *args, **kwargs: Tensor(np.asarray(fn(*(v.data for v in _values(*args)), **kwargs)))


def _binary(fn):
    return lambda x1, x2: fn(*_values(x1, x2))


def _reduction(fn):
    return lambda x, axis=None, keepdims=False: fn(_values(x)[0], axis=_axis(axis), keepdims=keepdims)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _boolean_reduction(fn):
    return lambda x, axis=None, keepdims=False: Tensor(np.asarray(
        fn(_values(x)[0].data.astype(bool), axis=_axis(axis), keepdims=keepdims)))


def _where(condition, x1=None, x2=None):
    cond, a, b = _values(condition, x1, x2)
    return ops.where(cond.data.astype(bool), a, b)


def _cast(x, dtype):
    return K.cast(_values(x)[0], dtype)


def _filled(value):
    def like(x, dtype=None):
        x = _values(x)[0]
        return Tensor(np.full(x.shape, value, dtype or x.dtype))
    return like


def _squeeze(x, axis=None):
    x = _values(x)[0]
    axes = range(x.ndim) if axis is None else [a % x.ndim for a in np.atleast_1d(axis)]
    return ops.reshape(x, tuple(n for a, n in enumerate(x.shape) if not (a in axes and n == 1)))


#: Keras's class name -> (module, the function of the call's arguments, the operation's parameters)
_TABLE = {
    "Add": (_NUMPY, _binary(ops.add), ()),
    "Subtract": (_NUMPY, _binary(ops.subtract), ()),
    "Multiply": (_NUMPY, _binary(ops.multiply), ()),
    "Divide": (_NUMPY, _binary(ops.divide), ()),
    "TrueDivide": (_NUMPY, _binary(ops.divide), ()),
    "Power": (_NUMPY, _binary(ops.power), ()),
    "Maximum": (_NUMPY, _binary(ops.maximum), ()),
    "Minimum": (_NUMPY, _binary(ops.minimum), ()),
    "Negative": (_NUMPY, lambda x: ops.negative(_values(x)[0]), ()),
    "Absolute": (_NUMPY, lambda x: ops.abs(_values(x)[0]), ()),
    "Abs": (_NUMPY, lambda x: ops.abs(_values(x)[0]), ()),
    "Square": (_NUMPY, lambda x: ops.square(_values(x)[0]), ()),
    "Sqrt": (_NUMPY, lambda x: ops.sqrt(_values(x)[0]), ()),
    "Exp": (_NUMPY, lambda x: ops.exp(_values(x)[0]), ()),
    "Log": (_NUMPY, lambda x: ops.log(_values(x)[0]), ()),
    "Equal": (_NUMPY, _constant(lambda x1, x2: np.equal(x1, x2)), ()),
    "NotEqual": (_NUMPY, _constant(lambda x1, x2: np.not_equal(x1, x2)), ()),
    "Greater": (_NUMPY, _constant(lambda x1, x2: np.greater(x1, x2)), ()),
    "GreaterEqual": (_NUMPY, _constant(lambda x1, x2: np.greater_equal(x1, x2)), ()),
    "Less": (_NUMPY, _constant(lambda x1, x2: np.less(x1, x2)), ()),
    "LessEqual": (_NUMPY, _constant(lambda x1, x2: np.less_equal(x1, x2)), ()),
    "LogicalAnd": (_NUMPY, _constant(lambda x1, x2: np.logical_and(x1, x2)), ()),
    "LogicalOr": (_NUMPY, _constant(lambda x1, x2: np.logical_or(x1, x2)), ()),
    "LogicalXor": (_NUMPY, _constant(lambda x1, x2: np.logical_xor(x1, x2)), ()),
    "LogicalNot": (_NUMPY, _constant(lambda x: np.logical_not(x)), ()),
    "Any": (_NUMPY, _boolean_reduction(np.any), ("axis", "keepdims")),
    "All": (_NUMPY, _boolean_reduction(np.all), ("axis", "keepdims")),
    "Sum": (_NUMPY, _reduction(ops.sum), ("axis", "keepdims")),
    "Mean": (_NUMPY, _reduction(ops.mean), ("axis", "keepdims")),
    "Max": (_NUMPY, _reduction(ops.max), ("axis", "keepdims")),
    "Min": (_NUMPY, _reduction(ops.min), ("axis", "keepdims")),
    "ExpandDims": (_NUMPY, lambda x, axis: ops.expand_dims(_values(x)[0], axis), ("axis",)),
    "Squeeze": (_NUMPY, _squeeze, ("axis",)),
    "Concatenate": (_NUMPY, lambda xs, axis=0: ops.concatenate(_values(*xs), axis), ("axis",)),
    "Where": (_NUMPY, _where, ()),
    "ZerosLike": (_NUMPY, _filled(0), ("dtype",)),
    "OnesLike": (_NUMPY, _filled(1), ("dtype",)),
    "Cast": (_CORE, _cast, ("dtype",)),
}


class Operation(Layer):
    """One of Keras 3's operations as a weightless layer (see the module's docstring).

    Args:
        arguments: the call's positional arguments, with `TENSOR` where a tensor goes (default:
            every input, in order).
        keyword_arguments: the call's keyword arguments, the same way.
        operation_config: the operation's own arguments (``axis``, ``keepdims``, ``dtype``),
            by Keras's names.
    """

    keras_name = ""
    keras_module = _NUMPY
    parameters: tuple[str, ...] = ()
    function = None

    def __init__(self, arguments=None, keyword_arguments=None, operation_config=None, **kwargs):
        super().__init__(**kwargs)
        self.arguments = copy.deepcopy(arguments)
        self.keyword_arguments = copy.deepcopy(keyword_arguments or {})
        self.operation_config = dict(operation_config or {})
        unknown = sorted(set(self.operation_config) - set(self.parameters))
        if unknown:
            raise ValueError(f"{type(self).__name__} '{self.name}': Keras's {self.keras_name} takes "
                             f"{list(self.parameters) or 'no arguments'} in its config; received {unknown}")

    def _call_arguments(self, count: int):
        positional = self.arguments if self.arguments is not None else [TENSOR] * count
        expected = _count(positional) + _count(self.keyword_arguments)
        if expected != count:
            raise ValueError(f"{type(self).__name__} '{self.name}': its arguments hold {expected} tensor(s); "
                             f"received {count}")
        return positional

    def call(self, inputs):
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        positional = self._call_arguments(len(tensors))
        args = _fill(positional, tensors)
        kwargs = _fill(self.keyword_arguments, tensors)
        return type(self).function(*args, **kwargs, **self.operation_config)

    def compute_output_shape(self, input_shape):
        with np.errstate(all="ignore"):  # the probes are zeros: 0 / 0 and log(0) say nothing of shapes
            return self._probe_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "arguments": copy.deepcopy(self.arguments),
                "keyword_arguments": copy.deepcopy(self.keyword_arguments),
                "operation_config": dict(self.operation_config)}

    @classmethod
    def keras_file_entry(cls, entry: dict) -> dict:
        """This layer's entry of kerasette's functional config (Keras 2's nodes) as Keras 3
        writes an operation: its module and name, ``name`` and the operation's arguments as its
        config, and each node's tensors put back into the call's ``args`` and ``kwargs``."""
        config = entry.get("config") or {}
        positional, keywords = config.get("arguments"), config.get("keyword_arguments") or {}
        nodes = []
        for node in entry.get("inbound_nodes") or []:
            tensors = [{"class_name": "__keras_tensor__",
                        "config": {"shape": [None], "dtype": "float32", "keras_history": list(item[:3])}}
                       for item in node]
            template = positional if positional is not None else [TENSOR] * len(tensors)
            placeholders = _tensors_in(template) + _tensors_in(keywords)
            for tensor, placeholder in zip(tensors, placeholders):  # the shapes and dtypes Keras wrote
                known = placeholder.get("config") or {}
                if known.get("shape") is not None:
                    tensor["config"]["shape"] = list(known["shape"])
                if known.get("dtype") is not None:
                    tensor["config"]["dtype"] = known["dtype"]
            nodes.append({"args": _fill(template, tensors), "kwargs": _fill(keywords, tensors)})
        name = config.get("name", entry.get("name"))
        return {"module": cls.keras_module, "class_name": cls.keras_name,
                "config": {"name": name, **(config.get("operation_config") or {})},
                "registered_name": cls.keras_name, "name": name, "inbound_nodes": nodes}


def _operation_class(keras_name: str, module: str, function, parameters) -> type:
    cls = type(f"{keras_name}Operation", (Operation,), {
        "keras_name": keras_name, "keras_module": module, "parameters": tuple(parameters),
        "function": staticmethod(function), "__module__": __name__,
        "__doc__": f"Keras 3's ``{module}.{keras_name}`` operation as a layer (see `Operation`)."})
    return keras_layer()(cls)


#: Keras's operation class name -> the layer class
OPERATIONS: dict[str, type] = {name: _operation_class(name, *row) for name, row in _TABLE.items()}


def is_keras_operation(entry: dict) -> bool:
    """Whether a layer entry of a Keras 3 functional config is an operation: its module is one
    of ``keras.src.ops``; without a module (``.h5`` files), its class is an operation's name and
    its config has no ``trainable`` (which every Keras layer writes, ``Add`` and ``Multiply``
    among them)."""
    module = entry.get("module")
    if isinstance(module, str):
        return module.startswith("keras.src.ops")
    config = entry.get("config")
    return entry.get("class_name") in OPERATIONS and isinstance(config, dict) and "trainable" not in config


def from_keras_entry(entry: dict) -> dict:
    """A Keras 3 operation's layer entry as kerasette's `Operation` layer: the config gets the
    call's arguments (tensors as placeholders) and the operation's own arguments; each node
    gets the list of the call's tensors, in order.

    Raises:
        ValueError: an operation kerasette does not have, or nodes of different forms.
    """
    name = entry.get("class_name")
    cls = OPERATIONS.get(name)
    if cls is None:
        raise ValueError(f"Keras 3 operation {entry.get('module') or 'keras.ops'}.{name} (layer "
                         f"'{entry.get('name')}') is not supported; supported operations: {', '.join(sorted(OPERATIONS))}")
    config = dict(entry.get("config") or {})
    layer_name = config.pop("name", entry.get("name"))
    nodes, templates = [], []
    for node in entry.get("inbound_nodes") or []:
        if not isinstance(node, dict):  # Keras 2's form: the tensors are all the arguments
            nodes.append(node)
            templates.append((None, {}))
            continue
        args, kwargs = node.get("args") or [], node.get("kwargs") or {}
        templates.append((_strip(args), _strip(kwargs)))
        nodes.append({"args": [_tensors_in(args) + _tensors_in(kwargs)], "kwargs": {}})
    if any(t != templates[0] for t in templates[1:]):
        raise ValueError(f"Keras 3 operation {name} (layer '{layer_name}'): its calls differ in their constant "
                         "arguments; each call should be its own operation")
    positional, keywords = templates[0] if templates else (None, {})
    return {"class_name": cls.__name__, "name": layer_name, "inbound_nodes": nodes,
            "config": {"name": layer_name, "arguments": positional, "keyword_arguments": keywords,
                       "operation_config": config}}
