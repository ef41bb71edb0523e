"""Winograd convolution F(4x4, 3x3) for 3x3 stride-1 convolutions (forward and both gradients).

Lavin and Gray's minimal filtering: a 4 x 4 output tile is ``A^T [U (.) V] A`` with
``U = G g G^T`` (the kernel) and ``V = B^T d B`` (the 6 x 6 input tile). Over channels the
element-wise product becomes 36 matrix products, ``M[e] = V[e] @ U[e]`` with ``V[e]`` (tiles, C)
and ``U[e]`` (C, F), which numpy's BLAS does: 36 multiplications per 16 outputs instead of 144,
4 times fewer. A chunk of images is one kernel call (`kerasette.backend.kernels.winograd`),
which calls BLAS itself, so the threads of the pool never wait for each other's GIL.

* forward: ``V = B^T d B``, ``M = V @ U`` (BLAS), ``y = act(A^T M A + b)``.
* input gradient: the forward pass on ``dy`` with the flipped, transposed kernel ('full' padding);
  or, where that has more tiles ('valid' padding), the adjoint of the forward pass on its tiles:
  ``dV = (A dY A^T) @ U^T``, each tile's ``B dV B^T`` added into ``dx``.
* kernel gradient: ``dU[e] = V[e]^T @ (A dY A^T)[e]`` summed over tiles, then ``dg = G^T dU G``.

Tiles are processed a block at a time so that ``V`` and ``M`` stay in cache; scratch arrays come
from the caller's ``scratch(role, shape, dtype)`` (per-thread, reused).

The transforms multiply by up to 8 and 1/24, so float32 results differ from the direct
convolution by about 1e-5 of the output's scale (the tests bound it); float64 is exact to rounding.
"""

from __future__ import annotations

import functools
import threading
import weakref

import numpy as np

from kerasette.backend import memory
from kerasette.backend.kernels import simd
from kerasette.backend.kernels import winograd as _wino
from kerasette.backend.kernels import winograd_weights as _weights
from kerasette.backend.parallel import in_turn

#: G of F(4x4, 3x3) (interpolation points 0, 1, -1, 2, -2, inf); ``U = G g G^T``.
G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])

#: Convolutions with fewer channels than this on the reduced axis of the products (input
#: channels forward, output channels for the input gradient) keep the GEMM path. Measured with
#: tests/benchmarks/conv_layers.py since a chunk became one kernel call: at 3 input channels
#: (RGB images) Winograd is 1.2-1.6 times faster than im2col GEMM in the forward pass and the
#: kernel gradient, at 8 channels 1.75 times; at 2 they tie and at 1 the GEMM path wins.
MIN_CHANNELS = 3

#: Outputs smaller than this (height or width) keep the GEMM path: most of a 4 x 4 tile would
#: be wasted.
MIN_OUTPUT = 4


#: The transformed kernel (36 x C x F values) is read once per block of tiles; past this size it
#: no longer stays in cache and Winograd loses to the GEMM path. Measured on VGG16's layers (batch
#: 8): 512 -> 512 channels (37.7 MB in float32) is 1.4-1.8 times slower than GEMM at 28x28 and
#: 14x14, while 256 -> 512 (18.9 MB) is 1.7-1.9 times faster forward at 28x28 and 56x56.
MAX_KERNEL_BYTES = 20 * 2**20
#: The kernel gradient accumulates a transformed kernel per thread, so it stops paying earlier:
#: 256 -> 512 channels (18.9 MB) is 1.8 times slower than GEMM, 256 -> 256 (9.4 MB) 1.7 times faster.
MAX_KERNEL_GRAD_BYTES = 12 * 2**20


def usable(kernel: tuple[int, int], strides: tuple[int, int], channels: int,
           out_shape: tuple[int, int], other_channels: int = 0, itemsize: int = 4,
           max_kernel_bytes: int = MAX_KERNEL_BYTES) -> bool:
    """Whether Winograd applies: a 3x3 kernel, stride 1, enough channels, a large enough output,
    and a transformed kernel (36 x ``channels`` x ``other_channels``) small enough to stay in cache."""
    return (tuple(kernel) == (3, 3) and tuple(strides) == (1, 1) and channels >= MIN_CHANNELS
            and min(out_shape) >= MIN_OUTPUT and 36 * channels * other_channels * itemsize <= max_kernel_bytes)


#: The transforms of the kernels declared unchanging (:func:`keep_transform`): ``id(w)`` ->
#: (a weak reference to ``w``, its transform or None before the first use).
_KEPT: dict[int, tuple] = {}


def keep_transform(w: np.ndarray) -> None:
    """Declares that kernel ``w`` keeps its values as long as it exists (a prediction's folded
    kernel, made anew when the weights change, never written in place): :func:`kernel_transform`
    of it is then computed once, at its first use, and kept until ``w`` is garbage. ResNet-20's
    16 kernel transforms took 0.21 ms of a prediction (29 us for a 64 -> 64 kernel: writing its
    590 KB)."""
    key = id(w)
    entry = _KEPT.get(key)
    if entry is None or entry[0]() is not w:
        _KEPT[key] = (weakref.ref(w, lambda _, key=key: _KEPT.pop(key, None)), None)


def kernel_transform(w: np.ndarray) -> np.ndarray:
    """``U = G g G^T`` of a (3, 3, C, F) kernel, as (36, C, F) in ``w``'s dtype; the kept one for
    a kernel declared unchanging (:func:`keep_transform`; do not write into it)."""
    entry = _KEPT.get(id(w))
    if entry is None or entry[0]() is not w:
        return _transform(w)
    if entry[1] is None:
        entry = _KEPT[id(w)] = (entry[0], _transform(w))
    return entry[1]


def _transform(w: np.ndarray, buffer=None) -> np.ndarray:
    # one kernel call (`winograd_weights.kernel_transform`), into an array aligned for its vector
    # stores: a 64 -> 64 kernel's transform took numpy's two products 25 us in cache and 62 us
    # out of it, the kernel 22 and 38 us
    w = np.ascontiguousarray(w)
    shape = (36, *w.shape[2:])
    u = memory.empty_aligned(shape, w.dtype) if buffer is None else buffer(shape, w.dtype)
    if u.size:
        _weights.kernel_transform(w.reshape(9, -1), u.reshape(36, -1))
    return u


#: Each calling thread's aligned buffers of :func:`transient_transform`, by dtype.
_TRANSIENT = threading.local()


def transient_transform(w: np.ndarray) -> np.ndarray:
    """:func:`kernel_transform` for a pass that reads it only until it returns (a forward pass in
    training): written into the calling thread's own aligned buffer, which its next call
    overwrites (a kernel declared unchanging still gets its kept transform). The same memory at
    every layer stays in the core's cache: ResNet-20's 64 -> 64 forward transforms (590 KB), in
    a training step, took 85-91 us into a new array and 49-62 us into the buffer (medians of
    200, alternating runs)."""
    entry = _KEPT.get(id(w))
    if entry is not None and entry[0]() is w:
        return kernel_transform(w)
    return _transform(w, _transient_buffer)


def _transient_buffer(shape: tuple, dtype) -> np.ndarray:
    """A view of ``shape`` at the start of the calling thread's aligned buffer for ``dtype``
    (replaced by a larger one when too small)."""
    buffers = getattr(_TRANSIENT, "buffers", None)
    if buffers is None:
        buffers = _TRANSIENT.buffers = {}
    size = shape[0] * shape[1] * shape[2]
    buffer = buffers.get(dtype)
    if buffer is None or buffer.size < size:
        buffer = buffers[dtype] = memory.empty_aligned((size,), dtype)
    return buffer[:size].reshape(shape)


def kernel_grad(du: np.ndarray) -> np.ndarray:
    """The kernel gradient ``G^T dU G`` from ``dU`` (36, C, F), as (3, 3, C, F) in ``du``'s dtype."""
    dw = np.empty((3, 3, *du.shape[1:]), du.dtype)
    if dw.size:
        _weights.kernel_grad(np.ascontiguousarray(du).reshape(36, -1), dw.reshape(9, -1))
    return dw


#: Tiles per group of the fused kernels (`kerasette.backend.kernels.winograd_fused`, 16 channels a
#: side; a multiple of its ``TILES``): the group's transformed tiles and products stay in L1. The
#: scratch holds one tile more, so that a tile's 36 points, a plane apart, do not share a few L1
#: sets (see `_blocks`). ResNet-20's 16 -> 16 layer, one thread, the parts of the forward pass
#: (input transform, products, output transform, ms; noisy machine): 8 tiles 0.20, 0.31, 0.17;
#: 16 tiles 0.36, 0.29, 0.18 (17 planes: 0.31); 32 tiles 0.41, 0.30, 0.20 (33 planes: 0.31).
FUSED_GROUP = 8

#: Tiles per group of the fused kernel gradient, whose ``dU`` accumulators are loaded and stored
#: once a group: longer groups pay there (the forward pass's products are not reloaded). ResNet-20's
#: 16 -> 16 layer, one thread, ms (loaded machine): 8 tiles 1.02-1.03, 32 tiles 0.91-0.93, 48 tiles
#: 0.91, 64 tiles 0.94; the forward pass at 32 tiles 0.79-0.81 against 0.77-0.83 at 8.
FUSED_GRAD_GROUP = 32


def _fused(chans: int, cout: int, dtype) -> bool:
    """Whether a layer takes the fused kernels (`winograd_fused.fused_side`: both sides' channels
    whole vectors of at most 64 bytes, the input's a multiple of 8)."""
    return _wino.fused_side(chans, cout, np.dtype(dtype).itemsize)


def _group(chans, cout, dtype, scratch, tiles, shared=False):
    """V and M scratch of the fused kernels: ``tiles`` tiles, planes one tile longer. ``shared``:
    M in V's memory, where that is safe (:func:`_shares_group`)."""
    v = scratch("wino_fused_v", (36, tiles + 1, chans), dtype)
    return v, (v if shared else scratch("wino_fused_m", (36, tiles + 1, cout), dtype))


def _shares_group(chans: int, cout: int, dtype) -> bool:
    """Whether the fused forward pass may write its products M over the transformed tiles V:
    equal planes (``chans == cout``) and a single vector of output channels, so that a point's
    products, held in registers for the group's tiles, are stored after the last read of that
    point's V (`winograd_fused._products_v`). Half the scratch, which with the 36 KB transformed
    kernel of a 16 -> 16 layer keeps more of the group in the 48 KB L1 cache: ResNet-20's
    16 -> 16 layer, one thread, 0.89 -> 0.77 ms (AVX-512, loaded machine)."""
    itemsize = np.dtype(dtype).itemsize
    return chans == cout and cout * itemsize == simd.VECTOR_BYTES


def _vector_side(chans: int, cout: int, dtype) -> bool:
    """Whether either side's channels take the explicit vector transforms
    (`kerasette.backend.kernels.winograd.vector_side`: whole vectors of at most 64 bytes; 16
    float32 channels with AVX-512, 8 or 16 with AVX2), which run in kernels of their own."""
    itemsize = np.dtype(dtype).itemsize
    return _wino.vector_side(chans, itemsize) or _wino.vector_side(cout, itemsize)


def _blocks(out_hw, n_img, chans, cout, dtype, scratch, block_bytes):
    """The tiling of a chunk: (tiles_h, tiles_w, V and M scratch of exactly one block of tiles
    each; the kernels read the block size from their shape).

    A block holds about ``block_bytes`` of transformed tiles, so that it stays in cache, and an
    odd number of them: a tile's 36 points lie a plane (``block`` tiles) apart, and with 64
    channels (4 cache lines a tile) an even block such as 56 put all 36 in two of the L1
    cache's 64 sets, which evicted each other (input transform 0.100 -> 0.068 ms, output-gradient
    transform 0.087 -> 0.052 ms for ResNet-20's 64 -> 64 layer at 55 tiles; at 32 channels
    blocks of 112 or 128 doubled them). The last block may be shorter, a single one longer than
    the tiles; the kernels read the block size from the scratch's shape.
    """
    tiles_h, tiles_w = -(-out_hw[0] // 4), -(-out_hw[1] // 4)
    total = n_img * tiles_h * tiles_w
    block = max(1, min(total, block_bytes // (36 * max(chans, cout) * np.dtype(dtype).itemsize)))
    block |= 1  # odd: see the docstring
    v = scratch("wino_v", (36, block, chans), dtype)
    m = scratch("wino_m", (36, block, cout), dtype)
    return tiles_h, tiles_w, v, m


def conv(x, u, pads, y, scratch, block_bytes, b=None, relu=False, residual=None) -> None:
    """``y = act(conv3x3(x, g) + b + residual)`` for stride 1, with ``u`` = :func:`kernel_transform`
    of ``g``: the bias, the residual and the ReLU are the output transform's epilogue, so a
    residual block's ``relu(conv(x) + b + shortcut)`` is one pass over ``y``.

    Args:
        x: input images, (N, H, W, C), C-contiguous.
        u: transformed kernel, (36, C, F).
        pads: (top, bottom, left, right) padding.
        y: output, (N, OH, OW, F), C-contiguous; overwritten.
        scratch: ``scratch(role, shape, dtype)`` returning a reusable array.
        block_bytes: target size of one block of transformed tiles.
        b: optional bias, (F,).
        relu: apply a ReLU after the bias and the residual.
        residual: optional array added before the ReLU, the shape and dtype of ``y``,
            C-contiguous; only read. If it shares memory with ``y`` it is copied first.
    """
    conv_call(x, u, pads, y, scratch, block_bytes, b, relu, residual)()


def conv_call(x, u, pads, y, scratch, block_bytes, b=None, relu=False, residual=None):
    """:func:`conv`'s kernel call, its arguments made (scratch arrays included), to be made
    later (`kerasette.backend.parallel.map_prepared`): a ``functools.partial``."""
    chunk, tiles_h, tiles_w, v, mm = conv_layout(x, u, y, scratch, block_bytes, residual)
    bias = u[0, 0] if b is None else b
    if residual is None:
        res = no_residual(y, scratch)
    else:
        res = residual.copy() if np.may_share_memory(residual, y) else residual
    return functools.partial(chunk, x, u, y, v, mm, tiles_h, tiles_w, pads[0], pads[2], bias, b is not None, res,
                             residual is not None, relu)


def conv_layout(x, u, y, scratch, block_bytes, residual=None) -> tuple:
    """:func:`conv_call`'s (chunk kernel, tiles_h, tiles_w, V, M), kept per shapes and scratch."""
    return _layout(("conv", x.shape, u.shape, y.shape, x.dtype, y.dtype, block_bytes, residual is None), scratch,
                   lambda: _conv_layout(x, u, y, scratch, block_bytes, residual))


def no_residual(y, scratch) -> np.ndarray:
    """The stand-in residual of a pass without one: a scratch array of ``y``'s shape. Never read,
    but the vectorised loops check at run time that the arrays they read and write do not
    overlap, and fall back to scalar code when they do: ``y`` itself there made the loops'
    output transform twice as slow. An untouched scratch array costs no memory. Not kept in a
    layout: a kept one would outlive the scratch's replacement by a larger one."""
    return scratch("wino_no_residual", y.shape, y.dtype)


#: Layouts kept by :func:`_layout` (at most `MAX_LAYOUTS`; cleared when full).
_LAYOUTS: dict[tuple, tuple] = {}
MAX_LAYOUTS = 1024


def _layout(key: tuple, scratch, make) -> tuple:
    """``make()``: a call maker's kernel choice, tiling and scratch views, which depend on the
    shapes, dtypes and settings in ``key`` and on whose scratch it is, never on the arrays'
    values; kept per ``key`` and ``scratch.key`` (`algorithms._chunk_scratch`: the calling
    thread and chunk) and made anew for a scratch without a key. Making one took a Winograd
    chunk 4-5 us of the calling thread's Python (five scratch look-ups), every dispatch."""
    owner = getattr(scratch, "key", None)
    if owner is None:
        return make()
    key = (owner, *key)
    found = _LAYOUTS.get(key)
    if found is None:
        if len(_LAYOUTS) >= MAX_LAYOUTS:
            _LAYOUTS.clear()
        found = _LAYOUTS[key] = make()
    return found


def _conv_layout(x, u, y, scratch, block_bytes, residual) -> tuple:
    """:func:`conv_call`'s (chunk kernel, tiles_h, tiles_w, V, M)."""
    if _fused(u.shape[1], u.shape[2], x.dtype):
        tiles_h, tiles_w = -(-y.shape[1] // 4), -(-y.shape[2] // 4)
        v, mm = _group(u.shape[1], u.shape[2], x.dtype, scratch, FUSED_GROUP,
                       _shares_group(u.shape[1], u.shape[2], x.dtype))
        chunk = _wino.conv_chunk_fused
    else:
        tiles_h, tiles_w, v, mm = _blocks(y.shape[1:3], x.shape[0], u.shape[1], u.shape[2], x.dtype,
                                          scratch, block_bytes)
        vectors = _vector_side(u.shape[1], u.shape[2], x.dtype)
        if residual is None:
            chunk = _wino.conv_chunk_v if vectors else _wino.conv_chunk
        else:
            chunk = _wino.conv_chunk_v_res if vectors else _wino.conv_chunk_res
    return chunk, tiles_h, tiles_w, v, mm


def fewer_tiles_adjoint(in_hw, out_hw) -> bool:
    """Whether the input gradient has fewer tiles as the adjoint of the forward pass
    (:func:`input_grad`: ``out_hw``'s tiles) than as a 'full' convolution (``in_hw``'s): 'valid'
    padding, where the input is two pixels larger than the output along each axis."""
    def tiles(hw):
        return -(-hw[0] // 4) * -(-hw[1] // 4)

    return tiles(out_hw) < tiles(in_hw)


def input_grad(dy, ut, pads, dx, scratch, block_bytes) -> None:
    """``dx`` = the input gradient of :func:`conv` (without its bias and ReLU), as its adjoint:
    ``dV = (A dY A^T) @ U^T`` on the forward pass's tiles, each added into ``dx`` as
    ``B dV B^T``. The 'full' convolution (:func:`conv` on ``dy`` with the flipped kernel) has
    the input's tiles instead: more where the input is larger (see :func:`fewer_tiles_adjoint`).

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        ut: :func:`kernel_transform` of the forward kernel with its channel axes swapped
            (``w.transpose(0, 1, 3, 2)``), (36, F, C): ``U^T`` of each point.
        pads: the forward pass's (top, bottom, left, right) padding.
        dx: input gradient, (N, H, W, C), C-contiguous; overwritten.
        scratch, block_bytes: as for :func:`conv`.
    """
    in_turn(input_grad_calls(dy, ut, pads, dx, scratch, block_bytes))


def input_grad_calls(dy, ut, pads, dx, scratch, block_bytes) -> tuple:
    """:func:`input_grad`'s calls, their arguments made (`kerasette.backend.parallel.map_prepared`):
    zeroing ``dx``, then the kernel's."""
    chans, cout = ut.shape[2], ut.shape[1]
    tiles_h, tiles_w, v, dm = _layout(("input_grad", dy.shape, ut.shape, dy.dtype, block_bytes), scratch,
                                      lambda: _blocks(dy.shape[1:3], dy.shape[0], chans, cout, dy.dtype, scratch,
                                                      block_bytes))
    return (functools.partial(dx.fill, 0),
            functools.partial(_wino.input_grad_chunk, dy, ut, dx, dm, v, tiles_h, tiles_w, pads[0], pads[2]))


def weight_grad(dy, x, pads, scratch, block_bytes) -> np.ndarray:
    """``dU`` of one chunk of images, (36, C, F), a new array of ``x``'s dtype.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        x: forward input, (N, H, W, C), C-contiguous.
        pads, scratch, block_bytes: as for :func:`conv`.
    """
    du = np.empty((36, x.shape[3], dy.shape[3]), x.dtype)
    _weight_grad_call(dy, x, du, pads, scratch, block_bytes)()
    return du


def _weight_grad_call(dy, x, du, pads, scratch, block_bytes):
    """:func:`weight_grad`'s kernel call into ``du``, its arguments made."""
    chunk, tiles_h, tiles_w, v, dm = weight_grad_layout(dy, x, scratch, block_bytes)
    return functools.partial(chunk, dy, x, du, v, dm, tiles_h, tiles_w, pads[0], pads[2])


def weight_grad_layout(dy, x, scratch, block_bytes) -> tuple:
    """:func:`_weight_grad_call`'s (chunk kernel, tiles_h, tiles_w, V, dM), kept per shapes and scratch."""
    return _layout(("weight_grad", dy.shape, x.shape, x.dtype, block_bytes), scratch,
                   lambda: _weight_grad_layout(dy, x, scratch, block_bytes))


def _weight_grad_layout(dy, x, scratch, block_bytes) -> tuple:
    """:func:`_weight_grad_call`'s (chunk kernel, tiles_h, tiles_w, V, dM)."""
    chans, cout = x.shape[3], dy.shape[3]
    if _fused(chans, cout, x.dtype):
        tiles_h, tiles_w = -(-dy.shape[1] // 4), -(-dy.shape[2] // 4)
        v, dm = _group(chans, cout, x.dtype, scratch, FUSED_GRAD_GROUP)
        return _wino.weight_grad_chunk_fused, tiles_h, tiles_w, v, dm
    tiles_h, tiles_w, v, dm = _blocks(dy.shape[1:3], x.shape[0], chans, cout, x.dtype, scratch,
                                      block_bytes)
    chunk = _wino.weight_grad_chunk_v if _vector_side(chans, cout, x.dtype) else _wino.weight_grad_chunk
    return chunk, tiles_h, tiles_w, v, dm


def kernel_grad_calls(dy, x, pads, scratch, block_bytes) -> tuple[tuple, np.ndarray]:
    """``(calls, dw)``: the calls that fill ``dw``, a new (3, 3, C, F) array, with
    :func:`kernel_grad` of :func:`weight_grad` (the same kernels, into arrays made here), to be
    made later (`kerasette.backend.parallel.map_prepared`)."""
    chans, cout = x.shape[3], dy.shape[3]
    du = np.empty((36, chans, cout), x.dtype)
    dw = np.empty((3, 3, chans, cout), x.dtype)
    return ((_weight_grad_call(dy, x, du, pads, scratch, block_bytes),
             functools.partial(_weights.kernel_grad, du.reshape(36, -1), dw.reshape(9, -1))), dw)
