"""Folding a per-channel affine map into the kernel and bias of the layer that feeds it.

In inference a BatchNormalization is ``y * scale + shift`` per channel. When it reads the output
of a Conv2D or Dense with no activation of its own, the two are one layer with

    kernel' = kernel * scale            (along the kernel's output-channel axis, its last)
    bias'   = bias * scale + shift      (shift alone when the layer has no bias)

which is ``(bias - mean) * gamma / sqrt(var + eps) + beta`` for batch normalization. The model
planner (`kerasette.models.planner`) asks the normalization for its map
(``inference_affine_axis``/``inference_affine``) and the layer before it for a folder
(``output_affine_folder``); this module is the folder those layers return.

The folded weights are computed from the current weights on every call (a few microseconds for a
convolution's kernel), so they are never stale whatever changed the weights (an optimizer,
``assign``, ``set_weights``, a load, a write into ``.data``). When a gradient may flow to any of
them they are computed with ops, so gradients still reach the original weights and the
normalization's ``gamma`` and ``beta``; otherwise (``predict``, ``no_grad``, frozen weights) in
plain numpy, the same bits without recording anything.
"""

from __future__ import annotations

import contextlib

from kerasette.backend import ops, state
from kerasette.backend.tensor import Tensor


@contextlib.contextmanager
def folded_kernel_and_bias(layer, scale, shift):
    """Within the ``with`` block, ``layer.kernel`` and ``layer.bias`` are the folded tensors
    (``kernel * scale`` along the last axis, ``bias * scale + shift``); restored after it.

    Args:
        layer: a layer whose output channel ``j`` is ``kernel[..., j]`` applied to the input,
            plus ``bias[j]`` (Conv2D, Dense).
        scale, shift: (channels,) tensors or arrays.
    """
    kernel, bias = layer.kernel, layer.bias
    if state.grad_mode.is_enabled() and any(getattr(t, "requires_grad", False) for t in (kernel, bias, scale, shift)):
        layer.kernel = ops.multiply(kernel, scale)
        layer.bias = ops.add(ops.multiply(bias, scale), shift) if bias is not None else shift
    else:  # nothing to record: the same products on the arrays
        s, t = getattr(scale, "data", scale), getattr(shift, "data", shift)
        layer.kernel = Tensor(kernel.data * s)
        layer.bias = Tensor(bias.data * s + t) if bias is not None else Tensor(t)
    try:
        yield
    finally:
        layer.kernel, layer.bias = kernel, bias
