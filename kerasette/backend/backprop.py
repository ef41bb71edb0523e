"""The backward pass: an iterative, deterministic walk of the recorded graph.

A tensor produced by a recorded op keeps the op (``_op``) and its input tensors (``_inputs``);
this module walks those links from a root back to the leaves, in reverse topological order,
calling each op's ``backward``. It works on anything with those attributes plus
``requires_grad``, ``grad``, ``shape``, ``dtype``, ``size`` and ``data`` (a `Tensor`), so it
sits below `kerasette.backend.tensor` and imports nothing from kerasette but the thread pool
(`kerasette.backend.parallel`), which sums a large gradient into another over both threads.

Example:
    >>> import numpy as np
    >>> from kerasette.backend.tensor import Variable
    >>> w = Variable(np.array([1.0, 2.0]), dtype="float64")
    >>> backward((w * w).sum())
    >>> w.grad
    array([2., 4.])
"""

from __future__ import annotations

import sys

import numpy as np

from kerasette.backend import parallel

#: Gradients of at least this many values are summed into another over the thread pool, in pieces
#: (numpy's add releases the GIL): as the fused elementwise passes
#: (`kerasette.backend.engine.elementwise.PASS_MIN`), below this a hand-off costs more than half
#: a pass saves.
SPLIT_ADD_MIN = 1 << 18
#: Values per piece of a split sum (about eight pieces at a residual network's 32x32x16 layers).
ADD_PIECE = 1 << 17


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


def topological_order(root) -> list:
    """The recorded tensors reachable from ``root`` that need a gradient, inputs before outputs:
    `postorder` of ``root`` through the inputs that need a gradient (the same order)."""
    return _order_and_consumers(root)[0]


def _order_and_consumers(root) -> tuple[list, dict[int, int]]:
    """`topological_order` of ``root``, and for each tensor (by id) how many times the tensors
    of that order take it as an input (`_drop_unread_values` reads it), in one walk.

    The depth-first search of `postorder`, specialised to tensors: each tensor on the stack
    keeps an iterator over its inputs, so that each input is looked at once (the general one
    builds a list of parents per tensor and pushes each tensor twice); a tensor enters the
    order when all its inputs have (the same order as `postorder`'s: each first unvisited
    input's subgraph in input order, then the tensor). A tensor without inputs (a weight, most
    of a network's tensors) enters it at once instead of going through the stack."""
    order: list = []
    consumers: dict[int, int] = {}
    visited = {id(root)}
    stack = [(root, iter(root._inputs))]
    while stack:
        node, inputs = stack[-1]
        for parent in inputs:
            key = id(parent)
            consumers[key] = consumers.get(key, 0) + 1
            if key not in visited and parent.requires_grad:
                visited.add(key)
                if parent._inputs:
                    stack.append((parent, iter(parent._inputs)))
                    break
                order.append(parent)
        else:
            stack.pop()
            order.append(node)
    return order, consumers


def _references(node) -> int:
    """``sys.getrefcount(node)``."""
    return sys.getrefcount(node)


def _value_references(node) -> int:
    """``sys.getrefcount(node.data)``."""
    return sys.getrefcount(node.data)


def _base_references(node) -> int:
    """``sys.getrefcount(node.data.base)``."""
    return sys.getrefcount(node.data.base)


def _array_references(array) -> int:
    """``sys.getrefcount(array)``."""
    return sys.getrefcount(array)


def _sole_gradient(grad) -> bool:
    """Whether nothing but the walk (its name ``grad``, passed here) refers to ``grad``'s memory:
    the gradient (or the array it views) is held by no op and is no other tensor's gradient."""
    if _array_references(grad) != _GRAD_BASE:
        return False
    if grad.base is None:
        return True
    # (no name for the base here: it would count as one more holder)
    return (isinstance(grad.base, np.ndarray) and grad.base.base is None
            and _array_references(grad.base) == _GRAD_VIEW_BASE)


def _calibrate() -> tuple[int, int, int]:
    """What `_references` counts for a node held by one list and the loop's name only, and
    `_value_references` for an array held by its node only, `_base_references` for a base
    held by its one view only (measured: what ``sys.getrefcount`` counts differs between
    Python versions)."""

    class Probe:
        def __init__(self):
            self.data = np.empty(2)[1:]

    for probe in [Probe()]:
        return _references(probe), _value_references(probe), _base_references(probe)
    raise AssertionError  # unreachable


_NODE_BASE, _VALUE_BASE, _BASE_BASE = _calibrate()


def _gradient_counts(grad) -> tuple[int, int]:
    """`_sole_gradient`'s two counts, from a frame as deep as its."""
    return _array_references(grad), _array_references(grad.base)


def _calibrate_gradient() -> tuple[int, int]:
    """What `_sole_gradient` compares with: the counts for a view held by one name of the
    caller (as the walk holds ``grad``), and for its base held by the view only."""
    grad = np.empty(2)[1:]
    return _gradient_counts(grad)


_GRAD_BASE, _GRAD_VIEW_BASE = _calibrate_gradient()


def _sole_value(node) -> bool:
    """Whether nothing but ``node`` refers to its value's memory: its array, or the array it
    views (an aligned array is a view of a larger buffer), has no other holder."""
    if _value_references(node) != _VALUE_BASE:
        return False
    if node.data.base is None:
        return True
    # (no name for the base here: it would count as one more holder)
    return (isinstance(node.data.base, np.ndarray) and node.data.base.base is None
            and _base_references(node) == _BASE_BASE)


def _drop_unread_values(order: list, root, consumers: dict[int, int] | None = None) -> None:
    """Frees, before a spending backward pass, the values that only the graph keeps and no
    op's backward pass reads: a recorded tensor refers to its value, so a max-pooling's output
    (its backward pass reads the positions it kept, the next dropout's its mask) would stay in
    memory until the walk reached it.

    A tensor loses its value (for a zero-strided stand-in of its shape and dtype, which the
    walk's shape checks read) only when nothing but the graph refers to the tensor (the walk's
    list and its consumers' inputs: a model's outputs or a loss the caller holds keep theirs)
    and nothing but the tensor refers to the array (no op kept it, no view of it exists). No one
    can read such a value any more; the tensors are freed by the walk anyway.

    ``consumers``: how many times the tensors of ``order`` take each tensor (by id) as an input
    (`_order_and_consumers`), counted here when not given."""
    if consumers is None:
        consumers = {}
        for node in order:
            for parent in node._inputs:
                consumers[id(parent)] = consumers.get(id(parent), 0) + 1
    for node in order:
        if (node._op is None or node is root or not node.data.size
                or _references(node) != _NODE_BASE + consumers.get(id(node), 0) or not _sole_value(node)):
            continue
        node.data = _stand_in(node.data)


#: `_drop_unread_values`'s stand-ins by (shape, dtype), at most `STAND_INS_MAX` of them: every value
#: dropped with one shape and dtype gets the same read-only zero-strided array (no one reads a
#: dropped value, nor holds its tensor), instead of two numpy calls made afresh on the caches the
#: forward pass left cold (12 drops in a ResNet-20 training step)
_STAND_INS: dict[tuple, np.ndarray] = {}
STAND_INS_MAX = 64


def _stand_in(value: np.ndarray) -> np.ndarray:
    """A read-only array of ``value``'s shape and dtype that reads zeros and takes no memory."""
    key = (value.shape, value.dtype)
    stand_in = _STAND_INS.get(key)
    if stand_in is None:
        if len(_STAND_INS) >= STAND_INS_MAX:
            _STAND_INS.clear()
        stand_in = _STAND_INS[key] = np.broadcast_to(np.zeros((), value.dtype), value.shape)
    return stand_in


def _seed_gradient(root, gradient) -> np.ndarray:
    if gradient is None:
        if root.size != 1:
            raise ValueError(
                f"backward() on a tensor of shape {root.shape} needs a `gradient` argument of "
                "the same shape; it can be omitted only for a tensor holding a single value"
            )
        return np.ones_like(root.data)
    grad = np.asarray(gradient)  # a Tensor gives its values
    if grad.shape != root.shape:
        raise ValueError(
            f"backward(): `gradient` has shape {grad.shape} but the tensor has shape {root.shape}"
        )
    return grad.astype(root.dtype, copy=False)


def _propagate(root, seed: np.ndarray, targets: dict[int, object] | None,
               on_ready=None, release: bool = False, keep: bool = True) -> dict[int, np.ndarray]:
    """Runs the backward pass from ``root``. Without ``targets`` it accumulates into ``.grad``
    of the leaves; with them it returns the gradients of those tensors (id -> array) and
    leaves ``.grad`` alone, calling ``on_ready(tensor, gradient)`` (when given) as soon as each
    target's gradient is final. Without ``keep`` it returns nothing: ``on_ready`` is the only
    one to see the targets' gradients, which it may let go of at once.

    With ``release``, each recorded tensor forgets its op and inputs as soon as its op's backward
    has run, and the walk forgets the tensor: what the op kept for its backward pass (inputs,
    masks, scratch) is freed during the pass instead of after it, unless the caller still holds
    it; and before the pass, values that only the graph holds and no backward pass reads are
    freed (`_drop_unread_values`). Tensors the caller holds keep their values; the graph cannot
    be walked again.

    Also with ``release``, before each op's backward the walk sets the op's ``grad_is_scratch``:
    True when nothing but the walk refers to the gradient it is given (`_sole_gradient`: no op
    kept it, it is no other tensor's gradient, no view of it exists), so that the op may write
    into it (a fused ReLU's backward its masked gradient, instead of a new array as large)."""
    grads: dict[int, np.ndarray] = {id(root): seed}
    found: dict[int, np.ndarray] = {}
    order, consumers = _order_and_consumers(root)
    if release:
        _drop_unread_values(order, root, consumers)
    consumers = None
    for index in range(len(order) - 1, -1, -1):
        node = order[index]
        if release:
            order[index] = None
        grad = grads.pop(id(node), None)
        if grad is None:
            continue
        addend = None
        if type(grad) is _Sum:  # (the tuple let go before the scratch check counts holders)
            grad, addend = grad
            if not _takes_sum(node, targets):
                grad, addend = _add_into(grad, addend), None
        if targets is not None and id(node) in targets:
            if keep:
                found[id(node)] = grad
            if on_ready is not None:
                on_ready(node, grad)
        if node._op is None:
            if targets is None:
                node.grad = grad.copy() if node.grad is None else node.grad + grad
            continue
        if release:
            node._op.grad_is_scratch = _sole_gradient(grad)
        if addend is None:
            parent_grads = node._op.backward(grad)
        else:
            parent_grads, addend = node._op.backward_sum(grad, addend), None
        parents, name = node._inputs, node._op.name
        if release:
            node._op, node._inputs = None, ()
        for parent, g in zip(parents, parent_grads):
            if g is None or not parent.requires_grad:
                continue
            if g.shape != parent.shape:
                raise RuntimeError(
                    f"op '{name}' returned a gradient of shape {g.shape} for an input "
                    f"of shape {parent.shape}"
                )
            # a tensor read by several ops gets the sum of their gradients: written into the
            # first one when nothing else refers to its memory (`_sole_gradient`: no op kept it, it
            # is no other tensor's gradient, no view of it exists), the same bits without a new
            # array (a residual block's shortcut sums two activation-sized gradients); when the
            # tensor's op takes a gradient given as a sum (``backward_sum``: a ReLU adds them in
            # its masking pass), both are handed over (`_Sum`) instead
            key = id(parent)
            total = grads.pop(key, None)
            if total is None:
                grads[key] = g
            elif type(total) is _Sum:
                grads[key] = _Sum((_add_into(*total), g))
            elif total.dtype == g.dtype and total.flags.writeable and _sole_gradient(total):
                grads[key] = _Sum((total, g)) if _takes_sum(parent, targets) else _add_into(total, g)
            else:
                grads[key] = total + g
        # the names would keep this op's gradients alive through the next op's backward pass
        parents = parent_grads = g = total = None
    return found


class _Sum(tuple):
    """A tensor's gradient not yet added up: ``(total, g)``, ``total`` the walk's own (writeable,
    no one else refers to it), both of the tensor's shape and dtype; the tensor's op gets both
    (`_takes_sum`)."""

    __slots__ = ()


def _takes_sum(node, targets) -> bool:
    """Whether the walk hands ``node``'s op its gradient as a `_Sum` (``backward_sum(total, g)``:
    the gradient of ``total + g``, ``total`` its own to write into): the op has one, and the
    caller did not ask for ``node``'s gradient."""
    op = node._op
    return op is not None and hasattr(op, "backward_sum") and (targets is None or id(node) not in targets)


def _add_into(total: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``total += g`` (one shape and dtype; ``total`` writeable), split over the thread pool in
    pieces when large and both are contiguous: the same bits as one ``np.add``."""
    if total.size < SPLIT_ADD_MIN or not (total.flags.c_contiguous and g.flags.c_contiguous):
        return np.add(total, g, out=total)
    flat_total, flat_g = total.reshape(-1), g.reshape(-1)
    parallel.map_pieces(lambda i, j: np.add(flat_total[i:j], flat_g[i:j], out=flat_total[i:j]), flat_total.size,
                        min(SPLIT_ADD_MIN, parallel.memory_bound_min()), piece_work=ADD_PIECE)
    return total


def backward(root, gradient=None) -> None:
    """Accumulates d(root)/d(leaf) times ``gradient`` into ``leaf.grad`` for every leaf that
    requires a gradient."""
    if not root.requires_grad:
        raise ValueError(
            "backward(): this tensor does not depend on any variable that requires a gradient"
        )
    _propagate(root, _seed_gradient(root, gradient), None)


def grad(root, tensors, gradient=None) -> list[np.ndarray]:
    """The gradients of ``root`` with respect to ``tensors`` (zeros where it does not depend on
    one), without touching any ``.grad``."""
    tensors = list(tensors)
    if not root.requires_grad:
        return [np.zeros(t.shape, dtype=t.dtype) for t in tensors]
    found = _propagate(root, _seed_gradient(root, gradient), {id(t): t for t in tensors})
    return [found.get(id(t), np.zeros(t.shape, dtype=t.dtype)) for t in tensors]


def gradients_or_none(root, tensors, on_ready=None) -> list[np.ndarray | None]:
    """The gradients of ``root`` with respect to ``tensors``, None where it does not depend on one.

    For the training step: nothing is copied and no ``.grad`` is touched, so an array may be
    shared with another tensor's gradient; read them, do not modify them. The graph is spent as
    the pass goes (``release``: each op's saved arrays are freed once its backward has run, as
    PyTorch frees a graph without ``retain_graph``; a value no backward pass reads, such as a
    max-pooling's output, is freed before the pass when only the graph holds it), which lowers
    the step's peak memory; the tensors the caller holds keep their values.

    ``on_ready(tensor, gradient)``, when given, is called for each of ``tensors`` the moment its
    gradient is final (the walk never adds to it again), in the order the pass produces them
    (the last layers first): a data-parallel optimizer starts sending gradients while the rest
    of the pass runs. It is not called for a tensor the root does not depend on.
    """
    tensors = list(tensors)
    if not root.requires_grad:
        return [None] * len(tensors)
    found = _propagate(root, _seed_gradient(root, None), {id(t): t for t in tensors}, on_ready, release=True)
    return [found.get(id(t)) for t in tensors]


def stream_gradients(root, tensors, on_ready) -> None:
    """Calls ``on_ready(tensor, gradient)`` with the gradient of ``root`` with respect to each of
    ``tensors`` the moment it is final, as `gradients_or_none` does, but keeps none of them.

    For an optimizer that applies each update as its gradient arrives (`kerasette.optimizers.
    streamed_step.StreamedStep`): a gradient it has used is freed at once, not held to the end of the
    pass with the others. The graph is spent as in `gradients_or_none`; ``on_ready`` is not
    called for a tensor the root does not depend on.
    """
    if root.requires_grad:
        _propagate(root, _seed_gradient(root, None), {id(t): t for t in tensors}, on_ready, release=True, keep=False)
