"""Dropout's kernel: the keep-or-drop decision of each value from a hash of its position and a key,
so that no random numbers are stored, and the backward pass makes the same decisions again.

The decision for the value at flat position ``p`` of a call with key ``(k1, k2)`` (``k1`` odd)::

    h = mix32((p mod 2**32) * k1 + (k2 ^ mix32(p // 2**32)))      (arithmetic mod 2**32)
    kept = h >= threshold                                          (threshold = rate * 2**32)

``mix32`` is a 32-bit integer finaliser (xor-shift, multiply, xor-shift, multiply, xor-shift): a
bijection whose output bits each depend on every input bit. ``p * k1 + k2`` is a bijection too,
so within one 2**32 block the ``h`` of a call are distinct values scattered over the 32-bit range,
and neighbouring positions, whose inputs differ by the random ``k1``, get unrelated ``h``. In
whole vector registers (`_keep_block`) the inputs ``p * k1 + add`` of successive vectors step by
``lanes * k1``, so a value takes the finaliser's two 32-bit multiplies; on data in cache the pass
is bound by them (200K float32 values, one thread: 28 us against 18 for a plain scaled copy; 34
with a third multiply for ``p * k1``), and the same decisions however the array is cut among
threads (each piece passes its first position).
`reference_keep` is the same rule in numpy (for other dtypes and for the tests).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from kerasette.backend.kernels._jit import inline, kernel, numba  # numba through _jit: see its docstring
from kerasette.backend.kernels.simd import VECTOR_BYTES, _contiguous, _element_pointer, _splat, address, keep

_u32 = numba.uint32

#: the finaliser's multipliers (odd: each multiply is a bijection mod 2**32)
MIX_A, MIX_B = 0x21F0AAAD, 0x735A2D97


@inline
def mix32(h):
    """The 32-bit finaliser on a uint32: ``mix32(0) == 0``."""
    h = _u32(h ^ (h >> _u32(16)))
    h = _u32(h * _u32(MIX_A))
    h = _u32(h ^ (h >> _u32(15)))
    h = _u32(h * _u32(MIX_B))
    return _u32(h ^ (h >> _u32(15)))


def _lanes_of(dtype) -> int:
    return VECTOR_BYTES * 8 // dtype.bitwidth


@intrinsic
def _keep_block(typingctx, x, out, at, h0, k1, threshold, scale):
    """`keep_scaled`'s rule on the vector at flat index ``at`` of ``x`` into ``out`` (pointers
    from `simd.address`): lane ``l``'s hash input is ``h0 + l * k1`` (mod 2**32), where ``h0`` is
    the first lane's ``c * k1 + add``, hashed as the scalar loop hashes it, on 32-bit lanes of a
    whole vector register (LLVM's loop vectoriser chose 256-bit vectors on AVX-512 machines, and
    the pass is bound by its multiplies: ``l * k1`` is the same vector at every block, so the
    loop makes it once, and a block takes the finaliser's two multiplies where ``(c + l) * k1``
    made three)."""
    if not (_contiguous(x) and x == out):
        return None
    lanes = _lanes_of(x.dtype)

    def codegen(context, builder, sig, args):
        xp, op, at_, h0_, k1_, thr_, scale_ = args
        u32 = ir.IntType(32)
        uvec, fvec = ir.VectorType(u32, lanes), ir.VectorType(context.get_value_type(sig.args[0].dtype), lanes)

        def splat32(value):
            return _splat(builder, uvec, builder.trunc(value, u32) if value.type != u32 else value)

        def shifted_xor(h, bits):
            return builder.xor(h, builder.lshr(h, ir.Constant(uvec, [bits] * lanes)))

        h = builder.add(splat32(h0_), builder.mul(ir.Constant(uvec, list(range(lanes))), splat32(k1_)))
        h = builder.mul(shifted_xor(h, 16), ir.Constant(uvec, [MIX_A] * lanes))
        h = builder.mul(shifted_xor(h, 15), ir.Constant(uvec, [MIX_B] * lanes))
        kept = builder.icmp_unsigned(">=", shifted_xor(h, 15), splat32(thr_))
        xptr = _element_pointer(context, builder, sig.args[0], xp, sig.args[2], at_)
        optr = _element_pointer(context, builder, sig.args[1], op, sig.args[2], at_)
        align = x.dtype.bitwidth // 8
        values = builder.load(builder.bitcast(xptr, fvec.as_pointer()), align=align)
        scales = _splat(builder, fvec, scale_)
        zero = builder.fsub(scales, scales)  # the scalar loop's ``scale - scale``
        result = builder.select(kept, builder.fmul(values, scales), zero)
        builder.store(result, builder.bitcast(optr, fvec.as_pointer()), align=align)
        return context.get_dummy_value()

    return types.none(x, out, at, h0, k1, threshold, scale), codegen


@intrinsic
def _vector_lanes(typingctx, array):
    """`_keep_block`'s lanes for ``array``'s dtype, as a constant."""
    count = _lanes_of(array.dtype)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, count)

    return types.intp(array), codegen


@kernel
def keep_scaled(x, k1, k2, start, threshold, scale, out):
    """``out[i] = x[i] * scale`` where the value at flat position ``start + i`` is kept (see the
    module's docstring), else 0; flat arrays of one length.

    Args:
        x, out: flat C-contiguous arrays of one length and dtype, float32 or float64 (``out`` may
            be ``x``).
        k1, k2: the call's key, uint32 (``k1`` odd).
        start: the flat position of ``x[0]`` in the whole tensor (int64).
        threshold: uint32; a value is kept when its hash is at least this.
        scale: ``1 / (1 - rate)`` in ``x``'s dtype.

    Whole vectors go through `_keep_block`, the values left over through the scalar rule: the
    same decisions and products either way.
    """
    zero = scale - scale
    n = x.size
    nl = _vector_lanes(x)
    xp, op = address(x), address(out)
    i = 0
    while i < n:  # runs of positions with one high word (one run unless a 2**32 boundary falls inside)
        position = start + i
        low = position & 0xFFFFFFFF
        m = min(n - i, 0x100000000 - low)
        add = _u32(k2 ^ mix32(_u32(position >> 32)))
        h0 = _u32(_u32(_u32(low) * k1) + add)  # the next value's hash input: (low + j) * k1 + add
        step = _u32(_u32(nl) * k1)
        j = 0
        while j + nl <= m:
            _keep_block(xp, op, i + j, h0, k1, threshold, scale)
            h0 = _u32(h0 + step)
            j += nl
        while j < m:
            h = mix32(h0)
            out[i + j] = x[i + j] * scale if h >= threshold else zero
            h0 = _u32(h0 + k1)
            j += 1
        i += m
    keep(x)
    keep(out)


def _mix32_numpy(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(MIX_A)
    h = h ^ (h >> np.uint32(15))
    h = h * np.uint32(MIX_B)
    return h ^ (h >> np.uint32(15))


def reference_keep(positions: np.ndarray, k1: int, k2: int, threshold: int) -> np.ndarray:
    """The kept flags of the values at flat ``positions`` (int64), in numpy: `keep_scaled`'s rule."""
    positions = np.asarray(positions, np.uint64)
    low = (positions & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    high = (positions >> np.uint64(32)).astype(np.uint32)
    with np.errstate(over="ignore"):
        add = np.uint32(k2) ^ _mix32_numpy(high)
        return _mix32_numpy(low * np.uint32(k1) + add) >= np.uint32(threshold)
