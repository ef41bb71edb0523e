"""Convolution passes on NHWC arrays: each pass runs the algorithm its list chooses.

`conv2d_forward`, `conv2d_backward_input` and `conv2d_backward_weight` describe the convolution
(a `ConvGeometry`), take the first algorithm of the pass's list in
`kerasette.backend.engine.algorithms` that is allowed and applies (direct SIMD, Winograd, row
GEMM, implicit GEMM, col2im), and run it over the batch, one chunk of whole images per core
(`kerasette.backend.parallel`); each chunk runs in its own thread with the serial kernels and a
single-threaded BLAS, so nothing is nested and each core works in its own cache.

`conv2d_backward` runs a layer's whole backward pass (ReLU and bias, input gradient, kernel
gradient) chunk by chunk in one dispatch to the pool; the single-gradient functions stay for
the Keras-backend API and the tests.

Dilated and grouped convolutions (``dilation``, ``groups``) are reduced to plain ones before an
algorithm is chosen: groups of one input channel run the depthwise kernels (`depthwise_conv`),
other groups one convolution each; a stride-1 dilated convolution runs on the phases of its input
(`dilated_conv`, so Winograd applies to dilated 3x3 kernels), a strided one with its kernel spread
out by zeros.

Inputs are C-contiguous float32 or float64 NHWC arrays and are not validated (the ops that call
these functions do that); outputs have the dtype of ``x``.

Example:
    >>> x = np.ones((1, 4, 4, 2), np.float32); w = np.ones((3, 3, 2, 5), np.float32)
    >>> conv2d_forward(x, w, padding="same")[0, :, :, 0]
    array([[ 8., 12., 12.,  8.],
           [12., 18., 18., 12.],
           [12., 18., 18., 12.],
           [ 8., 12., 12.,  8.]], dtype=float32)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from kerasette.backend import memory, parallel, state
from kerasette.backend.engine import conv_jobs, depthwise_conv, dilated_conv
from kerasette.backend.engine.algorithms import Summed, _chunk_scratch, choose, forward_residual
from kerasette.backend.engine.batch import by_images, sum_parts
from kerasette.backend.engine.geometry import conv_geometry, dilated_window, window
from kerasette.backend.kernels import conv as _conv


def _check_float(array: np.ndarray, role: str) -> None:
    """The kernels multiply float32 or float64 only (numpy's BLAS has no other product)."""
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"conv2d: the {role} must be float32 or float64, received {array.dtype}; "
                        "cast it first (for example with K.cast(x, 'float32'))")


def _check_grad_shape(dy, x_shape, w_shape, strides, padding) -> None:
    """The kernels index ``dy`` by the shapes of the forward pass: a gradient of another shape
    would be read out of bounds."""
    (oh_n, ow_n), _ = window(x_shape, w_shape[:2], strides, padding)
    expected = (x_shape[0], oh_n, ow_n, w_shape[3])
    if tuple(dy.shape) != expected:
        raise ValueError(f"conv2d: the output gradient has shape {tuple(dy.shape)}, expected {expected} for an "
                         f"input of shape {tuple(x_shape)} and a kernel of shape {tuple(w_shape)} "
                         f"(strides {tuple(strides)}, padding '{padding}')")


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    strides: tuple[int, int] = (1, 1),
    padding: str = "valid",
    relu: bool = False,
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
    saved: dict | None = None,
    residual: np.ndarray | None = None,
) -> np.ndarray:
    """2-D convolution (cross-correlation, as in Keras) of NHWC images.

    Args:
        x: input images, (N, H, W, cin).
        w: kernel, (kh, kw, cin // groups, cout).
        b: optional bias, (cout,).
        strides: (sh, sw).
        padding: 'valid' or 'same' (TensorFlow's split, for the dilated kernel's extent).
        relu: fuse a ReLU into the output pass.
        dilation: (dh, dw): the kernel's taps are this far apart.
        groups: the input and output channels are split into this many groups, output group
            ``g`` computed from input group ``g`` only (``cin`` and ``cout`` divisible by it).
        saved: a dict the forward pass may fill with what the backward pass would recompute
            (the phases of a dilated convolution's input); pass it to :func:`conv2d_backward`.
        residual: an array of the output's shape added before the ReLU, in the output pass
            where the algorithm takes one (`algorithms.forward_residual`); not with ``groups``
            or ``dilation``.

    Returns:
        y, (N, OH, OW, cout), dtype of ``x``.
    """
    if groups != 1 or tuple(dilation) != (1, 1):
        if residual is not None:
            raise ValueError("conv2d: a residual is added only without groups and dilation")
        return _variant_forward(x, w, b, tuple(strides), padding, relu, tuple(dilation), groups, saved)
    cout = w.shape[3]
    x = np.ascontiguousarray(x)
    _check_float(x, "input")
    g = conv_geometry(x.shape, w.shape, strides, padding, x.dtype)
    y = memory.empty_aligned((x.shape[0], *g.out_hw, cout), x.dtype)
    if y.size == 0:
        return y
    w = np.ascontiguousarray(w, dtype=x.dtype)  # the kernels read it by address: no strided views
    b = None if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    if residual is None:
        choose("forward", g).run(x, w, b, relu, g, y)
    else:
        if tuple(residual.shape) != y.shape:
            raise ValueError(f"conv2d: the residual has shape {tuple(residual.shape)}, the output {y.shape}")
        forward_residual(x, w, b, relu, g, y, np.ascontiguousarray(residual, dtype=x.dtype))
    return y


def conv2d_backward_input(
    dy: np.ndarray,
    w: np.ndarray,
    x_shape: tuple[int, int, int, int],
    strides: tuple[int, int],
    padding: str,
) -> np.ndarray:
    """Gradient of :func:`conv2d_forward` with respect to its input ``x``.

    Args:
        dy: output gradient, (N, OH, OW, cout).
        w: kernel, (kh, kw, cin, cout).
        x_shape: shape of the forward input, (N, H, W, cin).
        strides: (sh, sw).
        padding: 'valid' or 'same'.

    Returns:
        dx, ``x_shape``, dtype of ``dy``.
    """
    dy = np.ascontiguousarray(dy)
    _check_float(dy, "output gradient")
    _check_grad_shape(dy, x_shape, w.shape, strides, padding)
    dx, chunk = _input_grad_plan(dy, w, x_shape, strides, padding)
    if chunk is not None:
        by_images(chunk, dx)
    return dx


def _input_grad_plan(dy, w, x_shape, strides, padding, g=None):
    """``(dx, chunk)``: ``chunk(i, j)`` fills ``dx[i:j]`` from ``dy[i:j]`` (None when nothing is
    left to compute), by the input-gradient algorithm chosen for this convolution (its geometry
    ``g``, when the caller has it). ``dy`` must be C-contiguous; it is only read inside ``chunk``."""
    w = w.astype(dy.dtype, copy=False)
    if g is None:
        g = conv_geometry(x_shape, w.shape, strides, padding, dy.dtype, empty=dy.size == 0)
    return choose("input_grad", g).run(dy, w, g, x_shape)


def conv2d_backward_weight(
    dy: np.ndarray,
    x: np.ndarray,
    w_shape: tuple[int, int, int, int],
    strides: tuple[int, int],
    padding: str,
) -> np.ndarray:
    """Gradient of :func:`conv2d_forward` with respect to its kernel ``w``.

    Args:
        dy: output gradient, (N, OH, OW, cout).
        x: forward input, (N, H, W, cin).
        w_shape: kernel shape, (kh, kw, cin, cout).
        strides: (sh, sw).
        padding: 'valid' or 'same'.

    Returns:
        dw, ``w_shape``, dtype of ``x``.
    """
    _check_grad_shape(dy, x.shape, w_shape, strides, padding)
    if dy.size == 0:
        return np.zeros(w_shape, x.dtype)
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    chunk, finish = _weight_grad_plan(dy, x, w_shape, strides, padding)
    return finish(by_images(chunk, x))


def _weight_grad_plan(dy, x, w_shape, strides, padding):
    """``(chunk, finish)``: ``chunk(i, j)`` returns the part of images ``i:j`` and
    ``finish(parts)`` the kernel gradient, by the kernel-gradient algorithm chosen for this
    convolution. ``dy`` and ``x`` must be C-contiguous, of one dtype, and not empty; ``dy`` is
    only read inside ``chunk``."""
    g = conv_geometry(x.shape, w_shape, strides, padding, x.dtype)
    return choose("kernel_grad", g).run(dy, x, g, w_shape)


def conv2d_backward(dy, x, w, out, relu, has_bias, strides, padding, need_input=True, need_kernel=True,
                    dilation=(1, 1), groups=1, saved=None, overwrite_dy=False):
    """All the gradients of :func:`conv2d_forward` in one pass over the batch.

    Each thread takes its chunk of images through the output pass (ReLU mask, bias gradient),
    the input gradient and its part of the kernel gradient in turn, so the chunk's gradient is
    still in its core's cache when the second and third passes read it, and the pool is
    dispatched once instead of three times. A kernel-gradient algorithm that can
    (``run_masked``) takes the output pass itself where the input gradient does not need the
    masked gradient stored (without a ReLU, or without the input gradient: a network's first
    layer).

    Args:
        dy: gradient of the layer's output, (N, OH, OW, cout).
        x: forward input, (N, H, W, cin).
        w: kernel, (kh, kw, cin, cout).
        out: forward output (read when ``relu``).
        relu, has_bias: what the forward pass fused.
        strides, padding, dilation, groups, saved: as for :func:`conv2d_forward`.
        need_input, need_kernel: which gradients to compute.
        overwrite_dy: ``dy`` is held by nobody else (the backward pass says so: the op's
            ``grad_is_scratch``), so the output pass may write the ReLU's masked gradient into it
            instead of a new array as large.

    Returns:
        (dx, dw, db), each None when not needed (``db`` when not ``has_bias``).
    """
    if groups != 1 or tuple(dilation) != (1, 1):
        return _variant_backward(dy, x, w, out, relu, has_bias, tuple(strides), padding, need_input, need_kernel,
                                 tuple(dilation), groups, saved)
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy)
    _check_grad_shape(dy, x.shape, w.shape, strides, padding)
    if dy.size == 0 or x.size == 0 or dy.dtype != x.dtype:
        return _backward_in_passes(dy, x, w, out, relu, has_bias, strides, padding, need_input, need_kernel)
    output_pass = relu or has_bias
    g = conv_geometry(x.shape, w.shape, strides, padding, x.dtype)  # remembered: the plans take it
    kernel_grad = choose("kernel_grad", g) if need_kernel else None
    masked = kernel_grad.run_masked if need_kernel and output_pass else None
    if masked is not None and relu and need_input:
        masked = None  # the input gradient needs the masked gradient stored
    if masked is not None:  # the kernel gradient takes the output pass (dz, if any, never stored)
        output_pass = False
    # without a ReLU the output pass only sums the bias gradient and dz is dy itself; with one
    # it writes dy * (out > 0) into dy where nobody else holds it
    in_place = output_pass and (not relu or (overwrite_dy and dy.flags.writeable
                                             and dy.ctypes.data % memory.ALIGNMENT == 0))
    dz = dy if in_place or not output_pass else memory.empty_aligned(dy.shape, dy.dtype)
    prepared = conv_jobs.backward(dy, dz, x, w, out, relu, g, need_input, kernel_grad, masked, output_pass, in_place)
    if prepared is None:
        prepared = _backward_prepared(dy, dz, x, w, out, relu, g, need_input, kernel_grad, masked, output_pass,
                                      in_place)
    if prepared is not None:
        dx, parts, finish = prepared
        db, dw = _finished_parts(parts, has_bias, need_kernel, finish)
        return dx, dw, db
    dx = in_chunk = w_chunk = finish = None
    if need_input:
        dx, in_chunk = _input_grad_plan(dz, w, x.shape, strides, padding, g)
    if masked is not None:
        w_chunk, finish = masked(dy, np.ascontiguousarray(out) if relu else None, relu, x, g, w.shape)
    elif need_kernel:
        w_chunk, finish = kernel_grad.run(dz, x, g, w.shape)

    def chunk(i, j):
        db = _output_pass_part(dy, out, relu, None if in_place else dz, i, j) if output_pass else None
        if in_chunk is not None:
            in_chunk(i, j)
        if masked is not None:
            return w_chunk(i, j)  # (db part, dw part)
        return db, (w_chunk(i, j) if w_chunk is not None else None)

    parts = by_images(chunk, x)
    db = sum_parts([p[0] for p in parts]) if has_bias else None
    dw = finish([p[1] for p in parts]) if need_kernel else None
    return dx, dw, db


def _finished_parts(parts, has_bias, need_kernel, finish):
    """``(db, dw)`` from the chunks' ``(db part, dw part)`` (None where not needed): two parts of
    one dtype added by a single kernel call (`kernels.conv.sum_two_parts`: the same bits), after
    the hand-off the first Python on cold caches (ResNet-20's training step, per backward pass:
    23-25 us with numpy's copies and adds, 17 us with the call)."""
    if has_bias and need_kernel and len(parts) == 2 and type(finish) is Summed:
        (db0, dw0), (db1, dw1) = parts
        dtype = finish.dtype
        if db0.dtype == db1.dtype == dw0.dtype == dw1.dtype == dtype and dw0.size == dw1.size == math.prod(
                finish.shape):
            db, dw = np.empty(db0.shape, dtype), np.empty(finish.shape, dtype)
            _conv.sum_two_parts(db0, db1, db, dw0.reshape(-1), dw1.reshape(-1), dw.reshape(-1))
            return db, dw
    db = sum_parts([p[0] for p in parts]) if has_bias else None
    dw = finish([p[1] for p in parts]) if need_kernel else None
    return db, dw


def _backward_prepared(dy, dz, x, w, out, relu, g, need_input, kernel_grad, masked, output_pass, in_place):
    """`conv2d_backward`'s chunks as prepared calls (`parallel.map_prepared`: the calling thread
    makes every chunk's calls, output pass -> input gradient -> kernel gradient part, so that a
    worker reaches its kernels without running the chunk's Python, holding the GIL), where the
    chosen algorithms prepare (``Algorithm.prepare``): ``(dx, [(db part, dw part) per chunk],
    finish)``, or None."""
    in_calls = w_calls = dx = finish = None
    prepare_kernel = None if kernel_grad is None else (kernel_grad.prepare if masked is None
                                                       else kernel_grad.prepare_masked)
    if kernel_grad is not None and prepare_kernel is None:
        return None
    if need_input:
        prepare = choose("input_grad", g).prepare
        plan = None if prepare is None else prepare(dz, w.astype(dz.dtype, copy=False), g, x.shape)
        if plan is None:
            return None
        dx, in_calls = plan
    if kernel_grad is not None:
        args = (dy, np.ascontiguousarray(out) if relu else None, relu) if masked is not None else (dz,)
        w_calls, finish = prepare_kernel(*args, x, g, w.shape)
    parts = {}

    def chunk_calls(k, i, j):
        scratch, calls, db, dw = _chunk_scratch(k), [], None, None
        if output_pass:
            call, db = _output_pass_call(dy, out, relu, None if in_place else dz, i, j)
            calls.append(call)
        if in_calls is not None:
            calls += in_calls(scratch, i, j)
        if w_calls is not None:
            more, dw = w_calls(scratch, i, j)
            calls += more
            if masked is not None:
                db, dw = dw
        parts[k] = (db, dw)
        return tuple(calls)

    parallel.map_prepared(chunk_calls, x.shape[0], state.conv.parallel_min_elements, math.prod(x.shape[1:]))
    return dx, [parts[k] for k in sorted(parts)], finish


def _backward_in_passes(dy, x, w, out, relu, has_bias, strides, padding, need_input, need_kernel):
    """:func:`conv2d_backward` one pass at a time (empty arrays, mixed dtypes)."""
    db = None
    if relu or has_bias:
        dy, db = output_pass_backward(dy, out, relu)
    dx = conv2d_backward_input(dy, w, x.shape, strides, padding) if need_input else None
    dw = conv2d_backward_weight(dy, x, w.shape, strides, padding) if need_kernel else None
    return dx, dw, (db if has_bias else None)


def output_pass_backward(dy: np.ndarray, out: np.ndarray | None, relu: bool) -> tuple[np.ndarray, np.ndarray]:
    """Backward of the fused bias-and-ReLU output pass of :func:`conv2d_forward`.

    Args:
        dy: gradient of the layer's output, (N, OH, OW, cout).
        out: the forward output (needed when ``relu``).
        relu: whether the forward pass applied a ReLU.

    Returns:
        (dz, db): the gradient before the ReLU, and the bias gradient (cout,), in one pass.
    """
    dy = np.ascontiguousarray(dy)
    dz = memory.empty_aligned(dy.shape, dy.dtype)
    parts = by_images(lambda i, j: _output_pass_part(dy, out, relu, dz, i, j), dy)
    return dz, sum_parts(parts)


def _output_pass_part(dy, out, relu, dz, i, j) -> np.ndarray:
    """:func:`output_pass_backward` for images ``i:j``: fills ``dz[i:j]`` (``dz`` None: ``dy``
    itself, in place), returns their bias gradient."""
    call, db = _output_pass_call(dy, out, relu, dz, i, j)
    call()
    return db


def _output_pass_call(dy, out, relu, dz, i, j):
    """``(call, db)``: :func:`_output_pass_part`'s kernel call, its arguments made, and the bias
    gradient it fills."""
    cout = dy.shape[-1]
    db = np.zeros(cout, dy.dtype)
    ref = out if relu else dy
    rows = dy[i:j].reshape(-1, cout)
    if dz is None and not relu:  # dy read only: its column sums
        return functools.partial(_conv.bias_grad_rows, rows, db), db
    if dz is None:
        return functools.partial(_conv.relu_grad_bias_rows_inplace, rows, ref[i:j].reshape(-1, cout), relu, db), db
    return functools.partial(_conv.relu_grad_bias_rows, rows, ref[i:j].reshape(-1, cout), relu,
                             dz[i:j].reshape(-1, cout), db), db


# -- dilated and grouped convolutions -------------------------------------------------------------
def _is_depthwise(w_shape, groups: int) -> bool:
    """A grouped convolution whose groups are single input channels: the depthwise kernels."""
    return groups > 1 and w_shape[2] == 1


def _dilated_kernel(w: np.ndarray, dilation) -> np.ndarray:
    """``w`` with ``d - 1`` zeros between neighbouring taps (for strided dilated convolutions,
    which Keras's layers refuse but the engine still computes)."""
    kh, kw, cin, cout = w.shape
    dh, dw = dilation
    out = np.zeros(((kh - 1) * dh + 1, (kw - 1) * dw + 1, cin, cout), w.dtype)
    out[::dh, ::dw] = w
    return out


def _variant_forward(x, w, b, strides, padding, relu, dilation, groups, saved=None):
    """:func:`conv2d_forward` with groups (each group its own convolution, or the depthwise
    kernels for one input channel per group) or dilation (the phases at stride 1)."""
    x = np.ascontiguousarray(x)
    _check_float(x, "input")
    kh, kw, cin_g, cout = w.shape
    if _is_depthwise(w.shape, groups):
        wd = w.reshape(kh, kw, groups, cout // groups)
        return depthwise_conv.depthwise_forward(x, wd, b, strides, padding, dilation, relu)
    if groups > 1:
        (oh_n, ow_n), _ = dilated_window(x.shape, (kh, kw), strides, padding, dilation)
        y = memory.empty_aligned((x.shape[0], oh_n, ow_n, cout), x.dtype)
        f = cout // groups
        for g in range(groups):
            y[..., g * f : (g + 1) * f] = conv2d_forward(
                x[..., g * cin_g : (g + 1) * cin_g], w[..., g * f : (g + 1) * f],
                None if b is None else b[g * f : (g + 1) * f], strides, padding, relu, dilation)
        return y
    if strides != (1, 1):
        return conv2d_forward(x, _dilated_kernel(w, dilation), b, strides, padding, relu)
    out_hw = dilated_window(x.shape, (kh, kw), strides, padding, dilation)[0]
    if x.shape[0] == 0 or 0 in out_hw:
        return memory.empty_aligned((x.shape[0], *out_hw, cout), x.dtype)
    return dilated_conv.forward(conv2d_forward, x, w, b, padding, dilation, relu, saved)


def _variant_backward(dy, x, w, out, relu, has_bias, strides, padding, need_input, need_kernel, dilation, groups,
                      saved=None):
    """:func:`conv2d_backward` for :func:`_variant_forward`'s convolutions."""
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    kh, kw, cin_g, cout = w.shape
    (oh_n, ow_n), _ = dilated_window(x.shape, (kh, kw), strides, padding, dilation)
    expected = (x.shape[0], oh_n, ow_n, cout)
    if tuple(dy.shape) != expected:
        raise ValueError(f"conv2d: the output gradient has shape {tuple(dy.shape)}, expected {expected} for an "
                         f"input of shape {tuple(x.shape)} and a kernel of shape {tuple(w.shape)} (strides "
                         f"{strides}, padding '{padding}', dilation {dilation}, groups {groups})")
    if _is_depthwise(w.shape, groups):
        wd = w.reshape(kh, kw, groups, cout // groups)
        dx, dw, db = depthwise_conv.depthwise_backward(dy, x, wd, out, relu, has_bias, strides, padding, dilation,
                                                       need_input, need_kernel)
        return dx, (None if dw is None else dw.reshape(w.shape)), db
    if groups == 1 and strides == (1, 1) and not relu and dy.size and x.size:
        # the phases' backward pass takes the bias gradient in its own output pass (the phases'
        # extra positions hold zeros): one pass over the gradient fewer
        return dilated_conv.backward(conv2d_backward, dy, x, w, dilation, padding, need_input, need_kernel, saved,
                                     has_bias)
    db = None
    if relu or has_bias:
        dy, db = output_pass_backward(dy, out, relu)
    if dy.size == 0 or x.size == 0:
        return (np.zeros(x.shape, x.dtype) if need_input else None,
                np.zeros(w.shape, x.dtype) if need_kernel else None, db if has_bias else None)
    if groups > 1:
        dx = memory.empty_aligned(x.shape, x.dtype) if need_input else None
        dw = np.empty(w.shape, x.dtype) if need_kernel else None
        f = cout // groups
        for g in range(groups):
            ins, outs = slice(g * cin_g, (g + 1) * cin_g), slice(g * f, (g + 1) * f)
            dxg, dwg, _ = conv2d_backward(np.ascontiguousarray(dy[..., outs]), np.ascontiguousarray(x[..., ins]),
                                          np.ascontiguousarray(w[..., outs]), None, False, False, strides, padding,
                                          need_input, need_kernel, dilation)
            if need_input:
                dx[..., ins] = dxg
            if need_kernel:
                dw[..., outs] = dwg
        return dx, dw, (db if has_bias else None)
    if strides != (1, 1):
        dx, dwz, _ = conv2d_backward(dy, x, _dilated_kernel(w, dilation), None, False, False, strides, padding,
                                     need_input, need_kernel)
        return dx, (None if dwz is None else np.ascontiguousarray(dwz[:: dilation[0], :: dilation[1]])), \
            (db if has_bias else None)
    dx, dw, _ = dilated_conv.backward(conv2d_backward, dy, x, w, dilation, padding, need_input, need_kernel, saved)
    return dx, dw, (db if has_bias else None)
