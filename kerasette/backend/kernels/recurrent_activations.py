"""The activations of the recurrence kernels (`kerasette.backend.kernels.recurrent`), by code
(`ACTIVATIONS`), on a row of gates at a time (`activate_flat`, `activate_row`), one value at a
time for the fused LSTM loops (`_sigmoid`, `_tanh` and their slopes) and on whole float32 SIMD
vectors (`_vsigmoid`, `_vtanh` and their slopes).

float32 tanh and sigmoid come from `_exp32`: float32 arithmetic in fused multiply-adds, within
about one ulp of the exact values (libm's functions cost ten times more per value and stop the
loops from vectorizing); the vector forms compute the same operations in the same order, so
the scalar loops and the explicit vectors give the same bits. float64 uses libm's exact
functions, so that the float64 gradient checks see the true functions. Derivatives are computed
from the activation's output. ``llvm.fma`` is one instruction on every CPU kerasette targets
(AVX2 and AVX-512); a CPU without FMA computes it in software, slowly but with the same bits.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.simd import (
    Vector,
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
