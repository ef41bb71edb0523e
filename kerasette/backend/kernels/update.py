"""Optimizer update kernels: one pass over a weight, its gradient and its slot."""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import inline, kernel, numba  # (numba from _jit: see its docstring)


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


@kernel
def adam(value, grad, m, v, alpha, a1, a2, epsilon):
    """Keras 3's Adam rule (no amsgrad) in place on flat arrays, in one pass: ``m += (g - m) * a1``,
    ``v += (g * g - v) * a2``, ``w -= m * alpha / (sqrt(v) + epsilon)``, with ``a1 = 1 - beta_1``,
    ``a2 = 1 - beta_2`` and every scalar of the arrays' dtype: the same operations, in the same
    order and precision, as the numpy update (``np.divide``: no zero check, so the loop vectorizes)."""
    for i in range(value.size):
        g = grad[i]
        mi = m[i] + (g - m[i]) * a1
        vi = v[i] + (g * g - v[i]) * a2
        m[i] = mi
        v[i] = vi
        value[i] -= np.divide(mi * alpha, np.sqrt(vi) + epsilon)


@kernel
def sgd_momentum_small(value, grad, velocity, lr, momentum, nesterov):
    """`SGD.update`'s numpy rule for a small weight, in one serial pass on flat arrays: the same
    operations in the same order as its numpy statements (``step = lr * g``; ``v = v * m - step``;
    then ``w = w + v``, or with Nesterov ``w = (w + m * v) - step``), so the same bits, without
    five array passes and two temporaries. (The Nesterov form differs in its last rounding from
    `sgd_momentum`'s ``w + (m * v - step)``, Keras's grouping, which large weights take.)"""
    for i in range(value.size):
        step = lr * grad[i]
        v = velocity[i] * momentum - step
        velocity[i] = v
        if nesterov:
            value[i] = (value[i] + momentum * v) - step
        else:
            value[i] = value[i] + v


@numba.extending.intrinsic
def _pointer_like(typingctx, address, like):
    """A pointer to ``like``'s element type (``like`` an array, or a scalar: its type) at
    ``address`` (an integer): the start of an array the caller holds, named by its address so
    that one call can reach many arrays."""
    pointer = numba.types.CPointer(getattr(like, "dtype", like))  # (an array's elements or a scalar's type)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(pointer))

    return pointer(address, like), codegen


@inline
def _sgd_momentum_rows(value, grad, velocity, lr, momentum, nesterov):
    """`sgd_momentum_small`'s loop on one weight's flat arrays (one loop per rule: each
    vectorizes)."""
    if nesterov:
        for i in range(value.size):
            step = lr * grad[i]
            v = velocity[i] * momentum - step
            velocity[i] = v
            value[i] = (value[i] + momentum * v) - step
    else:
        for i in range(value.size):
            step = lr * grad[i]
            v = velocity[i] * momentum - step
            velocity[i] = v
            value[i] = value[i] + v


@kernel
def sgd_momentum_group(grads, starts, values, velocities, lr, momentum, nesterov, lo, hi):
    """`sgd_momentum_small` for many weights in one call, on the values ``lo:hi`` of them all
    laid end to end: weight ``k`` has ``starts[k + 1] - starts[k]`` values; its gradient is
    ``grads[starts[k]:starts[k + 1]]`` (the gradients concatenated), its values and velocity the
    C-contiguous arrays of ``grads``'s dtype at addresses ``values[k]`` and ``velocities[k]``
    (the caller keeps them alive). The same operations in the same order as
    `sgd_momentum_small`, so the same bits."""
    for k in range(starts.size - 1):
        first = max(starts[k], lo)
        last = min(starts[k + 1], hi)
        if first >= last:
            continue
        n = starts[k + 1] - starts[k]
        value = numba.carray(_pointer_like(values[k], grads), n)[first - starts[k]:last - starts[k]]
        velocity = numba.carray(_pointer_like(velocities[k], grads), n)[first - starts[k]:last - starts[k]]
        _sgd_momentum_rows(value, grads[first:last], velocity, lr, momentum, nesterov)


@kernel
def sgd_momentum_addressed(grad_objects, data_offset, starts, values, velocities, lr, momentum, nesterov, lo, hi):
    """`sgd_momentum_group` with the gradients named by the addresses of their numpy array
    objects (``id``): weight ``k``'s gradient is the C-contiguous array of ``lr``'s dtype whose
    data pointer sits ``data_offset`` bytes into the object at ``grad_objects[k]`` (the caller
    holds the arrays), so that nobody concatenates them first. The same operations in the same
    order, so the same bits."""
    for k in range(starts.size - 1):
        first = max(starts[k], lo)
        last = min(starts[k + 1], hi)
        if first >= last:
            continue
        n = starts[k + 1] - starts[k]
        a, b = first - starts[k], last - starts[k]
        grad_data = _pointer_like(grad_objects[k] + data_offset, starts)[0]
        value = numba.carray(_pointer_like(values[k], lr), n)[a:b]
        grad = numba.carray(_pointer_like(grad_data, lr), n)[a:b]
        velocity = numba.carray(_pointer_like(velocities[k], lr), n)[a:b]
        _sgd_momentum_rows(value, grad, velocity, lr, momentum, nesterov)
