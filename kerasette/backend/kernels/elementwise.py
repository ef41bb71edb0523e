"""Fused elementwise kernels of residual networks: the sum of two arrays with a ReLU after it,
the ReLU's gradient, and the ReLU's gradient of a sum of two gradients, each in one pass over
flat arrays of one length."""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel


@kernel
def add_relu(a, b, zero, y):
    """``y = max(a + b, 0)`` (``zero``: 0 of the arrays' dtype; a NaN sum stays NaN)."""
    for i in range(a.size):
        v = a[i] + b[i]
        y[i] = zero if v < zero else v


@kernel
def relu_grad(g, y, zero, out):
    """``out = g`` where the ReLU's output ``y`` is positive, else 0."""
    for i in range(g.size):
        out[i] = g[i] if y[i] > zero else zero


@kernel
def relu_grad_inplace(g, y, zero):
    """`relu_grad` written into ``g`` (a kernel of its own: with ``out`` the same array as ``g``
    the loop's overlap check fails and it runs unvectorized, 4x slower)."""
    for i in range(g.size):
        g[i] = g[i] if y[i] > zero else zero


@kernel
def relu_grad_add_inplace(g, h, y, zero):
    """``g = g + h`` where the ReLU's output ``y`` is positive, else 0, written into ``g``: the
    gradient through a ReLU of a tensor read by two ops (``g + h`` rounded once, as ``np.add``)."""
    for i in range(g.size):
        g[i] = g[i] + h[i] if y[i] > zero else zero
