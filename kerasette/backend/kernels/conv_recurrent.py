"""Kernels of the convolutional LSTM's gates (`kerasette.backend.ops.conv_recurrent`): one pass
over a step's pixels, forward and backward, instead of a dozen numpy passes.

Arrays are 2-D: one row per (sample, pixel), ``rows = batch * rows * cols``; the pre-activations
``z`` (rows, 4 * filters) hold the gates i, f, c, o side by side, the states (rows, filters).
``keep`` (rows,) says which rows' step is read (a masked sample's rows keep their states). Each
kernel handles rows ``r0:r1`` so that `kerasette.backend.parallel.map_chunks` can split them.
Activations by code, as `kerasette.backend.kernels.recurrent.ACTIVATIONS` (0 linear, 1 tanh,
2 sigmoid, 3 hard_sigmoid (Keras 3's ``clip(x / 6 + 0.5, 0, 1)``), 4 relu).
"""

from __future__ import annotations

import math

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.recurrent import derivative


@kernel
def activate(code, x):
    """Activation ``code`` of the scalar ``x``."""
    if code == 1:
        return math.tanh(x)
    if code == 2:
        if x >= 0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)
    if code == 3:
        return min(max(x / 6.0 + 0.5, 0.0), 1.0)
    if code == 4:
        return max(x, 0.0)
    return x


@kernel
def gates_forward(z, xp, c_prev, h_prev, keep, has_mask, act, ract, c_out, h_out, r0, r1):
    """Rows ``r0:r1``: ``z += xp``, then ``z`` activated in place (i, f, o by ``ract``, the
    candidate by ``act``), ``c_out = f * c_prev + i * c~``, ``h_out = o * act(c_out)``; masked
    rows copy the previous states instead."""
    f = c_out.shape[1]
    for r in range(r0, r1):
        for j in range(4 * f):
            code = act if 2 * f <= j < 3 * f else ract
            z[r, j] = activate(code, z[r, j] + xp[r, j])
        if has_mask and not keep[r]:
            for j in range(f):
                c_out[r, j] = c_prev[r, j]
                h_out[r, j] = h_prev[r, j]
            continue
        for j in range(f):
            c = z[r, f + j] * c_prev[r, j] + z[r, j] * z[r, 2 * f + j]
            c_out[r, j] = c
            h_out[r, j] = z[r, 3 * f + j] * activate(act, c)


@kernel
def gates_backward(gates, c_prev, dh, dc, keep, has_mask, act, ract, dz, r0, r1):
    """Rows ``r0:r1`` of the step's backward pass, from the activated ``gates``, the previous
    carry and ``dh``, ``dc`` (the gradients of this step's ``h`` and ``c``): ``dz`` (the
    pre-activations' gradient), ``dc`` overwritten with the previous carry's gradient, ``dh``
    zeroed where the step was read (masked rows keep both, which pass to the previous states)."""
    f = dh.shape[1]
    for r in range(r0, r1):
        if has_mask and not keep[r]:
            for j in range(4 * f):
                dz[r, j] = 0.0
            continue
        for j in range(f):
            i = gates[r, j]
            fg = gates[r, f + j]
            g = gates[r, 2 * f + j]
            o = gates[r, 3 * f + j]
            tc = activate(act, fg * c_prev[r, j] + i * g)
            d_h = dh[r, j]
            d_c = dc[r, j] + d_h * o * derivative(act, tc)
            dz[r, j] = d_c * g * derivative(ract, i)
            dz[r, f + j] = d_c * c_prev[r, j] * derivative(ract, fg)
            dz[r, 2 * f + j] = d_c * i * derivative(act, g)
            dz[r, 3 * f + j] = d_h * tc * derivative(ract, o)
            dc[r, j] = d_c * fg
            dh[r, j] = 0.0
