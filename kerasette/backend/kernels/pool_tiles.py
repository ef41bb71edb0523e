"""Max pooling over windows that tile the image, forward and backward, on whole vector registers.

For windows with pool size = strides and no padding (the common 2x2 pooling), each window's
cells are read one after the other, a vector of channels at a time: the running maximum and the
position of its first winner are selected lane by lane, the positions in vectors of the
positions array's integers (uint8, uint16, ...) as many as the values' lanes, and both are
stored once per window. `kernels.pool.maxpool_forward`'s rule (ties to the first maximum in
row-major window order, a NaN never replacing the maximum) and its outputs, bit for bit. Why:
LLVM vectorised that loop on 256-bit vectors with scalar parts; one thread took 5.2 us an image
of cifar32's 28 x 28 x 32 pooling in cache.
"""

from __future__ import annotations

from numba.core import types
from numba.extending import intrinsic

from kerasette.backend.kernels._jit import inline, kernel
from kerasette.backend.kernels.simd import (
    VECTOR_BYTES,
    Vector,
    _element_pointer,
    _splat,
    vadd,
    vcount,
    vload,
    vstore,
    vzeros,
)


@intrinsic
def _pointer(typingctx, array):
    """The data pointer of a C-contiguous array, indexed flat as ``array.reshape(-1)`` would be.

    Why: each ``reshape(-1)`` costs a kernel's first compile about 0.03 s (numba types and lowers
    its shape checks and its error path), three in each kernel here; the pointer is a plain value.
    The arrays are the kernel's arguments, alive for the whole call."""
    if not (isinstance(array, types.Array) and array.layout == "C"):
        return None

    def codegen(context, builder, sig, args):
        return context.make_array(sig.args[0])(context, builder, args[0]).data

    return types.CPointer(array.dtype)(array), codegen


def _lanes(dtype) -> int:
    return VECTOR_BYTES * 8 // dtype.bitwidth


@intrinsic
def _positions(typingctx, values, positions, index):
    """``index`` in every lane of a vector of ``positions``' integers, with as many lanes as a
    vector of ``values``' dtype."""
    if not (isinstance(values, types.Array) and isinstance(positions, types.Array)
            and isinstance(positions.dtype, types.Integer)):
        return None
    vector = Vector(positions.dtype, _lanes(values.dtype))

    def codegen(context, builder, sig, args):
        scalar = context.cast(builder, args[2], sig.args[2], positions.dtype)
        return _splat(builder, context.get_value_type(vector), scalar)

    return vector(values, positions, index), codegen


@intrinsic
def _where_greater(typingctx, v, m, a, b):
    """``a`` in the lanes where ``v > m`` (ordered: never where either is NaN), else ``b``."""
    if not (isinstance(v, Vector) and v == m and isinstance(a, Vector) and a == b and a.count == v.count):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered(">", args[0], args[1]), args[2], args[3])

    return a(v, m, a, b), codegen


@intrinsic
def _store_positions(typingctx, positions, index, p):
    """Stores the integer vector ``p`` at flat ``index`` of ``positions`` (a `_pointer`)."""
    if not (isinstance(positions, types.CPointer) and isinstance(p, Vector) and p.dtype == positions.dtype):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        builder.store(args[2], builder.bitcast(ptr, args[2].type.as_pointer()), align=positions.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.none(positions, index, p), codegen


@inline
def _two_by_two(x, argmax, xf, yf, af, corner, at, first, width, chans, vector_end, nl):
    """The whole vectors of channels of one 2 x 2 window (cells in row-major order)."""
    p0, p1 = _positions(x, argmax, first), _positions(x, argmax, first + 1)
    p2, p3 = _positions(x, argmax, first + width), _positions(x, argmax, first + width + 1)
    below = width * chans
    for c0 in range(0, vector_end, nl):
        m, p = vload(xf, corner + c0), p0
        v = vload(xf, corner + chans + c0)
        p, m = _where_greater(v, m, p1, p), _where_greater(v, m, v, m)
        v = vload(xf, corner + below + c0)
        p, m = _where_greater(v, m, p2, p), _where_greater(v, m, v, m)
        v = vload(xf, corner + below + chans + c0)
        p, m = _where_greater(v, m, p3, p), _where_greater(v, m, v, m)
        vstore(yf, at + c0, m)
        _store_positions(af, at + c0, p)


def maxpool_forward_tiles(x, y, argmax, ph, pw):
    """`kernels.pool.maxpool_forward` for windows of ``ph`` x ``pw`` that tile the image
    ('valid', strides = pool size; the last rows or columns may be in no window).

    Args:
        x: input, (N, H, W, C), C-contiguous, float32 or float64.
        y: output, (N, H // ph, W // pw, C), C-contiguous; overwritten.
        argmax: the winners' flat positions ``h * W + w``, as ``y``, C-contiguous, an unsigned
            integer dtype that holds them; overwritten.
        ph, pw: the window (and strides).

    The common 2 x 2 window has a kernel of its own (`maxpool_forward_2x2`), other windows
    `maxpool_forward_windows`: a model compiles only the one it uses (the general window's loops
    cost the 2 x 2 kernel a third of its first compile, 0.1 s a signature).
    """
    if ph == 2 and pw == 2:
        maxpool_forward_2x2(x, y, argmax)
    else:
        maxpool_forward_windows(x, y, argmax, ph, pw)


@kernel
def maxpool_forward_2x2(x, y, argmax):
    """`maxpool_forward_tiles` for 2 x 2 windows, their cells written out."""
    n_img, height, width, chans = x.shape
    oh_n, ow_n = y.shape[1], y.shape[2]
    xf, yf, af = _pointer(x), _pointer(y), _pointer(argmax)
    nl = vcount(x)
    vector_end = chans - chans % nl
    for g in range(n_img * oh_n):
        n = g // oh_n
        h0 = (g - n * oh_n) * 2
        for ow in range(ow_n):
            first = h0 * width + ow * 2
            corner = (n * height * width + first) * chans
            at = (g * ow_n + ow) * chans
            _two_by_two(x, argmax, xf, yf, af, corner, at, first, width, chans, vector_end, nl)
            _scalar_window(xf, yf, af, corner, at, first, width, chans, vector_end, 2, 2)


@kernel
def maxpool_forward_windows(x, y, argmax, ph, pw):
    """`maxpool_forward_tiles` for any window, its cells in loops."""
    n_img, height, width, chans = x.shape
    oh_n, ow_n = y.shape[1], y.shape[2]
    xf, yf, af = _pointer(x), _pointer(y), _pointer(argmax)
    nl = vcount(x)
    vector_end = chans - chans % nl
    for g in range(n_img * oh_n):
        n = g // oh_n
        h0 = (g - n * oh_n) * ph
        for ow in range(ow_n):
            first = h0 * width + ow * pw
            corner = (n * height * width + first) * chans
            at = (g * ow_n + ow) * chans
            for c0 in range(0, vector_end, nl):
                m = vload(xf, corner + c0)
                p = _positions(x, argmax, first)
                for i in range(ph):
                    for j in range(pw):
                        if i + j > 0:
                            v = vload(xf, corner + (i * width + j) * chans + c0)
                            p = _where_greater(v, m, _positions(x, argmax, first + i * width + j), p)
                            m = _where_greater(v, m, v, m)
                vstore(yf, at + c0, m)
                _store_positions(af, at + c0, p)
            _scalar_window(xf, yf, af, corner, at, first, width, chans, vector_end, ph, pw)


@inline
def _scalar_window(xf, yf, af, corner, at, first, width, chans, vector_end, ph, pw):
    """The channels left over (past the whole vectors) of one window: the scalar rule."""
    for c in range(vector_end, chans):
        best, best_at = xf[corner + c], first
        for i in range(ph):
            for j in range(pw):
                v = xf[corner + (i * width + j) * chans + c]
                if v > best:
                    best, best_at = v, first + i * width + j
        yf[at + c] = best
        af[at + c] = best_at


@intrinsic
def _load_positions(typingctx, values, positions, index):
    """The vector of ``positions``' integers at flat ``index``, as many lanes as a vector of
    ``values``' dtype."""
    if not (isinstance(values, types.Array) and isinstance(positions, types.Array) and positions.layout == "C"
            and isinstance(positions.dtype, types.Integer)):
        return None
    vector = Vector(positions.dtype, _lanes(values.dtype))

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[1], args[1], sig.args[2], args[2])
        vptr = builder.bitcast(ptr, context.get_value_type(vector).as_pointer())
        return builder.load(vptr, align=positions.dtype.bitwidth // 8)

    return vector(values, positions, index), codegen


@intrinsic
def _where_equal(typingctx, p, q, a, b):
    """``a`` in the lanes where the integer vectors ``p`` and ``q`` are equal, else ``b``."""
    if not (isinstance(p, Vector) and p == q and isinstance(a, Vector) and a == b and a.count == p.count):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(builder.icmp_unsigned("==", args[0], args[1]), args[2], args[3])

    return a(p, q, a, b), codegen


@kernel
def maxpool_backward_tiles(dy, argmax, dx):
    """`kernels.pool.maxpool_backward_tiles` on whole vector registers: each input cell written
    once, ``dy + 0`` where its position is its window's winner's (compared as integers), else
    0; the cells no window covers zeroed. Its outputs bit for bit.

    Args:
        dy: output gradient, (N, OH, OW, C), C-contiguous, float32 or float64.
        argmax: the forward pass's positions, as ``dy``, C-contiguous.
        dx: input gradient, (N, H, W, C), C-contiguous; overwritten. The window is ``H // OH``
            by ``W // OW`` (the caller checks that it is the forward pass's).
    """
    n_img, oh_n, ow_n, chans = dy.shape
    height, width = dx.shape[1], dx.shape[2]
    ph, pw = height // oh_n, width // ow_n
    dyf, af, dxf = dy.reshape(-1), argmax.reshape(-1), dx.reshape(-1)
    nl = vcount(dy)
    vector_end = chans - chans % nl
    zeros = vzeros(dy)
    zero = dx.dtype.type(0)
    for g in range(n_img * oh_n):
        n = g // oh_n
        oh = g - n * oh_n
        for i in range(ph):
            h = oh * ph + i
            row = (n * height + h) * width
            for ow in range(ow_n):
                at = (g * ow_n + ow) * chans
                for j in range(pw):
                    cell = (row + ow * pw + j) * chans
                    here = _positions(dy, argmax, h * width + ow * pw + j)
                    for c0 in range(0, vector_end, nl):
                        d = vadd(vload(dyf, at + c0), zeros)
                        vstore(dxf, cell + c0, _where_equal(_load_positions(dy, af, at + c0), here, d, zeros))
                    for c in range(vector_end, chans):
                        dxf[cell + c] = dyf[at + c] + zero if af[at + c] == h * width + ow * pw + j else zero
            for k in range((row + ow_n * pw) * chans, (row + width) * chans):  # columns no window covers
                dxf[k] = zero
        if oh == oh_n - 1:  # rows no window covers
            for k in range((n * height + oh_n * ph) * width * chans, (n + 1) * height * width * chans):
                dxf[k] = zero
