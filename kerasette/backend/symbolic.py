"""Symbolic tensors: placeholders, ``K.function``, ``K.gradients`` and the functional API.

A `KerasTensor` has a shape (None for unknown sizes) and a dtype but no values. Applying a
backend op or a layer to one records a `Node` instead of computing; `execute` later runs the
recorded nodes on concrete Tensors fed for the placeholders, through the same ops (and so the
same autograd graph) that eager code uses. There is one engine: a node holds the eager function
to call.

Shapes of op results are inferred by running the op on two small probe values per placeholder
(its unknown sizes set to 2, then 3); an axis whose size differs between the probes is unknown.
Each symbolic tensor keeps its probe values, so inference costs one op evaluation per probe.
Layer calls are recorded by `kerasette.layers.node` (their shapes come from the layer); here a
node only carries the layer it calls, opaque to the backend.
"""

from __future__ import annotations

import contextlib

import numpy as np

from kerasette.backend import ops, state
from kerasette.backend.backprop import postorder
from kerasette.backend.config import floatx
from kerasette.backend.tensor import Tensor, enable_grad

_PROBE_SIZES = (2, 3)


class Node:
    """How a symbolic tensor is computed: ``fn(*args, **kwargs)`` with symbolic args replaced
    by their values; ``layer`` is set for layer calls (the functional API's graph)."""

    def __init__(self, fn, args, kwargs=None, layer=None, output_index: int = 0):
        self.fn, self.args, self.kwargs = fn, list(args), dict(kwargs or {})
        self.layer, self.output_index = layer, output_index

    def symbolic_inputs(self) -> list[KerasTensor]:
        return [a for a in _flatten(self.args) if isinstance(a, KerasTensor)]


class KerasTensor:
    """A symbolic tensor: shape and dtype now, values when a function runs.

    Args:
        shape: shape with None for unknown sizes (usually the batch axis).
        dtype: dtype name.
        name: shown in ``repr`` and in error messages.
    """

    __array_priority__ = 100
    #: Tells Tensor's operators to return NotImplemented, so that this class's reflected
    #: operator records a node (`kerasette.backend.tensor` does not import this module).
    is_symbolic_tensor = True

    def __init__(self, shape, dtype="float32", name: str | None = None, node: Node | None = None,
                 probes=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.name = name or state.tensor_names.unique("keras_tensor")
        self.node = node
        self._probe_values = probes
        self._keras_history = None  # (layer, node index, tensor index) in the functional API

    @property
    def _probes(self) -> tuple[np.ndarray, ...]:
        """The probe values, made on first use for a tensor given none (a placeholder, a
        layer's output: most are never read, and a layer's can be large)."""
        if self._probe_values is None:
            self._probe_values = _placeholder_probes(self.shape, self.dtype)
        return self._probe_values

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    __str__ = __repr__

    def __hash__(self) -> int:
        return id(self)

    def __len__(self) -> int:
        if self.shape and self.shape[0] is not None:
            return self.shape[0]
        raise TypeError(f"len() of symbolic tensor '{self.name}' with unknown first axis {self.shape}")

    def __bool__(self) -> bool:
        raise TypeError(
            f"symbolic tensor '{self.name}' has no value yet: it cannot be used as a Python bool; "
            "run it with K.function or a Model"
        )

    def __iter__(self):
        raise TypeError(
            f"symbolic tensor '{self.name}' {self.shape} cannot be iterated: it has no values yet"
        )

    def numpy(self):
        raise ValueError(
            f"symbolic tensor '{self.name}' {self.shape} has no values; feed it through "
            "K.function([...], [...]) or Model.predict"
        )


def _placeholder_probes(shape, dtype) -> tuple[np.ndarray, ...]:
    return tuple(np.ones([p if d is None else d for d in shape], dtype=dtype) for p in _PROBE_SIZES)


def _flatten(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item


def _substitute(item, values):
    """Replaces symbolic tensors inside (nested) args by ``values(tensor)``."""
    if isinstance(item, KerasTensor):
        return values(item)
    if isinstance(item, list):
        return [_substitute(x, values) for x in item]
    if isinstance(item, tuple):
        return tuple(_substitute(x, values) for x in item)
    return item


def is_symbolic(value) -> bool:
    """Whether ``value`` is, or (nested lists) contains, a symbolic tensor."""
    if isinstance(value, (list, tuple)):
        return any(is_symbolic(v) for v in value)
    return isinstance(value, KerasTensor)


def learning_phase_value() -> bool:
    """The learning phase used when a function is not fed `LEARNING_PHASE` (0: inference)."""
    return bool(state.learning_phase.default())


def _check_phase(value, fn: str) -> int:
    if value not in (0, 1, True, False):
        raise ValueError(f"{fn}: expected 0 or 1; received {value!r}")
    return int(value)


def set_learning_phase(value: int) -> None:
    """Sets the default learning phase of functions: 1 to run Dropout as in training."""
    state.learning_phase.set_default(_check_phase(value, "set_learning_phase"))


@contextlib.contextmanager
def learning_phase_scope(value: int):
    """Sets the default learning phase (0 or 1) for a ``with`` block, then restores the previous one.

    Example:
        >>> with learning_phase_scope(1):
        ...     learning_phase_value()
        True
    """
    previous = state.learning_phase.set_default(_check_phase(value, "learning_phase_scope"))
    try:
        yield
    finally:
        state.learning_phase.set_default(previous)


def placeholder(shape=None, ndim=None, dtype=None, name: str | None = None) -> KerasTensor:
    """A symbolic input to be fed when a `function` runs."""
    if shape is None:
        if ndim is None:
            raise ValueError("placeholder: give `shape` (None for unknown sizes) or `ndim`")
        shape = (None,) * ndim
    return KerasTensor(shape, dtype or floatx(), name=name or state.tensor_names.unique("placeholder"))


#: Keras's ``K.learning_phase()``: feed it to a function (0 or 1) to choose inference or training
#: behaviour of layers such as Dropout.
LEARNING_PHASE = KerasTensor((), "int32", name="keras_learning_phase", probes=(np.zeros((), "int32"),) * 2)


# -- recording ------------------------------------------------------------------------------
def trace(fn, args, kwargs=None, name: str | None = None) -> KerasTensor:
    """Records ``fn(*args, **kwargs)`` on symbolic args; infers the result's shape by probing."""
    kwargs = kwargs or {}
    results = []
    with np.errstate(all="ignore"):
        for i in range(len(_PROBE_SIZES)):
            value = fn(*_substitute(list(args), lambda t, i=i: Tensor(t._probes[i])),
                       **_substitute_dict(kwargs, i))
            results.append(np.asarray(value.data if isinstance(value, Tensor) else value))
    a, b = results
    if a.ndim != b.ndim:
        raise ValueError(f"cannot infer a static rank for symbolic '{getattr(fn, '__name__', fn)}'")
    shape = tuple(None if da != db else da for da, db in zip(a.shape, b.shape))
    return KerasTensor(shape, a.dtype, name=name or state.tensor_names.unique(getattr(fn, "__name__", "op")),
                       node=Node(fn, args, kwargs), probes=tuple(results))


def _substitute_dict(kwargs: dict, i: int) -> dict:
    return {k: _substitute(v, lambda t: Tensor(t._probes[i])) for k, v in kwargs.items()}


def symbolic_aware(fn):
    """Makes an eager function record a node when any argument is symbolic."""

    def wrapper(*args, **kwargs):
        if is_symbolic(list(args)) or is_symbolic(list(kwargs.values())):
            return trace(fn, args, kwargs)
        return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


# -- running --------------------------------------------------------------------------------
def topological_nodes(outputs: list[KerasTensor]) -> list[KerasTensor]:
    """Symbolic tensors needed for ``outputs``, each after the tensors it depends on
    (iterative, deterministic)."""
    return postorder(outputs, lambda t: t.node.symbolic_inputs() if t.node is not None else [])


@contextlib.contextmanager
def training_phase(training: bool):
    """The phase of the function running inside the ``with`` block (see `execute`)."""
    previous = state.learning_phase.set_running(training)
    try:
        yield
    finally:
        state.learning_phase.set_running(previous)


def execute(outputs: list[KerasTensor], feed: dict[int, Tensor], training: bool = False) -> list[Tensor]:
    """Computes ``outputs`` given concrete values for placeholders (``feed``: id -> Tensor)."""
    values: dict[int, Tensor] = {}
    with training_phase(training):
        for tensor in topological_nodes(outputs):
            key = id(tensor)
            if key in feed:
                values[key] = feed[key]
                continue
            if tensor.node is None:
                raise ValueError(
                    f"placeholder '{tensor.name}' {tensor.shape} is needed to compute the outputs "
                    "but was not fed: add it to the function's inputs"
                )
            node = tensor.node
            args = _substitute(node.args, lambda t: values[id(t)])
            kwargs = {k: _substitute(v, lambda t: values[id(t)]) for k, v in node.kwargs.items()}
            value = node.fn(*args, **kwargs)
            values[key] = value if isinstance(value, Tensor) else Tensor(value)
    return [values[id(t)] for t in outputs]


def feed_value(placeholder_tensor: KerasTensor, value) -> Tensor:
    """Checks a fed value's shape and dtype kind against a placeholder and wraps it."""
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    shape = placeholder_tensor.shape
    if array.ndim != len(shape) or any(d is not None and d != a for d, a in zip(shape, array.shape)):
        raise ValueError(
            f"placeholder '{placeholder_tensor.name}' expects shape {shape}; fed a value of shape "
            f"{array.shape}"
        )
    expected = placeholder_tensor.dtype
    if array.dtype != expected:
        if np.issubdtype(expected, np.floating) and np.issubdtype(array.dtype, np.number):
            array = array.astype(expected)
        elif not np.can_cast(array.dtype, expected, casting="same_kind"):
            raise TypeError(
                f"placeholder '{placeholder_tensor.name}' has dtype {expected}; fed a value of "
                f"dtype {array.dtype}"
            )
        else:
            array = array.astype(expected)
    return Tensor(array)


__all__ = ["KerasTensor", "Node", "enable_grad", "execute", "feed_value", "is_symbolic",
           "learning_phase_scope", "placeholder", "symbolic_aware", "topological_nodes", "trace",
           "training_phase"]


def _operator(name: str, reverse: bool = False):
    def method(self, other=None):
        fn = getattr(ops, name)
        if other is None:
            return trace(fn, [self])
        if isinstance(other, (int, float)):
            other = np.asarray(other, dtype=self.dtype)
        return trace(fn, [other, self] if reverse else [self, other])

    return method


for _dunder, _op, _rev in (
    ("__add__", "add", False), ("__radd__", "add", True), ("__sub__", "subtract", False),
    ("__rsub__", "subtract", True), ("__mul__", "multiply", False), ("__rmul__", "multiply", True),
    ("__truediv__", "divide", False), ("__rtruediv__", "divide", True), ("__pow__", "power", False),
    ("__rpow__", "power", True),
    ("__matmul__", "matmul", False), ("__rmatmul__", "matmul", True),
):
    setattr(KerasTensor, _dunder, _operator(_op, _rev))
KerasTensor.__neg__ = lambda self: _operator("negative")(self)
KerasTensor.__getitem__ = lambda self, index: trace(_getitem, [self, index])
KerasTensor.T = property(lambda self: _operator("transpose")(self))


def _getitem(x, index):
    return ops.getitem(x, index)
