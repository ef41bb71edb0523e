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
one kernel call (`kerasette.backend.ops.normalization.fold_affine`), the same bits without
recording anything.

The folded weights are swapped into the layer for its call, so a layer's swap is guarded by a
lock of its own: a second thread running the same folded layer waits for the first to restore
the layer's weights, and never folds (nor, after its call, restores) the first thread's folded
weights as if they were the layer's own. Without it, three threads calling a model with folded
normalizations got wrong outputs on nearly every call.
"""

from __future__ import annotations

import threading
import weakref

from kerasette.backend import ops
from kerasette.backend.ops.normalization import fold_affine
from kerasette.backend.ops.recording import records_gradient


class folded_kernel_and_bias:  # noqa: N801 - used as a function returning a context, like contextlib's
    """Within the ``with`` block, ``layer.kernel`` and ``layer.bias`` are the folded tensors
    (``kernel * scale`` along the last axis, ``bias * scale + shift``); restored after it.

    Args:
        layer: a layer whose output channel ``j`` is ``kernel[..., j]`` applied to the input,
            plus ``bias[j]`` (Conv2D, Dense).
        scale, shift: (channels,) tensors or arrays.

    Example:
        >>> import numpy as np
        >>> from kerasette.layers import Dense
        >>> dense = Dense(2, kernel_initializer="ones", bias_initializer="ones")
        >>> dense.build((None, 3))
        >>> with folded_kernel_and_bias(dense, np.array([2.0, 3.0]), np.array([0.5, 0.0])):
        ...     dense.kernel.data[0].tolist(), dense.bias.data.tolist()
        ([2.0, 3.0], [2.5, 3.0])
        >>> dense.kernel.data[0].tolist()
        [1.0, 1.0]
    """

    __slots__ = ("layer", "kernel", "bias", "folded", "lock")

    def __init__(self, layer, scale, shift):
        self.layer, self.lock = layer, _swap_lock(layer)
        with self.lock:  # the layer's own weights, not another thread's folded ones
            self.kernel, self.bias = kernel, bias = layer.kernel, layer.bias
        if records_gradient(kernel, bias, scale, shift):
            self.folded = ops.multiply(kernel, scale), (ops.add(ops.multiply(bias, scale), shift)
                                                        if bias is not None else shift)
        else:  # nothing to record: the same products on the arrays, in one kernel call
            self.folded = fold_affine(kernel, bias, scale, shift)

    def __enter__(self):
        self.lock.acquire()
        self.layer.kernel, self.layer.bias = self.folded

    def __exit__(self, *exc) -> None:
        self.layer.kernel, self.layer.bias = self.kernel, self.bias
        self.lock.release()


#: Each folded layer's swap lock, for as long as the layer lives (kept here, not on the layer:
#: a lock would stop the layer's copies and pickles).
_SWAP_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SWAP_LOCKS_MADE = threading.Lock()


def _swap_lock(layer) -> threading.RLock:
    """The lock guarding ``layer``'s weights while a folded context has them swapped (re-entrant:
    a thread inside the context may fold the same layer again)."""
    lock = _SWAP_LOCKS.get(layer)
    if lock is None:
        with _SWAP_LOCKS_MADE:
            lock = _SWAP_LOCKS.setdefault(layer, threading.RLock())
    return lock
