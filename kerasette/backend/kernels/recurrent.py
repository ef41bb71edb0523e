"""Recurrence kernels: SimpleRNN, LSTM and GRU through time, forward and backward.

Layout: everything is time-major. ``xp`` (T, B, G) holds the input projections of every step
(``x_t @ kernel + bias``, computed before the recurrence as one matrix product); the states are
kept in ``hs`` (T + 1, B, U) (and ``cs`` for the LSTM), slot 0 holding the initial state and slot
``t + 1`` the state after step ``t``. One call handles the batch rows ``[b0, b1)`` for every step,
so the recurrence of a batch splits over threads by rows. Each step is one BLAS product with the
recurrent kernel (`kerasette.backend.kernels.blas.gemm`, inside the kernel) followed by one fused
loop that applies the gate non-linearities and updates the state.

Activations are given by code (`ACTIVATIONS`) and applied to a row of gates at a time
(`activate_row`), in loops that vectorize: float32 tanh and sigmoid come from `_exp32`, plain
float32 arithmetic within about one ulp of the exact values (libm's functions cost ten times
more per value and stop the loops from vectorizing); float64 uses libm's exact functions, so
that the float64 gradient checks see the true functions. Derivatives are computed from the
activation's output. ``mask`` (T, B) (uint8, 1 = use the step) makes a masked step carry the previous states
over unchanged (its gradient passes through to the previous step). ``rmask`` (B, U) multiplies
the previous output before the recurrent product (recurrent dropout; the same every step).

The LSTM with its default activations (sigmoid gates, tanh) runs each row of a step as one
loop over the units (`lstm_cell_row` forward, `lstm_grad_row` backward) that adds the
projections, applies every gate and updates the states (in float32, when the units fill whole
SIMD vectors, `lstm_cell_row_vectors` and `lstm_grad_row_vectors`: the same operations on
full-width vectors, the same bits; forward two vectors at a time); other
activations go through `activate_flat`'s passes. For inference the LSTM keeps no gates (one
step's scratch) and, when only the last state is wanted, two state slots instead of every
step's. When the units fill whole SIMD vectors, the LSTM's per-step products (forward and
backward) are the kernels' own register-blocked loop (`blocked_product`) with the recurrent
kernel packed once per call, not BLAS, which re-packs the kernel on every call. The LSTM can
also read each step's projections by row index from a table (`lstm_rows`: the embedding rows
folded with the input kernel, see `kerasette.backend.ops.recurrent.FoldedProjections`),
prefetching the next step's rows.

Gate order is Keras's: LSTM i, f, c, o; GRU z, r, h.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable

from kerasette.backend.kernels import blas
from kerasette.backend.kernels._jit import inline, kernel
from kerasette.backend.kernels.simd import (
    VECTOR_BYTES,
    Vector,
    lanes,
    vadd,
    vbroadcast,
    vfma,
    vload,
    vmul,
    vstore,
    vzeros,
)

#: activation name -> code understood by the kernels
ACTIVATIONS = {"linear": 0, "tanh": 1, "sigmoid": 2, "hard_sigmoid": 3, "relu": 4}


@intrinsic
def _pow2(typingctx, k):
    """``2.0**k`` as a float32 for an int32 ``k`` in [-126, 127]: ``k + 127`` written into the
    exponent bits (no table to gather from, so that loops calling `_exp32` vectorize)."""
    def codegen(context, builder, signature, args):
        biased = builder.add(args[0], ir.Constant(ir.IntType(32), 127))
        return builder.bitcast(builder.shl(biased, ir.Constant(ir.IntType(32), 23)), ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _fma32(typingctx, a, b, c):
    """``a * b + c`` rounded once, for float32 scalars (LLVM's ``fma``: one instruction where the
    CPU has FMA; the loop vectoriser widens it, so a loop computes every value as the explicit
    vectors of `_exp32_ir` do)."""
    if not all(t == types.float32 for t in (a, b, c)):
        return None

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.FloatType(), [ir.FloatType()] * 3),
                                            "llvm.fma.f32")
        return builder.call(fn, list(args))

    return types.float32(types.float32, types.float32, types.float32), codegen


#: `_exp32`'s constants: log2(e); ln 2 in two parts (the first with few bits, so that ``k`` times
#: it is exact); the Taylor coefficients of exp, highest degree first
_LOG2E, _LN2_HI, _LN2_LO = 1.4426950408889634, 0.693359375, -2.12194440e-4
_EXP_COEFFICIENTS = (1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0)


@register_jitable(inline="always")
def _exp32(x):
    """``exp(x)`` for a float32 ``x``, in float32 arithmetic only (no call into libm, which
    costs ten times more per value): ``x = k ln2 + r`` with ``|r| <= ln2 / 2`` (ln2 split in two),
    ``exp(r)`` by its Taylor polynomial of degree 7 (relative error below 1e-8) in fused
    multiply-adds (`_fma32`: each step rounded once, and half the instructions), times ``2**k``
    (`_pow2`). Relative error about 1 float32 ulp."""
    x = min(max(x, np.float32(-87.0)), np.float32(88.0))
    k = np.floor(_fma32(x, np.float32(_LOG2E), np.float32(0.5)))
    r = _fma32(-k, np.float32(_LN2_LO), _fma32(-k, np.float32(_LN2_HI), x))
    p = np.float32(1.0 / 5040.0)
    p = _fma32(p, r, np.float32(1.0 / 720.0))
    p = _fma32(p, r, np.float32(1.0 / 120.0))
    p = _fma32(p, r, np.float32(1.0 / 24.0))
    p = _fma32(p, r, np.float32(1.0 / 6.0))
    p = _fma32(p, r, np.float32(0.5))
    p = _fma32(p, r, np.float32(1.0))
    p = _fma32(p, r, np.float32(1.0))
    return p * _pow2(np.int32(k))


def _tanh_first(x):
    pass


def _tanh_second(e):
    pass


def _sigmoid_first(x):
    pass


def _sigmoid_second(e):
    pass


# tanh and sigmoid in two passes over a row: float32 computes exp(-2x) (exp(-x)), then
# 2 / (1 + e) - 1 (1 / (1 + e)); float64 computes libm's exact function in the first pass and
# nothing more. Divisions are written np.divide: numba's `/` checks for a zero divisor and raises,
# a branch that stops a loop from vectorizing (1 + e is never zero).
@overload(_tanh_first, inline="always")
def _tanh_first_overload(x):
    if x == types.float32:
        return lambda x: _exp32(np.float32(-2.0) * x)
    return lambda x: math.tanh(x)


@overload(_tanh_second, inline="always")
def _tanh_second_overload(e):
    if e == types.float32:
        return lambda e: np.divide(np.float32(2.0), np.float32(1.0) + e) - np.float32(1.0)
    return lambda e: e


@overload(_sigmoid_first, inline="always")
def _sigmoid_first_overload(x):
    if x == types.float32:
        return lambda x: _exp32(-x)
    return lambda x: 0.5 * math.tanh(0.5 * x) + 0.5


@overload(_sigmoid_second, inline="always")
def _sigmoid_second_overload(e):
    if e == types.float32:
        return lambda e: np.divide(np.float32(1.0), np.float32(1.0) + e)
    return lambda e: e


@kernel
def activate_flat(code, row):
    """``row = activation(row)`` in place on a 1-D view, for the codes of `ACTIVATIONS`: the
    branch on the code is outside the loops, and the loops' bodies are plain arithmetic (float32:
    `_exp32`), so that they vectorize (a loop from 0 over a view has no negative-index checks)."""
    if code == 1:
        for j in range(row.size):
            row[j] = _tanh_first(row[j])
        for j in range(row.size):
            row[j] = _tanh_second(row[j])
    elif code == 2:
        for j in range(row.size):
            row[j] = _sigmoid_first(row[j])
        for j in range(row.size):
            row[j] = _sigmoid_second(row[j])
    elif code == 3:
        for j in range(row.size):
            row[j] = min(max(row[j] / 6.0 + 0.5, 0.0), 1.0)
    elif code == 4:
        for j in range(row.size):
            row[j] = max(row[j], 0.0)


@kernel
def activate_row(code, a, b, start, stop):
    """``a[b, start:stop] = activation(a[b, start:stop])`` in place (see `activate_flat`)."""
    activate_flat(code, a[b, start:stop])


@kernel
def derivative_row(code, y, out):
    """``out[j]`` = the derivative of activation ``code`` where its output is ``y[j]`` (1-D
    views; the branch on the code outside the loops, so that they vectorize)."""
    if code == 1:
        for j in range(y.size):
            out[j] = 1.0 - y[j] * y[j]
    elif code == 2:
        for j in range(y.size):
            out[j] = y[j] * (1.0 - y[j])
    elif code == 3:
        for j in range(y.size):
            out[j] = 1.0 / 6.0 if 0.0 < y[j] < 1.0 else 0.0
    elif code == 4:
        for j in range(y.size):
            out[j] = 1.0 if y[j] > 0 else 0.0
    else:
        for j in range(y.size):
            out[j] = 1.0


@kernel
def derivative(code, y):
    """The derivative of activation ``code``, from its output ``y``."""
    if code == 1:
        return 1.0 - y * y
    if code == 2:
        return y * (1.0 - y)
    if code == 3:
        return 1.0 / 6.0 if 0.0 < y < 1.0 else 0.0
    if code == 4:
        return 1.0 if y > 0 else 0.0
    return 1.0


@kernel
def _previous(hs, t, b0, b1, rmask, has_rmask, hd):
    """Rows [b0, b1) of ``hs[t]`` (times ``rmask`` when there is a recurrent mask) into ``hd``
    (B, U): what the recurrent product reads (a copy of a few rows, so that every product reads
    one array)."""
    U = hs.shape[2]
    for b in range(b0, b1):
        src, dst = hs[t, b], hd[b]
        if has_rmask:
            m = rmask[b]
            for u in range(U):
                dst[u] = src[u] * m[u]
        else:
            for u in range(U):
                dst[u] = src[u]


@kernel
def _product(trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    """``C = A @ op(B)`` on blocks (`blas.gemm`), as a function of its own: numba's SSA pass
    warns about two gemm calls inlined into one kernel."""
    blas.gemm(False, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, 0.0, c, c_off, ldc)


@kernel
def _carry(hs, t, b, cs, with_cell):
    U = hs.shape[2]
    for u in range(U):
        hs[t + 1, b, u] = hs[t, b, u]
        if with_cell:
            cs[t + 1, b, u] = cs[t, b, u]


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


def _sigmoid(x):
    pass


def _tanh(x):
    pass


def _sigmoid_slope(y):
    pass


def _tanh_slope(y):
    pass


# The LSTM's default activations one value at a time, for the fused loops (a loop calling them
# vectorizes): float32 as `activate_flat` computes them (the same values, bit for bit); float64
# with libm's tanh. Their slopes from the output, in the value's own dtype.
@overload(_sigmoid, inline="always")
def _sigmoid_overload(x):
    if x == types.float32:
        return lambda x: np.divide(np.float32(1.0), np.float32(1.0) + _exp32(-x))
    return lambda x: 0.5 * math.tanh(0.5 * x) + 0.5


@overload(_tanh, inline="always")
def _tanh_overload(x):
    if x == types.float32:
        return lambda x: np.divide(np.float32(2.0), np.float32(1.0) + _exp32(np.float32(-2.0) * x)) - np.float32(1.0)
    return lambda x: math.tanh(x)


@overload(_sigmoid_slope, inline="always")
def _sigmoid_slope_overload(y):
    if y == types.float32:
        return lambda y: y * (np.float32(1.0) - y)
    return lambda y: y * (1.0 - y)


@overload(_tanh_slope, inline="always")
def _tanh_slope_overload(y):
    if y == types.float32:
        return lambda y: np.float32(1.0) - y * y
    return lambda y: 1.0 - y * y


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


def _f32(value) -> ir.Constant:
    return ir.Constant(ir.FloatType(), float(np.float32(value)))


def _splat_constant(vector_type: ir.VectorType, value) -> ir.Constant:
    return ir.Constant(vector_type, [_f32(value)] * vector_type.count)


def _exp32_ir(builder, x):
    """`_exp32` on a float32 vector, operation for operation (the same bits in every lane)."""
    vt = x.type
    x = builder.select(builder.fcmp_ordered(">", x, _splat_constant(vt, -87.0)), x, _splat_constant(vt, -87.0))
    x = builder.select(builder.fcmp_ordered("<", x, _splat_constant(vt, 88.0)), x, _splat_constant(vt, 88.0))
    floor = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt]), f"llvm.floor.v{vt.count}f32")
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt] * 3), f"llvm.fma.v{vt.count}f32")
    k = builder.call(floor, [builder.call(fma, [x, _splat_constant(vt, _LOG2E), _splat_constant(vt, 0.5)])])
    minus_k = builder.fsub(_splat_constant(vt, -0.0), k)
    r = builder.call(fma, [minus_k, _splat_constant(vt, _LN2_HI), x])
    r = builder.call(fma, [minus_k, _splat_constant(vt, _LN2_LO), r])
    p = _splat_constant(vt, _EXP_COEFFICIENTS[0])
    for c in _EXP_COEFFICIENTS[1:]:
        p = builder.call(fma, [p, r, _splat_constant(vt, c)])
    it = ir.VectorType(ir.IntType(32), vt.count)
    biased = builder.add(builder.fptosi(k, it), ir.Constant(it, [ir.Constant(ir.IntType(32), 127)] * vt.count))
    scale = builder.bitcast(builder.shl(biased, ir.Constant(it, [ir.Constant(ir.IntType(32), 23)] * vt.count)), vt)
    return builder.fmul(p, scale)


def _is_f32_vector(v) -> bool:
    return isinstance(v, Vector) and v.dtype == types.float32


@intrinsic
def _vsigmoid(typingctx, v):
    """`_sigmoid` on a float32 vector (the same bits lane by lane)."""
    if not _is_f32_vector(v):
        return None

    def codegen(context, builder, sig, args):
        vt = args[0].type
        one = _splat_constant(vt, 1.0)
        e = _exp32_ir(builder, builder.fsub(_splat_constant(vt, -0.0), args[0]))
        return builder.fdiv(one, builder.fadd(one, e))

    return v(v), codegen


@intrinsic
def _vtanh(typingctx, v):
    """`_tanh` on a float32 vector (the same bits lane by lane)."""
    if not _is_f32_vector(v):
        return None

    def codegen(context, builder, sig, args):
        vt = args[0].type
        one = _splat_constant(vt, 1.0)
        e = _exp32_ir(builder, builder.fmul(_splat_constant(vt, -2.0), args[0]))
        return builder.fsub(builder.fdiv(_splat_constant(vt, 2.0), builder.fadd(one, e)), one)

    return v(v), codegen


@intrinsic
def _vsigmoid_slope(typingctx, v):
    """`_sigmoid_slope` on a float32 vector, ``y * (1 - y)`` (the same bits lane by lane)."""
    if not _is_f32_vector(v):
        return None

    def codegen(context, builder, sig, args):
        y = args[0]
        return builder.fmul(y, builder.fsub(_splat_constant(y.type, 1.0), y))

    return v(v), codegen


@intrinsic
def _vtanh_slope(typingctx, v):
    """`_tanh_slope` on a float32 vector, ``1 - y * y`` (the same bits lane by lane)."""
    if not _is_f32_vector(v):
        return None

    def codegen(context, builder, sig, args):
        y = args[0]
        return builder.fsub(_splat_constant(y.type, 1.0), builder.fmul(y, y))

    return v(v), codegen


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


@intrinsic
def _prefetch(typingctx, array, index):
    """Asks the CPU to bring the cache line holding flat element ``index`` of ``array`` into the
    second-level cache (LLVM's ``prefetch``: a hint, never a fault, even out of bounds): for rows
    read in an order no hardware prefetcher can guess."""
    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        pointer = builder.gep(data, [context.cast(builder, args[1], sig.args[1], types.intp)])
        byte = builder.bitcast(pointer, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [byte.type, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [byte, ir.Constant(i32, 0), ir.Constant(i32, 2), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(array, index), codegen


@inline
def _prefetch_row(array, row):
    """`_prefetch` every cache line of row ``row`` of the 2-D C-contiguous ``array``."""
    width = array.shape[1]
    line = max(1, 64 // array.itemsize)
    for j in range(0, width, line):
        _prefetch(array, row * width + j)


@inline
def _check_lanes(nl, itemsize):
    """Refuses to run when the vectors compiled in (a cached kernel compiled for other CPU
    features) are not the ``nl`` lanes the caller packed for."""
    if nl != lanes(itemsize):
        raise ValueError("blocked_product: the packed operand does not fill whole compiled SIMD vectors; a numba "
                         "cache compiled for other CPU features? Clear the __pycache__ folder beside "
                         "kerasette/backend/kernels")


@inline
def _store_four(c, o, step, v0, v1, v2, v3):
    """Stores a row's block of four vectors: ``v0`` at flat element ``o`` of ``c``, ``v1`` at
    ``o + step``, and so on."""
    vstore(c, o, v0)
    vstore(c, o + step, v1)
    vstore(c, o + 2 * step, v2)
    vstore(c, o + 3 * step, v3)


@kernel
def lstm_product(h, h_off, n, packed, z, z_off):
    """``z = h @ rk`` for ``n`` rows of the previous output with the LSTM's recurrent kernel
    packed (`kerasette.backend.ops.recurrent.pack_lstm_recurrent`), by `blocked_product`: row
    ``r`` of ``h`` starts at flat element ``h_off + r U``, of ``z`` (4U columns, Keras's gate
    order) at ``z_off + r 4U``."""
    U = packed.shape[1]
    blocked_product(h, h_off, U, n, packed, z, z_off, 4 * U, packed.shape[3], U)


@kernel
def blocked_product(a, a_off, lda, n, packed, c, c_off, ldc, block_step, vector_step):
    """``C = A @ B`` for ``n`` rows, B packed in blocks of four SIMD vectors of columns
    (``packed`` (blocks, K, 4, L)), register-blocked: four rows by one block at a time (16
    accumulators; two rows without AVX-512), each sum taken over ``k`` in order with fused
    multiply-adds (as BLAS does: the same values up to the last bit). Row ``r`` of A starts at flat element ``a_off + r lda``
    of ``a``, row ``r`` of C at ``c_off + r ldc`` of ``c``; vector ``v`` of block ``j`` lands at
    column ``j block_step + v vector_step`` (`kerasette.backend.ops.recurrent.pack_lstm_recurrent`:
    the four gates of one vector of units; transposed, four consecutive vectors).

    Why not BLAS: for 32 rows, a BLAS call packs the whole (U, 4U) kernel (256 KB for 128 units)
    every step of a sequence; packed once per sequence, each block of it (K x 4L values, 32 KB
    forward) stays in the first-level cache while every row goes through it."""
    nb, K, _, L = packed.shape
    _check_lanes(L, a.itemsize)
    # four rows at a time (16 accumulators) where there are 32 vector registers (AVX-512), two
    # rows elsewhere (8 of AVX's 16); then single rows
    wide = VECTOR_BYTES == 64
    pf = packed.reshape(-1)
    for j in range(nb):
        base = j * K * 4 * L
        col = j * block_step
        r = 0
        while wide and r + 4 <= n:
            a0 = a_off + r * lda
            a00 = a01 = a02 = a03 = vzeros(a)
            a10 = a11 = a12 = a13 = vzeros(a)
            a20 = a21 = a22 = a23 = vzeros(a)
            a30 = a31 = a32 = a33 = vzeros(a)
            for k in range(K):
                p = base + k * 4 * L
                w0, w1, w2, w3 = vload(pf, p), vload(pf, p + L), vload(pf, p + 2 * L), vload(pf, p + 3 * L)
                v = vbroadcast(a, a0 + k)
                a00, a01, a02, a03 = vfma(v, w0, a00), vfma(v, w1, a01), vfma(v, w2, a02), vfma(v, w3, a03)
                v = vbroadcast(a, a0 + lda + k)
                a10, a11, a12, a13 = vfma(v, w0, a10), vfma(v, w1, a11), vfma(v, w2, a12), vfma(v, w3, a13)
                v = vbroadcast(a, a0 + 2 * lda + k)
                a20, a21, a22, a23 = vfma(v, w0, a20), vfma(v, w1, a21), vfma(v, w2, a22), vfma(v, w3, a23)
                v = vbroadcast(a, a0 + 3 * lda + k)
                a30, a31, a32, a33 = vfma(v, w0, a30), vfma(v, w1, a31), vfma(v, w2, a32), vfma(v, w3, a33)
            o = c_off + r * ldc + col
            _store_four(c, o, vector_step, a00, a01, a02, a03)
            o += ldc
            _store_four(c, o, vector_step, a10, a11, a12, a13)
            o += ldc
            _store_four(c, o, vector_step, a20, a21, a22, a23)
            o += ldc
            _store_four(c, o, vector_step, a30, a31, a32, a33)
            r += 4
        while r + 2 <= n:
            a0 = a_off + r * lda
            a00 = a01 = a02 = a03 = vzeros(a)
            a10 = a11 = a12 = a13 = vzeros(a)
            for k in range(K):
                p = base + k * 4 * L
                w0, w1, w2, w3 = vload(pf, p), vload(pf, p + L), vload(pf, p + 2 * L), vload(pf, p + 3 * L)
                v = vbroadcast(a, a0 + k)
                a00, a01, a02, a03 = vfma(v, w0, a00), vfma(v, w1, a01), vfma(v, w2, a02), vfma(v, w3, a03)
                v = vbroadcast(a, a0 + lda + k)
                a10, a11, a12, a13 = vfma(v, w0, a10), vfma(v, w1, a11), vfma(v, w2, a12), vfma(v, w3, a13)
            o = c_off + r * ldc + col
            _store_four(c, o, vector_step, a00, a01, a02, a03)
            o += ldc
            _store_four(c, o, vector_step, a10, a11, a12, a13)
            r += 2
        while r < n:
            a0 = a_off + r * lda
            a00 = a01 = a02 = a03 = vzeros(a)
            for k in range(K):
                p = base + k * 4 * L
                v = vbroadcast(a, a0 + k)
                a00 = vfma(v, vload(pf, p), a00)
                a01 = vfma(v, vload(pf, p + L), a01)
                a02 = vfma(v, vload(pf, p + 2 * L), a02)
                a03 = vfma(v, vload(pf, p + 3 * L), a03)
            o = c_off + r * ldc + col
            _store_four(c, o, vector_step, a00, a01, a02, a03)
            r += 1


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


@kernel
def scatter_add_rows(indices, rows, d0, d1, out):
    """``out[indices[n], d0:d1] += rows[n, d0:d1]`` for every n (the embedding's gradient; a
    column range per thread, so no two threads write one value)."""
    for n in range(indices.size):
        r = indices[n]
        for d in range(d0, d1):
            out[r, d] += rows[n, d]


@kernel
def stale_rows(embeddings, kept, state, tokens, rows):
    """The rows of a table of projections (`kerasette.backend.ops.recurrent.FoldedProjections`)
    that ``tokens`` need recomputed: those never computed (``state`` 0) and those computed from
    an embedding row other, bit for bit, than the one in the embedding table now. ``embeddings``
    (V, D) is the embedding table and ``kept`` (V, D) the rows the table was computed from, both
    viewed as unsigned integers (so that a NaN equals itself and -0.0 differs from 0.0). Each
    such token is listed once, in ``rows``, in the order of first reading; returns how many.

    ``state`` (V,) is 0 (not computed), 1 (computed) or, during the call, 2 (listed, to be
    computed by the caller, who sets it back to 1) and 3 (checked: unchanged)."""
    D = embeddings.shape[1]
    count = 0
    ahead = 8  # the rows are scattered over both tables: fetch a few tokens ahead
    for n in range(min(ahead, tokens.size)):
        _prefetch_row(embeddings, tokens[n])
        _prefetch_row(kept, tokens[n])
    for n in range(tokens.size):
        if n + ahead < tokens.size:
            _prefetch_row(embeddings, tokens[n + ahead])
            _prefetch_row(kept, tokens[n + ahead])
        v = tokens[n]
        s = state[v]
        if s >= 2:
            continue
        if s == 1:
            differ = embeddings[v, 0] ^ kept[v, 0]  # every word compared, no early exit: the loop vectorizes
            for d in range(1, D):
                differ |= embeddings[v, d] ^ kept[v, d]
            if differ == 0:
                state[v] = 3
                continue
        state[v] = 2
        rows[count] = v
        count += 1
    for n in range(tokens.size):
        v = tokens[n]
        if state[v] == 3:
            state[v] = 1
    return count


@kernel
def same_bits(a, b):
    """Whether the flat unsigned-integer views ``a`` and ``b`` (one size) hold the same words:
    blocks of 256 compared without a branch (they vectorize), stopping at the first that
    differs."""
    n = a.size
    for start in range(0, n, 256):
        differ = a[start] ^ b[start]
        for i in range(start + 1, min(start + 256, n)):
            differ |= a[i] ^ b[i]
        if differ != 0:
            return False
    return True
