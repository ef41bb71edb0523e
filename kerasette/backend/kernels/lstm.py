"""The LSTM through time, forward and backward (layout and options: the module docstring of
`kerasette.backend.kernels.recurrent`).

With its default activations (sigmoid gates, tanh) each row of a step is one loop over the
units (`lstm_cell_row` forward, `lstm_grad_row` backward) that adds the projections, applies
every gate and updates the states (in float32, when the units fill whole SIMD vectors,
`lstm_cell_row_vectors` and `lstm_grad_row_vectors`: the same operations on full-width
vectors, the same bits; forward two vectors at a time); other activations go through
`activate_flat`'s passes. For inference the LSTM keeps no gates (one step's scratch) and, when
only the last state is wanted, two state slots instead of every step's. When the units fill
whole SIMD vectors, the per-step products (forward and backward) are `blocked_product` with the
recurrent kernel packed once per call, not BLAS, which re-packs the kernel on every call. The
LSTM can also read each step's projections by row index from a table (`lstm_rows`: the
embedding rows folded with the input kernel, see
`kerasette.backend.ops.recurrent.FoldedProjections`), prefetching the next step's rows.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from kerasette.backend.kernels._jit import inline, kernel
from kerasette.backend.kernels.recurrent_activations import (
    _sigmoid,
    _sigmoid_slope,
    _tanh,
    _tanh_slope,
    _vsigmoid,
    _vsigmoid_slope,
    _vtanh,
    _vtanh_slope,
    activate_flat,
    derivative_row,
)
from kerasette.backend.kernels.recurrent_products import (
    _prefetch_row,
    _previous,
    _product,
    blocked_product,
    lstm_product,
)
from kerasette.backend.kernels.simd import (
    lanes,
    vadd,
    vload,
    vmul,
    vstore,
)


@kernel
def lstm_cell_row(z, x, c_prev, c_new, h_new):
    """One LSTM step for one batch row with the default activations (sigmoid gates, tanh), in
    one loop over the units: ``z`` (4U) holds the recurrent product ``h @ recurrent_kernel`` and
    is overwritten by the activated gates i, f, c, o of ``z + x`` (``x``: the row's input
    projections); the new cell state goes to ``c_new`` and the output to ``h_new`` (U each)."""
    U = c_new.size
    for u in range(U):
        i = _sigmoid(z[u] + x[u])
        f = _sigmoid(z[U + u] + x[U + u])
        g = _tanh(z[2 * U + u] + x[2 * U + u])
        o = _sigmoid(z[3 * U + u] + x[3 * U + u])
        z[u] = i
        z[U + u] = f
        z[2 * U + u] = g
        z[3 * U + u] = o
        c = f * c_prev[u] + i * g
        c_new[u] = c
        h_new[u] = o * _tanh(c)


@inline
def _cell_vectors(z, x, x_off, c_prev, c_new, h_new):
    """The body of `lstm_cell_row_vectors`, inlined into its callers (a call per row costs
    about a tenth of the row's time, and inlined the row loop schedules better).

    Two vectors of units at a time, their operations side by side: one vector's chain of
    dependent operations (exponentials, divisions, then the cell's tanh) leaves the CPU's units
    idle; two independent chains keep them busy (the row about 1.3 times faster). Each value
    goes through the same operations as one vector at a time: the same bits."""
    U = c_new.size
    L = lanes(4)
    pairs = U // (2 * L) * 2 * L
    for u in range(0, pairs, 2 * L):
        v = u + L
        i = _vsigmoid(vadd(vload(z, u), vload(x, x_off + u)))
        i2 = _vsigmoid(vadd(vload(z, v), vload(x, x_off + v)))
        f = _vsigmoid(vadd(vload(z, U + u), vload(x, x_off + U + u)))
        f2 = _vsigmoid(vadd(vload(z, U + v), vload(x, x_off + U + v)))
        g = _vtanh(vadd(vload(z, 2 * U + u), vload(x, x_off + 2 * U + u)))
        g2 = _vtanh(vadd(vload(z, 2 * U + v), vload(x, x_off + 2 * U + v)))
        o = _vsigmoid(vadd(vload(z, 3 * U + u), vload(x, x_off + 3 * U + u)))
        o2 = _vsigmoid(vadd(vload(z, 3 * U + v), vload(x, x_off + 3 * U + v)))
        c = vadd(vmul(f, vload(c_prev, u)), vmul(i, g))
        c2 = vadd(vmul(f2, vload(c_prev, v)), vmul(i2, g2))
        h = vmul(o, _vtanh(c))
        h2 = vmul(o2, _vtanh(c2))
        vstore(z, u, i)
        vstore(z, v, i2)
        vstore(z, U + u, f)
        vstore(z, U + v, f2)
        vstore(z, 2 * U + u, g)
        vstore(z, 2 * U + v, g2)
        vstore(z, 3 * U + u, o)
        vstore(z, 3 * U + v, o2)
        vstore(c_new, u, c)
        vstore(c_new, v, c2)
        vstore(h_new, u, h)
        vstore(h_new, v, h2)
    for u in range(pairs, U, L):  # an odd number of vectors: the last one alone
        i = _vsigmoid(vadd(vload(z, u), vload(x, x_off + u)))
        f = _vsigmoid(vadd(vload(z, U + u), vload(x, x_off + U + u)))
        g = _vtanh(vadd(vload(z, 2 * U + u), vload(x, x_off + 2 * U + u)))
        o = _vsigmoid(vadd(vload(z, 3 * U + u), vload(x, x_off + 3 * U + u)))
        vstore(z, u, i)
        vstore(z, U + u, f)
        vstore(z, 2 * U + u, g)
        vstore(z, 3 * U + u, o)
        c = vadd(vmul(f, vload(c_prev, u)), vmul(i, g))
        vstore(c_new, u, c)
        vstore(h_new, u, vmul(o, _vtanh(c)))


@kernel
def lstm_cell_row_vectors(z, x, x_off, c_prev, c_new, h_new):
    """`lstm_cell_row` for float32 in explicit SIMD vectors (the full width numba's loop
    vectoriser does not choose on AVX-512: `kerasette.backend.kernels.simd`), the same values
    bit for bit. ``z`` (4U), ``c_prev``, ``c_new``, ``h_new`` (U) are 1-D; this row's projections
    start at flat element ``x_off`` of ``x``; U is a whole number of vectors (`_cell_vectors`)."""
    _cell_vectors(z, x, x_off, c_prev, c_new, h_new)


def _cell_row_fast(z, xr, row, c_prev, c_new, h_new):
    pass


@overload(_cell_row_fast, inline="always")
def _cell_row_fast_overload(z, xr, row, c_prev, c_new, h_new):
    """`lstm_cell_row` on row ``row`` of the projections ``xr`` (R, 4U): in explicit vectors for
    float32 (`lstm_cell_row_vectors`; the caller checks that the units fill them), else the loop."""
    if z.dtype == types.float32:
        return lambda z, xr, row, c_prev, c_new, h_new: _cell_vectors(z, xr, row * xr.shape[1], c_prev, c_new,
                                                                       h_new)
    return lambda z, xr, row, c_prev, c_new, h_new: lstm_cell_row(z, xr[row], c_prev, c_new, h_new)


@kernel
def lstm_cell_row_general(z, x, c_prev, c_new, h_new, act, ract, t_row):
    """`lstm_cell_row` for any activations (`ACTIVATIONS` codes ``act`` for the candidate and
    the cell, ``ract`` for the gates), in vectorized passes; ``t_row`` (U) is scratch."""
    U = c_new.size
    G = 4 * U
    for j in range(G):
        z[j] += x[j]
    activate_flat(ract, z[:2 * U])
    activate_flat(act, z[2 * U:3 * U])
    activate_flat(ract, z[3 * U:])
    for u in range(U):
        c = z[U + u] * c_prev[u] + z[u] * z[2 * U + u]
        c_new[u] = c
        t_row[u] = c
    activate_flat(act, t_row)
    for u in range(U):
        h_new[u] = z[3 * U + u] * t_row[u]


@kernel
def lstm_forward(xp, rk, mask, has_mask, rmask, has_rmask, act, ract, b0, b1, hs, cs, gates, hd):
    """One LSTM over every step for rows [b0, b1). ``xp`` (T, B, 4U): `lstm_rows` with the
    projections of step ``t``, row ``b`` in ``xp[t, b]``."""
    T, B, G = xp.shape
    rows = np.empty((T, 0), np.int64)
    packed = np.empty((0, 0, 4, 0), xp.dtype)
    lstm_rows(xp.reshape(T * B, G), rows, False, rk, packed, False, mask, has_mask, rmask, has_rmask, act, ract,
              b0, b1, hs, cs, gates, hd)


@kernel
def lstm_rows(xr, rows, indexed, rk, packed, use_packed, mask, has_mask, rmask, has_rmask, act, ract, b0, b1, hs, cs,
              gates, hd):
    """One LSTM over every step for batch rows [b0, b1), the input projections read from rows of
    ``xr`` (R, 4U): row ``rows[t, b]`` for step ``t`` of batch row ``b`` when ``indexed`` (a
    table of projections read in place, with no gather: see
    `kerasette.backend.ops.recurrent.FoldedProjections`), else row ``t * B + b`` (``xr`` the (T,
    B, 4U) projections of every step, flattened). The batch size B is ``hs``'s; the number of
    steps T is ``rows``' (indexed) or ``xr.shape[0] // B``.

    ``gates`` (T, B, 4U) keeps the activated i, f, c, o of every step for the backward pass;
    given as (1, B, 4U) (inference) it is scratch reused every step. ``hs``/``cs`` (T + 1, B,
    U) keep every step's states; given as (2, B, U) (inference, last state only) the steps
    alternate between the two slots and the last state is in slot ``T % 2``. ``hd`` (B, U) is
    scratch.

    Each step is one product of the chunk's rows of the previous output (read in place, or
    copied times ``rmask``) with the recurrent kernel, landing in the step's gate rows (with
    ``use_packed``, `lstm_product` with the kernel ``packed``
    (`kerasette.backend.ops.recurrent.pack_lstm_recurrent`); else BLAS), then one fused loop per
    row (`lstm_cell_row`, or `lstm_cell_row_vectors` in float32 when the units fill whole SIMD
    vectors: the same values) that adds the projections, applies the gates and writes the new
    states."""
    B = hs.shape[1]
    G = xr.shape[1]
    T = rows.shape[0] if indexed else xr.shape[0] // B
    U = G // 4
    n = b1 - b0
    default = act == 1 and ract == 2
    whole_vectors = U % lanes(xr.itemsize) == 0  # float32 rows then go through `lstm_cell_row_vectors`
    keep_gates = gates.shape[0] == T
    keep_states = hs.shape[0] == T + 1
    for t in range(T):
        s0 = t if keep_states else t % 2
        s1 = t + 1 if keep_states else (t + 1) % 2
        step = gates[t if keep_gates else 0]
        start = ((t if keep_gates else 0) * B + b0) * G
        if indexed and t + 1 < T:  # the next step's rows, scattered over the table, load during this one
            for b in range(b0, b1):
                _prefetch_row(xr, rows[t + 1, b])
        if has_rmask:
            _previous(hs, s0, b0, b1, rmask, True, hd)
            if use_packed:
                lstm_product(hd, b0 * U, n, packed, gates, start)
            else:
                _product(False, n, G, U, hd, b0 * U, U, rk, 0, G, gates, start, G)
        elif use_packed:
            lstm_product(hs, (s0 * B + b0) * U, n, packed, gates, start)
        else:
            _product(False, n, G, U, hs, (s0 * B + b0) * U, U, rk, 0, G, gates, start, G)
        for b in range(b0, b1):
            if has_mask and mask[t, b] == 0:
                for u in range(U):
                    hs[s1, b, u] = hs[s0, b, u]
                    cs[s1, b, u] = cs[s0, b, u]
                continue
            row = rows[t, b] if indexed else t * B + b
            x = xr[row]
            if default and whole_vectors:
                _cell_row_fast(step[b], xr, row, cs[s0, b], cs[s1, b], hs[s1, b])
            elif default:
                lstm_cell_row(step[b], x, cs[s0, b], cs[s1, b], hs[s1, b])
            else:
                lstm_cell_row_general(step[b], x, cs[s0, b], cs[s1, b], hs[s1, b], act, ract, hd[b])


@kernel
def lstm_grad_row(gr, c_prev, c_now, gh_row, gc_row, dr):
    """One step back for one batch row with the default activations, in one loop over the
    units: from the activated gates ``gr`` (i, f, c, o), the cell states before and after the
    step and the gradients of the output ``gh_row`` and of the cell state ``gc_row`` (which
    becomes the previous cell state's gradient), ``dr`` (4U) gets the gradient of the gates'
    pre-activations (the step's projections)."""
    U = c_now.size
    for u in range(U):
        i = gr[u]
        f = gr[U + u]
        g = gr[2 * U + u]
        o = gr[3 * U + u]
        a = _tanh(c_now[u])
        gh = gh_row[u]
        gc = gc_row[u] + gh * o * _tanh_slope(a)
        dr[u] = gc * g * _sigmoid_slope(i)
        dr[U + u] = gc * c_prev[u] * _sigmoid_slope(f)
        dr[2 * U + u] = gc * i * _tanh_slope(g)
        dr[3 * U + u] = gh * a * _sigmoid_slope(o)
        gc_row[u] = gc * f


@inline
def _grad_vector(gr, c_prev, c_now, gh_row, gc_row, dr, U, u):
    """`lstm_grad_row` for the vector of float32 units from ``u``: the same operations in the
    same order (no fused multiply-add), the same bits."""
    i = vload(gr, u)
    f = vload(gr, U + u)
    g = vload(gr, 2 * U + u)
    o = vload(gr, 3 * U + u)
    a = _vtanh(vload(c_now, u))
    gh = vload(gh_row, u)
    gc = vadd(vload(gc_row, u), vmul(vmul(gh, o), _vtanh_slope(a)))
    vstore(dr, u, vmul(vmul(gc, g), _vsigmoid_slope(i)))
    vstore(dr, U + u, vmul(vmul(gc, vload(c_prev, u)), _vsigmoid_slope(f)))
    vstore(dr, 2 * U + u, vmul(vmul(gc, i), _vtanh_slope(g)))
    vstore(dr, 3 * U + u, vmul(vmul(gh, a), _vsigmoid_slope(o)))
    vstore(gc_row, u, vmul(gc, f))


@kernel
def lstm_grad_row_vectors(gr, c_prev, c_now, gh_row, gc_row, dr):
    """`lstm_grad_row` for float32 in explicit SIMD vectors, the same values bit for bit; U is a
    whole number of vectors (`_grad_vector`)."""
    U = c_now.size
    for u in range(0, U, lanes(4)):
        _grad_vector(gr, c_prev, c_now, gh_row, gc_row, dr, U, u)


def _grad_row_fast(gr, c_prev, c_now, gh_row, gc_row, dr):
    pass


@overload(_grad_row_fast, inline="always")
def _grad_row_fast_overload(gr, c_prev, c_now, gh_row, gc_row, dr):
    """`lstm_grad_row` in explicit vectors for float32 (inlined; the caller checks that the
    units fill them), else the loop."""
    if gr.dtype == types.float32:
        def vectors(gr, c_prev, c_now, gh_row, gc_row, dr):
            U = c_now.size
            for u in range(0, U, lanes(4)):
                _grad_vector(gr, c_prev, c_now, gh_row, gc_row, dr, U, u)
        return vectors
    return lambda gr, c_prev, c_now, gh_row, gc_row, dr: lstm_grad_row(gr, c_prev, c_now, gh_row, gc_row, dr)


@kernel
def lstm_grad_row_general(gr, c_prev, c_now, gh_row, gc_row, dr, act, ract, ac, da):
    """`lstm_grad_row` for any activations (codes ``act``, ``ract``), in vectorized passes;
    ``ac`` and ``da`` (U) are scratch."""
    U = c_now.size
    for u in range(U):
        ac[u] = c_now[u]
    activate_flat(act, ac)
    derivative_row(act, ac, da)
    derivative_row(ract, gr[:2 * U], dr[:2 * U])
    derivative_row(act, gr[2 * U:3 * U], dr[2 * U:3 * U])
    derivative_row(ract, gr[3 * U:], dr[3 * U:])
    for u in range(U):
        i = gr[u]
        f = gr[U + u]
        g = gr[2 * U + u]
        gh = gh_row[u]
        gc = gc_row[u] + gh * gr[3 * U + u] * da[u]
        dr[u] = gc * g * dr[u]
        dr[U + u] = gc * c_prev[u] * dr[U + u]
        dr[2 * U + u] = gc * i * dr[2 * U + u]
        dr[3 * U + u] = gh * ac[u] * dr[3 * U + u]
        gc_row[u] = gc * f


@kernel
def lstm_backward(dseq, has_seq, dlast, has_last, cell_grads, gates, cs, rkt, packed, use_packed, mask, has_mask,
                  rmask, has_rmask, act, ract, b0, b1, dxp, dh, dc, tmp, dact):
    """Gradients for `lstm_forward`: ``dxp`` (T, B, 4U), and in ``dh``/``dc`` rows the initial
    states' gradients. ``dseq`` (T, B, K) and ``dlast`` (B, K) hold the gradients of the outputs;
    with ``cell_grads`` K is 2U and the second half is the gradient of the cell state. ``rkt``
    (4U, U) is the recurrent kernel transposed (contiguous: a product with it untransposed runs
    about 1.5 times faster than one reading ``rk`` transposed); with ``use_packed`` the product
    is `blocked_product` with ``packed`` (``pack_lstm_recurrent(rk, transposed=True)``) instead. ``tmp`` and
    ``dact`` (B, U) are scratch.

    Each step is one fused loop per row (`lstm_grad_row`) and one product of the step's
    gate gradients with the transposed recurrent kernel, straight into ``dh`` when no row is
    masked and there is no recurrent mask. The recurrent kernel's gradient is not computed here:
    it is one product over every step afterwards (``hs[:-1]^T @ dxp``)."""
    T, B, G = dxp.shape
    U = G // 4
    n = b1 - b0
    default = act == 1 and ract == 2
    whole_vectors = U % lanes(dxp.itemsize) == 0  # float32 rows then go through `_grad_vector`
    for b in range(b0, b1):
        for u in range(U):
            dh[b, u] = dlast[b, u] if has_last else 0.0
            dc[b, u] = dlast[b, U + u] if (has_last and cell_grads) else 0.0
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            ghr, gcr = dh[b], dc[b]
            if has_seq:
                ds = dseq[t, b]
                for u in range(U):
                    ghr[u] += ds[u]
                if cell_grads:
                    for u in range(U):
                        gcr[u] += ds[U + u]
            dr = dxp[t, b]
            if has_mask and mask[t, b] == 0:  # carried over: the gradients pass through
                for j in range(G):
                    dr[j] = 0.0
            elif default and whole_vectors:
                _grad_row_fast(gates[t, b], cs[t, b], cs[t + 1, b], ghr, gcr, dr)
            elif default:
                lstm_grad_row(gates[t, b], cs[t, b], cs[t + 1, b], ghr, gcr, dr)
            else:
                lstm_grad_row_general(gates[t, b], cs[t, b], cs[t + 1, b], ghr, gcr, dr, act, ract, tmp[b], dact[b])
        if has_mask or has_rmask:
            if use_packed:
                blocked_product(dxp, (t * B + b0) * G, G, n, packed, tmp, b0 * U, U, 4 * packed.shape[3],
                                packed.shape[3])
            else:
                _product(False, n, U, G, dxp, (t * B + b0) * G, G, rkt, 0, U, tmp, b0 * U, U)
            for b in range(b0, b1):
                if has_mask and mask[t, b] == 0:
                    continue
                ghr, back = dh[b], tmp[b]
                if has_rmask:
                    m = rmask[b]
                    for u in range(U):
                        ghr[u] = back[u] * m[u]
                else:
                    for u in range(U):
                        ghr[u] = back[u]
        else:
            if use_packed:
                blocked_product(dxp, (t * B + b0) * G, G, n, packed, dh, b0 * U, U, 4 * packed.shape[3],
                                packed.shape[3])
            else:
                _product(False, n, U, G, dxp, (t * B + b0) * G, G, rkt, 0, U, dh, b0 * U, U)
