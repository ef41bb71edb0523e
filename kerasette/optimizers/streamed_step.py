"""One optimizer step applied while the backward pass runs (`StreamedStep`): each variable updated
as soon as its gradient is final, with `kerasette.optimizers.base.Optimizer.apply_gradients`'s bits.
The trainer takes it from `Optimizer.streamed_step`.
"""

from __future__ import annotations

import sys

import numpy as np


def _holders(owner) -> int:
    """How many references ``owner.data`` has (``sys.getrefcount``, including its own)."""
    return sys.getrefcount(owner.data)


class _Probe:
    def __init__(self):
        self.data = np.empty(0)


#: `_holders` of an array that only its owner's ``data`` refers to (measured, as what
#: ``sys.getrefcount`` counts differs between Python versions).
_SOLE_HOLDER = _holders(_Probe())


class StreamedStep:
    """One optimizer step applied while the backward pass runs: the same updates as
    `Optimizer.apply_gradients`, with the same bits.

    The backward pass calls `ready` with each variable's final gradient (the last layers'
    first); the variable is updated there and then, and the gradient is dropped, instead of
    every gradient waiting for the end of the pass. For the 100 x 100 benchmark convnet that
    frees its dense kernel's 32 MB gradient before the convolutions' backward passes, where the
    step's memory peaks. `finish` then updates what could not go early and does what follows
    the updates (moving averages, constraints, the iteration count), in `apply_gradients`'s
    order.

    A variable is updated early only when nothing but the variable itself refers to its array:
    an op that still keeps the weight for its backward pass (one that reads it outside the
    recorded graph, through ``stop_gradient`` say, and runs after the weight's gradient is
    final) or a view of it defers the update to `finish`, so no backward pass reads an updated
    weight. Each variable's update depends only on its own gradient and state, and the learning
    rate and ``before_step`` are taken before the first update, as in `apply_gradients`: the
    order of the variables does not change a bit.

    The small weights an optimizer updates together (`Optimizer._joins_group`: SGD's with
    momentum) wait for `finish` too, which updates them all in one call (`Optimizer.
    _update_group`): one kernel call instead of one per weight, each with its Python around
    it; their gradients are small (below `kerasette.optimizers.sgd.FUSED_UPDATE_MIN_SIZE`
    values each), so holding them to the end of the pass costs little memory. (Measured on
    the ResNet-20 benchmark's 82 small weights: 1.06 ms a step one at a time during the pass,
    1.13 in groups of about 32K values during it, 0.83 all at the end over both threads.)

    Args:
        optimizer: the optimizer (one whose `Optimizer.streamed_step` allowed it).
        variables: the variables the gradients are for (distinct, one dtype).
    """

    def __init__(self, optimizer, variables):  # (an Optimizer: its module imports this one)
        self.optimizer = optimizer
        self.variables = variables
        self._lr: float | None = None
        self._updated: set[int] = set()
        self._late: dict[int, np.ndarray] = {}
        self._group: list[tuple] = []
        # what `ready` asks for each gradient, looked up once a step (the pass calls it for every
        # weight, between kernels that have pushed the optimizer out of the caches)
        self._clips = optimizer.clipnorm is not None or optimizer.clipvalue is not None
        self._joins_group = optimizer._joins_group
        self._members = None if self._clips else optimizer.group_members()

    def _start(self, dtype) -> float:
        """The step's learning rate; the first call also runs ``before_step``."""
        if self._lr is None:
            self._lr = self.optimizer.current_learning_rate()
            self.optimizer.before_step(np.dtype(dtype))
        return self._lr

    def ready(self, var, grad: np.ndarray) -> None:
        """The backward pass's ``on_ready``: ``grad`` is ``var``'s final gradient."""
        if var.data.base is not None or _holders(var) > _SOLE_HOLDER:
            # something may still read the weight, or another variable writes the same memory:
            # updated in `finish`, in the variables' order
            self._late[id(var)] = grad
            return
        members = self._members
        if members is not None and members.holds(var, grad):
            # it joined the group with this array under the same rule: it does again, without the
            # questions below
            if self._lr is None:
                self._start(grad.dtype)
            self._group.append((var, grad))
            self._updated.add(id(var))
            return
        if type(grad) is not np.ndarray:
            grad = np.asarray(grad)
        dtype = var.data.dtype
        if grad.dtype != dtype:
            grad = grad.astype(dtype)
        if self._clips:
            grad = self.optimizer._clip([grad])[0]
        lr = self._lr if self._lr is not None else self._start(dtype)
        if self._joins_group(var, grad):
            self._group.append((var, grad))  # updated with the others in `finish`
            if members is not None:
                members.add(var)
        else:
            self.optimizer._update_variable(var, grad, lr)
        self._updated.add(id(var))

    def finish(self) -> None:
        """Ends the step once the backward pass is over: updates the variables whose update had
        to wait, then the moving averages, constraints and iteration count."""
        opt = self.optimizer
        late = [(self._late.pop(id(v)), v) for v in self.variables if id(v) in self._late] if self._late else []
        if not late and len(self._updated) == len(self.variables):
            with_grad = self.variables  # (the usual step: every variable had a gradient, none waited)
        else:
            late_ids = {id(v) for _, v in late}
            with_grad = [v for v in self.variables if id(v) in self._updated or id(v) in late_ids]
        lr = self._start(with_grad[0].dtype if with_grad else np.float64)
        clipped = opt._clip([np.asarray(g).astype(v.dtype, copy=False) for g, v in late])
        for grad, (_, var) in zip(clipped, late, strict=True):
            opt._update_variable(var, grad, lr)
        group, self._group = self._group, []
        if group:
            opt._update_group(group, lr)
        opt._end_step(self.variables, with_grad)
