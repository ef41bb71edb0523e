"""The op protocol and graph recording.

An op is a small class whose ``forward(*arrays)`` computes on raw ndarrays and keeps only what
its ``backward(grad)`` needs; ``backward`` returns one gradient per input (None where the input
needs none; ``self.needs_grad[i]`` says which are needed). `apply` runs an op on tensors and
records it when a gradient may flow; `kerasette.backend.backprop` walks the recorded graph.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import state
from kerasette.backend.tensor import Tensor


class Op:
    """Base class of differentiable ops. Subclasses set ``name`` and implement both passes."""

    name = "op"
    needs_grad: tuple[bool, ...] = ()

    def forward(self, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError


def is_weak_scalar(value) -> bool:
    """Whether ``value`` is a Python number or a float64 0-d array (what ``np.asarray(1.0)``
    gives), which should take the dtype of the tensors it is combined with.

    NumPy 1 let such values adapt to the other operand; NumPy 2 still does for Python numbers
    but promotes ``float32`` to ``float64`` against a 0-d ``float64`` array.
    """
    if isinstance(value, Tensor):
        return False
    if isinstance(value, (bool, int, float)):
        return True
    return isinstance(value, (np.ndarray, np.generic)) and value.ndim == 0 and value.dtype == np.float64


def floating_dtype(values) -> np.dtype | None:
    """The dtype of the first floating-point input that is not a weak scalar, or None."""
    for value in values:
        if is_weak_scalar(value):
            continue
        dtype = getattr(value, "dtype", None)
        if dtype is not None and np.dtype(dtype).kind == "f":  # (np.issubdtype(dtype, np.floating), faster)
            return np.dtype(dtype)
    return None


def array_of(value):
    """A tensor's array, or ``value`` as numpy sees it (None stays None): for the inference-only
    entry points that compute on arrays and record nothing."""
    return value.data if isinstance(value, Tensor) else (None if value is None else np.asarray(value))


def as_tensor(value, dtype=None, like: np.dtype | None = None) -> Tensor:
    """Wraps a non-tensor value (array, list, scalar) as a constant Tensor.

    Args:
        value: a Tensor (returned as it is) or anything ``np.asarray`` accepts.
        dtype: the dtype of the new tensor (default: numpy's choice).
        like: when given and ``value`` is a weak scalar (see `is_weak_scalar`), the dtype the
            scalar takes, so that ``float32`` tensors combined with ``2.0`` stay ``float32``.
    """
    if isinstance(value, Tensor):
        return value
    if dtype is None and like is not None and is_weak_scalar(value):
        dtype = like
    return Tensor(value, dtype=dtype)


def apply(op: Op, *inputs) -> Tensor:
    """Runs ``op`` on ``inputs`` (tensors or arrays) and records it when a gradient may flow.

    Python numbers (and float64 0-d arrays) among the inputs take the dtype of the first
    floating-point tensor input.
    """
    tensors = inputs
    for x in inputs:
        if not isinstance(x, Tensor):  # something to wrap: the weak scalars take the tensors' dtype
            like = floating_dtype(inputs)
            tensors = tuple(as_tensor(x, like=like) for x in inputs)
            break
    out = Tensor(op.forward(*[t.data for t in tensors]))
    if state.grad_mode.is_enabled():
        needs = tuple([t.requires_grad for t in tensors])
        if True in needs:
            op.needs_grad = needs
            out._op = op
            out._inputs = tensors
            out.requires_grad = True
    return out


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sums ``grad`` over the axes that broadcasting added or stretched, to get ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad
