"""Optimizer update kernels: one pass over a weight, its gradient and its slot."""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel


@kernel
def sgd_momentum(value, grad, velocity, lr, momentum, nesterov):
    """Keras's SGD rule in place on flat arrays: ``v = m * v - lr * g``, then ``w += v`` or,
    with Nesterov, ``w += m * v - lr * g``."""
    for i in range(value.size):
        step = lr * grad[i]
        v = momentum * velocity[i] - step
        velocity[i] = v
        if nesterov:
            value[i] += momentum * v - step
        else:
            value[i] += v
