"""Tensor, Variable and gradient recording.

A `Tensor` wraps an ``np.ndarray``. When an op is applied to tensors of which at least one
requires a gradient (and recording is on), the result remembers the op and its inputs; calling
``backward()`` on a result walks that graph in reverse topological order (iteratively, in a
deterministic order; `kerasette.backend.backprop`) and accumulates gradients into ``.grad`` of
the leaves that require them.

The operators (``+``, ``@``, ``[]``, ``.T``, ``.sum()``, ...) call the ops that
`kerasette.backend.ops` registers with `register_operators` when it is imported; this module
does not import the ops.

Example:
    >>> import numpy as np
    >>> from kerasette.backend.tensor import Variable
    >>> from kerasette.backend import ops
    >>> w = Variable(np.array([1.0, 2.0]), dtype="float64")
    >>> ops.sum(ops.multiply(w, w)).backward()
    >>> w.grad
    array([2., 4.])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

import numpy as np

from kerasette.backend import backprop, state
from kerasette.backend.config import floatx

#: The operators' ops by name (``'add'``, ``'getitem'``, ...), filled by `register_operators`.
_OPERATORS: dict[str, Callable] = {}


def register_operators(ops: Mapping[str, Callable]) -> None:
    """Makes Tensor's operators call ``ops[name]``: the ops package calls this when imported.

    Names: add, subtract, multiply, divide, power, matmul (binary, called with two tensors),
    negative, getitem, transpose, reshape, sum, mean.
    """
    _OPERATORS.update(ops)


def _op(name: str) -> Callable:
    try:
        return _OPERATORS[name]
    except KeyError:
        raise RuntimeError(f"Tensor operator '{name}': no op registered for it; import "
                           "kerasette.backend (which registers the ops) first") from None


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph for the backward pass."""
    return state.grad_mode.is_enabled()


class _GradSetting(contextlib.ContextDecorator):
    """Context manager (and decorator) that sets graph recording for the calling thread and
    restores the previous setting on exit. A class rather than a generator function: entering
    and leaving took 3-5 us less per eager layer call under it (issue 14's inference rows)."""

    __slots__ = ("_saved",)
    _enabled = True

    def __init__(self) -> None:
        self._saved: list[bool] = []  # a stack: one instance may be entered again inside itself

    def __enter__(self) -> None:
        self._saved.append(state.grad_mode.set(self._enabled))

    def __exit__(self, *exc_info) -> bool:
        state.grad_mode.set(self._saved.pop())
        return False

    def _recreate_cm(self):  # as a decorator: each call its own instance (threads, recursion)
        return type(self)()


class no_grad(_GradSetting):  # noqa: N801 -- named as PyTorch's and the Keras backend's
    """Context manager (or decorator) that turns graph recording off (for inference and updates).

    Example:
        >>> with no_grad():
        ...     pass
    """

    __slots__ = ()
    _enabled = False


class enable_grad(_GradSetting):  # noqa: N801
    """Context manager (or decorator) that turns graph recording on."""

    __slots__ = ()
    _enabled = True


class Tensor:
    """An n-dimensional array that can take part in automatic differentiation.

    Args:
        data: anything ``np.asarray`` accepts.
        dtype: optional dtype to convert to.
        requires_grad: whether ``backward`` should accumulate a gradient into ``.grad``.
        name: optional name, shown in ``repr``.
    """

    __array_priority__ = 100  # so that ndarray + Tensor calls Tensor.__radd__
    # The attributes every tensor has, in slots: the backward walk reads them on tensors that the
    # forward pass's arrays have pushed out of the caches, and a slot is one read of the object
    # where an attribute of the instance dictionary is two (the object, then its values). Other
    # attributes (a variable's, a Keras mask) still go to the instance dictionary.
    __slots__ = ("data", "requires_grad", "grad", "name", "_op", "_inputs", "__dict__", "__weakref__")

    def __init__(self, data, dtype=None, requires_grad: bool = False, name: str | None = None):
        # an ndarray kept as it is needs no call into numpy (which an op's result, made with the
        # caches cold after its kernels, pays for: ``np.asarray`` gives the same object)
        if type(data) is not np.ndarray or dtype is not None:
            if isinstance(data, Tensor):
                data = data.data
            data = np.asarray(data, dtype=dtype)
        self.data = data
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self.name = name
        self._op = None  # the op that produced this tensor, when recorded
        self._inputs: tuple[Tensor, ...] = ()

    @classmethod
    def of_array(cls, array: np.ndarray) -> Tensor:
        """``cls(array)`` for an ndarray ``array`` made by the caller: held as it is, no
        conversion, nothing recorded. For results made with caches cold (after a memory-bound
        map, each call into numpy costs 1-4 us): no ``np.asarray`` and no argument handling."""
        tensor = object.__new__(cls)
        tensor.data, tensor.requires_grad, tensor.grad, tensor.name = array, False, None, None
        tensor._op, tensor._inputs = None, ()
        return tensor

    # -- array-like properties -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def numpy(self) -> np.ndarray:
        """The values as an ndarray (the tensor's own buffer, not a copy)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        if dtype is None:
            return self.data
        return self.data.astype(dtype, copy=False)

    def __len__(self) -> int:
        return len(self.data)

    def item(self):
        return self.data.item()

    def __float__(self) -> float:
        return float(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    # -- autograd ---------------------------------------------------------------------------
    def backward(self, gradient=None) -> None:
        """Back-propagates from this tensor, accumulating into ``.grad`` of the leaves.

        Args:
            gradient: the gradient of some scalar with respect to this tensor; may be omitted
                only when this tensor holds a single value.
        """
        backprop.backward(self, gradient)

    def zero_grad(self) -> None:
        """Forgets the accumulated gradient."""
        self.grad = None

    def detach(self) -> Tensor:
        """The same values, cut from the graph."""
        return Tensor(self.data)

    # -- operators (the ops registered with `register_operators`) ----------------------------
    def _other(self, other):
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float, bool)) and np.issubdtype(self.dtype, np.floating):
            return Tensor(np.asarray(other, dtype=self.dtype))
        return Tensor(other)

    def _binary(self, other, name: str, reverse: bool = False):
        if getattr(other, "is_symbolic_tensor", False):
            return NotImplemented  # the symbolic tensor's reflected operator records a node
        other = self._other(other)
        return _op(name)(other, self) if reverse else _op(name)(self, other)

    def __add__(self, other):
        return self._binary(other, "add")

    def __radd__(self, other):
        return self._binary(other, "add", reverse=True)

    def __sub__(self, other):
        return self._binary(other, "subtract")

    def __rsub__(self, other):
        return self._binary(other, "subtract", reverse=True)

    def __mul__(self, other):
        return self._binary(other, "multiply")

    def __rmul__(self, other):
        return self._binary(other, "multiply", reverse=True)

    def __truediv__(self, other):
        return self._binary(other, "divide")

    def __rtruediv__(self, other):
        return self._binary(other, "divide", reverse=True)

    def __pow__(self, other):
        return self._binary(other, "power")

    def __rpow__(self, other):
        return self._binary(other, "power", reverse=True)

    def __matmul__(self, other):
        return self._binary(other, "matmul")

    def __rmatmul__(self, other):
        return self._binary(other, "matmul", reverse=True)

    def __neg__(self):
        return _op("negative")(self)

    def __getitem__(self, index):
        return _op("getitem")(self, index)

    @property
    def T(self):  # noqa: N802 - numpy's name
        return _op("transpose")(self)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _op("reshape")(self, shape)

    def sum(self, axis=None, keepdims: bool = False):
        return _op("sum")(self, axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        return _op("mean")(self, axis, keepdims)

    # -- display ----------------------------------------------------------------------------
    def _describe(self) -> str:
        return f"shape={self.shape}, dtype={self.dtype}"

    def __repr__(self) -> str:
        body = np.array2string(self.data, threshold=200)
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(\n{body}, {self._describe()}{grad})" if self.ndim > 1 else (
            f"Tensor({body}, {self._describe()}{grad})"
        )

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self.data)

    def __hash__(self) -> int:
        return id(self)


class Variable(Tensor):
    """A named, trainable tensor whose values are updated in place by optimizers.

    Args:
        value: the initial values.
        dtype: the dtype (default: the backend's floatx).
        name: the weight's name, e.g. ``'conv2d_1/kernel'``.
        trainable: whether optimizers update it (and ``backward`` fills ``.grad``).
    """

    def __init__(self, value, dtype=None, name: str | None = None, trainable: bool = True):
        if isinstance(value, Tensor):
            value = value.data
        array = np.array(value, dtype=dtype or floatx(), copy=True, order="C")
        super().__init__(array, requires_grad=trainable)
        self.name = name or state.tensor_names.unique("variable")
        self.trainable = bool(trainable)

    def assign(self, value) -> None:
        """Overwrites the values in place, checking the shape."""
        value = np.asarray(value.data if isinstance(value, Tensor) else value)
        if value.shape != self.data.shape:
            raise ValueError(
                f"Variable '{self.name}': cannot assign a value of shape {value.shape} to a "
                f"variable of shape {self.data.shape}"
            )
        self.data[...] = value

    def _describe(self) -> str:
        return f"name={self.name!r}, shape={self.shape}, dtype={self.dtype}"

    def __repr__(self) -> str:
        body = np.array2string(self.data, threshold=200)
        return f"<Variable {self._describe()}, numpy=\n{body}>"

    __str__ = __repr__
