"""A Winograd convolution's backward pass as a native job (`native_jobs`).

`engine.conv.conv2d_backward` otherwise hands each thread its chunk of images as prepared Python
calls (`parallel.map_prepared`): the output pass (the bias gradient, the ReLU's mask), the input
gradient (the 'full' convolution of the gradient with the flipped kernel, `winograd.conv_chunk`
or a twin) and the kernel gradient (`winograd.weight_grad_chunk` or a twin, then
`winograd_weights._grad`), each a dispatch a worker makes holding the GIL. Here a C function per
family of chunk kernels (``*_job``: the loops, the explicit vectors ``_v``, the fused ones) runs
the same kernels, in the same order, on the same chunk of images with the same scratch arrays:
the same bits. The calling thread calls :func:`winograd_backward_run` once; each thread claims
its own chunk first (chunk ``k`` is thread ``k``'s, as in `parallel.map_prepared`), then any chunk
left (a worker that takes the job late, or never, leaves its chunk to the others).

The jobs carry the code of the kernels they call (the fused ones excepted: C functions); their
on-disk cache entries are stamped by the modules this one imports too (`_source_stamps`), so an
edit of `winograd` or `conv` alone compiles them again.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types

from kerasette.backend.kernels import winograd as _wino
from kerasette.backend.kernels._jit import CFunction, inline, kernel
from kerasette.backend.kernels.conv import (
    bias_grad_rows,
    relu_grad_bias_rows,
    relu_grad_bias_rows_inplace,
    taps_transposed,
)
from kerasette.backend.kernels.native_jobs import address_of, int64_array, pointer_like, run_job
from kerasette.backend.kernels.simd import keep
from kerasette.backend.kernels.spin import compare_exchange
from kerasette.backend.kernels.winograd_weights import _grad, _transform

#: The job's arguments (int64 cells). Shapes: the output gradient (``N``, ``OH``, ``OW``, ``F``),
#: the input (``H``, ``W``, ``C``), the element size and the chunks (``PARTS``: `parallel.chunks`'
#: split of the batch). ``OUT_PASS``: 0 none, 1 the bias gradient alone (`bias_grad_rows`), 2 the
#: ReLU's mask into ``dy`` itself, 3 into ``dz`` (the ReLU's kernels); ``IN_KIND`` / ``W_KIND``:
#: -1 not needed, 0 the loops' kernel, 1 its ``_v`` twin, 2 the fused one. The tiles and pads of
#: the input gradient's 'full' convolution (``IN_*``) and of the kernel gradient (``W_*``). The
#: addresses of the arrays (``DZ``: ``dy`` itself or the masked gradient; ``U``: the flipped
#: kernel's transform, (36, F, C)), the claims (one cell a chunk) and ``TABLE``: each chunk's
#: scratch and parts (`SCRATCH` cells).
(OUT_PASS, IN_KIND, W_KIND, IN_TILES_H, IN_TILES_W, IN_PT, IN_PL, W_TILES_H, W_TILES_W, W_PT, W_PL, N, OH, OW, F,
 H, W, C, ITEMSIZE, PARTS, DY, DZ, X, DX, U, OUT, CLAIMS, TABLE) = range(28)
ARGUMENTS = 28
#: The cells the engine gives (`OUT_PASS` to `W_PL`); the run kernel writes the others.
SETTINGS = 11
#: A chunk's row in the table: the input gradient's V and M and their blocks (planes of tiles),
#: its stand-in residual (never read), the kernel gradient's V and dM and their blocks, and the
#: chunk's parts: its bias gradient (zeroed here), dU and kernel gradient.
V_IN, V_IN_BLOCK, M_IN, M_IN_BLOCK, RES, V_W, V_W_BLOCK, DM_W, DM_W_BLOCK, DB_PART, DU_PART, DW_PART = range(12)
SCRATCH = 12
#: The ``*_KIND`` values.
LOOPS, VECTORS, FUSED = 0, 1, 2


def _job_signature(dtype):
    return types.void(types.CPointer(dtype), types.int64, types.int64)


@inline
def _images(a, cell, like, first, count, height, width, chans):
    """``count`` images (``height``, ``width``, ``chans``) from image ``first`` of the array at
    ``a[cell]`` (``like``: a pointer of the dtype)."""
    at = a[cell] + first * height * width * chans * a[ITEMSIZE]
    return numba.carray(pointer_like(at, like), (count, height, width, chans))


@inline
def _planes(address, block, chans, like):
    """A (36, ``block``, ``chans``) scratch array at ``address``."""
    return numba.carray(pointer_like(address, like), (36, block, chans))


@inline
def _rows(a, cell, like, first, count):
    """The rows (pixels, ``F``) of ``count`` output-gradient-shaped images from image ``first``
    of the array at ``a[cell]``."""
    per_image = a[OH] * a[OW]
    at = a[cell] + first * per_image * a[F] * a[ITEMSIZE]
    return numba.carray(pointer_like(at, like), (count * per_image, a[F]))


@inline
def _output_pass(a, like, first, count, db):
    """The chunk's output pass (``a[OUT_PASS]``), as `engine.conv._output_pass_call` makes it."""
    kind = a[OUT_PASS]
    if kind == 0:
        return
    dy = _rows(a, DY, like, first, count)
    if kind == 1:
        bias_grad_rows(dy, db)
        return
    relu = True
    out = _rows(a, OUT, like, first, count)
    if kind == 2:
        relu_grad_bias_rows_inplace(dy, out, relu, db)
    else:
        relu_grad_bias_rows(dy, out, relu, _rows(a, DZ, like, first, count), db)


@inline
def _input_grad(a, s, like, first, count, conv_loops, conv_other):
    """The chunk's input gradient, `winograd_conv.conv_call` on ``dz`` with the flipped kernel's
    transform (no bias, residual or ReLU; ``s``: the chunk's scratch cells)."""
    f, c = a[F], a[C]
    dz = _images(a, DZ, like, first, count, a[OH], a[OW], f)
    dx = _images(a, DX, like, first, count, a[H], a[W], c)
    u = numba.carray(pointer_like(a[U], like), (36, f, c))
    v = _planes(s[V_IN], s[V_IN_BLOCK], f, like)
    m = _planes(s[M_IN], s[M_IN_BLOCK], c, like)
    bias = numba.carray(pointer_like(a[U], like), c)  # u[0, 0], as conv_call's stand-in: never read
    res = numba.carray(pointer_like(s[RES], like), (count, a[H], a[W], c))
    no = False
    if a[IN_KIND] == LOOPS:
        conv_loops(dz, u, dx, v, m, a[IN_TILES_H], a[IN_TILES_W], a[IN_PT], a[IN_PL], bias, no, res, no, no)
    else:
        conv_other(dz, u, dx, v, m, a[IN_TILES_H], a[IN_TILES_W], a[IN_PT], a[IN_PL], bias, no, res, no, no)


@inline
def _kernel_grad(a, s, like, first, count, grad_loops, grad_other):
    """The chunk's kernel gradient: `winograd_conv.kernel_grad_calls`' two calls into the chunk's
    ``dU`` and ``dw``."""
    f, c = a[F], a[C]
    dz = _images(a, DZ, like, first, count, a[OH], a[OW], f)
    x = _images(a, X, like, first, count, a[H], a[W], c)
    du = numba.carray(pointer_like(s[DU_PART], like), (36, c, f))
    v = _planes(s[V_W], s[V_W_BLOCK], c, like)
    dm = _planes(s[DM_W], s[DM_W_BLOCK], f, like)
    if a[W_KIND] == LOOPS:
        grad_loops(dz, x, du, v, dm, a[W_TILES_H], a[W_TILES_W], a[W_PT], a[W_PL])
    else:
        grad_other(dz, x, du, v, dm, a[W_TILES_H], a[W_TILES_W], a[W_PT], a[W_PL])
    dw = numba.carray(pointer_like(s[DW_PART], like), (9, c * f))
    _grad(du.reshape((36, c * f)), dw)


@inline
def _claim(claims, part, n, parts):
    """Chunk ``part`` of ``n`` images in ``parts`` (`parallel.chunks`' split) as ``(first image,
    count)`` once this thread has claimed it; ``(0, -1)`` when another thread had."""
    if not compare_exchange(claims, part, 0, 1):
        return 0, -1
    base, extra = n // parts, n % parts
    return part * base + min(part, extra), base + (1 if part < extra else 0)


@inline
def _chunks(like, arguments, me, conv_loops, conv_other, grad_loops, grad_other):
    """Thread ``me``'s chunks: its own first, then any other no thread has claimed."""
    a = int64_array(arguments, ARGUMENTS)
    parts, n = a[PARTS], a[N]
    claims = int64_array(a[CLAIMS], parts)
    table = int64_array(a[TABLE], parts * SCRATCH)
    for step in range(parts):
        part = (me + step) % parts
        first, count = _claim(claims, part, n, parts)
        if count < 0:
            continue
        s = table[part * SCRATCH:(part + 1) * SCRATCH]
        db = numba.carray(pointer_like(s[DB_PART], like), a[F])
        _output_pass(a, like, first, count, db)
        if a[IN_KIND] >= 0:
            _input_grad(a, s, like, first, count, conv_loops, conv_other)
        if a[W_KIND] >= 0:
            _kernel_grad(a, s, like, first, count, grad_loops, grad_other)


def _loops_job(like, arguments, me):
    """Chunks whose passes take the loops' kernels (`winograd.conv_chunk`, `weight_grad_chunk`)."""
    _chunks(like, arguments, me, _wino.conv_chunk, _wino.conv_chunk, _wino.weight_grad_chunk,
            _wino.weight_grad_chunk)


winograd_backward_loops_job = CFunction(_loops_job, _job_signature)


def _vectors_job(like, arguments, me):
    """Chunks where either pass takes the explicit vectors' kernels (``*_v``)."""
    _chunks(like, arguments, me, _wino.conv_chunk, _wino.conv_chunk_v, _wino.weight_grad_chunk,
            _wino.weight_grad_chunk_v)


winograd_backward_vectors_job = CFunction(_vectors_job, _job_signature)


def _fused_job(like, arguments, me):
    """Chunks whose passes take the fused kernels (`winograd.conv_chunk_fused`, ...)."""
    _chunks(like, arguments, me, _wino.conv_chunk_fused, _wino.conv_chunk_fused, _wino.weight_grad_chunk_fused,
            _wino.weight_grad_chunk_fused)


winograd_backward_fused_job = CFunction(_fused_job, _job_signature)


@inline
def _scratch_row(table, part, v_in, m_in, res, v_w, dm_w, db, du, dw):
    row = part * SCRATCH
    table[row + DB_PART], table[row + DU_PART], table[row + DW_PART] = address_of(db), address_of(du), address_of(dw)
    table[row + V_IN], table[row + V_IN_BLOCK] = address_of(v_in), v_in.shape[1]
    table[row + M_IN], table[row + M_IN_BLOCK] = address_of(m_in), m_in.shape[1]
    table[row + RES] = address_of(res)
    table[row + V_W], table[row + V_W_BLOCK] = address_of(v_w), v_w.shape[1]
    table[row + DM_W], table[row + DM_W_BLOCK] = address_of(dm_w), dm_w.shape[1]


def _run(slots, spins, job, cells, dy, dz, x, dx, w, ii, jj, flipped, u, out, dbs, dus, dws, v_ins, m_ins, ress, v_ws,
         dm_ws):
    """The backward chunks of ``dy`` (N, OH, OW, F) run by this thread and the pool's workers
    spinning in ``slots`` (``job``: a ``*_job``'s address for the dtype). ``cells``: the
    arguments' settings (`OUT_PASS` to `W_PL`, the others written here); the tuples: each chunk's
    scratch and parts (each chunk's bias gradient, zeros, ``dU`` and kernel gradient).
    With the input gradient, ``u`` is first filled with the transform of ``w`` (3, 3, C, F)
    flipped and transposed into ``flipped`` (9, F, C) (``ii``, ``jj``: the flipped taps), as
    `engine.direct_conv.flipped_transposed` and `engine.winograd_conv.kernel_transform` make it."""
    parts = len(v_ins)
    if cells[IN_KIND] >= 0:
        taps_transposed(w, ii, jj, flipped)
        _transform(flipped.reshape((ii.shape[0], -1)), u.reshape((36, -1)))
    arguments = np.empty(ARGUMENTS, np.int64)
    for cell in range(SETTINGS):
        arguments[cell] = cells[cell]
    arguments[N], arguments[OH], arguments[OW], arguments[F] = dy.shape
    arguments[H], arguments[W], arguments[C] = x.shape[1], x.shape[2], x.shape[3]
    arguments[ITEMSIZE], arguments[PARTS] = dy.itemsize, parts
    arguments[DY], arguments[DZ], arguments[X], arguments[DX] = (address_of(dy), address_of(dz), address_of(x),
                                                                  address_of(dx))
    arguments[U], arguments[OUT] = address_of(u), address_of(out)
    claims = np.zeros(parts, np.int64)
    table = np.empty(parts * SCRATCH, np.int64)
    for part in range(parts):
        _scratch_row(table, part, v_ins[part], m_ins[part], ress[part], v_ws[part], dm_ws[part], dbs[part], dus[part],
                     dws[part])
    arguments[CLAIMS], arguments[TABLE] = address_of(claims), address_of(table)
    run_job(slots, spins, job, address_of(dy), address_of(arguments))
    keep(arguments)
    keep(claims)
    keep(table)
    keep(dy)
    keep(x)
    keep(dz)
    keep(dx)
    keep(u)
    keep(out)


winograd_backward_run = kernel(_run)


# -- the forward pass ---------------------------------------------------------------------------
#: The forward job's arguments (int64 cells): the engine's settings (the tiles, the padding, the
#: bias, ReLU and residual flags, whether the chunk kernel is the ``_v`` twin), then the shapes of
#: ``x`` (N, H, W, C) and ``y`` (OH, OW, F), the element size, the chunks, the addresses of ``x``,
#: ``y``, the transformed kernel ``u`` (36, C, F), the bias (``u[0, 0]`` without one), the
#: residual (``x`` without one), the claims and the scratch table (`FW_SCRATCH` cells a chunk).
(FW_TILES_H, FW_TILES_W, FW_PT, FW_PL, FW_HAS_BIAS, FW_RELU, FW_HAS_RES, FW_VECTORS, FW_N, FW_H, FW_W, FW_C,
 FW_OH, FW_OW, FW_F, FW_ITEMSIZE, FW_PARTS, FW_X, FW_Y, FW_U, FW_B, FW_RES, FW_CLAIMS, FW_TABLE) = range(24)
FW_ARGUMENTS = 24
FW_SETTINGS = 8
#: A chunk's forward scratch: V and M and their blocks, the stand-in residual (never read).
FW_V, FW_V_BLOCK, FW_M, FW_M_BLOCK, FW_STANDIN = range(5)
FW_SCRATCH = 5


@inline
def _forward_chunks(like, arguments, me, conv_loops, conv_other):
    """Thread ``me``'s forward chunks (its own first): `winograd_conv.conv_call`'s kernel
    (``conv_other`` where ``FW_VECTORS``) on the chunk's images and scratch."""
    a = int64_array(arguments, FW_ARGUMENTS)
    parts, n, c, f, size = a[FW_PARTS], a[FW_N], a[FW_C], a[FW_F], a[FW_ITEMSIZE]
    claims = int64_array(a[FW_CLAIMS], parts)
    table = int64_array(a[FW_TABLE], parts * FW_SCRATCH)
    has_bias, relu, has_res = a[FW_HAS_BIAS] != 0, a[FW_RELU] != 0, a[FW_HAS_RES] != 0
    u = numba.carray(pointer_like(a[FW_U], like), (36, c, f))
    bias = numba.carray(pointer_like(a[FW_B], like), f)
    for step in range(parts):
        part = (me + step) % parts
        first, count = _claim(claims, part, n, parts)
        if count < 0:
            continue
        s = table[part * FW_SCRATCH:(part + 1) * FW_SCRATCH]
        x = numba.carray(pointer_like(a[FW_X] + first * a[FW_H] * a[FW_W] * c * size, like),
                         (count, a[FW_H], a[FW_W], c))
        y_at = first * a[FW_OH] * a[FW_OW] * f * size
        y = numba.carray(pointer_like(a[FW_Y] + y_at, like), (count, a[FW_OH], a[FW_OW], f))
        r = numba.carray(pointer_like(a[FW_RES] + y_at if has_res else s[FW_STANDIN], like),
                         (count, a[FW_OH], a[FW_OW], f))
        v = _planes(s[FW_V], s[FW_V_BLOCK], c, like)
        m = _planes(s[FW_M], s[FW_M_BLOCK], f, like)
        if a[FW_VECTORS] != 0:
            conv_other(x, u, y, v, m, a[FW_TILES_H], a[FW_TILES_W], a[FW_PT], a[FW_PL], bias, has_bias, r, has_res,
                       relu)
        else:
            conv_loops(x, u, y, v, m, a[FW_TILES_H], a[FW_TILES_W], a[FW_PT], a[FW_PL], bias, has_bias, r, has_res,
                       relu)


def _forward_loops_job(like, arguments, me):
    """Forward chunks by `winograd.conv_chunk` or `conv_chunk_v` (no residual)."""
    _forward_chunks(like, arguments, me, _wino.conv_chunk, _wino.conv_chunk_v)


def _forward_loops_only_job(like, arguments, me):
    """Forward chunks by `winograd.conv_chunk` alone: no explicit vectors' code to compile."""
    _forward_chunks(like, arguments, me, _wino.conv_chunk, _wino.conv_chunk)


def _forward_residual_job(like, arguments, me):
    """Forward chunks by `winograd.conv_chunk_res` or `conv_chunk_v_res`."""
    _forward_chunks(like, arguments, me, _wino.conv_chunk_res, _wino.conv_chunk_v_res)


def _forward_residual_only_job(like, arguments, me):
    """Forward chunks by `winograd.conv_chunk_res` alone."""
    _forward_chunks(like, arguments, me, _wino.conv_chunk_res, _wino.conv_chunk_res)


def _forward_fused_job(like, arguments, me):
    """Forward chunks by `winograd.conv_chunk_fused` (with or without a residual)."""
    _forward_chunks(like, arguments, me, _wino.conv_chunk_fused, _wino.conv_chunk_fused)


winograd_forward_loops_job = CFunction(_forward_loops_only_job, _job_signature)
winograd_forward_vectors_job = CFunction(_forward_loops_job, _job_signature)
winograd_forward_residual_job = CFunction(_forward_residual_only_job, _job_signature)
winograd_forward_residual_vectors_job = CFunction(_forward_residual_job, _job_signature)
winograd_forward_fused_job = CFunction(_forward_fused_job, _job_signature)


def _forward_run(slots, spins, job, cells, x, y, u, b, residual, vs, ms, standins):
    """The forward chunks of ``x`` into ``y`` run by this thread and the pool's workers spinning
    in ``slots`` (``job``: a ``winograd_forward_*_job``'s address for the dtype); ``cells``: the
    settings (`FW_TILES_H` to `FW_VECTORS`); the tuples: each chunk's scratch."""
    parts = len(vs)
    arguments = np.empty(FW_ARGUMENTS, np.int64)
    for cell in range(FW_SETTINGS):
        arguments[cell] = cells[cell]
    arguments[FW_N], arguments[FW_H], arguments[FW_W], arguments[FW_C] = x.shape
    arguments[FW_OH], arguments[FW_OW], arguments[FW_F] = y.shape[1], y.shape[2], y.shape[3]
    arguments[FW_ITEMSIZE], arguments[FW_PARTS] = x.itemsize, parts
    arguments[FW_X], arguments[FW_Y], arguments[FW_U] = address_of(x), address_of(y), address_of(u)
    arguments[FW_B], arguments[FW_RES] = address_of(b), address_of(residual)
    claims = np.zeros(parts, np.int64)
    table = np.empty(parts * FW_SCRATCH, np.int64)
    for part in range(parts):
        row = part * FW_SCRATCH
        table[row + FW_V], table[row + FW_V_BLOCK] = address_of(vs[part]), vs[part].shape[1]
        table[row + FW_M], table[row + FW_M_BLOCK] = address_of(ms[part]), ms[part].shape[1]
        table[row + FW_STANDIN] = address_of(standins[part])
    arguments[FW_CLAIMS], arguments[FW_TABLE] = address_of(claims), address_of(table)
    run_job(slots, spins, job, address_of(x), address_of(arguments))
    keep(arguments)
    keep(claims)
    keep(table)
    keep(x)
    keep(y)
    keep(u)
    keep(b)
    keep(residual)


winograd_forward_run = kernel(_forward_run)
