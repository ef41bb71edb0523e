"""float16 for the wire: fast conversions to and from float32, and the sum MPI uses on float16 data.

numpy converts float32 to float16 in software element by element (about 8 ns a value on the
benchmark machine: 60 ms for the seed model's 8 million gradients, more than sending them at
10 Gbit/s), and MPICH's own float16 sum is as slow. These numba kernels do the same work with
integer operations the compiler vectorises (about 1.6 ns a value, CPU time, against numpy's 2.5
for the conversion and MPICH's 20 for its own float16 sum):

- `to_half`: float32 -> float16 bits, rounded to nearest, ties to even, as IEEE 754 (and numpy)
  round: overflow to infinity, gradual underflow through the subnormals, NaN kept a NaN;
- `to_float`: float16 bits -> float32, exactly, by a 65,536-entry table;
- `add_into`: ``b = half(float(a) + float(b))`` element-wise, the step of the float16 ring
  allreduce (`kerasette.distributed.ring`). The sum of two float16 values is formed in float32
  and rounded once to float16; it is commutative.

Tested against numpy's conversions on every float16 value and on float32 values of every class.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import kernel

#: float32 value of every float16 bit pattern (numpy's exact conversion).
TABLE = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)

_BLOCK = 4096


#: Adding this float32 (2**-1 + 2**-24... : exponent 126) to a value below 2**-14 leaves its float16
#: subnormal bits, rounded by the float addition itself, in the low bits of the sum.
_MAGIC = np.uint32(((127 - 15) + (23 - 10) + 1) << 23)
_MAGIC_FLOAT = np.array([_MAGIC], np.uint32).view(np.float32)[0]


@kernel
def _round_block(values, bits, count, scratch, scratch_bits, out, out_start):
    """float16 bits of ``values[:count]`` (float32, ``bits`` its uint32 view) into ``out[out_start:]``.

    Branch-free so that it vectorises: the normal result (exponent rebiased, mantissa rounded to
    nearest even by adding 0xfff plus the lowest kept bit), the subnormal one (from a float
    addition, in ``scratch``) and infinity/NaN are all computed, and selected by magnitude.
    """
    for i in range(count):
        scratch[i] = abs(values[i]) + _MAGIC_FLOAT
    for i in range(count):
        f = bits[i]
        sign = (f >> np.uint32(16)) & np.uint32(0x8000)
        f = f & np.uint32(0x7FFFFFFF)
        normal = (f + np.uint32(0xC8000FFF) + ((f >> np.uint32(13)) & np.uint32(1))) >> np.uint32(13)
        subnormal = scratch_bits[i] - _MAGIC
        big = np.uint32(0x7E00) if f > np.uint32(0x7F800000) else np.uint32(0x7C00)
        h = big if f >= np.uint32(0x47800000) else (subnormal if f < np.uint32(0x38800000) else normal)
        out[out_start + i] = np.uint16(h | sign)


@kernel
def _to_half(values, bits, out):
    scratch = np.empty(_BLOCK, np.float32)
    scratch_bits = scratch.view(np.uint32)
    for start in range(0, values.size, _BLOCK):
        count = min(_BLOCK, values.size - start)
        _round_block(values[start:], bits[start:], count, scratch, scratch_bits, out, start)


@kernel
def _to_float(halves, table, out):
    for i in range(halves.size):
        out[i] = table[halves[i]]


@kernel
def _add_into(a, b, table):
    sums = np.empty(_BLOCK, np.float32)
    sum_bits = sums.view(np.uint32)
    scratch = np.empty(_BLOCK, np.float32)
    scratch_bits = scratch.view(np.uint32)
    for start in range(0, a.size, _BLOCK):
        count = min(_BLOCK, a.size - start)
        for i in range(count):
            sums[i] = table[a[start + i]] + table[b[start + i]]
        _round_block(sums, sum_bits, count, scratch, scratch_bits, b, start)


def to_half(values: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Writes ``values`` rounded to float16 into ``out`` (a float16 array of the same size)."""
    flat = np.ascontiguousarray(values).reshape(-1)
    if flat.dtype != np.float32:
        flat = flat.astype(np.float32)
    _to_half(flat, flat.view(np.uint32), out.reshape(-1).view(np.uint16))
    return out


def to_float(halves: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The float32 values of a float16 array (into ``out`` when given)."""
    flat = np.ascontiguousarray(halves).reshape(-1)
    result = np.empty(flat.size, np.float32) if out is None else out.reshape(-1)
    _to_float(flat.view(np.uint16), TABLE, result)
    return result.reshape(np.shape(halves)) if out is None else out


def add_into(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b[:] = float16(float32(a) + float32(b))`` for float16 (or their uint16 bits) arrays."""
    _add_into(a.reshape(-1).view(np.uint16), b.reshape(-1).view(np.uint16), TABLE)
    return b
