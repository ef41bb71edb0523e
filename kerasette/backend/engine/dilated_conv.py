"""Dilated convolution at stride 1 as the plain convolution of the images' phases.

A kernel dilated by (dh, dw) reads, for each output, input positions ``dh`` rows and ``dw``
columns apart, all in one phase of the padded image (`kerasette.backend.kernels.phases`). The
padded image is split into its ``dh * dw`` phases, which become the batch of a plain 'valid'
convolution run by `kerasette.backend.engine.conv` (so by Winograd, row GEMM or GEMM as that
convolution's shape calls for), and the phases of the result are interleaved back. The backward
pass splits the output gradient the same way; the input gradient of the phases is put back in
place, the kernel gradient is the phase convolution's.

Each phase has ``ceil(padded / d)`` rows and columns: the last ones may lie past the padded
image (read as zero) and give outputs past the real ones, which are dropped.
"""

from __future__ import annotations

from kerasette.backend import memory, parallel
from kerasette.backend.engine.geometry import dilated_window
from kerasette.backend.kernels import phases as _phases


def plan(x_shape, kernel, padding, dilation):
    """``(out_hw, pads, phase_hw)`` of a stride-1 convolution dilated by ``dilation``: the
    output size, the (top, bottom, left, right) padding and the size of each phase."""
    out_hw, pads = dilated_window(x_shape, kernel, (1, 1), padding, dilation)
    padded = (x_shape[1] + pads[0] + pads[1], x_shape[2] + pads[2] + pads[3])
    phase_hw = tuple(-(-p // d) for p, d in zip(padded, dilation, strict=True))
    return out_hw, pads, phase_hw


def _split(x, phase_hw, dilation, top, left):
    """The phases of ``x`` padded by ``top`` and ``left`` (and zeros past its end), one batch."""
    dh, dw = dilation
    n_img, chans = x.shape[0], x.shape[3]
    xq = memory.empty_aligned((n_img * dh * dw, *phase_hw, chans), x.dtype)
    q = dh * dw
    parallel.map_chunks(lambda i, j: _phases.phase_split(x[i:j], xq[i * q : j * q], dh, dw, top, left),
                        n_img, parallel.memory_bound_min(), xq[0].size * q)
    return xq


def _merge(xq, shape, dilation, top, left):
    """The array of ``shape`` whose phases (after padding by ``top`` and ``left``) are ``xq``."""
    dh, dw = dilation
    x = memory.empty_aligned(shape, xq.dtype)
    q = dh * dw
    parallel.map_chunks(lambda i, j: _phases.phase_merge(xq[i * q : j * q], x[i:j], dh, dw, top, left),
                        shape[0], parallel.memory_bound_min(), x[0].size)
    return x


def forward(conv2d_forward, x, w, b, padding, dilation, relu, saved=None):
    """``relu?(conv(x, w dilated) + b)`` at stride 1, by ``conv2d_forward`` on the phases.

    Args:
        conv2d_forward: the plain convolution, `kerasette.backend.engine.conv.conv2d_forward`.
        x: input, (N, H, W, C), C-contiguous.
        w: kernel, (kh, kw, C, F).
        b: optional bias, (F,).
        padding: 'valid' or 'same' (for the dilated kernel's extent).
        dilation: (dh, dw).
        relu: fuse a ReLU.
        saved: None, or a dict that receives the phases of ``x`` (``'phases'``) for :func:`backward`.

    Returns:
        y, (N, OH, OW, F).
    """
    (oh_n, ow_n), pads, phase_hw = plan(x.shape, w.shape[:2], padding, dilation)
    xq = _split(x, phase_hw, dilation, pads[0], pads[2])
    if saved is not None:
        saved["phases"] = xq
    yq = conv2d_forward(xq, w, b, (1, 1), "valid", relu)
    return _merge(yq, (x.shape[0], oh_n, ow_n, w.shape[3]), dilation, 0, 0)


def backward(conv2d_backward, dz, x, w, dilation, padding, need_input, need_kernel, saved=None, has_bias=False):
    """Input and kernel gradients of :func:`forward` by ``conv2d_backward``
    (`kerasette.backend.engine.conv.conv2d_backward`) on the phases (those the forward pass left
    in ``saved``, else split again).

    ``dz`` is the gradient before the ReLU (the caller applies a fused ReLU's mask); with
    ``has_bias`` it is the output's gradient and the bias gradient is taken on its phases (their
    extra positions hold zeros).

    Returns:
        (dx, dw, db), each None when not needed.
    """
    _, pads, phase_hw = plan(x.shape, w.shape[:2], padding, dilation)
    xq = saved.get("phases") if saved else None
    if xq is None:
        xq = _split(x, phase_hw, dilation, pads[0], pads[2])
    out_q = (phase_hw[0] - w.shape[0] + 1, phase_hw[1] - w.shape[1] + 1)
    dzq = _split(dz, out_q, dilation, 0, 0)
    dxq, dw, db = conv2d_backward(dzq, xq, w, None, False, has_bias, (1, 1), "valid",
                                  need_input=need_input, need_kernel=need_kernel)
    dx = _merge(dxq, x.shape, dilation, pads[0], pads[2]) if need_input else None
    return dx, dw, db
