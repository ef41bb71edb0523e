"""Dropout's kernel: the keep-or-drop decision of each value from a hash of its position and a key,
so that no random numbers are stored, and the backward pass makes the same decisions again.

The decision for the value at flat position ``p`` of a call with key ``(k1, k2)`` (``k1`` odd)::

    h = mix32((p mod 2**32) * k1 + (k2 ^ mix32(p // 2**32)))      (arithmetic mod 2**32)
    kept = h >= threshold                                          (threshold = rate * 2**32)

``mix32`` is a 32-bit integer finaliser (xor-shift, multiply, xor-shift, multiply, xor-shift): a
bijection whose output bits each depend on every input bit. ``p * k1 + k2`` is a bijection too,
so within one 2**32 block the ``h`` of a call are distinct values scattered over the 32-bit range,
and neighbouring positions, whose inputs differ by the random ``k1``, get unrelated ``h``. Three
32-bit multiplies a value: as fast as a plain scaled copy (the pass is memory-bound), and the
same decisions however the array is cut among threads (each piece passes its first position).
`reference_keep` is the same rule in numpy (for other dtypes and for the tests).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import inline, kernel, numba  # numba through _jit: see its docstring

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


@kernel
def keep_scaled(x, k1, k2, start, threshold, scale, out):
    """``out[i] = x[i] * scale`` where the value at flat position ``start + i`` is kept (see the
    module's docstring), else 0; flat arrays of one length.

    Args:
        x, out: flat arrays of one length and dtype (``out`` may be ``x``: correct, but the loop then
            runs unvectorized, its overlap check failing).
        k1, k2: the call's key, uint32 (``k1`` odd).
        start: the flat position of ``x[0]`` in the whole tensor (int64).
        threshold: uint32; a value is kept when its hash is at least this.
        scale: ``1 / (1 - rate)`` in ``x``'s dtype.
    """
    zero = scale - scale
    n = x.size
    i = 0
    while i < n:  # runs of positions with one high word (one run unless a 2**32 boundary falls inside)
        position = start + i
        low = position & 0xFFFFFFFF
        m = min(n - i, 0x100000000 - low)
        add = _u32(k2 ^ mix32(_u32(position >> 32)))
        c = _u32(low)  # a 32-bit counter: the loop vectorizes on 32-bit lanes only
        xs, outs = x[i:i + m], out[i:i + m]  # indexed from 0: a loop over range(i, i + m) did not vectorize
        for j in range(m):
            h = mix32(_u32(_u32(c * k1) + add))
            outs[j] = xs[j] * scale if h >= threshold else zero
            c = _u32(c + _u32(1))
        i += m


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
