"""Depthwise convolution of NHWC arrays (`kerasette.backend.kernels.depthwise`), over the pool.

A depthwise convolution convolves each input channel with its own ``m`` filters (the depth
multiplier): a (kh, kw, C, m) kernel gives C * m output channels, output channel ``c * m + j``
from input channel ``c``. It is also the grouped convolution whose groups are single input
channels, so `kerasette.backend.engine.conv` sends those here too. Any strides, dilation and
padding; the forward pass is split between threads by output rows, the backward pass by images
(each thread takes its images through the bias-and-ReLU pass, the input gradient and its part of
the kernel gradient, so the pool is dispatched once).

Example:
    >>> x = np.ones((1, 3, 3, 2), np.float32); w = np.ones((3, 3, 2, 1), np.float32)
    >>> depthwise_forward(x, w, padding="same")[0, :, :, 0]
    array([[4., 6., 4.],
           [6., 9., 6.],
           [4., 6., 4.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import memory, parallel, state
from kerasette.backend.engine.batch import by_images
from kerasette.backend.engine.geometry import dilated_window
from kerasette.backend.kernels import conv as _conv
from kerasette.backend.kernels import depthwise as _dw


def _flat_kernel(w: np.ndarray, dtype) -> np.ndarray:
    """The (kh, kw, C, m) kernel as the kernels read it: (kh, kw, C * m), C-contiguous."""
    kh, kw, cin, m = w.shape
    return np.ascontiguousarray(w, dtype=dtype).reshape(kh, kw, cin * m)


def depthwise_forward(x, w, b=None, strides=(1, 1), padding="valid", dilation=(1, 1), relu=False):
    """``relu?(depthwise(x, w) + b)`` for NHWC ``x`` and a (kh, kw, C, m) kernel.

    Args:
        x: input, (N, H, W, C), float32 or float64.
        w: kernel, (kh, kw, C, m).
        b: optional bias, (C * m,).
        strides, dilation: (rows, cols) each.
        padding: 'valid' or 'same' (TensorFlow's split, for the dilated kernel's extent).
        relu: apply a ReLU after the bias.

    Returns:
        y, (N, OH, OW, C * m), dtype of ``x``.
    """
    x = np.ascontiguousarray(x)
    kh, kw, cin, m = w.shape
    (oh_n, ow_n), pads = dilated_window(x.shape, (kh, kw), strides, padding, dilation)
    y = memory.empty_aligned((x.shape[0], oh_n, ow_n, cin * m), x.dtype)
    if y.size == 0:
        return y
    wf = _flat_kernel(w, x.dtype)
    bias = wf.reshape(-1) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    rows = x.shape[0] * oh_n
    parallel.map_chunks(lambda g0, g1: _dw.forward_rows(x, wf, bias, y, g0, g1, *strides, *dilation, pads[0],
                                                        pads[2], b is not None, relu),
                        rows, state.conv.parallel_min_elements, ow_n * cin * m)
    return y


def depthwise_backward(dy, x, w, out, relu, has_bias, strides=(1, 1), padding="valid", dilation=(1, 1),
                       need_input=True, need_kernel=True):
    """The gradients of :func:`depthwise_forward` in one pass over the batch.

    Args:
        dy: gradient of the output, (N, OH, OW, C * m).
        x: forward input, (N, H, W, C).
        w: kernel, (kh, kw, C, m).
        out: forward output (read when ``relu``).
        relu, has_bias: what the forward pass fused.
        strides, padding, dilation: as for :func:`depthwise_forward`.
        need_input, need_kernel: which gradients to compute.

    Returns:
        (dx, dw, db), each None when not needed (``db`` when not ``has_bias``); dtype of ``x``.
    """
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    kh, kw, cin, m = w.shape
    (oh_n, ow_n), pads = dilated_window(x.shape, (kh, kw), strides, padding, dilation)
    expected = (x.shape[0], oh_n, ow_n, cin * m)
    if tuple(dy.shape) != expected:
        raise ValueError(f"depthwise_conv2d: the output gradient has shape {tuple(dy.shape)}, expected "
                         f"{expected} for an input of shape {tuple(x.shape)} and a kernel of shape {tuple(w.shape)}")
    wf = _flat_kernel(w, x.dtype)
    output_pass = relu or has_bias
    dz = memory.empty_aligned(dy.shape, dy.dtype) if output_pass else dy
    dx = memory.empty_aligned(x.shape, x.dtype) if need_input else None
    if dy.size == 0 or x.size == 0:
        if dx is not None:
            dx[...] = 0
        zeros = np.zeros(cin * m, x.dtype)
        return dx, (np.zeros(w.shape, x.dtype) if need_kernel else None), (zeros if has_bias else None)
    height = x.shape[1]
    geometry = (*strides, *dilation, pads[0], pads[2])
    flipped = np.ascontiguousarray(wf[::-1, ::-1]) if tuple(strides) == (1, 1) and m == 1 and need_input else None

    def chunk(i, j):
        db = None
        if output_pass:
            db = np.zeros(cin * m, dy.dtype)
            ref = out if relu else dy
            _conv.relu_grad_bias_rows(dy[i:j].reshape(-1, cin * m), ref[i:j].reshape(-1, cin * m), relu,
                                      dz[i:j].reshape(-1, cin * m), db)
        if need_input and flipped is not None:  # stride 1: the forward pass of the flipped kernel
            _dw.forward_rows(dz, flipped, flipped.reshape(-1), dx, i * height, j * height, 1, 1, *dilation,
                             (kh - 1) * dilation[0] - pads[0], (kw - 1) * dilation[1] - pads[2], False, False)
        elif need_input:
            _dw.input_grad_rows(dz, wf, dx, i * height, j * height, *geometry)
        part = None
        if need_kernel:
            part = np.zeros(wf.shape, x.dtype)
            _dw.kernel_grad_rows(dz, x, part, i * oh_n, j * oh_n, *geometry)
        return db, part

    parts = by_images(chunk, x, min_elements=state.conv.parallel_min_elements)
    db = np.sum([p[0] for p in parts], axis=0, dtype=dy.dtype) if has_bias else None
    dw = np.sum([p[1] for p in parts], axis=0, dtype=x.dtype).reshape(w.shape) if need_kernel else None
    return dx, dw, db

