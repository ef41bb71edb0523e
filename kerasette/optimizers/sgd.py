"""Stochastic gradient descent, with Keras's momentum convention and a fused kernel for large weights."""

from __future__ import annotations

import numpy as np

from kerasette import registry
from kerasette.optimizers.base import Optimizer, number

#: Weights at least this large are updated by one fused, batch-parallel kernel pass instead of
#: several numpy passes (the seed model's 30976x256 dense kernel is 7.9 million values).
FUSED_UPDATE_MIN_SIZE = 1 << 16
#: Smaller weights of these dtypes (C-contiguous, with their gradient) take one serial kernel pass
#: that follows the numpy statements of `SGD.update` operation for operation (the same bits): a
#: ResNet-20 step updates 82 such tensors, each otherwise five numpy passes and two temporaries.
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_ENGINE = []


def _engine_updates():
    """`kerasette.backend.engine.updates`, imported on the first update (not at ``import
    kerasette``) and kept: an import statement in `SGD.update` costs a microsecond a weight."""
    if not _ENGINE:
        from kerasette.backend.engine import updates  # deferred: the engine loads numba

        _ENGINE.append(updates)
    return _ENGINE[0]


@registry.register("optimizer", aliases=("sgd",), any_case=True)
class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Keras 3's rule.

    For each weight ``w`` with gradient ``g``, velocity ``v`` (initially 0) and the step's
    learning rate ``lr``::

        if momentum == 0:
            w = w - lr * g
        else:
            v = momentum * v - lr * g
            w = w + v                              # nesterov=False
            w = w + momentum * v - lr * g          # nesterov=True

    (PyTorch's SGD scales the velocity differently: ``v = momentum * v + g; w -= lr * v``; the two
    agree while the learning rate is constant and differ once it decays.)

    Args:
        learning_rate: step size (Keras 1: ``lr``), default 0.01.
        momentum: in [0, 1].
        nesterov: whether to apply Nesterov momentum.
        **kwargs: ``decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``weight_decay``,
            ``name`` (see `Optimizer`).

    Example:
        >>> opt = SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, decay=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, decay=decay, **kwargs)
        self.momentum = number(momentum, "momentum", self, 0.0, 1.0)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum > 0 else ()
        self._groups: dict = {}  # dtype -> the engine's SgdGroup (`_update_group`)

    def update(self, value, grad, slots, lr):
        kind = value.dtype.type
        if self.momentum == 0:
            value -= kind(lr) * grad
            return
        v = slots["momentum"]
        if value.flags.c_contiguous and grad.flags.c_contiguous and v.flags.c_contiguous:
            if value.size >= FUSED_UPDATE_MIN_SIZE:
                _engine_updates().sgd_momentum(value, grad, v, lr, self.momentum, self.nesterov)
                return
            if value.dtype in _KERNEL_DTYPES and grad.dtype == value.dtype == v.dtype:
                _engine_updates().sgd_momentum_small(value, grad, v, lr, self.momentum, self.nesterov)
                return
        # (the statements `sgd_momentum_small` follows, operation for operation)
        step = kind(lr) * grad
        v *= kind(self.momentum)
        v -= step
        if self.nesterov:
            value += kind(self.momentum) * v
            value -= step
        else:
            value += v

    def _joins_group(self, var, grad):
        """Small C-contiguous float32/float64 weights with momentum (what `update` would give
        `sgd_momentum_small`) wait to be updated all together (`_update_group`), unless a
        subclass has its own rule or the weight decays."""
        value = var.data
        return (self.momentum > 0 and type(self).update is SGD.update and value.size < FUSED_UPDATE_MIN_SIZE
                and value.dtype in _KERNEL_DTYPES and grad.dtype == value.dtype and grad.shape == value.shape
                and value.flags.c_contiguous and not (self.weight_decay and self._decays(var)))

    def _group_rule(self):
        """`_joins_group`'s answers are kept (`Optimizer.group_members`) while momentum stays on (or
        off), where the group rule is SGD's and no weight decays (whether a variable decays is asked
        by its name)."""
        if self.weight_decay or type(self)._joins_group is not SGD._joins_group:
            return None
        return self.momentum > 0

    def _update_group(self, pairs, lr):
        """One kernel call per dtype for all of ``pairs`` (`kerasette.backend.engine.updates.
        SgdGroup`, kept by the optimizer): the bits of `update` on each."""
        by_dtype: dict = {}  # dtype -> (values, gradients, velocities), in one pass
        slots = self._slots
        for var, grad in pairs:
            value = var.data
            lists = by_dtype.get(value.dtype)
            if lists is None:
                lists = by_dtype[value.dtype] = ([], [], [])
            lists[0].append(value)
            lists[1].append(grad)
            lists[2].append((slots.get(id(var)) or self.slots_for(var))["momentum"])
        for dtype, (values, grads, velocities) in by_dtype.items():
            run = self._groups.get(dtype)
            if run is None:
                run = self._groups[dtype] = _engine_updates().SgdGroup()
            run(values, grads, velocities, lr, self.momentum, self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
