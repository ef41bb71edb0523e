"""Kernels of the Winograd convolution F(4x4, 3x3): a chunk of images, a block of tiles at a time.

A tile ``t`` of the output is the 4 x 4 block of positions starting at ``(4 * th, 4 * tw)`` of
image ``n``, with tiles numbered ``t = (n * tiles_h + th) * tiles_w + tw``. Its input tile is the
6 x 6 window of the padded input starting at the same position. Transformed tiles live in
``(36, tiles, channels)`` arrays, one plane per Winograd point ``e = 6 * i + j``, so that the
element-wise products of the algorithm are 36 matrix products over channels, which
:func:`conv_chunk` and :func:`weight_grad_chunk` hand to numpy's BLAS from inside the kernel.

The code is in four modules, along its seams:

* `kerasette.backend.kernels.winograd_tiles`: one tile (the 1-D transforms of Lavin and Gray
  for the points 0, 1, -1, 2, -2, inf, and the 2-D tile code, as loops LLVM vectorises and as
  explicit vectors);
* `kerasette.backend.kernels.winograd_transforms`: a range of tiles (the input, output and
  output-gradient transforms, each also a kernel callable from Python);
* `kerasette.backend.kernels.winograd_fused`: layers with 16 channels a side (8 with AVX2 too:
  :func:`fused_side`), the transforms and register-blocked products of a small group of tiles
  fused in L1 (:func:`conv_chunk_fused`, :func:`weight_grad_chunk_fused`, defined here);
* here: the transforms as C functions and the kernels of a chunk (:func:`conv_chunk`,
  :func:`weight_grad_chunk`, :func:`input_grad_chunk`, the ``_v`` twins of the first two, and
  the fused kernels); the public names of the other modules are importable from here.

The kernels' cache entries are stamped by the modules this one imports too (`_source_stamps`):
an edit of one of the other modules compiles them again.

Where a side's channels are whole vectors and at most 64 bytes (:func:`vector_side`: 16 float32
channels with AVX-512, 8 or 16 with AVX2), its transform runs on explicit vectors instead (the
same bits). One thread, ms for ResNet-20's 16 -> 16 layer at 32x32 (2048 tiles), loops /
explicit: AVX-512 input transform 0.79 / 0.36, output 0.32 / 0.22, output gradient 0.43 / 0.27;
AVX2 (two vectors) 0.75 / 0.33, 0.30 / 0.22, 0.40 / 0.22. 32 float32 channels with AVX-512 (two
vectors) gained too (output transform 0.10 / 0.08, the others tied; the seed convnet's 32 -> 32
layers about 10% a pass), but the seed convnet would then compile this code as well, on top of
the loops its 64-channel layers need: its empty-cache start grew from 6.5 to 8.8 s (loaded
machine); at four vectors the explicit input transform was slower (0.31 / 0.38). That code lives
in C functions and kernels of its own (:func:`conv_chunk_v`, :func:`weight_grad_chunk_v`), so that
a model without such layers does not compile it on its first run. All functions fill
preallocated arrays and validate nothing; they are generic over dtype.
"""

from __future__ import annotations

import numba
from numba import types
from numba.extending import overload

from kerasette.backend.kernels import blas
from kerasette.backend.kernels._jit import CFunction, kernel
from kerasette.backend.kernels.winograd_fused import TILES, _conv_fused, _weight_grad_fused, fused_side
from kerasette.backend.kernels.winograd_tiles import vector_side
from kerasette.backend.kernels.winograd_transforms import (
    _input_grad_transform,
    _input_transform,
    _input_transform_v,
    _output_grad_transform,
    _output_grad_transform_v,
    _output_transform,
    _output_transform_v,
    input_grad_transform,
    input_transform,
    input_transform_v,
    output_grad_transform,
    output_grad_transform_v,
    output_transform,
    output_transform_v,
)

__all__ = ["TILES", "conv_chunk", "conv_chunk_fused", "conv_chunk_res", "conv_chunk_v", "conv_chunk_v_res", "fused_side", "input_grad_chunk", "input_grad_transform", "input_transform", "input_transform_v", "output_grad_transform",
           "output_grad_transform_v", "output_transform", "output_transform_v", "vector_side",
           "weight_grad_chunk", "weight_grad_chunk_fused", "weight_grad_chunk_v"]


# The transforms as C functions for conv_chunk and weight_grad_chunk (see `_jit.CFunction`):
# compiled once each, not once more inside each of the two kernels (which halves the first run's
# Winograd compile). Arrays go in as pointer and shape; ``_call_*`` are the kernels' calls.


def _input_transform_c(xp, n, h, w, c, vp, vb, vc, t0, t1, tiles_h, tiles_w, pt, pl):
    _input_transform(numba.carray(xp, (n, h, w, c)), numba.carray(vp, (36, vb, vc)),
                     t0, t1, tiles_h, tiles_w, pt, pl)


def _output_transform_c(mp, mb, mf, yp, n, oh, ow, f, t0, t1, tiles_h, tiles_w, bp, nb, has_bias, rp, has_res,
                        relu):
    # without the residual (``has_res`` is not read): its code is left out of this function
    _output_transform(numba.carray(mp, (36, mb, mf)), numba.carray(yp, (n, oh, ow, f)), t0, t1, tiles_h, tiles_w,
                      numba.carray(bp, (nb,)), has_bias, numba.carray(rp, (n, oh, ow, f)), False, relu)


def _output_transform_res_c(mp, mb, mf, yp, n, oh, ow, f, t0, t1, tiles_h, tiles_w, bp, nb, has_bias, rp,
                            has_res, relu):
    _output_transform(numba.carray(mp, (36, mb, mf)), numba.carray(yp, (n, oh, ow, f)), t0, t1, tiles_h, tiles_w,
                      numba.carray(bp, (nb,)), has_bias, numba.carray(rp, (n, oh, ow, f)), True, relu)


def _output_grad_transform_c(gp, n, oh, ow, f, mp, mb, mf, t0, t1, tiles_h, tiles_w):
    _output_grad_transform(numba.carray(gp, (n, oh, ow, f)), numba.carray(mp, (36, mb, mf)),
                           t0, t1, tiles_h, tiles_w)


def _input_transform_v_c(xp, n, h, w, c, vp, vb, vc, t0, t1, tiles_h, tiles_w, pt, pl):
    _input_transform_v(numba.carray(xp, (n, h, w, c)), numba.carray(vp, (36, vb, vc)),
                       t0, t1, tiles_h, tiles_w, pt, pl)


def _output_transform_v_c(mp, mb, mf, yp, n, oh, ow, f, t0, t1, tiles_h, tiles_w, bp, nb, has_bias, rp, has_res,
                          relu):
    _output_transform_v(numba.carray(mp, (36, mb, mf)), numba.carray(yp, (n, oh, ow, f)), t0, t1, tiles_h, tiles_w,
                        numba.carray(bp, (nb,)), has_bias, numba.carray(rp, (n, oh, ow, f)), False, relu)


def _output_transform_v_res_c(mp, mb, mf, yp, n, oh, ow, f, t0, t1, tiles_h, tiles_w, bp, nb, has_bias, rp,
                              has_res, relu):
    _output_transform_v(numba.carray(mp, (36, mb, mf)), numba.carray(yp, (n, oh, ow, f)), t0, t1, tiles_h, tiles_w,
                        numba.carray(bp, (nb,)), has_bias, numba.carray(rp, (n, oh, ow, f)), True, relu)


def _output_grad_transform_v_c(gp, n, oh, ow, f, mp, mb, mf, t0, t1, tiles_h, tiles_w):
    _output_grad_transform_v(numba.carray(gp, (n, oh, ow, f)), numba.carray(mp, (36, mb, mf)),
                             t0, t1, tiles_h, tiles_w)


_P, _I, _B = (types.CPointer, types.int64, types.boolean)
_INPUT_SIG = lambda dt: types.void(_P(dt), *[_I] * 4, _P(dt), *[_I] * 8)  # noqa: E731
_OUTPUT_SIG = lambda dt: types.void(_P(dt), _I, _I, _P(dt), *[_I] * 8, _P(dt), _I, _B, _P(dt), _B, _B)  # noqa: E731
_OUTPUT_GRAD_SIG = lambda dt: types.void(_P(dt), *[_I] * 4, _P(dt), *[_I] * 6)  # noqa: E731
_INPUT = CFunction(_input_transform_c, _INPUT_SIG)
_OUTPUT = CFunction(_output_transform_c, _OUTPUT_SIG)
_OUTPUT_GRAD = CFunction(_output_grad_transform_c, _OUTPUT_GRAD_SIG)
# the explicit vector variants, compiled only for layers with a side of channels in vectors (`vector_side`)
_INPUT_V = CFunction(_input_transform_v_c, _INPUT_SIG)
_OUTPUT_V = CFunction(_output_transform_v_c, _OUTPUT_SIG)
_OUTPUT_GRAD_V = CFunction(_output_grad_transform_v_c, _OUTPUT_GRAD_SIG)
# the output transforms with a residual (ResNet inference), compiled only for the models that add one:
# the others' output transforms leave its code out (0.25-0.3 s less of an empty-cache start)
_OUTPUT_RES = CFunction(_output_transform_res_c, _OUTPUT_SIG)
_OUTPUT_V_RES = CFunction(_output_transform_v_res_c, _OUTPUT_SIG)


# the fused kernels as C functions too: the native jobs (`kernels.conv_jobs`) call them by symbol
# instead of carrying a copy of their large code each (3.4 MB more of loaded code for ResNet-20's
# backward job, 4 MB of its peak memory)


def _conv_fused_c(xp, n, h, w, c, up, yp, oh, ow, f, vp, vb, mp, mb, tiles_h, tiles_w, pt, pl, bp, has_bias, rp,
                  has_res, relu):
    _conv_fused(numba.carray(xp, (n, h, w, c)), numba.carray(up, (36, c, f)), numba.carray(yp, (n, oh, ow, f)),
                numba.carray(vp, (36, vb, c)), numba.carray(mp, (36, mb, f)), tiles_h, tiles_w, pt, pl,
                numba.carray(bp, (f,)), has_bias, numba.carray(rp, (n, oh, ow, f)), has_res, relu)


def _weight_grad_fused_c(gp, n, oh, ow, f, xp, h, w, c, dup, vp, vb, mp, mb, tiles_h, tiles_w, pt, pl):
    _weight_grad_fused(numba.carray(gp, (n, oh, ow, f)), numba.carray(xp, (n, h, w, c)),
                       numba.carray(dup, (36, c, f)), numba.carray(vp, (36, vb, c)), numba.carray(mp, (36, mb, f)),
                       tiles_h, tiles_w, pt, pl)


_CONV_FUSED = CFunction(_conv_fused_c, lambda dt: types.void(_P(dt), *[_I] * 4, _P(dt), _P(dt), *[_I] * 3, _P(dt),
                                                             _I, _P(dt), *[_I] * 5, _P(dt), _B, _P(dt), _B, _B))
_WEIGHT_GRAD_FUSED = CFunction(_weight_grad_fused_c, lambda dt: types.void(
    _P(dt), *[_I] * 4, _P(dt), *[_I] * 3, _P(dt), _P(dt), _I, _P(dt), *[_I] * 5))


@numba.njit(inline="always")
def _data(a):
    return blas._pointer(a.ctypes.data, a)


def _call_conv_fused(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu):
    _conv_fused(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu)


@overload(_call_conv_fused, inline="always")
def _call_conv_fused_overload(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu):
    fn = _CONV_FUSED.external(x.dtype)

    def impl(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu):
        fn(_data(x), x.shape[0], x.shape[1], x.shape[2], x.shape[3], _data(u), _data(y), y.shape[1], y.shape[2],
           y.shape[3], _data(v), v.shape[1], _data(mm), mm.shape[1], tiles_h, tiles_w, pt, pl, _data(b), has_bias,
           _data(r), has_res, relu)

    return impl


def _call_weight_grad_fused(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl):
    _weight_grad_fused(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl)


@overload(_call_weight_grad_fused, inline="always")
def _call_weight_grad_fused_overload(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl):
    fn = _WEIGHT_GRAD_FUSED.external(x.dtype)

    def impl(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl):
        fn(_data(dy), dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3], _data(x), x.shape[1], x.shape[2],
           x.shape[3], _data(du), _data(v), v.shape[1], _data(dm), dm.shape[1], tiles_h, tiles_w, pt, pl)

    return impl


def _input_transform_caller(c_function, python_kernel):
    """A function kernels call to run an input transform through ``c_function`` (inlined as one
    call of the C function); called from Python, it runs ``python_kernel``."""

    def call(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
        python_kernel(x, v, t0, t1, tiles_h, tiles_w, pt, pl)

    @overload(call, inline="always")
    def _call_overload(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
        fn = c_function.external(x.dtype)

        def impl(x, v, t0, t1, tiles_h, tiles_w, pt, pl):
            fn(blas._pointer(x.ctypes.data, x), x.shape[0], x.shape[1], x.shape[2], x.shape[3],
               blas._pointer(v.ctypes.data, v), v.shape[1], v.shape[2], t0, t1, tiles_h, tiles_w, pt, pl)

        return impl

    return call


def _output_transform_caller(c_function, python_kernel):
    """As `_input_transform_caller`, for an output transform."""

    def call(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, has_res, relu):
        python_kernel(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, has_res, relu)

    @overload(call, inline="always")
    def _call_overload(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, has_res, relu):
        fn = c_function.external(y.dtype)

        def impl(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, has_res, relu):
            fn(blas._pointer(mm.ctypes.data, mm), mm.shape[1], mm.shape[2],
               blas._pointer(y.ctypes.data, y), y.shape[0], y.shape[1], y.shape[2], y.shape[3],
               t0, t1, tiles_h, tiles_w, blas._pointer(b.ctypes.data, b), b.shape[0], has_bias,
               blas._pointer(r.ctypes.data, r), has_res, relu)

        return impl

    return call


def _output_grad_transform_caller(c_function, python_kernel):
    """As `_input_transform_caller`, for an output-gradient transform."""

    def call(dy, dm, t0, t1, tiles_h, tiles_w):
        python_kernel(dy, dm, t0, t1, tiles_h, tiles_w)

    @overload(call, inline="always")
    def _call_overload(dy, dm, t0, t1, tiles_h, tiles_w):
        fn = c_function.external(dy.dtype)

        def impl(dy, dm, t0, t1, tiles_h, tiles_w):
            fn(blas._pointer(dy.ctypes.data, dy), dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3],
               blas._pointer(dm.ctypes.data, dm), dm.shape[1], dm.shape[2], t0, t1, tiles_h, tiles_w)

        return impl

    return call


_call_input_transform = _input_transform_caller(_INPUT, input_transform)
_call_output_transform = _output_transform_caller(_OUTPUT, output_transform)
_call_output_grad_transform = _output_grad_transform_caller(_OUTPUT_GRAD, output_grad_transform)
_call_input_transform_v = _input_transform_caller(_INPUT_V, input_transform_v)
_call_output_transform_v = _output_transform_caller(_OUTPUT_V, output_transform_v)
_call_output_grad_transform_v = _output_grad_transform_caller(_OUTPUT_GRAD_V, output_grad_transform_v)
_call_output_transform_res = _output_transform_caller(_OUTPUT_RES, output_transform)
_call_output_transform_v_res = _output_transform_caller(_OUTPUT_V_RES, output_transform_v)


@kernel(calls=(_INPUT, _OUTPUT))
def conv_chunk(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu):
    """The whole Winograd convolution of a chunk of images, a block of tiles at a time.

    Per block: :func:`input_transform`, the 36 products ``M[e] = V[e] @ U[e]`` (numpy's BLAS,
    called from here, see `kerasette.backend.kernels.blas`) and :func:`output_transform`.

    Args:
        x: input images, (N, H, W, C), C-contiguous.
        u: transformed kernel, (36, C, F), C-contiguous.
        y: output images, (N, OH, OW, F), C-contiguous; overwritten.
        v, mm: scratch, (36, block, C) and (36, block, F), C-contiguous; ``block`` tiles at a time.
        tiles_h, tiles_w: tiles per image column and row.
        pt, pl: padding at the top and on the left.
        b, has_bias, r, has_res, relu: as for :func:`output_transform` (``r`` the shape of ``y``); with
            ``has_res``, :func:`conv_chunk_res` (this kernel's output transform has no residual code).
    """
    if has_res:
        raise ValueError("winograd.conv_chunk: a residual needs conv_chunk_res")
    block, chans, cout = v.shape[1], u.shape[1], u.shape[2]
    total = x.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        _call_input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        for e in range(36):
            blas.gemm(False, False, t1 - t0, cout, chans, v, e * block * chans, chans,
                      u, e * chans * cout, cout, 0.0, mm, e * block * cout, cout)
        _call_output_transform(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, False, relu)


@kernel(calls=(_INPUT, _OUTPUT_RES))
def conv_chunk_res(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu):
    """:func:`conv_chunk` adding the residual ``r`` (``has_res`` is not read): a kernel of its own, so
    that models without residual sums never compile that epilogue. Arguments as for :func:`conv_chunk`."""
    block, chans, cout = v.shape[1], u.shape[1], u.shape[2]
    total = x.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        _call_input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        for e in range(36):
            blas.gemm(False, False, t1 - t0, cout, chans, v, e * block * chans, chans,
                      u, e * chans * cout, cout, 0.0, mm, e * block * cout, cout)
        _call_output_transform_res(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, True, relu)


@kernel(calls=(_INPUT, _OUTPUT_GRAD))
def weight_grad_chunk(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl):
    """``du[e] = sum over the chunk's tiles of V[e]^T @ (A dY A^T)[e]``, a block at a time.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        x: forward input, (N, H, W, C), C-contiguous.
        du: output, (36, C, F), C-contiguous; overwritten.
        v, dm: scratch, (36, block, C) and (36, block, F), C-contiguous.
        tiles_h, tiles_w, pt, pl: as for :func:`conv_chunk`.
    """
    block, chans, cout = v.shape[1], du.shape[1], du.shape[2]
    total = x.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        _call_input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        _call_output_grad_transform(dy, dm, t0, t1, tiles_h, tiles_w)
        for e in range(36):
            blas.gemm(True, False, chans, cout, t1 - t0, v, e * block * chans, chans,
                      dm, e * block * cout, cout, 0.0 if t0 == 0 else 1.0, du, e * chans * cout, cout)


@kernel(calls=(_OUTPUT_GRAD,))
def input_grad_chunk(dy, ut, dx, dm, v, tiles_h, tiles_w, pt, pl):
    """``dx += the input gradient of a chunk``, the adjoint of :func:`conv_chunk`, a block of tiles at
    a time: :func:`output_grad_transform` of ``dy``, the 36 products ``dV[e] = dM[e] @ U[e]^T``
    (``U^T`` stored: BLAS's transposed operand measured 1.4 times slower for the whole chunk) and :func:`input_grad_transform` (each tile's 6 x 6 window added into ``dx``). The tiles are
    the forward pass's (``dy``'s), fewer than those of the input gradient as a 'full' convolution
    where ``dx`` is larger than ``dy`` ('valid' padding: 4 instead of 9 for an 8 x 8 ``dy``).

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        ut: the forward pass's transformed kernel with its channel axes swapped, (36, F, C),
            C-contiguous.
        dx: input gradient, (N, H, W, C), C-contiguous; added into (zero it first).
        dm, v: scratch, (36, block, F) and (36, block, C), C-contiguous; ``block`` tiles at a time.
        tiles_h, tiles_w, pt, pl: as for :func:`conv_chunk` (the forward pass's tiles and padding).
    """
    block, chans, cout = v.shape[1], ut.shape[2], ut.shape[1]
    total = dy.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        _call_output_grad_transform(dy, dm, t0, t1, tiles_h, tiles_w)
        for e in range(36):
            blas.gemm(False, False, t1 - t0, chans, cout, dm, e * block * cout, cout,
                      ut, e * cout * chans, chans, 0.0, v, e * block * chans, chans)
        _input_grad_transform(v, dx, t0, t1, tiles_h, tiles_w, pt, pl)


@kernel(calls=(_INPUT, _INPUT_V, _OUTPUT, _OUTPUT_V))
def conv_chunk_v(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu):
    """:func:`conv_chunk` where the input or the output channels are :func:`vector_side`: that side's
    transform by the explicit vector code. A kernel of its own, so that models without such
    layers never compile that code. Arguments as for :func:`conv_chunk` (a residual: :func:`conv_chunk_v_res`)."""
    if has_res:
        raise ValueError("winograd.conv_chunk_v: a residual needs conv_chunk_v_res")
    block, chans, cout = v.shape[1], u.shape[1], u.shape[2]
    total = x.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        if vector_side(chans, x.itemsize):
            _call_input_transform_v(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        else:
            _call_input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        for e in range(36):
            blas.gemm(False, False, t1 - t0, cout, chans, v, e * block * chans, chans,
                      u, e * chans * cout, cout, 0.0, mm, e * block * cout, cout)
        if vector_side(cout, y.itemsize):
            _call_output_transform_v(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, False, relu)
        else:
            _call_output_transform(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, False, relu)


@kernel(calls=(_INPUT, _INPUT_V, _OUTPUT_RES, _OUTPUT_V_RES))
def conv_chunk_v_res(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu):
    """:func:`conv_chunk_v` adding the residual ``r`` (see :func:`conv_chunk_res`)."""
    block, chans, cout = v.shape[1], u.shape[1], u.shape[2]
    total = x.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        if vector_side(chans, x.itemsize):
            _call_input_transform_v(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        else:
            _call_input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        for e in range(36):
            blas.gemm(False, False, t1 - t0, cout, chans, v, e * block * chans, chans,
                      u, e * chans * cout, cout, 0.0, mm, e * block * cout, cout)
        if vector_side(cout, y.itemsize):
            _call_output_transform_v_res(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, True, relu)
        else:
            _call_output_transform_res(mm, y, t0, t1, tiles_h, tiles_w, b, has_bias, r, True, relu)


@kernel(calls=(_INPUT, _INPUT_V, _OUTPUT_GRAD, _OUTPUT_GRAD_V))
def weight_grad_chunk_v(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl):
    """:func:`weight_grad_chunk` where the input or the output channels are :func:`vector_side` (see
    :func:`conv_chunk_v`). Arguments as for :func:`weight_grad_chunk`."""
    block, chans, cout = v.shape[1], du.shape[1], du.shape[2]
    total = x.shape[0] * tiles_h * tiles_w
    for t0 in range(0, total, block):
        t1 = min(t0 + block, total)
        if vector_side(chans, x.itemsize):
            _call_input_transform_v(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        else:
            _call_input_transform(x, v, t0, t1, tiles_h, tiles_w, pt, pl)
        if vector_side(cout, dy.itemsize):
            _call_output_grad_transform_v(dy, dm, t0, t1, tiles_h, tiles_w)
        else:
            _call_output_grad_transform(dy, dm, t0, t1, tiles_h, tiles_w)
        for e in range(36):
            blas.gemm(True, False, chans, cout, t1 - t0, v, e * block * chans, chans,
                      dm, e * block * cout, cout, 0.0 if t0 == 0 else 1.0, du, e * chans * cout, cout)



@kernel(calls=(_CONV_FUSED,))
def conv_chunk_fused(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu):
    """:func:`conv_chunk` where both sides' channels are :func:`fused_side`: per group of tiles
    (``v.shape[1]``, a multiple of :data:`TILES`), the explicit-vector input transform, the
    register-blocked products and the output transform, the group's points in L1
    (`kerasette.backend.kernels.winograd_fused`). Arguments as for :func:`conv_chunk`; ``mm`` may
    be ``v`` itself where both sides have the same channels, one vector (see
    `winograd_fused._products_v`). The code is a C function's (`_CONV_FUSED`), which the native
    jobs call as well."""
    _call_conv_fused(x, u, y, v, mm, tiles_h, tiles_w, pt, pl, b, has_bias, r, has_res, relu)


@kernel(calls=(_WEIGHT_GRAD_FUSED,))
def weight_grad_chunk_fused(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl):
    """:func:`weight_grad_chunk` where both sides' channels are :func:`fused_side`: per group of
    tiles, both transforms into L1-resident scratch and ``dU`` accumulated by register-blocked
    code (`kerasette.backend.kernels.winograd_fused`). Arguments as for :func:`weight_grad_chunk`
    (``v.shape[1]`` any group size); the code is a C function's (`_WEIGHT_GRAD_FUSED`)."""
    _call_weight_grad_fused(dy, x, du, v, dm, tiles_h, tiles_w, pt, pl)
