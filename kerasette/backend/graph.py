"""Graph mode over symbolic tensors: ``function``, ``gradients`` and ``stop_gradient``.

Example:
    >>> import numpy as np
    >>> import kerasette.backend as K
    >>> x = K.placeholder(shape=(None, 3))
    >>> W = K.variable(np.ones((3, 2)))
    >>> f = K.function([x], [K.dot(x, W)])
    >>> f([np.ones((4, 3))])[0].shape
    (4, 2)
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import autograd, symbolic
from kerasette.backend.symbolic import KerasTensor, Node
from kerasette.backend.tensor import Tensor, Variable, enable_grad


class _Gradient:
    """Node function of a gradient: computes ``loss`` and back-propagates to ``target``.

    All gradient tensors from one `gradients` call share one instance, so the backward pass
    runs once per function call however many of them are fetched.
    """

    __name__ = "gradients"

    def __init__(self, loss: KerasTensor, targets: list):
        self.loss, self.targets = loss, targets
        self._cache: tuple[Tensor, list[np.ndarray]] | None = None

    def __call__(self, loss_value: Tensor, index: int, *target_values):
        # The cache holds the loss tensor itself (not its id, which a later tensor may reuse), so
        # the gradients computed for it are reused only within the same run of the function.
        if self._cache is None or self._cache[0] is not loss_value:
            root = loss_value if loss_value.size == 1 else loss_value.sum()
            self._cache = (loss_value, autograd.grad(root, list(target_values)))
        return Tensor(self._cache[1][index])


def gradients(loss, variables):
    """Symbolic (or, for an eager ``loss``, concrete) gradients of ``loss`` w.r.t. ``variables``.

    A non-scalar loss is summed first, as TensorFlow does.
    """
    variables = list(variables)
    if not isinstance(loss, KerasTensor):
        if not isinstance(loss, Tensor) or not loss.requires_grad:
            return [Tensor(np.zeros(v.shape, dtype=v.dtype)) for v in variables]
        root = loss if loss.size == 1 else loss.sum()
        return [Tensor(g) for g in autograd.grad(root, variables)]
    fn = _Gradient(loss, variables)
    out = []
    for i, var in enumerate(variables):
        node = Node(fn, [loss, i, *variables])
        probes = tuple(np.zeros(_probe_shape(var, p), dtype=var.dtype) for p in range(2))
        out.append(KerasTensor(var.shape, var.dtype, name=f"gradient_{i}", node=node, probes=probes))
    return out


def _probe_shape(var, probe: int):
    if isinstance(var, KerasTensor):
        return var._probes[probe].shape
    return var.shape


def stop_gradient(x):
    """The same values, with no gradient flowing back through them."""
    if isinstance(x, KerasTensor):
        return symbolic.trace(stop_gradient, [x])
    return Tensor(x.data if isinstance(x, Tensor) else x)


class Function:
    """A callable that feeds placeholders and returns the outputs' values as ndarrays.

    Args:
        inputs: the placeholders (symbolic tensors) to feed, in order.
        outputs: the symbolic tensors to compute (variables and eager tensors are allowed too).
        updates: ``(variable, new_value)`` pairs applied after the outputs are computed.
    """

    def __init__(self, inputs, outputs, updates=None, name: str | None = None):
        self.inputs = [inputs] if isinstance(inputs, KerasTensor) else list(inputs)
        for t in self.inputs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"function: inputs must be placeholders; received {t!r:.80}")
        self.single = not isinstance(outputs, (list, tuple))
        self.outputs = [outputs] if self.single else list(outputs)
        self.updates = list(updates or [])
        self.name = name
        symbolic_outputs = [o for o in self.outputs if isinstance(o, KerasTensor)]
        symbolic_outputs += [v for _, v in self.updates if isinstance(v, KerasTensor)]
        self._check_fed(symbolic_outputs)
        self._check_depends(symbolic_outputs)
        self._symbolic = symbolic_outputs
        gradient_fns = [t.node.fn for t in symbolic.topological_nodes(symbolic_outputs)
                        if t.node is not None and isinstance(t.node.fn, _Gradient)]
        self._has_gradients = bool(gradient_fns)
        self._variable_targets = [v for fn in gradient_fns for v in fn.targets if isinstance(v, Tensor)]

    def _check_fed(self, outputs) -> None:
        fed = {id(t) for t in self.inputs}
        for t in symbolic.topological_nodes(outputs):
            if t.node is None and id(t) not in fed:
                raise ValueError(
                    f"function: the outputs depend on placeholder '{t.name}' {t.shape}, which is not "
                    "among the inputs; add it to the inputs list"
                )

    def _check_depends(self, outputs) -> None:
        data_inputs = [t for t in self.inputs if t is not symbolic.LEARNING_PHASE]
        if not data_inputs or not self.outputs:
            return
        needed = {id(t) for t in symbolic.topological_nodes(outputs)}
        if not any(id(t) in needed for t in data_inputs):
            names = [getattr(o, "name", type(o).__name__) for o in self.outputs]
            raise ValueError(
                f"function: the outputs {names} do not depend on any of the inputs "
                f"{[t.name for t in data_inputs]}; compute them from the inputs, or evaluate "
                "them with K.eval"
            )

    def __call__(self, values):
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if len(values) != len(self.inputs):
            raise ValueError(f"function: expected {len(self.inputs)} input value(s) for "
                             f"{[t.name for t in self.inputs]}, received {len(values)}")
        training = symbolic.learning_phase_value()
        feed = {}
        for t, v in zip(self.inputs, values):
            if t is symbolic.LEARNING_PHASE:
                training = bool(np.asarray(v))
            else:
                feed[id(t)] = symbolic.feed_value(t, v)
        if self._has_gradients:
            # every fed value may be a gradient target or lead to one, so record from the start
            for value in feed.values():
                value.requires_grad = True
        with enable_grad(), _TargetsRequireGrad(self._variable_targets):
            computed = symbolic.execute(self._symbolic, feed, training=training) if self._symbolic else []
        by_id = {id(t): v for t, v in zip(self._symbolic, computed)}
        results = []
        for o in self.outputs:
            value = by_id.get(id(o), o)
            results.append(np.array(value.data if isinstance(value, Tensor) else value))
        for var, new in self.updates:
            if not isinstance(var, Variable):
                raise TypeError(f"function: updates must be (Variable, value) pairs; received {var!r:.80}")
            new_value = by_id.get(id(new), new)
            var.assign(new_value.data if isinstance(new_value, Tensor) else new_value)
        return results[0] if self.single else results


class _TargetsRequireGrad:
    """Lets gradients reach targets that do not normally require one (a non-trainable
    variable), for the duration of one function call."""

    def __init__(self, tensors):
        self.tensors = [t for t in tensors if not t.requires_grad]

    def __enter__(self):
        for t in self.tensors:
            t.requires_grad = True

    def __exit__(self, *exc):
        for t in self.tensors:
            t.requires_grad = False


def function(inputs, outputs, updates=None, name: str | None = None, **kwargs) -> Function:
    """Keras's ``K.function``: ``f = function([x], [y]); f([x_value])`` -> ``[y_value]``."""
    return Function(inputs, outputs, updates, name)
