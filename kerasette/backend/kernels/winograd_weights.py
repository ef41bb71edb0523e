"""The Winograd F(4x4, 3x3) kernel transforms: ``U = G g G^T`` of a 3x3 kernel and the kernel
gradient ``G^T dU G``, for every (input, output) channel pair at once.

Both work on the channel pairs as one flat axis of ``K = C * F`` values (a (3, 3, C, F) kernel is
a (9, K) array, its transform a (36, K) one) in explicit vectors along it: a vector of pairs is
loaded from each of the 9 (or 36) planes, transformed in registers and stored to each of the 36
(or 9) planes. numpy's two matrix products made the same values with an intermediate (18, K)
array written and read back: for a 64 -> 64 kernel (590 KB of output) 25 us in cache and 62 us
out of it against this kernel's 22 and 38 us (one thread, alone), and in a ResNet-20 training
step, on the calling thread, 98-114 us against 67-73.

Kept small to compile (an empty cache compiles both on a first run, on the way to the first
batch): when K is not a whole number of vectors, the last vector overlaps the one before it
(those pairs are computed twice, to the same values: each pair is independent), so the kernels
have no tail code and allocate nothing; the Python functions `kernel_transform` and
`kernel_grad` send fewer pairs than one vector through zero-padded copies. The planes are
stored from loops over the rows (LLVM unrolls them): one store call site to compile instead of
36. The vector helpers are ``linked``, not ``inline`` (1.2 s of compile CPU for both kernels
instead of 1.75, a loaded machine). Both kernels compile in 0.40-0.42 s of CPU against 0.95-0.97
for the tail-copying version (a fresh process, after a warm-up compile).

The arithmetic uses G's structure (its rows 1-2 and 3-4 share terms), so the sums are in another
order than a matrix product's: float32 results differ from it in the last bits.
The kernels fill preallocated arrays and validate nothing; they are generic over dtype.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import inline, kernel, linked
from kerasette.backend.kernels.simd import address, lanes, vadd, vcount, vload, vmul, vsplat, vstore, vsub


@inline
def _consts(a):
    """G's values as vectors of ``a``'s dtype: 1/4, -1/6, 1/6, 1/12, 1/24."""
    return vsplat(a, 1 / 4), vsplat(a, -1 / 6), vsplat(a, 1 / 6), vsplat(a, 1 / 12), vsplat(a, 1 / 24)


@linked
def _g(a0, a1, a2, kc):
    """``G a`` (6 vectors) of a column of 3 vectors."""
    quarter, minus_sixth, sixth, twelfth, twenty_fourth = kc
    ends = vadd(a0, a2)
    outer = vadd(vmul(a0, twenty_fourth), vmul(a2, sixth))
    middle = vmul(a1, twelfth)
    return (vmul(a0, quarter), vmul(vadd(ends, a1), minus_sixth), vmul(vsub(ends, a1), minus_sixth),
            vadd(outer, middle), vsub(outer, middle), a2)


@linked
def _gt(b0, b1, b2, b3, b4, b5, kc):
    """``G^T b`` (3 vectors) of a column of 6 vectors."""
    quarter, minus_sixth, sixth, twelfth, twenty_fourth = kc
    inner, outer = vadd(b1, b2), vadd(b3, b4)
    return (vadd(vadd(vmul(b0, quarter), vmul(inner, minus_sixth)), vmul(outer, twenty_fourth)),
            vadd(vmul(vsub(b2, b1), sixth), vmul(vsub(b3, b4), twelfth)),
            vadd(vmul(vsub(outer, inner), sixth), b5))


@linked
def _gt_row(src, at, plane, kc):
    """``G^T`` along a row of 6 planes of ``src`` (a pointer) from flat index ``at``."""
    return _gt(vload(src, at), vload(src, at + plane), vload(src, at + 2 * plane), vload(src, at + 3 * plane),
               vload(src, at + 4 * plane), vload(src, at + 5 * plane), kc)


@kernel
def _transform(w, u):
    """`kernel_transform` for K of at least one vector."""
    size, step = w.shape[1], vcount(w)
    kc = _consts(w)
    src, dst = address(w), address(u)
    for k in range(0, size, step):
        at = min(k, size - step)  # the last vector overlaps the one before: the same values again
        col0 = _g(vload(src, at), vload(src, at + 3 * size), vload(src, at + 6 * size), kc)
        col1 = _g(vload(src, at + size), vload(src, at + 4 * size), vload(src, at + 7 * size), kc)
        col2 = _g(vload(src, at + 2 * size), vload(src, at + 5 * size), vload(src, at + 8 * size), kc)
        for i in range(6):  # row i of G g, times G^T: planes 6 i to 6 i + 5
            row = _g(col0[i], col1[i], col2[i], kc)
            for j in range(6):
                vstore(dst, at + (6 * i + j) * size, row[j])


@kernel
def _grad(du, dw):
    """`kernel_grad` for K of at least one vector."""
    size, step = du.shape[1], vcount(du)
    kc = _consts(du)
    src, dst = address(du), address(dw)
    for k in range(0, size, step):
        at = min(k, size - step)  # as in _transform
        c0 = _gt_row(src, at, size, kc)
        c1 = _gt_row(src, at + 6 * size, size, kc)
        c2 = _gt_row(src, at + 12 * size, size, kc)
        c3 = _gt_row(src, at + 18 * size, size, kc)
        c4 = _gt_row(src, at + 24 * size, size, kc)
        c5 = _gt_row(src, at + 30 * size, size, kc)
        for q in range(3):  # column q of dU G, through G^T: planes q, 3 + q and 6 + q
            column = _gt(c0[q], c1[q], c2[q], c3[q], c4[q], c5[q], kc)
            for p in range(3):
                vstore(dst, at + (3 * p + q) * size, column[p])


def _whole_vectors(planes_kernel, src: np.ndarray, dst: np.ndarray) -> None:
    """Runs ``planes_kernel(src, dst)``; with fewer pairs than a vector, on zero-padded copies."""
    size, step = src.shape[1], lanes(src.itemsize)
    if size >= step or size == 0:
        planes_kernel(src, dst)
        return
    padded = np.zeros((src.shape[0], step), src.dtype)
    padded[:, :size] = src
    out = np.empty((dst.shape[0], step), dst.dtype)
    planes_kernel(padded, out)
    dst[...] = out[:, :size]


def kernel_transform(w: np.ndarray, u: np.ndarray) -> None:
    """``u[6 i + j, k] = (G g_k G^T)[i, j]`` with ``g_k[p, q] = w[3 p + q, k]``.

    Args:
        w: kernel, (9, K) (a (3, 3, C, F) one reshaped), C-contiguous.
        u: output, (36, K), C-contiguous; overwritten.
    """
    _whole_vectors(_transform, w, u)


def kernel_grad(du: np.ndarray, dw: np.ndarray) -> None:
    """``dw[3 p + q, k] = (G^T dU_k G)[p, q]`` with ``dU_k[i, j] = du[6 i + j, k]``.

    Args:
        du: transformed gradient, (36, K), C-contiguous.
        dw: output, (9, K) (a (3, 3, C, F) kernel gradient reshaped), C-contiguous; overwritten.
    """
    _whole_vectors(_grad, du, dw)
