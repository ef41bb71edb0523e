"""The convolution algorithms: one ordered list per pass, each algorithm saying when it applies.

A pass (``'forward'``, ``'input_grad'``, ``'kernel_grad'``) runs the first algorithm of its list
that applies to the convolution's `ConvGeometry` and is allowed by the settings:

=============  =================================================================================
``direct``     direct convolution in SIMD registers (`direct_conv`), output channels in whole
               vectors: few input channels (``direct_conv.MAX_CHANNELS``); or, where Winograd
               does not apply (strided, or not 3x3: ResNets' downsampling and 1x1 shortcut
               layers), at most ``direct_conv.MAX_TAPS`` kernel taps (``kh * kw * C``; the
               kernel gradient's limit for windows depends on the vectors and the output's
               width, `direct_conv.few_taps`). The
               input gradient at stride 1: a sum along the vectors for few input channels,
               else the 'full' convolution by the forward kernel; strided: phase by phase
               (``direct_conv.phases_apply``: input channels in whole vectors, at most
               ``direct_conv.MAX_PHASE_TAPS`` output-gradient values per input-gradient value,
               output rows of at least ``direct_conv.MIN_PHASE_WIDTH`` pixels).
``winograd``   Winograd F(4x4, 3x3) (`winograd_conv`): 3x3 stride 1, enough channels on the
               reduced axis and an output of at least one tile. The input gradient: the
               adjoint of the forward pass where the input has more tiles than the output
               ('valid' padding; `winograd_conv.fewer_tiles_adjoint`), else the 'full'
               convolution below.
``rows``       kw-packed row GEMM (`row_conv`): stride 1, a kernel more than one row high, at
               least ``row_conv.ROWS_MIN_CIN`` channels on the reduced axis.
``gemm``       tiled implicit GEMM (`gemm_conv`): any shape forward and for the kernel gradient.
``col2im``     the input gradient as ``dy @ w.T`` scattered back (`gemm_conv`): any shape.
=============  =================================================================================

Stride-1 input gradients with at least ``full_conv_min_cin`` input channels (16) are the 'full'
convolution of ``dy`` with the flipped, transposed kernel, by ``direct``, ``winograd``, ``rows``
or ``gemm`` (the forward rules, with the input and output channels swapped); the others are
``col2im``, after ``direct`` where it applies (strided ones among them).

Which algorithms may run is a supported setting, for tests and for debugging a wrong result or a
slow layer: the environment variable ``KERASETTE_CONV_ALGORITHMS`` (read once, when the engine
is first used) and the context manager `conv_algorithms`; the tuning knobs (tile sizes, the
'full' input gradient's channel threshold, the work below which a pass stays in the calling
thread) go through `conv_settings`.

Example:
    >>> import numpy as np
    >>> from kerasette.backend.engine import conv
    >>> x, w = np.ones((1, 8, 8, 16), np.float32), np.ones((3, 3, 16, 16), np.float32)
    >>> with conv_algorithms(allow=["gemm"]):
    ...     y = conv.conv2d_forward(x, w)
    >>> float(y[0, 0, 0, 0])
    144.0
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from kerasette.backend import memory, parallel, state
from kerasette.backend.engine import direct_conv, gemm_conv, row_conv, winograd_conv, winograd_jobs
from kerasette.backend.engine.batch import by_images, scratch, sum_parts
from kerasette.backend.engine.geometry import ConvGeometry
from kerasette.backend.parallel import in_turn

#: The environment variable naming the algorithms that may run: ``gemm,col2im`` allows only
#: those; ``-winograd,-rows`` allows all but those.
ENV_VAR = "KERASETTE_CONV_ALGORITHMS"

PASSES = ("forward", "input_grad", "kernel_grad")


@dataclass(frozen=True)
class Algorithm:
    """One way to compute one pass of a convolution.

    Attributes:
        name: the name the settings use (shared by the passes of one method).
        pass_name: ``'forward'``, ``'input_grad'`` or ``'kernel_grad'``.
        applies: ``applies(geometry) -> bool``: whether it runs for this convolution.
        run: forward: ``run(x, w, b, relu, geometry, y)`` fills ``y``; input gradient:
            ``run(dy, w, geometry, x_shape) -> (dx, chunk or None)``; kernel gradient:
            ``run(dy, x, geometry, w_shape) -> (chunk, finish)``. A ``chunk(i, j)`` computes
            images ``i:j`` (one per thread); ``finish(parts)`` adds the kernel gradient's parts.
        run_masked: a kernel gradient that also takes the layer's output pass (the ReLU's mask
            and the bias gradient), for a backward pass without the input gradient, or None:
            ``run_masked(dy, out, relu, x, geometry, w_shape) -> (chunk, finish)``, a
            ``chunk(i, j)`` returning ``(db part, dw part)``; ``dy`` is only read.
        residual: a forward ``run`` that also takes ``residual=`` (an array of ``y``'s shape
            added before the ReLU, in the output pass; see `forward_residual`).
        prepare: a gradient's ``run`` as prepared calls (`parallel.map_prepared`: a worker reaches
            its kernels without running the chunk's Python), or None: input gradient:
            ``prepare(dy, w, geometry, x_shape) -> (dx, calls_of or None)``, or None where it
            does not prepare this geometry (``run`` then); kernel gradient: ``prepare(dy, x,
            geometry, w_shape) -> (calls_of, finish)``. ``calls_of(scratch, i, j)`` makes the
            calls of images ``i:j`` with that scratch (`_chunk_scratch`): the input gradient's
            tuple; the kernel gradient's ``(tuple, part)``, ``part`` the array(s) they fill.
        prepare_masked: ``run_masked`` as ``prepare`` (a part is ``(db part, dw part)``).
    """

    name: str
    pass_name: str
    applies: Callable[[ConvGeometry], bool]
    run: Callable
    run_masked: Callable | None = None
    residual: bool = False
    prepare: Callable | None = None
    prepare_masked: Callable | None = None


# -- forward ----------------------------------------------------------------------------------
def _forward_direct(x, w, b, relu, g, y) -> None:
    wa = memory.aligned(w)  # the kernel's vector loads; the chunks' calls made here, as _forward_winograd's
    parallel.map_prepared(lambda k, i, j: direct_conv.conv_calls(x[i:j], wa, g.strides, g.pads, y[i:j],
                                                                 _chunk_scratch(k), b, relu),
                          x.shape[0], state.conv.parallel_min_elements, math.prod(x.shape[1:]))


def _forward_winograd(x, w, b, relu, g, y, residual=None) -> None:
    # the chunks' calls made here (`parallel.map_prepared`): a worker reaches its kernel after
    # its dispatch alone instead of running the chunk's Python first, holding the GIL; the
    # transform is read only until the dispatch returns
    if winograd_jobs.forward(x, w, b, relu, g, y, residual, _chunk_scratch):
        return
    u = winograd_conv.transient_transform(w)
    block = state.conv.winograd_block_bytes

    def call_of(k, i, j):
        r = None if residual is None else residual[i:j]
        return winograd_conv.conv_call(x[i:j], u, g.pads, y[i:j], _chunk_scratch(k), block, b, relu, r)

    parallel.map_prepared(call_of, x.shape[0], state.conv.parallel_min_elements, math.prod(x.shape[1:]))


class _ChunkScratch:
    """``scratch`` of one calling thread's chunk ``k``. Its ``key`` (thread, k) names whose
    arrays it hands out, so that a call maker may keep the views it got for a layout
    (`winograd_conv`'s layouts): only that thread's chunk ``k`` uses them, one call at a time."""

    __slots__ = ("key", "_suffix")

    def __init__(self, key: tuple, suffix: str) -> None:
        self.key, self._suffix = key, suffix

    def __call__(self, role: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        return scratch(role + self._suffix, shape, dtype)


_CHUNK_SCRATCH: dict[tuple, _ChunkScratch] = {}


def _chunk_scratch(k: int) -> _ChunkScratch:
    """The scratch of a prepared call's chunk ``k`` (`parallel.map_prepared`: made in the calling
    thread, run in worker ``k``): the calling thread's, apart for each chunk; one object per
    (thread, k), kept."""
    key = (threading.get_ident(), k)
    found = _CHUNK_SCRATCH.get(key)
    if found is None:
        if len(_CHUNK_SCRATCH) >= MAX_CHOSEN:  # threads come and go
            _CHUNK_SCRATCH.clear()
        found = _CHUNK_SCRATCH[key] = _ChunkScratch(key, f"#{k}" if k else "")
    return found


def _forward_rows(x, w, b, relu, g, y) -> None:
    wcat = row_conv.stacked_weights(w)
    tile = state.conv.tile_bytes
    by_images(lambda i, j: row_conv.conv(x[i:j], wcat, g.kernel, g.pads, y[i:j], scratch, tile, b, relu), x)


def _forward_gemm(x, w, b, relu, g, y) -> None:
    w2d = w.reshape(g.kernel[0] * g.kernel[1] * g.cin, g.cout)
    by_images(lambda i, j: gemm_conv.conv(x[i:j], w2d, g.kernel, g.strides, g.pads, y[i:j], b, relu), x)


# -- input gradient ---------------------------------------------------------------------------
def _input_chunks(plan):
    """An input gradient's ``run`` result from its ``prepare`` result: each chunk's calls made
    with the running thread's scratch."""
    dx, calls_of = plan
    return dx, None if calls_of is None else (lambda i, j: in_turn(calls_of(scratch, i, j)))


def _kernel_run(prepare):
    """A kernel gradient's ``run`` (or ``run_masked``) from its ``prepare``."""
    def run(*args):
        calls_of, finish = prepare(*args)

        def chunk(i, j):
            calls, part = calls_of(scratch, i, j)
            in_turn(calls)
            return part

        return chunk, finish

    return run


def _input_direct(dy, w, g, x_shape):
    plan = _prepare_input_direct(dy, w, g, x_shape)
    return _input_direct_full(dy, w, g, x_shape) if plan is None else _input_chunks(plan)


def _prepare_input_direct(dy, w, g, x_shape):
    if g.strides != (1, 1):
        plan, taps, dy_pads = direct_conv.phase_plan(g.kernel, g.strides, g.pads, g.in_hw, g.out_hw)
        wq = direct_conv.phase_kernels(w, taps)
        dx = memory.empty_aligned(x_shape, dy.dtype)
        return dx, lambda s, i, j: direct_conv.strided_input_grad_calls(dy[i:j], wq, plan, dy_pads, g.strides,
                                                                        dx[i:j], s)
    if not _direct_sums_applies(g):
        return None  # the 'full' convolution by the forward kernel: `run`
    dx = memory.empty_aligned(x_shape, dy.dtype)
    wf = direct_conv.flipped_kernel(w)
    return dx, lambda s, i, j: (direct_conv.input_grad_call(dy[i:j], wf, g.pads, dx[i:j]),)


def _prepare_input_col2im(dy, w, g, x_shape):
    dx = np.zeros(x_shape, dy.dtype)
    if dy.size == 0:
        return dx, None
    w2d = np.ascontiguousarray(w.reshape(-1, g.cout))
    return dx, lambda s, i, j: (gemm_conv.input_grad_col2im_call(dy[i:j], w2d, g.kernel, dx[i:j], g.strides,
                                                                 g.pads, s),)


def _full_conv(dy, w, g, x_shape, make_chunk):
    """The stride-1 input gradient as the 'full' convolution of ``dy`` with the flipped,
    transposed kernel; ``make_chunk(wf, full_pads, dx)`` gives the algorithm's chunk."""
    (kh, kw), pads = g.kernel, g.pads
    wf = direct_conv.flipped_transposed(w)
    full = (kh - 1 - pads[0], kh - 1 - pads[1], kw - 1 - pads[2], kw - 1 - pads[3])
    dx = memory.empty_aligned(x_shape, dy.dtype)
    if dx.size == 0:
        return dx, None
    if dy.size == 0:
        dx[...] = 0
        return dx, None
    return dx, make_chunk(wf, full, dx)


def _input_direct_full(dy, w, g, x_shape):
    def make_chunk(wf, full, dx):
        wa = memory.aligned(wf)
        return lambda i, j: direct_conv.conv(dy[i:j], wa, (1, 1), full, dx[i:j], scratch)

    return _full_conv(dy, w, g, x_shape, make_chunk)


def _prepare_input_winograd(dy, w, g, x_shape):
    block = state.conv.winograd_block_bytes
    if _winograd_adjoint_applies(g):
        dx = memory.empty_aligned(x_shape, dy.dtype)
        ut = winograd_conv.kernel_transform(np.ascontiguousarray(w.transpose(0, 1, 3, 2)))
        return dx, lambda s, i, j: winograd_conv.input_grad_calls(dy[i:j], ut, g.pads, dx[i:j], s, block)

    def make_calls(wf, full, dx):
        u = winograd_conv.kernel_transform(wf)
        return lambda s, i, j: (winograd_conv.conv_call(dy[i:j], u, full, dx[i:j], s, block),)

    return _full_conv(dy, w, g, x_shape, make_calls)


def _winograd_adjoint_applies(g: ConvGeometry) -> bool:
    """Winograd's input gradient as the adjoint of its forward pass: where the forward rule holds
    (output channels reduced) and that has fewer tiles than the 'full' convolution ('valid')."""
    return (not g.empty and winograd_conv.usable(g.kernel, g.strides, g.cout, g.out_hw, g.cin, _itemsize(g))
            and winograd_conv.fewer_tiles_adjoint(g.in_hw, g.out_hw))


def _input_rows(dy, w, g, x_shape):
    def make_chunk(wf, full, dx):
        wcat, tile = row_conv.stacked_weights(wf), state.conv.tile_bytes
        return lambda i, j: row_conv.conv(dy[i:j], wcat, g.kernel, full, dx[i:j], scratch, tile)

    return _full_conv(dy, w, g, x_shape, make_chunk)


def _input_gemm(dy, w, g, x_shape):
    def make_chunk(wf, full, dx):
        w2d = wf.reshape(g.kernel[0] * g.kernel[1] * g.cout, g.cin)
        return lambda i, j: gemm_conv.conv(dy[i:j], w2d, g.kernel, (1, 1), full, dx[i:j])

    return _full_conv(dy, w, g, x_shape, make_chunk)


def _full_conv_applies(g: ConvGeometry) -> bool:
    return g.strides == (1, 1) and g.cin >= state.conv.full_conv_min_cin


# -- kernel gradient --------------------------------------------------------------------------
class Summed:
    """A kernel gradient's ``finish``: the chunks' parts added in order in ``dtype``
    (`batch.sum_parts`), as ``shape`` (`conv.conv2d_backward` adds two parts with the bias
    gradient's in one kernel call where it knows ``finish`` is this)."""

    __slots__ = ("dtype", "shape")

    def __init__(self, dtype, shape) -> None:
        self.dtype, self.shape = np.dtype(dtype), tuple(shape)

    def __call__(self, parts) -> np.ndarray:
        return sum_parts(parts, self.dtype).reshape(self.shape)


def _summed(x, w_shape):
    return Summed(x.dtype, w_shape)


def _prepare_kernel_direct(dy, x, g, w_shape):
    return (lambda s, i, j: direct_conv.weight_grad_calls(dy[i:j], x[i:j], g.kernel, g.strides, g.pads, s),
            _summed(x, w_shape))


def _prepare_kernel_direct_masked(dy, out, relu, x, g, w_shape):
    return (lambda s, i, j: direct_conv.weight_grad_masked_calls(dy[i:j], None if out is None else out[i:j], relu,
                                                                 x[i:j], g.kernel, g.strides, g.pads, s),
            _summed(x, w_shape))


def _prepare_kernel_winograd(dy, x, g, w_shape):
    # each thread takes its own part back to the kernel's shape (G^T dU G is linear), so the
    # calling thread adds parts 4 times smaller after the hand-off, and the two transforms run
    # at once instead of one after the other (ResNet-20's 64 -> 64 layers: 117 -> 50 us alone)
    block = state.conv.winograd_block_bytes
    return (lambda s, i, j: winograd_conv.kernel_grad_calls(dy[i:j], x[i:j], g.pads, s, block),
            _summed(x, w_shape))


def _kernel_rows(dy, x, g, w_shape):
    tile = state.conv.tile_bytes
    return (lambda i, j: row_conv.weight_grad(dy[i:j], x[i:j], g.kernel, g.pads, scratch, tile),
            _summed(x, w_shape))


def _prepare_kernel_gemm(dy, x, g, w_shape):
    k = g.kernel[0] * g.kernel[1] * g.cin
    return (lambda s, i, j: gemm_conv.weight_grad_calls(dy[i:j], x[i:j], k, g.kernel, g.strides, g.pads, s),
            _summed(x, w_shape))


def _itemsize(g) -> int:
    return np.dtype(g.dtype).itemsize


def _winograd_shape(g: ConvGeometry) -> bool:
    return g.kernel == (3, 3) and g.strides == (1, 1)


def _direct_applies(g: ConvGeometry) -> bool:
    """The forward rule of ``direct`` (see the table above)."""
    if direct_conv.usable(g.cin, g.cout, g.dtype):
        return True
    return direct_conv.few_taps(g.kernel, g.cin, g.cout, g.dtype, strides=g.strides) and not _winograd_shape(g)


def _direct_kernel_applies(g: ConvGeometry) -> bool:
    """The kernel-gradient rule of ``direct``: the forward rule, with the kernel gradient's tap
    limit (`direct_conv.few_taps` given the output's width)."""
    if direct_conv.usable(g.cin, g.cout, g.dtype):
        return True
    return direct_conv.few_taps(g.kernel, g.cin, g.cout, g.dtype, g.out_hw[1]) and not _winograd_shape(g)


def _direct_sums_applies(g: ConvGeometry) -> bool:
    """The input gradient as sums along the vectors of output channels: stride 1, few input channels."""
    return g.strides == (1, 1) and not g.empty and direct_conv.usable(g.cin, g.cout, g.dtype)


def _direct_phases_applies(g: ConvGeometry) -> bool:
    """The strided input gradient phase by phase (`direct_conv.phases_apply`)."""
    return not g.empty and direct_conv.phases_apply(g.kernel, g.strides, g.cin, g.cout, g.out_hw[1],
                                                    g.dtype)


def _direct_full_applies(g: ConvGeometry) -> bool:
    """``_direct_applies`` for the 'full' convolution of a stride-1 input gradient: ``dy``'s
    ``cout`` channels in, ``cin`` out."""
    return _full_conv_applies(g) and not g.empty and _direct_applies(g._replace(cin=g.cout, cout=g.cin))


# -- the lists --------------------------------------------------------------------------------
FORWARD = (
    Algorithm("direct", "forward", _direct_applies, _forward_direct),
    Algorithm("winograd", "forward", lambda g: winograd_conv.usable(g.kernel, g.strides, g.cin, g.out_hw, g.cout,
                                                                    _itemsize(g)), _forward_winograd,
              residual=True),
    Algorithm("rows", "forward", lambda g: row_conv.usable(g.kernel, g.strides, g.cin), _forward_rows),
    Algorithm("gemm", "forward", lambda g: True, _forward_gemm),
)

INPUT_GRAD = (
    Algorithm("direct", "input_grad",
              lambda g: _direct_sums_applies(g) or _direct_full_applies(g) or _direct_phases_applies(g), _input_direct,
              prepare=_prepare_input_direct),
    Algorithm("winograd", "input_grad", lambda g: _winograd_adjoint_applies(g) or (_full_conv_applies(g)
              and winograd_conv.usable(g.kernel, (1, 1), g.cout, g.in_hw, g.cin, _itemsize(g))),
              lambda *args: _input_chunks(_prepare_input_winograd(*args)), prepare=_prepare_input_winograd),
    Algorithm("rows", "input_grad", lambda g: _full_conv_applies(g) and row_conv.usable(g.kernel, (1, 1), g.cout),
              _input_rows),
    Algorithm("gemm", "input_grad", _full_conv_applies, _input_gemm),
    Algorithm("col2im", "input_grad", lambda g: True, lambda *args: _input_chunks(_prepare_input_col2im(*args)),
              prepare=_prepare_input_col2im),
)

KERNEL_GRAD = (
    Algorithm("direct", "kernel_grad", _direct_kernel_applies, _kernel_run(_prepare_kernel_direct),
              _kernel_run(_prepare_kernel_direct_masked), prepare=_prepare_kernel_direct,
              prepare_masked=_prepare_kernel_direct_masked),
    Algorithm("winograd", "kernel_grad", lambda g: winograd_conv.usable(
        g.kernel, g.strides, g.cin, g.out_hw, g.cout, _itemsize(g), winograd_conv.MAX_KERNEL_GRAD_BYTES),
        _kernel_run(_prepare_kernel_winograd), prepare=_prepare_kernel_winograd),
    Algorithm("rows", "kernel_grad", lambda g: row_conv.usable(g.kernel, g.strides, g.cin), _kernel_rows),
    Algorithm("gemm", "kernel_grad", lambda g: True, _kernel_run(_prepare_kernel_gemm), prepare=_prepare_kernel_gemm),
)

#: Each pass's algorithms, in the order they are tried.
ALGORITHMS: Mapping[str, tuple[Algorithm, ...]] = {"forward": FORWARD, "input_grad": INPUT_GRAD,
                                                   "kernel_grad": KERNEL_GRAD}


def algorithm_names() -> list[str]:
    """Every algorithm name, in the order of first appearance in the lists."""
    return list(dict.fromkeys(a.name for algos in ALGORITHMS.values() for a in algos))


#: `choose`'s answers: (pass, geometry, the settings the rules read) -> (the pass's list, its
#: choice). A training step asks 3 times per convolution, each answer 1-8 us of rules (more with
#: the step's cold caches); ResNet-20 has a few geometries.
_CHOSEN: dict = {}

#: `_CHOSEN` is emptied when it holds this many answers (a program trying many shapes).
MAX_CHOSEN = 4096


def choose(pass_name: str, geometry: ConvGeometry) -> Algorithm:
    """The first algorithm of ``pass_name``'s list that is allowed and applies to ``geometry``
    (remembered per geometry and settings; the rules read nothing else)."""
    settings = state.conv
    algorithms = ALGORITHMS[pass_name]
    key = (pass_name, geometry, settings.allow, settings.deny, settings.full_conv_min_cin)
    known = _CHOSEN.get(key)
    if known is not None and known[0] is algorithms:
        return known[1]
    for algorithm in algorithms:
        if settings.allows(algorithm.name) and algorithm.applies(geometry):
            if len(_CHOSEN) >= MAX_CHOSEN:
                _CHOSEN.clear()
            _CHOSEN[key] = (algorithms, algorithm)
            return algorithm
    g = geometry
    allowed = [a.name for a in ALGORITHMS[pass_name] if settings.allows(a.name)]
    raise ValueError(
        f"conv2d {pass_name}: no allowed convolution algorithm applies to a {g.kernel[0]}x{g.kernel[1]} "
        f"kernel, strides {g.strides}, {g.cin} -> {g.cout} channels, {g.dtype}; allowed here: {allowed}. "
        f"'{ALGORITHMS[pass_name][-1].name}' applies to every convolution: allow it with {ENV_VAR} or "
        "conv_algorithms(allow=[...])")


def forward_residual(x, w, b, relu, geometry: ConvGeometry, y, residual) -> None:
    """The forward pass ``y = act(conv(x, w) + b + residual)``, as `choose`'s forward algorithm
    runs it: in its output pass where it takes a residual (``Algorithm.residual``: Winograd), else
    the convolution and then one pass adding the residual (and the ReLU) in place.

    Args:
        x, w, b, relu, geometry, y: as for a forward ``Algorithm.run`` (``x``, ``w``, ``b`` and
            ``y`` C-contiguous, of one dtype; ``y`` is overwritten).
        residual: an array of ``y``'s shape and dtype, C-contiguous, only read (it may share
            memory with ``y``, ``y`` itself for instance: it is then copied first).
    """
    algorithm = choose("forward", geometry)
    if algorithm.residual:
        algorithm.run(x, w, b, relu, geometry, y, residual=residual)
        return
    if np.may_share_memory(residual, y):
        residual = residual.copy()  # the convolution overwrites y
    algorithm.run(x, w, b, False, geometry, y)
    np.add(y, residual, out=y)
    if relu:
        np.maximum(y, 0, out=y)
