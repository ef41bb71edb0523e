"""Direct convolution (`kerasette.backend.kernels.direct`) for layers with few input values per output.

Used where a convolution's output channels fill whole vectors and each output value reads few
input values: at most :data:`MAX_CHANNELS` input channels (the forward pass and the kernel
gradient at any stride, the input gradient at stride 1), or at most :data:`MAX_TAPS` kernel
taps (``kh * kw * C``; :data:`MAX_WINDOW_TAPS` for kernels larger than 1x1, the kernel
gradient's limit in :func:`few_taps`) where Winograd does not apply (`kerasette.backend.engine.algorithms` holds that rule); the stride-1 input gradient
of such a layer is then the forward kernel on the output gradient ('full' padding, flipped and
transposed kernel). The input gradient of a strided
convolution whose input channels fill whole vectors goes phase by phase
(`kerasette.backend.kernels.direct_strided`, :func:`strided_input_grad`).
"""

from __future__ import annotations

import functools

import numpy as np

from kerasette.backend import memory
from kerasette.backend.kernels import conv as _conv
from kerasette.backend.kernels import direct as _direct
from kerasette.backend.kernels import direct_input as _input
from kerasette.backend.kernels import direct_masked as _masked
from kerasette.backend.kernels import direct_strided as _strided
from kerasette.backend.kernels import phases as _phases
from kerasette.backend.kernels import simd
from kerasette.backend.parallel import in_turn

#: Convolutions with more input channels than this use Winograd or GEMM. Measured with a batch
#: of 32 3x3 convolutions to 32 channels at 100x100 (AVX-512, 2 threads), direct vs the previous
#: path, forward and kernel gradient, in ms: 1 channel 1.07/1.17 vs 5.60/5.69; 3 channels
#: 2.14/2.18 vs 6.93/5.84; 8 channels 5.10/5.83 vs 8.45/7.50; 16 channels 9.11/10.50 vs
#: 11.73/10.44 (a tie for the kernel gradient, so 16 keeps Winograd).
MAX_CHANNELS = 8

#: 1x1 convolutions with more input channels than this (``kh * kw * C`` input values per
#: output value, the kernel's taps) keep the GEMM path even when the direct kernels apply.
#: Measured at 1 thread, AVX-512, float32, direct vs the other path, forward and kernel
#: gradient: 1x1 convolutions of 16 and 32 channels 1.5 and 2.5-2.9 times faster; 128 -> 256
#: 1x1 stride 2 (128 taps) 0.96 and 1.17 times; 256 -> 512 1x1 stride 2 (256 taps) 0.66 and
#: 0.70 (batch 8).
MAX_TAPS = 144

#: Whether the forward kernel takes 1x1 stride-1 convolutions beyond :data:`MAX_CHANNELS` input
#: channels (GEMM's is then one matrix product, nothing packed; the stride-1 input gradient, the
#: forward kernel on the output gradient, follows): with 64-byte vectors only. 2 threads, float32,
#: batch 32, direct vs GEMM, ms, forward / input gradient, AVX-512: 64 -> 64 at 32x32 1.10 / 1.14
#: vs 1.26 / 1.30, 32 -> 64 0.57 / 0.57 vs 0.76 / 0.76; AVX2: 64 -> 64 1.44-1.53 / 1.50-1.53 vs
#: 1.22-1.38 / 1.22-1.26, 32 -> 64 0.86-0.97 / 0.78-0.82 vs 0.78-0.81 / 0.71-0.77, 16 -> 64
#: 0.55 / 0.47 vs 0.51-0.54 / 0.45, 128 -> 128 at 8x8 0.38 / 0.39-0.41 vs 0.27 / 0.29. (Strided,
#: GEMM packs the pixels: direct on both, AVX2 16 -> 32 1x1 stride 2 at 32x32 0.10-0.12 vs
#: 0.16-0.17. The kernel gradient stays direct: AVX2 64 -> 64 2.25 vs 2.39.)
POINTWISE_FORWARD = simd.VECTOR_BYTES == 64

#: :data:`MAX_TAPS` for kernels of more than one tap, whose GEMM packs patches (Winograd's 3x3
#: stride-1 kernels excepted, `kerasette.backend.engine.algorithms` holds that rule): the forward
#: pass, and the stride-1 input gradient that is the forward kernel on the output gradient.
#: Measured at 2 threads, AVX-512, float32, batch 32, direct vs GEMM (row GEMM for 2x2), ms,
#: forward / kernel gradient: 32 -> 64 3x3 stride 2 at 16x16 (288 taps) 0.35-0.39 / 0.48-0.55 vs
#: 0.55-0.58 / 0.58-0.61; at 8x8 0.13 / 0.22 vs 0.15 / 0.16 (the whole backward a tie, 0.43 vs
#: 0.42); 24 -> 32 3x3 stride 2 at 16x16 0.14 / 0.26 vs 0.29 / 0.30; 64 -> 64 2x2 stride 1 at
#: 16x16 (256) 1.07 / 1.26 vs 1.58 / 1.79; 10 -> 32 5x5 at 32x32 (250) 1.62 / 1.95 vs
#: 4.76 / 5.21. With AVX2 the forward pass too: 32 -> 64 3x3 stride 2 at 16x16 0.47-0.53 vs
#: 0.53-0.54, at 8x8 0.15-0.16 vs 0.18 (64 -> 64 at 8x8, 576 taps: 0.27-0.29 vs 0.27-0.30, a tie:
#: 288 stays the limit).
MAX_WINDOW_TAPS = 288

#: The kernel gradient's :data:`MAX_WINDOW_TAPS` beyond :data:`MAX_WINDOW_GRAD_TAPS_ALWAYS` taps:
#: 288 with AVX-512 or AVX2 vectors where the output rows hold at least
#: :data:`MIN_WINDOW_GRAD_WIDTH` pixels, else no further. 2 threads, float32, batch 32, ms, kernel
#: gradient alone / the layer's whole backward pass (bias gradient, phases' input gradient), direct
#: vs GEMM: 32 -> 64 3x3 stride 2 at 16x16 (8-pixel rows), AVX-512 0.46-0.47 / 0.88-0.95 vs
#: 0.47-0.48 / 0.97-1.01 (the direct kernel gradient takes the bias gradient in its pass), AVX2
#: 0.67-0.73 / 1.30-1.38 vs 0.56-0.57 / 1.24-1.30 before the AVX2 kernel gradient stored once per
#: band of rows (bf22d74); since, 0.54-0.58 / 0.92-0.97 vs 0.61-0.63 / 1.11-1.12
#: (strided_convs.py --avx2), a ResNet-20 training step 51.0 -> 49.9 and 51.6 -> 50.8 ms; at 8x8
#: (4-pixel rows) AVX-512 0.16-0.18 / 0.36-0.39 vs 0.14-0.16 / 0.29-0.33.
MAX_WINDOW_GRAD_TAPS = 288 if simd.VECTOR_BYTES >= 32 else 144

#: Taps up to which the kernel gradient of a window kernel is direct on every machine and width.
MAX_WINDOW_GRAD_TAPS_ALWAYS = 144

#: See :data:`MAX_WINDOW_GRAD_TAPS`.
MIN_WINDOW_GRAD_WIDTH = 8

#: Whether the kernel gradient's pairs of vectors take each group of 9 taps in two passes
#: (`kerasette.backend.kernels.direct_masked.weight_grad_chunk_split`, the same bits): with 16
#: vector registers (AVX2, SSE) the one-pass kernels' 18 accumulators spill. AVX2, 2 threads,
#: batch 32, ms, one pass / two: the kernel gradient of 1x1 64 -> 64 at 32x32 with the bias
#: gradient (SeparableConv2D's pointwise layer) 7.05 / 2.09, without 2.62 / 2.25; whole backward
#: passes (`tests/benchmarks/strided_convs.py`): ResNet-20's 16 -> 32 3x3 stride 2 2.45 / 1.17-1.32,
#: 3 -> 16 0.79-0.86 / 0.31-0.37, cifar32's 3 -> 32 1.33 / 0.59-0.63, MNIST's 1 -> 32 1.39 / 0.90.
SPLIT_TAP_GROUPS = simd.VECTOR_BYTES < 64

#: Strided convolutions whose input-gradient values read more output-gradient values than this
#: keep col2im (see :func:`phases_apply`). Measured at 2 threads, float32, batch 32, phases vs
#: col2im, ms, AVX-512 (AVX2): 32 -> 64 3x3 stride 2 at 16x16 (256 values) 0.40 vs 0.52 (0.52
#: vs 0.63); 1x1 stride 2 at 16x16, 64 -> 128 (128) 0.17 vs 0.34 (0.23 vs 0.35), 128 -> 256
#: (256) 0.63 vs 0.77 (0.92 vs 0.87); 256 -> 512 at 8x8, batch 8 (512) 0.78 vs 0.27.
MAX_PHASE_TAPS = 256

#: Strided convolutions with narrower outputs keep col2im: their phases' rows are shorter than
#: a block of pixels and go one pixel at a time (64 -> 128 3x3 stride 2 at 8x8: 1.28 vs 0.41 ms).
MIN_PHASE_WIDTH = 8


def whole_vectors(cout: int, dtype) -> bool:
    """Whether the direct kernels can compute ``cout`` output channels of ``dtype``: float32 or
    float64, in whole vectors."""
    dtype = np.dtype(dtype)
    return dtype in (np.float32, np.float64) and cout % simd.lanes(dtype.itemsize) == 0


def usable(cin: int, cout: int, dtype) -> bool:
    """Whether the direct kernels apply to every pass: few input channels, output channels in
    whole vectors."""
    return cin <= MAX_CHANNELS and whole_vectors(cout, dtype)


def few_taps(kernel: tuple[int, int], cin: int, cout: int, dtype, out_width: int | None = None,
             strides=(1, 1)) -> bool:
    """Whether the forward kernel (``out_width`` None) or the kernel-gradient kernel (the
    output's width given) applies by the tap count: at most :data:`MAX_TAPS` input values per
    output value for a 1x1 kernel (the forward kernel at stride 1: only where
    :data:`POINTWISE_FORWARD`), :data:`MAX_WINDOW_TAPS` for a larger one (the kernel gradient:
    :data:`MAX_WINDOW_GRAD_TAPS`, beyond :data:`MAX_WINDOW_GRAD_TAPS_ALWAYS` only for output rows
    of at least :data:`MIN_WINDOW_GRAD_WIDTH` pixels); output channels in whole vectors."""
    taps = kernel[0] * kernel[1] * cin
    if tuple(kernel) == (1, 1):
        pointwise = out_width is None and tuple(strides) == (1, 1) and not POINTWISE_FORWARD
        limit = MAX_CHANNELS if pointwise else MAX_TAPS
    elif out_width is None:
        limit = MAX_WINDOW_TAPS
    else:
        limit = MAX_WINDOW_GRAD_TAPS if out_width >= MIN_WINDOW_GRAD_WIDTH else MAX_WINDOW_GRAD_TAPS_ALWAYS
    return taps <= limit and whole_vectors(cout, dtype)


def conv(x, w, strides, pads, y, scratch, b=None, relu=False) -> None:
    """``y = act(conv(x, w) + b)`` for one chunk of images.

    Args:
        x: input, (N, H, W, C), C-contiguous.
        w: kernel, (kh, kw, C, F), C-contiguous, of ``x``'s dtype.
        strides: (sh, sw).
        pads: (top, bottom, left, right) zero padding.
        y: output, (N, OH, OW, F), C-contiguous; overwritten.
        scratch: ``scratch(role, shape, dtype)`` returning a reusable array (for the padding).
        b: optional bias, (F,).
        relu: apply a ReLU after the bias.
    """
    in_turn(conv_calls(x, w, strides, pads, y, scratch, b, relu))


def conv_calls(x, w, strides, pads, y, scratch, b=None, relu=False) -> tuple:
    """:func:`conv`'s calls (padding, the kernels), their arguments made, to be made later in
    turn (`kerasette.backend.parallel.map_prepared`: a worker reaches its kernels without
    running this Python)."""
    bias, nl = w.reshape(-1) if b is None else b, simd.lanes(x.itemsize)
    calls, xp = _padded_calls(x, pads, scratch)
    calls.extend(_vector_calls(_direct.conv_chunk, _direct.conv_chunk_last, y.shape[3], nl, xp, w, y, bias,
                               b is not None, relu, *strides))
    return tuple(calls)


def weight_grad(dy, x, kernel, strides, pads, scratch) -> np.ndarray:
    """The kernel gradient of one chunk of images, a new (kh * kw * C, F) array.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        x: forward input, (N, H, W, C), C-contiguous, of ``dy``'s dtype.
        kernel: (kh, kw); strides, pads, scratch: as for :func:`conv`.
    """
    calls, dw = weight_grad_calls(dy, x, kernel, strides, pads, scratch)
    in_turn(calls)
    return dw


def weight_grad_calls(dy, x, kernel, strides, pads, scratch) -> tuple[tuple, np.ndarray]:
    """``(calls, dw)``: :func:`weight_grad`'s calls (zeroing, padding, the kernels), their
    arguments made, to be made later in turn (`kerasette.backend.parallel.map_prepared`), and the
    array they fill."""
    taps = kernel[0] * kernel[1] * x.shape[3]
    dw = _kernel_grad_array(taps, dy)
    nl = simd.lanes(dy.itemsize)
    calls, xp = _padded_calls(x, pads, scratch)
    calls.insert(0, functools.partial(dw.fill, 0))
    if SPLIT_TAP_GROUPS:
        calls += _vector_calls(_masked.weight_grad_chunk_split, None, dy.shape[3], nl, dy, dy, xp, dw, dw[0], False,
                               False, *strides, *kernel)
        if dy.shape[3] % (2 * nl):
            calls.append(functools.partial(_direct.weight_grad_chunk_last, dy, xp, dw, *strides, *kernel, nl))
    else:
        calls += _vector_calls(_direct.weight_grad_chunk, _direct.weight_grad_chunk_last, dy.shape[3], nl, dy, xp,
                               dw, *strides, *kernel)
    return tuple(calls), dw[:taps]


def weight_grad_masked(dy, out, relu, x, kernel, strides, pads, scratch):
    """:func:`weight_grad` of ``dz = dy * (out > 0)`` (``dy`` without ``relu``) and the bias
    gradient (the column sums of ``dz``) in one pass (`kerasette.backend.kernels.direct_masked`):
    the backward pass of a layer whose input gradient is not needed. Returns (db, dw part)."""
    calls, parts = weight_grad_masked_calls(dy, out, relu, x, kernel, strides, pads, scratch)
    in_turn(calls)
    return parts


def weight_grad_masked_calls(dy, out, relu, x, kernel, strides, pads, scratch) -> tuple[tuple, tuple]:
    """``(calls, (db, dw part))``: :func:`weight_grad_masked`'s calls, their arguments made (as
    :func:`weight_grad_calls`), and the arrays they fill."""
    taps = kernel[0] * kernel[1] * x.shape[3]
    dw = _kernel_grad_array(taps, dy)
    db = np.empty(dy.shape[3], dy.dtype)
    nl, ref = simd.lanes(dy.itemsize), out if relu else dy
    calls, xp = _padded_calls(x, pads, scratch)
    calls[:0] = [functools.partial(dw.fill, 0), functools.partial(db.fill, 0)]
    if SPLIT_TAP_GROUPS:
        calls += _vector_calls(_masked.weight_grad_chunk_split, None, dy.shape[3], nl, dy, ref, xp, dw, db, relu,
                               True, *strides, *kernel)
        if dy.shape[3] % (2 * nl):
            calls.append(functools.partial(_masked.weight_grad_chunk_masked_last, dy, ref, xp, dw, db, relu,
                                           *strides, *kernel, nl))
    else:
        calls += _vector_calls(_masked.weight_grad_chunk_masked, _masked.weight_grad_chunk_masked_last,
                               dy.shape[3], nl, dy, ref, xp, dw, db, relu, *strides, *kernel)
    return tuple(calls), (db, dw[:taps])


def _padded_calls(x: np.ndarray, pads, scratch) -> tuple[list, np.ndarray]:
    """``([the padding's call], padded array)``: ``x`` zero-padded by ``pads`` = (top, bottom,
    left, right) into a reused scratch array, by a call made later (``([], x)`` without padding;
    `kerasette.backend.kernels.phases.pad_images`: one GIL-free call writing each value once;
    zeroing the array and then copying ``x`` into it by numpy's slices wrote the interior twice,
    and its calls took the GIL inside the threads' chunks)."""
    if not any(pads):
        return [], x
    top, bottom, left, right = pads
    n_img, height, width, chans = x.shape
    out = scratch("direct_pad", (n_img, height + top + bottom, width + left + right, chans), x.dtype)
    return [functools.partial(_phases.pad_images, x, out, top, left)], out


def _vector_calls(pairs, last, cout: int, nl: int, *args) -> list:
    """:func:`_by_vectors`'s kernel calls, their arguments made."""
    calls = []
    if cout >= 2 * nl:
        calls.append(functools.partial(pairs, *args, nl))
    if cout % (2 * nl) and last is not None:
        calls.append(functools.partial(last, *args, nl))
    return calls


def _by_vectors(pairs, last, cout: int, nl: int, *args) -> None:
    """Runs a direct kernel over ``cout`` output channels: ``pairs(*args, nl)`` for the channels
    in whole pairs of ``nl``-lane vectors, ``last(*args, nl)`` for a last single vector (unless
    ``last`` is None: the caller runs it)."""
    if cout >= 2 * nl:
        pairs(*args, nl)
    if cout % (2 * nl) and last is not None:
        last(*args, nl)


def _kernel_grad_array(taps: int, dy: np.ndarray) -> np.ndarray:
    """A (taps rounded up to whole `TAP_GROUP`s, F) kernel gradient for the kernels to add into,
    once zeroed."""
    rows = -(-taps // _direct.TAP_GROUP) * _direct.TAP_GROUP
    return memory.empty_aligned((rows, dy.shape[3]), dy.dtype)


def flipped_kernel(w: np.ndarray) -> np.ndarray:
    """The (kh, kw, C, F) kernel flipped in both spatial axes and laid out as (kh, C3, kw, F),
    its input channels padded with zeros to C3, a multiple of the input-gradient kernel's
    channel group."""
    kh, kw, cin, cout = w.shape
    group = _input.CHANNEL_GROUP
    out = memory.empty_aligned((kh, -(-cin // group) * group, kw, cout), w.dtype)
    out[...] = 0
    out[:, :cin] = w[::-1, ::-1].transpose(0, 2, 1, 3)
    return out


def input_grad(dy, wf, pads, dx) -> None:
    """The input gradient of a stride-1 convolution for one chunk of images.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        wf: :func:`flipped_kernel` of the kernel, of ``dy``'s dtype.
        pads: the forward pass's (top, bottom, left, right) padding.
        dx: input gradient, (N, H, W, C), C-contiguous; overwritten.
    """
    input_grad_call(dy, wf, pads, dx)()


def input_grad_call(dy, wf, pads, dx):
    """:func:`input_grad`'s kernel call, its arguments made."""
    kh, kw = wf.shape[0], wf.shape[2]
    return functools.partial(_input.input_grad_chunk, dy, wf, dx, kh - 1 - pads[0], kw - 1 - pads[2],
                             simd.lanes(dy.itemsize))


# -- the strided input gradient, phase by phase -----------------------------------------------------
def _axis_phases(k: int, s: int, pad: int, size: int, out: int):
    """One axis of :func:`phase_plan`: per phase ``a < s``, (its pixels ``a, a + s, ...`` below
    ``size``, the output index its first pixel's window starts at, its taps in correlation order:
    descending kernel index); and the zero padding (before, after) of the output gradient that
    puts every window inside."""
    phases = []
    for a in range(s):
        taps = [i for i in range(k - 1, -1, -1) if (a + pad - i) % s == 0]
        first = (a + pad - taps[0]) // s if taps else 0
        phases.append((len(range(a, size, s)), first, taps))
    used = [(count, first, taps) for count, first, taps in phases if count and taps]
    before = max([0] + [-first for _, first, _ in used])
    after = max([0] + [count + first + len(taps) - 1 - out for count, first, taps in used])
    return phases, before, after


@functools.lru_cache(maxsize=64)
def phase_plan(kernel, strides, pads, in_hw, out_hw):
    """The phases of a strided convolution's input gradient (see
    `kerasette.backend.kernels.direct_strided`).

    Returns:
        (plan, taps, dy_pads): the kernel's plan rows (an int64 array, read-only), the kernel
        taps (i, j) whose transposed (F, C) slices make up the sub-kernels in order, and the
        (top, bottom, left, right) zero padding of the output gradient.
    """
    rows, top, bottom = _axis_phases(kernel[0], strides[0], pads[0], in_hw[0], out_hw[0])
    cols, left, right = _axis_phases(kernel[1], strides[1], pads[2], in_hw[1], out_hw[1])
    plan, taps = [], []
    for a, (hq, first_r, taps_r) in enumerate(rows):
        for b, (wq, first_c, taps_c) in enumerate(cols):
            plan.append((a, b, hq, wq, first_r + top, first_c + left, len(taps_r), len(taps_c), len(taps)))
            taps += [(i, j) for i in taps_r for j in taps_c]
    plan = np.array(plan, np.int64).reshape(-1, _strided.PLAN_COLUMNS)
    plan.flags.writeable = False
    return plan, tuple(taps), (top, bottom, left, right)


def phases_apply(kernel, strides, cin: int, cout: int, out_width: int, dtype) -> bool:
    """Whether :func:`strided_input_grad` applies: a strided convolution whose input channels
    fill whole vectors, whose output rows (about its phases' rows) hold at least
    :data:`MIN_PHASE_WIDTH` pixels, and whose input-gradient values each read at most
    :data:`MAX_PHASE_TAPS` output-gradient values (the largest sub-kernel's
    ``ceil(kh / sh) * ceil(kw / sw) * F``)."""
    taps = -(-kernel[0] // strides[0]) * -(-kernel[1] // strides[1]) * cout
    return (tuple(strides) != (1, 1) and taps <= MAX_PHASE_TAPS and out_width >= MIN_PHASE_WIDTH
            and whole_vectors(cin, dtype))


def phase_kernels(w: np.ndarray, taps) -> np.ndarray:
    """The sub-kernels of :func:`phase_plan`'s ``taps``: ``w[i, j].T`` (F rows of C values)
    for each tap, one after the other, in an aligned array."""
    cin, cout = w.shape[2], w.shape[3]
    out = memory.empty_aligned((max(1, len(taps)) * cout, cin), w.dtype)
    if taps:
        ii, jj = _tap_indices(tuple(taps))
        _conv.taps_transposed(np.ascontiguousarray(w), ii, jj, out.reshape(len(taps), cout, cin))
    return out


def flipped_transposed(w: np.ndarray) -> np.ndarray:
    """The kernel of a stride-1 input gradient's 'full' convolution: ``w`` flipped in both
    spatial axes with its channel axes swapped, (kh, kw, F, C), C-contiguous (one kernel call:
    `kerasette.backend.kernels.conv.taps_transposed`)."""
    kh, kw, cin, cout = w.shape
    out = np.empty((kh, kw, cout, cin), w.dtype)
    if out.size:
        ii, jj = _flipped_taps(kh, kw)
        _conv.taps_transposed(np.ascontiguousarray(w), ii, jj, out.reshape(kh * kw, cout, cin))
    return out


@functools.lru_cache(maxsize=64)
def _flipped_taps(kh: int, kw: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_tap_indices` of a (kh, kw) kernel's taps, flipped in both axes, row by row."""
    return _tap_indices(tuple((kh - 1 - i, kw - 1 - j) for i in range(kh) for j in range(kw)))


@functools.lru_cache(maxsize=64)
def _tap_indices(taps: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The kernel rows and columns of ``taps`` ((i, j) pairs) as two read-only int64 arrays,
    made once per kernel geometry."""
    ii, jj = (np.array([t[k] for t in taps], np.int64) for k in (0, 1))
    ii.flags.writeable = jj.flags.writeable = False
    return ii, jj


def strided_input_grad(dy, wq, plan, dy_pads, strides, dx, scratch) -> None:
    """The input gradient of a strided convolution for one chunk of images.

    Args:
        dy: output gradient, (N, OH, OW, F), C-contiguous.
        wq, plan, dy_pads: :func:`phase_kernels` and :func:`phase_plan` of the convolution.
        strides: (sh, sw).
        dx: input gradient, (N, H, W, C), C-contiguous; overwritten.
        scratch: as for :func:`conv`.
    """
    in_turn(strided_input_grad_calls(dy, wq, plan, dy_pads, strides, dx, scratch))


def strided_input_grad_calls(dy, wq, plan, dy_pads, strides, dx, scratch) -> tuple:
    """:func:`strided_input_grad`'s calls (padding ``dy``, the kernel), their arguments made."""
    calls, dyp = _padded_calls(dy, dy_pads, scratch)
    calls.append(functools.partial(_strided.strided_input_grad_chunk, dyp, wq, dx, plan, *strides,
                                   simd.lanes(dy.itemsize)))
    return tuple(calls)
