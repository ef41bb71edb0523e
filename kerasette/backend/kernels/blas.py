"""numpy's BLAS matrix product, called from inside numba kernels (no GIL, no Python in between).

Why: a kernel that loops over tiles from Python (pack in numba, multiply with ``np.matmul``,
unpack in numba) gives up and takes back the GIL two or three times per tile. With one such
loop per thread, each hand-over waits for the other thread's next release and for a thread
wake-up, which made every chunk of the small convnets 25-40% slower when both cores ran at once
(and not at all when the same chunks ran in two processes). Kernels that call :func:`gemm`
run a whole chunk in one call.

How: :func:`gemm` calls the external symbols ``kerasette_sgemm`` / ``kerasette_dgemm``, which
:func:`register` points at the ``cblas_?gemm`` of the BLAS that numpy itself uses (numpy's Linux
and Windows wheels ship OpenBLAS with 64-bit integers, ``scipy_cblas_sgemm64_``; a BLAS with
32-bit integers, such as macOS's Accelerate, is called through a small adapter). Compiled
kernels refer to the names, not to addresses, so numba's on-disk cache stays valid from one
process to the next. Where no such entry point is found, the names point to numba C callbacks
(:func:`_loop_gemm`) instead: correct, slower; :data:`SOURCE` says which.

The products run with BLAS's own thread count, which `kerasette.backend.parallel` sets to 1.

:func:`gemm` is inlined into the kernels; their cache entries are stamped by the modules they
import as well as their own (`_source_stamps`), so a change here compiles them again.
"""

from __future__ import annotations

import ctypes
import os
import warnings

import llvmlite.binding as llvm
import numba
import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

from kerasette.backend import parallel

#: CBLAS constants (row-major storage; no transpose or transpose).
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

_KINDS = (types.float32, types.float64)
_SIG = {dt: types.void(types.int32, types.int32, types.int32, types.int64, types.int64, types.int64,
                       dt, types.intp, types.int64, types.intp, types.int64, dt, types.intp, types.int64)
        for dt in _KINDS}
_sgemm = types.ExternalFunction("kerasette_sgemm", _SIG[types.float32])
_dgemm = types.ExternalFunction("kerasette_dgemm", _SIG[types.float64])

#: Where the products come from: the path of numpy's BLAS library, or "numba loops".
SOURCE: str | None = None


def _candidate_libraries() -> list[str]:
    """Shared libraries that may hold numpy's BLAS: the one numpy's wheel bundles, others mapped
    into the process, then the system's (macOS's Accelerate, which numpy's macOS arm64 wheels use)."""
    return parallel.library_paths("blas") + ["/System/Library/Frameworks/Accelerate.framework/Accelerate"]


#: (symbol prefix, suffix, integer bits) of the cblas_?gemm entry points looked for, in order.
_NAMES = (("scipy_cblas_", "64_", 64), ("cblas_", "64_", 64), ("cblas_", "_64", 64),
          ("scipy_cblas_", "", 32), ("cblas_", "", 32))


def _find_cblas() -> tuple[str, list] | None:
    """(library path, [sgemm target, dgemm target]) of the first BLAS whose products check out.

    A target is the address of ``cblas_?gemm`` (64-bit integers) or, for 32-bit integers, a C
    callback adapting the arguments (:func:`_int32_adapter`).
    """
    for path in _candidate_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix, bits in _NAMES:
            found = [getattr(lib, f"{prefix}{kind}gemm{suffix}", None) for kind in "sd"]
            if None in found:
                continue
            addresses = [ctypes.cast(f, ctypes.c_void_p).value for f in found]
            targets = addresses if bits == 64 else [_int32_adapter(t, a) for t, a in zip(_KINDS, addresses)]
            if all(_multiplies(t, target) for t, target in zip(_KINDS, targets)):
                return path, targets
    return None


def _multiplies(dtype, target) -> bool:
    """Whether ``target`` (an address or a C callback with the :data:`_SIG` signature) computes a
    2x2 product correctly: a BLAS whose entry point has other conventions is not used."""
    np_dtype = np.dtype(str(dtype))
    real = ctypes.c_float if dtype == types.float32 else ctypes.c_double
    i32, i64, ptr = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p
    address = target if isinstance(target, int) else target.address
    call = ctypes.CFUNCTYPE(None, i32, i32, i32, i64, i64, i64, real, ptr, i64, ptr, i64, real, ptr, i64)(address)
    a = np.array([[1, 2], [3, 4]], np_dtype)
    b = np.array([[5, 6], [7, 8]], np_dtype)
    c = np.full((2, 2), 1, np_dtype)
    call(ROW_MAJOR, NO_TRANS, TRANS, 2, 2, 2, 1.0, a.ctypes.data, 2, b.ctypes.data, 2, 0.5, c.ctypes.data, 2)
    return bool(np.array_equal(c, a @ b.T + 0.5))


def _int32_adapter(dtype, address: int):
    """A C callback with the 64-bit-integer signature that calls the 32-bit-integer cblas_?gemm
    at ``address`` (integer arguments are not passed alike on every platform, so no cast).
    Compiled when :func:`register` finds such a BLAS (at import, on macOS with Accelerate), not
    cached: it calls a fixed address."""
    i32, ptr = ctypes.c_int32, ctypes.c_void_p
    real = ctypes.c_float if dtype == types.float32 else ctypes.c_double
    target = ctypes.CFUNCTYPE(None, i32, i32, i32, i32, i32, i32, real, ptr, i32, ptr, i32, real, ptr, i32)(address)
    as_void = types.voidptr

    @numba.cfunc(_SIG[dtype], nogil=True)
    def adapter(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        target(np.int32(order), np.int32(trans_a), np.int32(trans_b), np.int32(m), np.int32(n),
               np.int32(k), alpha, _void(a, as_void), np.int32(lda), _void(b, as_void), np.int32(ldb),
               beta, _void(c, as_void), np.int32(ldc))

    adapter.keep_alive = target
    return adapter


@intrinsic
def _pointer(typingctx, address, dtype):
    """A typed pointer from an integer ``address`` (to read arrays the caller passed by address)."""
    target = dtype.dtype

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return types.CPointer(target)(address, dtype), codegen


@intrinsic
def _void(typingctx, address, kind):
    """An untyped pointer (``void *``) from an integer ``address``."""

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))

    return types.voidptr(address, kind), codegen


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
    ``use_blas=False``, selects the fallback (the tests use it), and a warning says when no
    usable BLAS was found. Returns :data:`SOURCE`. Kernels compiled or loaded from the cache
    afterwards use the new targets.
    """
    global SOURCE
    found = _find_cblas() if use_blas else None
    if found is None:
        SOURCE, targets = "numba loops", [_loop_gemm(kind) for kind in _KINDS]
        if use_blas:
            warnings.warn("kerasette: no usable cblas_sgemm/cblas_dgemm was found beside numpy; "
                          "convolutions fall back to numba loops, several times slower", RuntimeWarning,
                          stacklevel=2)
    else:
        SOURCE, targets = found
    _KEEP[:] = targets  # the C callbacks must live as long as the symbols point at them
    for name, target in zip(("kerasette_sgemm", "kerasette_dgemm"), targets):
        llvm.add_symbol(name, target if isinstance(target, int) else target.address)
    return SOURCE


_KEEP: list = []

register(os.environ.get("KERASETTE_BLAS", "") != "loops")


def gemm(trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
    """``C = op(A) @ op(B) + beta * C`` on row-major blocks of C-contiguous arrays (numba only).

    ``A`` is the (m, k) matrix (``trans_a``: stored (k, m)) starting at flat element ``a_off`` of
    array ``a``, rows ``lda`` elements apart; likewise ``B`` (k, n) in ``b`` and ``C`` (m, n) in ``c``.
    All three arrays have one dtype, float32 or float64. No bounds are checked in kernels.

    Inside numba kernels this is one call into BLAS; called from Python (``NUMBA_DISABLE_JIT=1``,
    or a kernel's ``py_func``) the same product runs in numpy.
    """
    op_a = _block(a, a_off, lda, k, m) if trans_a else _block(a, a_off, lda, m, k)
    op_b = _block(b, b_off, ldb, n, k) if trans_b else _block(b, b_off, ldb, k, n)
    block = _block(c, c_off, ldc, m, n)
    product = (op_a.T if trans_a else op_a) @ (op_b.T if trans_b else op_b)
    block[...] = product if beta == 0 else product + beta * block  # as in BLAS, C is not read for beta 0


def _block(array: np.ndarray, offset: int, ld: int, rows: int, cols: int) -> np.ndarray:
    """The (rows, cols) view of C-contiguous ``array`` starting at flat element ``offset``, rows
    ``ld`` elements apart (checked against the array's size, unlike in kernels)."""
    flat = array.reshape(-1)
    end = offset + (rows - 1) * ld + cols if rows and cols else offset
    if not array.flags.c_contiguous or offset < 0 or end > flat.size or (rows > 1 and ld < cols):
        raise ValueError(f"gemm: a ({rows}, {cols}) block at {offset} with rows {ld} apart does not fit "
                         f"in an array of shape {array.shape}")
    return np.lib.stride_tricks.as_strided(flat[offset:], (rows, cols), (ld * array.itemsize, array.itemsize),
                                           writeable=True)


@overload(gemm, inline="always")
def _gemm_overload(trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
    # BLAS reads the blocks by address: a strided view or a mixed dtype would be read wrongly.
    for name, array in (("a", a), ("b", b), ("c", c)):
        if not isinstance(array, types.Array) or array.layout != "C" or array.dtype != a.dtype:
            raise TypingError(f"gemm: {name} must be a C-contiguous array of a's dtype, received {array}")
    if a.dtype == types.float32:
        fn, one = _sgemm, np.float32(1)
    elif a.dtype == types.float64:
        fn, one = _dgemm, np.float64(1)
    else:
        raise TypingError(f"gemm: float32 or float64 arrays only, received {a.dtype}")

    def impl(trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc):
        size = a.itemsize
        fn(ROW_MAJOR, TRANS if trans_a else NO_TRANS, TRANS if trans_b else NO_TRANS, m, n, k, one,
           a.ctypes.data + a_off * size, lda, b.ctypes.data + b_off * size, ldb,
           beta, c.ctypes.data + c_off * size, ldc)

    return impl
