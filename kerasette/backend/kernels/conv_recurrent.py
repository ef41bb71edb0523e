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

import numpy as np

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.recurrent import activate_flat, derivative_row


@kernel
def gates_forward(z, xp, c_prev, h_prev, keep, has_mask, act, ract, c_out, h_out, r0, r1):
    """Rows ``r0:r1``: ``z += xp``, then ``z`` activated in place (i, f, o by ``ract``, the
    candidate by ``act``), ``c_out = f * c_prev + i * c~``, ``h_out = o * act(c_out)``; masked
    rows copy the previous states instead. (Each activation runs over a row segment with
    `activate_flat`, whose loops vectorize.)"""
    f = c_out.shape[1]
    tc = np.empty(f, z.dtype)
    for r in range(r0, r1):
        zr = z[r]
        xr = xp[r]
        for j in range(4 * f):
            zr[j] += xr[j]
        activate_flat(ract, zr[:2 * f])
        activate_flat(act, zr[2 * f:3 * f])
        activate_flat(ract, zr[3 * f:])
        if has_mask and not keep[r]:
            for j in range(f):
                c_out[r, j] = c_prev[r, j]
                h_out[r, j] = h_prev[r, j]
            continue
        for j in range(f):
            c = zr[f + j] * c_prev[r, j] + zr[j] * zr[2 * f + j]
            c_out[r, j] = c
            tc[j] = c
        activate_flat(act, tc)
        for j in range(f):
            h_out[r, j] = zr[3 * f + j] * tc[j]


@kernel
def gates_backward(gates, c_prev, dh, dc, keep, has_mask, act, ract, dz, r0, r1):
    """Rows ``r0:r1`` of the step's backward pass, from the activated ``gates``, the previous
    carry and ``dh``, ``dc`` (the gradients of this step's ``h`` and ``c``): ``dz`` (the
    pre-activations' gradient), ``dc`` overwritten with the previous carry's gradient, ``dh``
    zeroed where the step was read (masked rows keep both, which pass to the previous states)."""
    f = dh.shape[1]
    tc = np.empty(f, gates.dtype)
    slope_c = np.empty(f, gates.dtype)
    slope = np.empty(4 * f, gates.dtype)
    for r in range(r0, r1):
        if has_mask and not keep[r]:
            for j in range(4 * f):
                dz[r, j] = 0.0
            continue
        g_r = gates[r]
        for j in range(f):
            tc[j] = g_r[f + j] * c_prev[r, j] + g_r[j] * g_r[2 * f + j]
        activate_flat(act, tc)
        derivative_row(act, tc, slope_c)
        derivative_row(ract, g_r[:2 * f], slope[:2 * f])
        derivative_row(act, g_r[2 * f:3 * f], slope[2 * f:3 * f])
        derivative_row(ract, g_r[3 * f:], slope[3 * f:])
        for j in range(f):
            i = g_r[j]
            fg = g_r[f + j]
            d_h = dh[r, j]
            d_c = dc[r, j] + d_h * g_r[3 * f + j] * slope_c[j]
            dz[r, j] = d_c * g_r[2 * f + j] * slope[j]
            dz[r, f + j] = d_c * c_prev[r, j] * slope[f + j]
            dz[r, 2 * f + j] = d_c * i * slope[2 * f + j]
            dz[r, 3 * f + j] = d_h * tc[j] * slope[3 * f + j]
            dc[r, j] = d_c * fg
            dh[r, j] = 0.0
