"""SimpleRNN and GRU through time, forward and backward (layout and options: the module
docstring of `kerasette.backend.kernels.recurrent`). Each step is one BLAS product with the
recurrent kernel (two for the GRU with the reset gate applied before it) and one pass over
the rows that applies the gates and updates the state.
"""

from __future__ import annotations

from kerasette.backend.kernels import blas
from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.recurrent_activations import (
    activate_row,
    derivative,
)
from kerasette.backend.kernels.recurrent_products import (
    _carry,
    _previous,
    _product,
)


@kernel
def simple_forward(xp, rk, mask, has_mask, rmask, has_rmask, act, b0, b1, hs, hd):
    """``h_t = act(xp_t + (h_{t-1} * rmask) @ rk)`` for rows [b0, b1); ``xp`` (T, B, U)."""
    T, B, U = xp.shape
    n = b1 - b0
    for t in range(T):
        _previous(hs, t, b0, b1, rmask, has_rmask, hd)
        # hs[t + 1] rows <- src rows @ rk, then the activation in place
        blas.gemm(False, False, n, U, U, hd, b0 * U, U, rk, 0, U, 0.0, hs, (t + 1) * B * U + b0 * U, U)
        for b in range(b0, b1):
            if has_mask and mask[t, b] == 0:
                _carry(hs, t, b, hs, False)
                continue
            for u in range(U):
                hd[b, u] = xp[t, b, u] + hs[t + 1, b, u]
            activate_row(act, hd, b, 0, U)
            for u in range(U):
                hs[t + 1, b, u] = hd[b, u]


@kernel
def simple_backward(dseq, has_seq, dlast, has_last, hs, rk, mask, has_mask, rmask, has_rmask, act, b0, b1,
                    dxp, dh, tmp):
    """Gradients for `simple_forward`: ``dxp`` (T, B, U) and, left in ``dh`` rows, the initial
    state's gradient. ``dseq`` (T, B, U) is the gradient of every step's output, ``dlast`` (B, U)
    that of the last state."""
    T, B, U = dxp.shape
    n = b1 - b0
    for b in range(b0, b1):
        for u in range(U):
            dh[b, u] = dlast[b, u] if has_last else 0.0
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            skip = has_mask and mask[t, b] == 0
            for u in range(U):
                g = dh[b, u] + (dseq[t, b, u] if has_seq else 0.0)
                dh[b, u] = g
                dxp[t, b, u] = 0.0 if skip else g * derivative(act, hs[t + 1, b, u])
        blas.gemm(False, True, n, U, U, dxp, t * B * U + b0 * U, U, rk, 0, U, 0.0, tmp, b0 * U, U)
        for b in range(b0, b1):
            if has_mask and mask[t, b] == 0:
                continue
            for u in range(U):
                dh[b, u] = tmp[b, u] * (rmask[b, u] if has_rmask else 1.0)


@kernel
def gru_forward(xp, rk, rb, reset_after, mask, has_mask, rmask, has_rmask, act, ract, b0, b1, hs, gates, z,
                hd, q):
    """One GRU over every step for rows [b0, b1). ``xp`` (T, B, 3U) includes the input bias;
    ``rb`` (3U,) is the recurrent bias (reset_after; zeros without a bias). ``gates`` (T, B, 4U)
    keeps z, r, hh and, reset after, the recurrent projection of h (else ``r * h``) for the
    backward pass. ``z`` (B, 3U), ``hd`` (B, U), ``q`` (B, U) are scratch."""
    T, B, G = xp.shape
    U = G // 3
    n = b1 - b0
    cols = G if reset_after else 2 * U  # reset before: the h third is a product of its own
    second = 0 if reset_after else U
    for t in range(T):
        _previous(hs, t, b0, b1, rmask, has_rmask, hd)
        _product(False, n, cols, U, hd, b0 * U, U, rk, 0, G, z, b0 * G, G)
        for b in range(b0, b1):
            if has_mask and mask[t, b] == 0:
                # a carried-over step: its gradients are zeros, and so are the gates they multiply
                # (reset before, the r * h part enters the recurrent kernel's gradient as a product)
                for j in range(4 * U):
                    gates[t, b, j] = 0.0
                continue
            for j in range(2 * U):
                z[b, j] += xp[t, b, j] + rb[j]
            activate_row(ract, z, b, 0, 2 * U)
            for j in range(2 * U):
                gates[t, b, j] = z[b, j]
            if reset_after:
                for u in range(U):
                    rh = z[b, 2 * U + u] + rb[2 * U + u]
                    gates[t, b, 3 * U + u] = rh
                    hd[b, u] = xp[t, b, 2 * U + u] + z[b, U + u] * rh
                activate_row(act, hd, b, 0, U)
                for u in range(U):
                    zz = z[b, u]
                    gates[t, b, 2 * U + u] = hd[b, u]
                    hs[t + 1, b, u] = zz * hs[t, b, u] + (1.0 - zz) * hd[b, u]
            else:
                for u in range(U):
                    h_in = hs[t, b, u] * (rmask[b, u] if has_rmask else 1.0)
                    gates[t, b, 3 * U + u] = z[b, U + u] * h_in
                    q[b, u] = z[b, U + u] * h_in
        # reset before: the h third's product, of r * h (no columns when reset after)
        _product(False, n, second, U, q, b0 * U, U, rk, 2 * U, G, z, b0 * G + 2 * U, G)
        if not reset_after:
            for b in range(b0, b1):
                if has_mask and mask[t, b] == 0:
                    continue
                for u in range(U):
                    hd[b, u] = xp[t, b, 2 * U + u] + z[b, 2 * U + u]
                activate_row(act, hd, b, 0, U)
                for u in range(U):
                    zz = gates[t, b, u]
                    gates[t, b, 2 * U + u] = hd[b, u]
                    hs[t + 1, b, u] = zz * hs[t, b, u] + (1.0 - zz) * hd[b, u]
        for b in range(b0, b1):
            if has_mask and mask[t, b] == 0:
                _carry(hs, t, b, hs, False)


@kernel
def gru_backward(dseq, has_seq, dlast, has_last, gates, hs, rk, reset_after, mask, has_mask, rmask, has_rmask,
                 act, ract, b0, b1, dxp, drec, dh, tmp, q):
    """Gradients for `gru_forward`: ``dxp`` (T, B, 3U); ``drec`` (T, B, 3U) the gradient of the
    recurrent projection (reset after; else only its z and r thirds are written and the third
    is the gradient of ``(r * h) @ rk_h``); the initial state's gradient in ``dh`` rows."""
    T, B, G = dxp.shape
    U = G // 3
    n = b1 - b0
    cols = G if reset_after else 2 * U
    second = 0 if reset_after else n
    for b in range(b0, b1):
        for u in range(U):
            dh[b, u] = dlast[b, u] if has_last else 0.0
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            skip = has_mask and mask[t, b] == 0
            for u in range(U):
                gh = dh[b, u] + (dseq[t, b, u] if has_seq else 0.0)
                dh[b, u] = gh
                if skip:
                    for k in range(3):
                        dxp[t, b, k * U + u] = 0.0
                        drec[t, b, k * U + u] = 0.0
                    continue
                zz = gates[t, b, u]
                hh = gates[t, b, 2 * U + u]
                dz = gh * (hs[t, b, u] - hh) * derivative(ract, zz)
                dhh = gh * (1.0 - zz) * derivative(act, hh)
                dxp[t, b, u] = dz
                dxp[t, b, 2 * U + u] = dhh
                drec[t, b, u] = dz
                if reset_after:
                    r = gates[t, b, U + u]
                    dr = dhh * gates[t, b, 3 * U + u] * derivative(ract, r)
                    dxp[t, b, U + u] = dr
                    drec[t, b, U + u] = dr
                    drec[t, b, 2 * U + u] = dhh * r
                else:
                    drec[t, b, 2 * U + u] = dhh
        # reset before: d(r * h_in) = dhh @ rk_h^T (no rows when reset after),
        # then the r gate's gradient and the h_in path through r
        _product(True, second, U, U, drec, t * B * G + b0 * G + 2 * U, G, rk, 2 * U, G, q, b0 * U, U)
        if not reset_after:
            for b in range(b0, b1):
                if has_mask and mask[t, b] == 0:
                    continue
                for u in range(U):
                    r = gates[t, b, U + u]
                    h_in = hs[t, b, u] * (rmask[b, u] if has_rmask else 1.0)
                    dr = q[b, u] * h_in * derivative(ract, r)
                    dxp[t, b, U + u] = dr
                    drec[t, b, U + u] = dr
                    q[b, u] = q[b, u] * r
        # the recurrent projection's gradient (its z and r thirds only, reset before) back to h_in
        _product(True, n, U, cols, drec, t * B * G + b0 * G, G, rk, 0, G, tmp, b0 * U, U)
        for b in range(b0, b1):
            if has_mask and mask[t, b] == 0:
                continue
            for u in range(U):
                back = tmp[b, u] if reset_after else tmp[b, u] + q[b, u]
                dh[b, u] = dh[b, u] * gates[t, b, u] + back * (rmask[b, u] if has_rmask else 1.0)
