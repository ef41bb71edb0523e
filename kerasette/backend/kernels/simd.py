"""Explicit SIMD vectors for numba kernels: one type and a handful of operations on it.

Why: numba leaves vectorisation to LLVM's loop vectoriser, which on AVX-512 machines chooses
256-bit vectors (the CPU's "prefer 256-bit" tuning), keeps accumulators in memory when a loop
nest is not the simple shape it recognises, and fuses no multiply-add (numba does not allow
contraction). A kernel that is a register-blocked outer product (the direct convolution of
`kerasette.backend.kernels.direct`) needs all three. Here a vector is a value of LLVM's vector
type, kept in a register like any scalar, and ``vfma`` is LLVM's ``fmuladd``: one fused
multiply-add instruction where the CPU has FMA, a multiply and an add where it has not.

A vector holds :data:`VECTOR_BYTES` bytes: 64 (16 float32 lanes, one zmm register) where the CPU
has AVX-512, 32 with AVX, else 16 (the features numba compiles for: the host's, or
``NUMBA_CPU_FEATURES``); :func:`lanes` gives the count for a dtype. numba keys its on-disk cache
on the CPU name and features, but a kernel's cache is invalidated only by its own source file,
not by this module: the kernels therefore take the width their caller expects and refuse to run
with another (`kerasette.backend.kernels.direct`).

``vsums_store`` adds lanes in a tree whose shape depends on the width, so float results can
differ in the last bits between machines of different widths.

Loads and stores take a flat element index into a C-contiguous array, or into the array's data
pointer (:func:`address`, for code inlined into a loop, where numba's reference counting of an
array argument costs calls), and check no bounds, like the BLAS calls of
`kerasette.backend.kernels.blas`; the kernels that use them validate nothing either, and their
Python callers pass arrays of the right shapes.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, config, types
from numba.core import codegen as numba_codegen
from numba.extending import intrinsic, models, overload, register_model


def _vector_bytes() -> int:
    """The vector width of the features numba compiles for: ``NUMBA_CPU_FEATURES`` when set,
    else the host's as numba reads them (without AVX when ``NUMBA_ENABLE_AVX=0``)."""
    text = config.CPU_FEATURES if config.CPU_FEATURES is not None else numba_codegen.get_host_cpu_features()
    features = {f[1:]: f[0] == "+" for f in text.split(",") if f}
    if features.get("avx512f"):
        return 64
    return 32 if features.get("avx") else 16


#: Bytes per vector on this machine.
VECTOR_BYTES = _vector_bytes()


class Vector(types.Type):
    """numba type of a vector of ``count`` values of ``dtype`` (float32 or float64)."""

    def __init__(self, dtype, count: int):
        self.dtype, self.count = dtype, count
        super().__init__(name=f"Vector({dtype} x {count})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.count))


def _vector_of(dtype) -> Vector:
    return Vector(dtype, VECTOR_BYTES * 8 // dtype.bitwidth)


def lanes(itemsize: int) -> int:
    """Values per vector for a dtype of ``itemsize`` bytes (usable in kernels)."""
    return VECTOR_BYTES // itemsize


@overload(lanes, inline="always")
def _lanes_overload(itemsize):
    return lambda itemsize: VECTOR_BYTES // itemsize


@intrinsic
def vcount(typingctx, array):
    """The lanes of a vector of ``array``'s dtype, as a constant the compiler sees (a loop
    stepping by it needs no division for its trip count)."""
    count = _vector_of(array.dtype).count

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, count)

    return types.intp(array), codegen


def _element_pointer(context, builder, array_type, array, index_type, index):
    data = array if isinstance(array_type, types.CPointer) else context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [context.cast(builder, index, index_type, types.intp)])


def _splat(builder, vector_type: ir.VectorType, scalar):
    one = builder.insert_element(ir.Constant(vector_type, ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vector_type.count), [0] * vector_type.count)
    return builder.shuffle_vector(one, ir.Constant(vector_type, ir.Undefined), zeros)


def _llvm_call(builder, name: str, vector_type: ir.VectorType, args):
    """Calls the overloaded LLVM intrinsic ``name`` (``llvm.fmuladd``, ``llvm.maxnum``) on vectors."""
    element = "f32" if isinstance(vector_type.element, ir.FloatType) else "f64"
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector_type, [vector_type] * len(args)),
                                        f"{name}.v{vector_type.count}{element}")
    return builder.call(fn, args)


def _contiguous(array) -> bool:
    """Whether ``array`` is typed as a C-contiguous array of float32 or float64 (the flat index of
    the intrinsics is an offset from its data pointer, which a strided view would not honour), or
    as a pointer to such values (:func:`address`)."""
    if isinstance(array, types.CPointer):
        return array.dtype in (types.float32, types.float64)
    return isinstance(array, types.Array) and array.layout == "C" and array.dtype in (types.float32, types.float64)


@intrinsic
def address(typingctx, array):
    """The data pointer of a C-contiguous float array, which the loads and stores here take in
    place of the array (the same flat indices).

    Why: numba counts references to arrays. An array handed to an inlined function is bound to
    a new variable, and where the function has loops or branches the count's increment and
    decrement are calls that LLVM cannot remove; on AVX-512 each call also clears the vector
    registers' upper halves (``vzeroupper``), so constants kept in vector registers are reloaded
    after it. Per tile of a Winograd kernel that was 2 to 8 such calls. A pointer is a plain
    value. The caller must keep the array alive while the pointer is in use (:func:`keep`
    after the last use, for an array the kernel allocates itself)."""
    if not _contiguous(array):
        return None

    def codegen(context, builder, sig, args):
        return context.make_array(sig.args[0])(context, builder, args[0]).data

    return types.CPointer(array.dtype)(array), codegen


@intrinsic
def keep(typingctx, array):
    """Nothing, but a use of ``array``: numba releases a kernel's own arrays after their last
    use, so an array whose :func:`address` is used later needs this call after that use."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, sig, args):
        return context.get_dummy_value()

    return types.none(array), codegen


@intrinsic
def vload(typingctx, array, index):
    """The vector at flat element ``index`` of ``array`` (any alignment; an array or its :func:`address`)."""
    if not _contiguous(array):
        return None
    vector = _vector_of(array.dtype)

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        vptr = builder.bitcast(ptr, context.get_value_type(vector).as_pointer())
        return builder.load(vptr, align=array.dtype.bitwidth // 8)

    return vector(array, index), codegen


@intrinsic
def vstore(typingctx, array, index, value):
    """Stores vector ``value`` at flat element ``index`` of ``array``."""
    if not (_contiguous(array) and isinstance(value, Vector) and value.dtype == array.dtype):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        builder.store(args[2], builder.bitcast(ptr, args[2].type.as_pointer()), align=array.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.none(array, index, value), codegen


@intrinsic
def vbroadcast(typingctx, array, index):
    """Flat element ``index`` of ``array`` in every lane."""
    if not _contiguous(array):
        return None
    vector = _vector_of(array.dtype)

    def codegen(context, builder, sig, args):
        scalar = builder.load(_element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1]))
        return _splat(builder, context.get_value_type(vector), scalar)

    return vector(array, index), codegen


@intrinsic
def vzeros(typingctx, array):
    """A vector of zeros of ``array``'s dtype."""
    vector = _vector_of(array.dtype)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vector), None)

    return vector(array), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` lane by lane (fused where the CPU has FMA)."""
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        return _llvm_call(builder, "llvm.fmuladd", args[0].type, args)

    return a(a, b, c), codegen


@intrinsic
def vadd(typingctx, a, b):
    """``a + b`` lane by lane."""
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])

    return a(a, b), codegen


@intrinsic
def vsub(typingctx, a, b):
    """``a - b`` lane by lane."""
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        return builder.fsub(args[0], args[1])

    return a(a, b), codegen


@intrinsic
def vmul(typingctx, a, b):
    """``a * b`` lane by lane (a plain multiply: never fused with a following add)."""
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        return builder.fmul(args[0], args[1])

    return a(a, b), codegen


@intrinsic
def vsplat(typingctx, array, value):
    """``value`` (a number, converted to ``array``'s dtype) in every lane of a vector of that dtype."""
    if not (isinstance(array, (types.Array, types.CPointer)) and array.dtype in (types.float32, types.float64)
            and isinstance(value, (types.Integer, types.Float))):
        return None
    vector = _vector_of(array.dtype)

    def codegen(context, builder, sig, args):
        scalar = context.cast(builder, args[1], sig.args[1], array.dtype)
        return _splat(builder, context.get_value_type(vector), scalar)

    return vector(array, value), codegen


@intrinsic
def vmax(typingctx, a, b):
    """The larger of ``a`` and ``b`` lane by lane; a NaN loses (so ``vmax(nan, 0)`` is 0)."""
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        return _llvm_call(builder, "llvm.maxnum", args[0].type, args)

    return a(a, b), codegen


def _fold(builder, a, b, half: int, count: int):
    """One level of a transposing sum: in each group of ``2 * half`` lanes, the first ``half``
    lanes of the result are ``a``'s group folded in two (lane ``l`` plus lane ``l + half``), the
    next ``half`` are ``b``'s."""
    low, high = [], []
    for g in range(0, count, 2 * half):
        low += [g + i for i in range(half)] + [count + g + i for i in range(half)]
        high += [g + half + i for i in range(half)] + [count + g + half + i for i in range(half)]

    def mask(lanes_):
        return ir.Constant(ir.VectorType(ir.IntType(32), count), lanes_)

    return builder.fadd(builder.shuffle_vector(a, b, mask(low)), builder.shuffle_vector(a, b, mask(high)))


@intrinsic
def vsums_store(typingctx, array, index, vectors):
    """Stores the lane sums of a tuple of vectors at ``array[index:index + len(vectors)]``
    (``array`` C-contiguous, of the vectors' dtype).

    The sums are taken together, as a transpose: each level folds pairs of vectors into one
    (two shuffles and an add), so k vectors of n lanes cost about 3k operations instead of the
    k * 2 * log2(n) of summing each vector alone; the sums then leave in whole vector stores of
    power-of-two lengths. Each sum is a tree: lane l plus lane l + n/2, then the same on the
    half, down to one lane.
    """
    if not (isinstance(vectors, types.UniTuple) and isinstance(vectors.dtype, Vector)
            and _contiguous(array) and array.dtype == vectors.dtype.dtype):
        return None  # a strided array would be written past its view, another dtype as raw bytes
    total, count = vectors.count, vectors.dtype.count

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(vectors.dtype)
        zero = ir.Constant(vector_type, None)
        # (vector, owner of each lane): owners are indices into ``vectors`` (None: padding)
        items = [(builder.extract_value(args[2], i), [i] * count) for i in range(total)]
        half = count // 2
        while half >= 1:
            folded = []
            for p in range(0, len(items), 2):
                a, owner_a = items[p]
                b, owner_b = items[p + 1] if p + 1 < len(items) else (zero, [None] * count)
                owner = []
                for g in range(0, count, 2 * half):
                    owner += owner_a[g:g + half] + owner_b[g:g + half]
                folded.append((_fold(builder, a, b, half, count), owner))
            items, half = folded, half // 2
        where = {o: (vector, lane) for vector, owner in items for lane, o in enumerate(owner) if o is not None}
        i32 = ir.IntType(32)
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        start = 0
        while start < total:
            size = min(count, 1 << ((total - start).bit_length() - 1))
            piece_type = ir.VectorType(vector_type.element, size)
            piece = ir.Constant(piece_type, ir.Undefined)
            for i in range(size):
                vector, lane = where[start + i]
                piece = builder.insert_element(piece, builder.extract_element(vector, ir.Constant(i32, lane)),
                                               ir.Constant(i32, i))
            at = builder.gep(ptr, [ir.Constant(ir.IntType(64), start)])
            builder.store(piece, builder.bitcast(at, piece_type.as_pointer()), align=array.dtype.bitwidth // 8)
            start += size
        return context.get_dummy_value()

    return types.none(array, index, vectors), codegen
