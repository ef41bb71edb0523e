"""The op protocol, graph recording and the iterative backward pass.

An op is a small class whose ``forward(*arrays)`` computes on raw ndarrays and keeps only what
its ``backward(grad)`` needs; ``backward`` returns one gradient per input (None where the input
needs none; ``self.needs_grad[i]`` says which are needed). `apply` runs an op on tensors and
records it when a gradient may flow.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import tensor as _tensor
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
        if dtype is not None and np.issubdtype(dtype, np.floating):
            return np.dtype(dtype)
    return None


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
    like = floating_dtype(inputs)
    tensors = tuple(as_tensor(x, like=like) for x in inputs)
    out = Tensor(op.forward(*(t.data for t in tensors)))
    if _tensor._grad_enabled:
        needs = tuple(t.requires_grad for t in tensors)
        if any(needs):
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


def postorder(roots, parents_of) -> list:
    """Every node reachable from ``roots`` through ``parents_of(node)``, each after its parents.

    Iterative depth-first search (no recursion limit); the order depends only on the graph and
    the order of each node's parents, never on ids or hashes.
    """
    order: list = []
    visited: set[int] = set()
    stack = [(node, False) for node in reversed(list(roots))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in reversed(parents_of(node)):
            if id(parent) not in visited:
                stack.append((parent, False))
    return order


def topological_order(root: Tensor) -> list[Tensor]:
    """The recorded tensors reachable from ``root`` that need a gradient, inputs before outputs."""
    return postorder([root], lambda t: [p for p in t._inputs if p.requires_grad])


def _seed_gradient(root: Tensor, gradient) -> np.ndarray:
    if gradient is None:
        if root.size != 1:
            raise ValueError(
                f"backward() on a tensor of shape {root.shape} needs a `gradient` argument of "
                "the same shape; it can be omitted only for a tensor holding a single value"
            )
        return np.ones_like(root.data)
    grad = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient)
    if grad.shape != root.shape:
        raise ValueError(
            f"backward(): `gradient` has shape {grad.shape} but the tensor has shape {root.shape}"
        )
    return grad.astype(root.dtype, copy=False)


def _propagate(root: Tensor, seed: np.ndarray, targets: dict[int, Tensor] | None) -> dict[int, np.ndarray]:
    """Runs the backward pass from ``root``. Without ``targets`` it accumulates into ``.grad``
    of the leaves; with them it returns the gradients of those tensors (id -> array) and
    leaves ``.grad`` alone."""
    grads: dict[int, np.ndarray] = {id(root): seed}
    found: dict[int, np.ndarray] = {}
    for node in reversed(topological_order(root)):
        grad = grads.pop(id(node), None)
        if grad is None:
            continue
        if targets is not None and id(node) in targets:
            found[id(node)] = grad
        if node._op is None:
            if targets is None:
                node.grad = grad.copy() if node.grad is None else node.grad + grad
            continue
        for parent, g in zip(node._inputs, node._op.backward(grad)):
            if g is None or not parent.requires_grad:
                continue
            if g.shape != parent.shape:
                raise RuntimeError(
                    f"op '{node._op.name}' returned a gradient of shape {g.shape} for an input "
                    f"of shape {parent.shape}"
                )
            key = id(parent)
            grads[key] = grads[key] + g if key in grads else g
    return found


def backward(root: Tensor, gradient=None) -> None:
    """Accumulates d(root)/d(leaf) times ``gradient`` into ``leaf.grad`` for every leaf that
    requires a gradient."""
    if not root.requires_grad:
        raise ValueError(
            "backward(): this tensor does not depend on any variable that requires a gradient"
        )
    _propagate(root, _seed_gradient(root, gradient), None)


def grad(root: Tensor, tensors, gradient=None) -> list[np.ndarray]:
    """The gradients of ``root`` with respect to ``tensors`` (zeros where it does not depend on
    one), without touching any ``.grad``."""
    tensors = list(tensors)
    if not root.requires_grad:
        return [np.zeros(t.shape, dtype=t.dtype) for t in tensors]
    found = _propagate(root, _seed_gradient(root, gradient), {id(t): t for t in tensors})
    return [found.get(id(t), np.zeros(t.shape, dtype=t.dtype)) for t in tensors]


def gradients_or_none(root: Tensor, tensors) -> list[np.ndarray | None]:
    """The gradients of ``root`` with respect to ``tensors``, None where it does not depend on one.

    For the training step: nothing is copied and no ``.grad`` is touched, so an array may be
    shared with another tensor's gradient; read them, do not modify them.
    """
    tensors = list(tensors)
    if not root.requires_grad:
        return [None] * len(tensors)
    found = _propagate(root, _seed_gradient(root, None), {id(t): t for t in tensors})
    return [found.get(id(t)) for t in tensors]
