"""The per-step products and small helpers the recurrence kernels share
(`kerasette.backend.kernels.recurrent`): the previous output copied (times the recurrent
mask) for the product, the BLAS product in a function of its own, states carried over a
skipped step, prefetching scattered rows, and the kernels' own register-blocked product with
a packed operand (`blocked_product`; the LSTM's recurrent kernel packed once per call, see
`kerasette.backend.ops.recurrent.pack_lstm_recurrent`).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from kerasette.backend.kernels import blas
from kerasette.backend.kernels._jit import inline, kernel
from kerasette.backend.kernels.simd import (
    VECTOR_BYTES,
    lanes,
    vbroadcast,
    vfma,
    vload,
    vstore,
    vzeros,
)


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
