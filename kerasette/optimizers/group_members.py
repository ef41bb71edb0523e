"""The variables an optimizer updates together at the end of a step (`Optimizer._joins_group`),
remembered from one step to the next, so that the backward pass's ``ready`` for each of them
(82 calls a ResNet-20 step, each on a weight the pass's kernels have pushed out of the caches)
need not ask every question again.

Example:
    >>> import numpy as np
    >>> from kerasette.backend.tensor import Variable
    >>> members = GroupMembers(rule=(True,))
    >>> w = Variable(np.zeros(3, np.float32))
    >>> members.add(w)
    >>> members.holds(w, np.ones(3, np.float32))
    True
"""

from __future__ import annotations

import weakref

import numpy as np


class GroupMembers(dict):
    """``id(variable) -> (weak reference to its array, the array's dtype)`` for each variable
    that joined the group (`Optimizer._joins_group`) under ``rule`` (what the answer depends on
    besides the variable's array and its gradient: `Optimizer._group_rule`).

    A variable's answer holds while it holds the same array object of the same dtype and its
    gradient is an ndarray of that dtype and shape: whether it joins depends on the array's size,
    dtype and layout (which an array object keeps), on the gradient's dtype and shape, and on the
    rule. The arrays are held weakly: a weight's array held here would count as one more holder
    (`StreamedStep.ready` asks), and a copy or pickle of the optimizer starts with none."""

    def __init__(self, rule) -> None:
        super().__init__()
        self.rule = rule

    def __reduce__(self):  # (weak references neither copy nor pickle: a copy remembers no variable)
        return (GroupMembers, (self.rule,))

    def add(self, var) -> None:
        """Remembers that ``var`` joined the group with the array it holds now."""
        self[id(var)] = (weakref.ref(var.data), var.data.dtype)

    def holds(self, var, grad) -> bool:
        """Whether ``var`` joins the group again with ``grad``, as it did with the array it holds."""
        seen = self.get(id(var))
        if seen is None:
            return False
        data = var.data
        return (seen[0]() is data and type(grad) is np.ndarray and grad.dtype is seen[1] and data.dtype is seen[1]
                and grad.shape == data.shape)
