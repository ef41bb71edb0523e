"""numpy's BLAS matrix product, called from inside numba kernels (no GIL, no Python in between).

Why: a kernel that loops over tiles from Python (pack in numba, multiply with ``np.matmul``,
unpack in numba) gives up and takes back the GIL two or three times per tile. With one such
loop per thread, each hand-over waits for the other thread's next release and for a thread
wake-up, which made every chunk of the small convnets 25-40% slower when both cores ran at once
(and not at all when the same chunks ran in two processes). Kernels that call :func:`gemm`
run a whole chunk in one call.

How: :func:`gemm` calls the external symbols ``kerasette_sgemm`` / ``kerasette_dgemm``, which
:func:`register` points at the ``cblas_?gemm`` of the OpenBLAS that numpy itself loaded (numpy's
wheels ship OpenBLAS with 64-bit integers: ``scipy_cblas_sgemm64_``). Compiled kernels refer to
the names, not to addresses, so numba's on-disk cache stays valid from one process to the next.
Where numpy's BLAS has no such entry point, the names point to numba C callbacks
(:func:`_loop_sgemm`) instead: correct, slower; :data:`SOURCE` says which.

The products run with BLAS's own thread count, which `kerasette.backend.parallel` sets to 1.
"""

from __future__ import annotations

import ctypes
import glob
import os

import llvmlite.binding as llvm
import numba
import numpy as np
from numba import types
from numba.extending import intrinsic, overload

#: CBLAS constants (row-major storage; no transpose or transpose).
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

_SIG = {dt: types.void(types.int32, types.int32, types.int32, types.int64, types.int64, types.int64,
                       dt, types.intp, types.int64, types.intp, types.int64, dt, types.intp, types.int64)
        for dt in (types.float32, types.float64)}
_sgemm = types.ExternalFunction("kerasette_sgemm", _SIG[types.float32])
_dgemm = types.ExternalFunction("kerasette_dgemm", _SIG[types.float64])

#: Where the products come from: the path of numpy's BLAS library, or "numba loops".
SOURCE: str | None = None


def _candidate_libraries() -> list[str]:
    """Shared libraries that may be numpy's BLAS: those mapped into the process, then numpy's own."""
    paths = []
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split(None, 5)[5].strip() for line in maps
                            if line.count(" ") >= 5 and "blas" in line.lower()})
    except OSError:
        pass
    root = os.path.dirname(np.__file__)
    for pattern in ("../numpy.libs/*blas*", ".dylibs/*blas*", "../numpy.libs/*blas*.dll"):
        paths += sorted(glob.glob(os.path.join(root, pattern)))
    return paths


def _find_cblas() -> tuple[str, int, int] | None:
    """(library path, address of cblas_sgemm, of cblas_dgemm) with 64-bit integers, or None."""
    for path in _candidate_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_cblas_", "64_"), ("cblas_", "64_"), ("cblas_", "_64")):
            s = getattr(lib, f"{prefix}sgemm{suffix}", None)
            d = getattr(lib, f"{prefix}dgemm{suffix}", None)
            if s is not None and d is not None:
                address = ctypes.cast(s, ctypes.c_void_p).value, ctypes.cast(d, ctypes.c_void_p).value
                return path, address[0], address[1]
    return None


@intrinsic
def _pointer(typingctx, address, dtype):
    """A typed pointer from an integer ``address`` (to read arrays the caller passed by address)."""
    target = dtype.dtype

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return types.CPointer(target)(address, dtype), codegen


def _loop_gemm(dtype):
    """A C callback with cblas_?gemm's row-major signature, in numba loops (the fallback)."""
    np_dtype = np.dtype(str(dtype))

    @numba.cfunc(_SIG[dtype], cache=True, nogil=True)
    def gemm_loops(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        pa = _pointer(a, np_dtype)
        pb = _pointer(b, np_dtype)
        pc = _pointer(c, np_dtype)
        row = np.empty(n, np_dtype)
        for i in range(m):
            for j in range(n):
                row[j] = 0
            for p in range(k):
                aip = pa[p * lda + i] if trans_a == TRANS else pa[i * lda + p]
                if trans_b == TRANS:
                    for j in range(n):
                        row[j] += aip * pb[j * ldb + p]
                else:
                    for j in range(n):
                        row[j] += aip * pb[p * ldb + j]
            for j in range(n):
                if beta == 0:  # as in BLAS, C is not read
                    pc[i * ldc + j] = alpha * row[j]
                else:
                    pc[i * ldc + j] = alpha * row[j] + beta * pc[i * ldc + j]

    return gemm_loops


def register(use_blas: bool = True) -> str:
    """Points ``kerasette_sgemm`` and ``kerasette_dgemm`` at numpy's BLAS (or the fallback).

    Called when this module is imported; ``KERASETTE_BLAS=loops`` in the environment, or
    ``use_blas=False``, selects the fallback (the tests use it). Returns :data:`SOURCE`.
    """
    global SOURCE
    found = _find_cblas() if use_blas else None
    if found is not None:
        SOURCE, s_addr, d_addr = found
    else:
        SOURCE = "numba loops"
        s_addr, d_addr = _loop_gemm(types.float32).address, _loop_gemm(types.float64).address
    llvm.add_symbol("kerasette_sgemm", s_addr)
    llvm.add_symbol("kerasette_dgemm", d_addr)
    return SOURCE


register(os.environ.get("KERASETTE_BLAS", "") != "loops")


def gemm(trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
    """``C = op(A) @ op(B) + beta * C`` on row-major blocks of C-contiguous arrays (numba only).

    ``A`` is the (m, k) matrix (``trans_a``: stored (k, m)) starting at flat element ``a_off`` of
    array ``a``, rows ``lda`` elements apart; likewise ``B`` (k, n) in ``b`` and ``C`` (m, n) in ``c``.
    All three arrays have one dtype, float32 or float64. No bounds are checked.
    """
    raise NotImplementedError("kerasette.backend.kernels.blas.gemm runs inside numba kernels only")


@overload(gemm, inline="always")
def _gemm_overload(trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
    if a.dtype == types.float32:
        fn, one = _sgemm, np.float32(1)
    elif a.dtype == types.float64:
        fn, one = _dgemm, np.float64(1)
    else:
        return None

    def impl(trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
        size = a.itemsize
        fn(ROW_MAJOR, TRANS if trans_a else NO_TRANS, TRANS if trans_b else NO_TRANS, m, n, k, one,
           a.ctypes.data + a_off * size, lda, b.ctypes.data + b_off * size, ldb,
           beta, c.ctypes.data + c_off * size, ldc)

    return impl
